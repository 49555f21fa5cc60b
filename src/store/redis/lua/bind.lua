-- bind: KEYS rec; ARGV address. Returns 0 bound, 1 bound elsewhere, 2 bound to it already.
local bound = redis.call('HGET', KEYS[1], 'bound')
if not bound then
  redis.call('HSET', KEYS[1], 'bound', ARGV[1])
  keep_record(KEYS[1])
  return 0
end
if bound == ARGV[1] then
  return 2
end
return 1
