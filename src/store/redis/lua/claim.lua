-- claim_first_device: KEYS rec; ARGV now, lifetime (ms). Returns {1, gen}
-- when claimed, {0} when refused. A record that holds only the claim lapses
-- with it (plus GRACE_MS); any long-lived fact written later keeps it.
local now, lifetime = tonumber(ARGV[1]), tonumber(ARGV[2])
local r = redis.call('HMGET', KEYS[1], 'claimed', 'bound', 'gen')
if r[2] or claim_live(r[1], false, now) then
  return { 0 }
end
redis.call('HSET', KEYS[1], 'claimed', fmt(now + lifetime))
if redis.call('HLEN', KEYS[1]) == 1 then
  redis.call('PEXPIRE', KEYS[1], fmt(lifetime + GRACE_MS))
end
return { 1, tonumber(r[3] or '0') }
