-- withdraw_code, ticket side of the split form: KEYS rec, chal; ARGV now,
-- code, address. Returns 1 when the ticket is bound to the address (the
-- owner's counter counted the send), else 0.
ticket_withdraw(KEYS[2], tonumber(ARGV[1]), ARGV[2])
return redis.call('HGET', KEYS[1], 'bound') == ARGV[3] and 1 or 0
