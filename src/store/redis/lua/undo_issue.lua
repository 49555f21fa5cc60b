-- Undoes issue_ticket.lua when the address refused the send: KEYS chal, undo;
-- ARGV now, code. If nothing touched the challenge since, it is put back as it
-- was; otherwise only this code and its send are taken back (as withdraw does).
-- Returns 1 when restored exactly, 0 otherwise.
local now, code = tonumber(ARGV[1]), ARGV[2]
local undo = redis.call('GET', KEYS[2])
redis.call('DEL', KEYS[2])
if undo then
  local after, before = string.match(undo, '^([^\n]*)\n(.*)$')
  local current = redis.call('GET', KEYS[1]) or ''
  if after and after ~= '' and current == after then
    if before == '' then
      redis.call('DEL', KEYS[1])
    else
      save(KEYS[1], decode(before), now)
    end
    return 1
  end
end
ticket_withdraw(KEYS[1], now, code)
return 0
