-- withdraw_code, both sides in one step: KEYS rec, chal, owner, mailbox,
-- domain, site, client; ARGV now, code, address, policy (8 values), domain
-- counted ('1'/'0'), client cap.
local now, code, addr = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local p = policy(4)
ticket_withdraw(KEYS[2], now, code)
for _, b in ipairs(budgets(KEYS[1], addr, { KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7] }, p, 12)) do
  address_withdraw(b[1], now, p.window)
end
return 1
