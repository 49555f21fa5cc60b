-- restart: KEYS rec, chal; ARGV now. Returns 1 when bound (nothing changed), else 0.
if redis.call('HEXISTS', KEYS[1], 'bound') == 1 then
  return 1
end
local blob = redis.call('GET', KEYS[2])
if blob then
  local c = decode(blob)
  c.addr = false
  c.codes = {}
  save(KEYS[2], c, tonumber(ARGV[1]))
end
return 0
