-- unbind: KEYS rec, chal; ARGV now. Forgets the binding (address, language,
-- time) and the pending address and codes; the ticket stays claimed for good
-- (no first device after an unbind) and is no longer verified; the generation
-- moves. Returns {previous address ('' when none), new generation}.
local previous = redis.call('HGET', KEYS[1], 'bound') or ''
redis.call('HDEL', KEYS[1], 'bound', 'locale', 'bound_at', 'verified')
redis.call('HSET', KEYS[1], 'claimed', '1')
local gen = redis.call('HINCRBY', KEYS[1], 'gen', 1)
keep_record(KEYS[1])
local blob = redis.call('GET', KEYS[2])
if blob then
  local c = decode(blob)
  c.addr = false
  c.codes = {}
  save(KEYS[2], c, tonumber(ARGV[1]))
end
return { previous, gen }
