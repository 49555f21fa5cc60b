-- state: KEYS state. ARGV mode ('init' or 'replace'), the record.
-- 'init' writes the record only when there is none. Returns the record
-- held afterwards and 1 when this call wrote it, else 0.
if ARGV[1] == 'init' then
  local held = redis.call('GET', KEYS[1])
  if held then
    return {held, 0}
  end
end
redis.call('SET', KEYS[1], ARGV[2])
return {ARGV[2], 1}
