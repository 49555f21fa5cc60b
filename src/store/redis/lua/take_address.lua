-- issue_code, one counter of the split form: KEYS counter; ARGV now, cap,
-- policy... Returns {'ok'} when the send is counted, or {'address', retry, ''}
-- (the caller knows which budget it asked).
local now, cap = tonumber(ARGV[1]), tonumber(ARGV[2])
local p = policy(3)
local refused, sends = address_may_issue(KEYS[1], now, cap, p, '')
if refused then
  return refused
end
address_take(KEYS[1], sends, now, p.window)
return { 'ok' }
