-- claim_first_device: KEYS rec [, the client's counter]; ARGV now, lifetime
-- (ms), the counter's cap (0: not counted), window (ms). Returns {1, gen}
-- when claimed, {0} when refused (counting nothing), {2, retry} when the
-- counter is at its cap (claiming nothing). A record that holds only the
-- claim lapses with it (plus GRACE_MS); any long-lived fact written later
-- keeps it.
local now, lifetime = tonumber(ARGV[1]), tonumber(ARGV[2])
local cap, window = tonumber(ARGV[3]), tonumber(ARGV[4])
local r = redis.call('HMGET', KEYS[1], 'claimed', 'bound', 'gen')
if r[2] or claim_live(r[1], false, now) then
  return { 0 }
end
if cap > 0 then
  local refused, sends = address_may_issue(KEYS[2], now, cap, { window = window }, 'client')
  if refused then
    return { 2, refused[2] }
  end
  address_take(KEYS[2], sends, now, window)
end
redis.call('HSET', KEYS[1], 'claimed', fmt(now + lifetime))
if redis.call('HLEN', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], fmt(lifetime + GRACE_MS))
end
return { 1, tonumber(r[3] or '0') }
