-- restart: KEYS rec, chal; ARGV now. Returns 1 when bound (nothing changed), else 0.
if redis.call('HEXISTS', KEYS[1], 'bound') == 1 then
  return 1
end
drop_pending(KEYS[2], tonumber(ARGV[1]), false)
return 0
