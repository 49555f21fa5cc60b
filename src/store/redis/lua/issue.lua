-- issue_code, both sides in one step (a single node holds every key):
-- KEYS rec, chal, addr; ARGV now, address, code, policy...
-- Returns {'issued', expires, next} or a refusal ({'bound'}, {'locked', until},
-- {'ticket', retry}, {'address', retry}).
local now, addr, code = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local p = policy(4)
local refused, c = ticket_may_issue(KEYS[1], KEYS[2], now, addr, p)
if refused then
  return refused
end
local refused_address, sends = address_may_issue(KEYS[3], now, p)
if refused_address then
  return refused_address
end
address_take(KEYS[3], sends, now, p.window)
local expires, next_at = ticket_issue(c, now, addr, code, p)
save(KEYS[2], c, now)
return { 'issued', expires, next_at }
