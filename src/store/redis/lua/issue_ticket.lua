-- issue_code, ticket side of the split form (Redis Cluster: the address
-- counter lives in another slot): KEYS rec, chal, undo; ARGV now, address,
-- code, policy (8 values), binding expected ('1'/'0'). Rules 1 to 3, then rule 5 for the ticket, keeping what is
-- needed to undo it exactly (undo_issue) if the address turns out to be at
-- its cap. Returns what issue.lua returns, without the address refusal (for
-- 'issued', bound is 1 when the ticket is bound to the address: the owner's
-- counter applies).
local now, addr, code = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local p = policy(4)
local before = redis.call('GET', KEYS[2])
local refused, c = ticket_may_issue(KEYS[1], KEYS[2], now, addr, p, ARGV[12] == '1')
if refused then
  return refused
end
local expires, next_at = ticket_issue(c, now, addr, code, p)
local after = save(KEYS[2], c, now)
redis.call('SET', KEYS[3], (after or '') .. '\n' .. (before or ''), 'PX', UNDO_MS)
local owner = redis.call('HGET', KEYS[1], 'bound') == addr and 1 or 0
return { 'issued', expires, next_at, owner, c.tries }
