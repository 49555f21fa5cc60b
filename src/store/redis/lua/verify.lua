-- verify_code: KEYS rec, chal; ARGV now, code, max_attempts,
-- lockout_threshold, lockout_ms, locale ('' when not given).
-- Returns {'verified', address, newly_bound, gen, earlier_device, previous
-- locale ('' when none)}, {'wrong', left, locked_until},
-- {'expired'}, {'nocode'}, {'exhausted'} or {'locked', until}.
local now, code = tonumber(ARGV[1]), ARGV[2]
local max_attempts, threshold, lockout = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local locale = ARGV[6]
local blob = redis.call('GET', KEYS[2])
if not blob then
  return { 'nocode' }
end
local c = decode(blob)
if now < c.lock then
  return { 'locked', c.lock }
end
if c.void then
  return { 'exhausted' }
end
-- Every live code is compared; the comparison does not stop at a match.
local live, matched = false, false
for _, k in ipairs(c.codes) do
  if now < k.e then
    live = true
    matched = (k.h == code) or matched
  end
end
if not live then
  return { #c.codes == 0 and 'nocode' or 'expired' }
end
local r = redis.call('HMGET', KEYS[1], 'bound', 'gen', 'fails', 'claimed', 'verified', 'locale')
local bound = r[1]
local void = not c.addr or (bound and bound ~= c.addr)
if matched and not void then
  local addr = c.addr
  c.codes, c.addr, c.tries, c.void, c.round = {}, false, 0, false, 0
  local newly = 0
  local previous = ''
  local earlier = (claim_live(r[4], bound, now) or r[5]) and 1 or 0
  redis.call('HDEL', KEYS[1], 'fails')
  redis.call('HSET', KEYS[1], 'verified', '1')
  if not bound then
    set_binding(KEYS[1], addr, locale, ARGV[1])
    newly = 1
  else
    previous = r[6] or ''
    if locale ~= '' then
      set_locale(KEYS[1], locale)
    end
  end
  keep_record(KEYS[1])
  save(KEYS[2], c, now)
  return { 'verified', addr, newly, tonumber(r[2] or '0'), earlier, previous }
end
c.tries = c.tries + 1
local fails = tonumber(r[3] or '0') + 1
local left = math.max(max_attempts - c.tries, 0)
if left == 0 then
  c.void = true
  c.codes = {}
end
local locked = 0
if fails >= threshold then
  locked = now + lockout
  c.lock = locked
  c.keep = math.max(c.keep, locked)
  fails = 0
end
if fails == 0 then
  redis.call('HDEL', KEYS[1], 'fails')
else
  redis.call('HSET', KEYS[1], 'fails', fmt(fails))
  keep_record(KEYS[1])
end
save(KEYS[2], c, now)
return { 'wrong', left, locked }
