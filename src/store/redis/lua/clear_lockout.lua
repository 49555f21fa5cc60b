-- clear_lockout: KEYS rec, chal; ARGV now. Ends a lockout, resets the
-- consecutive failures, voids the round (its codes, its attempts) and forgets
-- the ticket's sends of the window (rules::clear_lockout). Returns
-- {locked_until at now (0: none), failures}.
local now = tonumber(ARGV[1])
local fails = tonumber(redis.call('HGET', KEYS[1], 'fails') or '0')
redis.call('HDEL', KEYS[1], 'fails')
local locked = 0
local blob = redis.call('GET', KEYS[2])
if blob then
  local c = decode(blob)
  if now < c.lock then
    locked = c.lock
  end
  c.lock = 0
  c.codes = {}
  c.sends = {}
  c.tries = 0
  c.void = false
  c.round = 0
  save(KEYS[2], c, now)
end
return { locked, fails }
