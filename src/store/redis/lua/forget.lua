-- forget: KEYS rec, chal. Deletes the ticket's record and challenge.
-- Returns how many keys existed.
return redis.call('DEL', KEYS[1], KEYS[2])
