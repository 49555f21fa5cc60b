-- unbind: KEYS rec, chal; ARGV now. Forgets the binding (address, language,
-- time) and the pending address and codes; the ticket stays claimed for good
-- (no first device after an unbind) and is no longer verified; the generation
-- moves. Returns {previous address ('' when none), new generation}.
local previous = redis.call('HGET', KEYS[1], 'bound') or ''
local gen = unbind_record(KEYS[1], KEYS[2], tonumber(ARGV[1]))
return { previous, gen }
