-- withdraw_binding: KEYS rec, chal; ARGV now, generation. When the ticket is
-- bound, no device was verified on it and its generation ('gen', missing: 0)
-- is the one given, does what unbind does and returns the new generation;
-- else changes nothing and returns -1.
local r = redis.call('HMGET', KEYS[1], 'bound', 'verified', 'gen')
if not r[1] or r[2] or (r[3] or '0') ~= ARGV[2] then
  return -1
end
return unbind_record(KEYS[1], KEYS[2], tonumber(ARGV[1]))
