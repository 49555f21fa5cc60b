-- state: KEYS state. ARGV mode ('init' or 'replace'), the record.
-- 'init' writes the record only when there is none. Returns the record
-- held afterwards, 1 when this call wrote it (else 0), and the server's
-- clock (seconds, microseconds).
local now = redis.call('TIME')
if ARGV[1] == 'init' then
  local held = redis.call('GET', KEYS[1])
  if held then
    return {held, 0, now[1], now[2]}
  end
end
redis.call('SET', KEYS[1], ARGV[2])
return {ARGV[2], 1, now[1], now[2]}
