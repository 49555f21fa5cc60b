-- issue_code, both sides in one step (a single node holds every key):
-- KEYS rec, chal, owner, mailbox, domain, site, client; ARGV now, address,
-- code, policy (8 values), domain counted ('1'/'0'), client cap, binding
-- expected ('1'/'0').
-- Returns {'issued', expires, next, bound (1/0), attempts} or a refusal
-- ({'bound'}, {'not_bound'}, {'locked', until}, {'ticket', retry},
-- {'address', retry, budget}).
local now, addr, code = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local p = policy(4)
local refused, c = ticket_may_issue(KEYS[1], KEYS[2], now, addr, p, ARGV[14] == '1')
if refused then
  return refused
end
local counters = budgets(KEYS[1], addr, { KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7] }, p, 12)
local taken = {}
for k, b in ipairs(counters) do
  local refused_address, sends = address_may_issue(b[1], now, b[2], p, b[3])
  if refused_address then
    return refused_address
  end
  taken[k] = sends
end
for k, b in ipairs(counters) do
  address_take(b[1], taken[k], now, p.window)
end
local expires, next_at = ticket_issue(c, now, addr, code, p)
save(KEYS[2], c, now)
local bound = redis.call('HEXISTS', KEYS[1], 'bound')
return { 'issued', expires, next_at, bound, c.tries }
