-- claim_first_device: KEYS rec. Returns {1, gen} when claimed, {0} when refused.
local r = redis.call('HMGET', KEYS[1], 'claimed', 'bound', 'gen')
if r[1] or r[2] then
  return { 0 }
end
redis.call('HSET', KEYS[1], 'claimed', '1')
return { 1, tonumber(r[3] or '0') }
