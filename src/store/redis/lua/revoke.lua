-- revoke_devices: KEYS rec. Returns the new generation.
local gen = redis.call('HINCRBY', KEYS[1], 'gen', 1)
keep_record(KEYS[1])
return gen
