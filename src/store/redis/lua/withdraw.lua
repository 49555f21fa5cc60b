-- withdraw_code, both sides in one step: KEYS chal, addr; ARGV now, code, window.
local now, code, window = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
ticket_withdraw(KEYS[1], now, code)
address_withdraw(KEYS[2], now, window)
return 1
