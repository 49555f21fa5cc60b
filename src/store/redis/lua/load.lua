-- load: KEYS rec, chal; ARGV now, window.
-- Returns {claimed, bound, gen, fails, pending, tries, void, locked_until,
-- {send...}, {hash, issued, expires, ...}, had_codes, claim lapses at (0:
-- never or no claim), locale, bound_at (0: not recorded), verified}.
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local r = redis.call('HMGET', KEYS[1], 'claimed', 'bound', 'gen', 'fails', 'locale', 'bound_at', 'verified')
local claimed = claim_live(r[1], r[2], now)
local lapses = 0
if claimed and not r[2] and tonumber(r[1]) ~= 1 then
  lapses = tonumber(r[1])
end
local c = decode(redis.call('GET', KEYS[2]))
local live = {}
if not c.void then
  for _, k in ipairs(c.codes) do
    if now < k.e then
      live[#live + 1] = k.h
      live[#live + 1] = k.i
      live[#live + 1] = k.e
    end
  end
end
local pending = ''
if not r[2] and c.addr then
  pending = c.addr
end
local had_codes = (not c.void and #c.codes > 0 and #live == 0) and 1 or 0
return {
  claimed and 1 or 0, r[2] or '', tonumber(r[3] or '0'), tonumber(r[4] or '0'), pending,
  c.tries, c.void and 1 or 0, now < c.lock and c.lock or 0,
  in_window(c.sends, window, now), live, had_codes,
  lapses, r[2] and r[5] or '', r[2] and tonumber(r[6] or '0') or 0, r[7] and 1 or 0,
}
