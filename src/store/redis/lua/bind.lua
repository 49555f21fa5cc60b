-- bind: KEYS rec; ARGV address, locale ('' when not known), now.
-- Returns 0 bound, 1 bound elsewhere, 2 bound to it already.
local bound = redis.call('HGET', KEYS[1], 'bound')
if not bound then
  set_binding(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
  keep_record(KEYS[1])
  return 0
end
if bound == ARGV[1] then
  return 2
end
return 1
