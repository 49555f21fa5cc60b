-- withdraw_code, address side of the split form: KEYS addr; ARGV now, window.
address_withdraw(KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]))
return 1
