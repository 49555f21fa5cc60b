-- issue_code, address side of the split form: KEYS addr; ARGV now, policy...
-- Returns {'ok'} when the send is counted, or {'address', retry}.
local now = tonumber(ARGV[1])
local p = policy(2)
local refused, sends = address_may_issue(KEYS[1], now, p)
if refused then
  return refused
end
address_take(KEYS[1], sends, now, p.window)
return { 'ok' }
