-- rebind: KEYS rec, chal; ARGV address, locale ('' when not known), now.
-- Binds the address in place of the one bound, with no device verified on
-- it yet, and moves the generation. Returns {'unchanged'} when the address
-- is bound already, else {'rebound', previous address ('' when none), its
-- locale ('' when none), new generation}.
local r = redis.call('HMGET', KEYS[1], 'bound', 'locale')
if r[1] == ARGV[1] then
  return { 'unchanged' }
end
set_binding(KEYS[1], ARGV[1], ARGV[2], ARGV[3])
-- The devices verified so far were the previous owner's.
redis.call('HDEL', KEYS[1], 'verified')
local gen = redis.call('HINCRBY', KEYS[1], 'gen', 1)
keep_record(KEYS[1])
-- The send times were the previous owner's.
drop_pending(KEYS[2], tonumber(ARGV[3]), true)
return { 'rebound', r[1] or '', r[1] and r[2] or '', gen }
