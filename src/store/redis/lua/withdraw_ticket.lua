-- withdraw_code, ticket side of the split form: KEYS chal; ARGV now, code.
ticket_withdraw(KEYS[1], tonumber(ARGV[1]), ARGV[2])
return 1
