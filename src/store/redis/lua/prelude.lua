-- tower-otp RedisStore: helpers shared by every script (prepended to each).
--
-- Times are milliseconds since the Unix epoch from the caller's clock (ARGV),
-- never Redis's: the store contract passes `now` with every call. TTLs only
-- make records vanish once they can no longer matter (plus GRACE_MS).
--
-- Per ticket, in one hash slot ({ticket key}):
--   <prefix>:{T}:rec   hash: claimed (when the claim lapses, ms; '1': never),
--                      bound, locale (the bound address's language tag),
--                      bound_at (ms), gen, fails, verified. No TTL, except
--                      while it holds only a claim (lapsing, plus GRACE_MS).
--   <prefix>:{T}:chal  string with a TTL: the pending challenge (below)
--   <prefix>:{T}:undo:<code>  string, short TTL: undo data of a split issue
-- Per send counter (a mailbox's, for its owner or for strangers, a domain's,
-- the site's), in its own slot:
--   <prefix>:addr:{A}  string with a TTL: send times, comma-separated
--
-- The challenge string: round|lock|tries|void|keep|sends|codes|address, where
-- sends is "t,t,...", codes is "hash:issued:expires,..." (hash in hex) and
-- the address comes last (an address may contain '|').

local GRACE_MS = 60000
local UNDO_MS = 60000
local CHALLENGE = '^(%d+)|(%d+)|(%d+)|([01])|(%d+)|([%d,]*)|([%x:,]*)|(.*)$'

local function fmt(n)
  return string.format('%.0f', n)
end

local function decode(blob)
  local c = { round = 0, lock = 0, tries = 0, void = false, keep = 0, sends = {}, codes = {}, addr = false }
  if not blob then
    return c
  end
  local round, lock, tries, void, keep, sends, codes, addr = string.match(blob, CHALLENGE)
  if not round then
    error('tower-otp: unreadable challenge record')
  end
  c.round, c.lock, c.tries = tonumber(round), tonumber(lock), tonumber(tries)
  c.void, c.keep = void == '1', tonumber(keep)
  for t in string.gmatch(sends, '%d+') do
    c.sends[#c.sends + 1] = tonumber(t)
  end
  for h, i, e in string.gmatch(codes, '(%x+):(%d+):(%d+)') do
    c.codes[#c.codes + 1] = { h = h, i = tonumber(i), e = tonumber(e) }
  end
  if addr ~= '' then
    c.addr = addr
  end
  return c
end

local function encode(c)
  local sends, codes = {}, {}
  for k, t in ipairs(c.sends) do
    sends[k] = fmt(t)
  end
  for k, code in ipairs(c.codes) do
    codes[k] = code.h .. ':' .. fmt(code.i) .. ':' .. fmt(code.e)
  end
  return table.concat({
    fmt(c.round), fmt(c.lock), fmt(c.tries), c.void and '1' or '0', fmt(c.keep),
    table.concat(sends, ','), table.concat(codes, ','), c.addr or '',
  }, '|')
end

local function is_empty(c)
  return not c.addr and #c.codes == 0 and #c.sends == 0 and c.tries == 0
    and not c.void and c.lock == 0 and c.round == 0
end

-- Writes the challenge back; an empty one (or one whose time is over) is deleted.
-- Returns what was written (false when deleted).
local function save(key, c, now)
  local ttl = c.keep - now + GRACE_MS
  if is_empty(c) or ttl <= 0 then
    redis.call('DEL', key)
    return false
  end
  local blob = encode(c)
  redis.call('SET', key, blob, 'PX', fmt(ttl))
  return blob
end

-- Keeps the times still in the window that ends at `now` (`now - window`, exclusive).
local function in_window(times, window, now)
  local kept = {}
  for _, t in ipairs(times) do
    if t + window > now then
      kept[#kept + 1] = t
    end
  end
  return kept
end

-- Removes the last occurrence of `at`.
local function remove_time(times, at)
  for k = #times, 1, -1 do
    if times[k] == at then
      table.remove(times, k)
      return
    end
  end
end

-- The policy, from ARGV[first ...]: code_ttl, live_codes, window,
-- sends_per_ticket, sends_per_address, sends_per_domain, sends_site_wide,
-- cooldowns ("ms,ms,...").
local function policy(first)
  local p = {
    code_ttl = tonumber(ARGV[first]),
    live_codes = tonumber(ARGV[first + 1]),
    window = tonumber(ARGV[first + 2]),
    per_ticket = tonumber(ARGV[first + 3]),
    per_address = tonumber(ARGV[first + 4]),
    per_domain = tonumber(ARGV[first + 5]),
    per_site = tonumber(ARGV[first + 6]),
    cooldowns = {},
  }
  for d in string.gmatch(ARGV[first + 7], '%d+') do
    p.cooldowns[#p.cooldowns + 1] = tonumber(d)
  end
  return p
end

-- Policy::next_send_at: the later of the cooldown after the last send and,
-- at the cap, the time the oldest counted send leaves the window.
local function next_send_at(sends, p)
  local n = #sends
  if n == 0 then
    return nil
  end
  local at = sends[n] + (p.cooldowns[n] or p.cooldowns[#p.cooldowns] or 0)
  if p.per_ticket > 0 and n >= p.per_ticket then
    local leaves = sends[n - p.per_ticket + 1] + p.window
    if leaves > at then
      at = leaves
    end
  end
  return at
end

-- Issue, ticket side, rules 1 to 3. Returns a refusal, or nil and the challenge.
local function ticket_may_issue(rec, chal, now, addr, p, expect_bound)
  local bound = redis.call('HGET', rec, 'bound')
  if bound and bound ~= addr then
    return { 'bound' }
  end
  if not bound and expect_bound then
    return { 'not_bound' }
  end
  local c = decode(redis.call('GET', chal))
  if now < c.lock then
    return { 'locked', c.lock }
  end
  c.sends = in_window(c.sends, p.window, now)
  local at = next_send_at(c.sends, p)
  if at and now < at then
    return { 'ticket', at }
  end
  return nil, c
end

-- The first-device claim holds at `now` (rules::TicketRecord::claim_live).
local function claim_live(claimed, bound, now)
  if not claimed then
    return false
  end
  if bound then
    return true
  end
  local lapses = tonumber(claimed)
  return lapses == 1 or now < lapses
end

-- A long-lived fact was written to the record: it is kept for good.
local function keep_record(rec)
  redis.call('PERSIST', rec)
end

-- Forgets the pending address and its codes (rules::drop_pending), and the
-- ticket's send times too when `sends` is true; the rest of the challenge
-- stays.
local function drop_pending(chal, now, sends)
  local blob = redis.call('GET', chal)
  if blob then
    local c = decode(blob)
    c.addr = false
    c.codes = {}
    if sends then
      c.sends = {}
    end
    save(chal, c, now)
  end
end

-- Forgets the binding (address, language, time) and the pending address
-- and codes; the ticket stays claimed for good and is no longer verified;
-- the generation moves (rules::unbind). Returns the new generation.
local function unbind_record(rec, chal, now)
  redis.call('HDEL', rec, 'bound', 'locale', 'bound_at', 'verified')
  redis.call('HSET', rec, 'claimed', '1')
  local gen = redis.call('HINCRBY', rec, 'gen', 1)
  keep_record(rec)
  drop_pending(chal, now, false)
  return gen
end

-- Sets the language of the bound address ('' forgets it).
local function set_locale(rec, locale)
  if locale == '' then
    redis.call('HDEL', rec, 'locale')
  else
    redis.call('HSET', rec, 'locale', locale)
  end
end

-- Makes `addr` the binding, made at `now` (ms text), in `locale` ('' when not known).
local function set_binding(rec, addr, locale, now)
  redis.call('HSET', rec, 'bound', addr, 'bound_at', now)
  set_locale(rec, locale)
end

-- The counters rule 4 checks, as {key, cap, name} (rules::budgets): the
-- owner's when the ticket is bound to `addr`, else the strangers' (mailbox,
-- the domain when it has a budget, and the site when it has one); then the
-- client's when it is known and has a cap. `keys` = {owner, mailbox, domain,
-- site, client}; ARGV[first] is '1' when the domain has a budget, and
-- ARGV[first + 1] the client's cap (0: none).
local function budgets(rec, addr, keys, p, first)
  local out = {}
  if redis.call('HGET', rec, 'bound') == addr then
    out[1] = { keys[1], p.per_address, 'owner' }
  else
    out[1] = { keys[2], p.per_address, 'mailbox' }
    if ARGV[first] == '1' then
      out[#out + 1] = { keys[3], p.per_domain, 'domain' }
    end
    if p.per_site > 0 then
      out[#out + 1] = { keys[4], p.per_site, 'site' }
    end
  end
  local client_cap = tonumber(ARGV[first + 1])
  if client_cap > 0 then
    out[#out + 1] = { keys[5], client_cap, 'client' }
  end
  return out
end

-- Issue, one counter of rule 4. Returns a refusal naming the counter, or nil
-- and the send times.
local function address_may_issue(key, now, cap, p, name)
  local sends = {}
  local stored = redis.call('GET', key)
  if stored then
    for t in string.gmatch(stored, '%d+') do
      sends[#sends + 1] = tonumber(t)
    end
  end
  sends = in_window(sends, p.window, now)
  if #sends >= cap then
    local oldest = sends[#sends - cap + 1]
    return { 'address', oldest and (oldest + p.window) or now, name }
  end
  return nil, sends
end

-- Writes an address's send times, kept until the newest leaves the window.
local function save_address(key, sends, now, window)
  local newest = nil
  local out = {}
  for k, t in ipairs(sends) do
    out[k] = fmt(t)
    if not newest or t > newest then
      newest = t
    end
  end
  local ttl = newest and (newest + window - now + GRACE_MS) or 0
  if ttl <= 0 then
    redis.call('DEL', key)
  else
    redis.call('SET', key, table.concat(out, ','), 'PX', fmt(ttl))
  end
end

-- Counts a send to the address (rule 5, address side).
local function address_take(key, sends, now, window)
  sends[#sends + 1] = now
  save_address(key, sends, now, window)
end

-- Issue, ticket side, rule 5: records the code and the send. Returns the
-- new code's expiry and the next send time.
local function ticket_issue(c, now, addr, code, p)
  if c.addr ~= addr then
    c.codes = {}
    c.addr = addr
  end
  if c.void or now >= c.round then
    c.tries = 0
    c.void = false
    c.round = now
  end
  local live = {}
  for _, k in ipairs(c.codes) do
    if now < k.e then
      live[#live + 1] = k
    end
  end
  local keep = math.max(p.live_codes, 1)
  while #live >= keep do
    table.remove(live, 1)
  end
  local expires = now + p.code_ttl
  live[#live + 1] = { h = code, i = now, e = expires }
  c.codes = live
  if expires > c.round then
    c.round = expires
  end
  c.sends[#c.sends + 1] = now
  c.keep = math.max(c.keep, expires, now + p.window)
  return expires, next_send_at(c.sends, p) or now
end

-- Withdraw, ticket side: removes the code and the send at `now`.
local function ticket_withdraw(chal, now, code)
  local blob = redis.call('GET', chal)
  if not blob then
    return
  end
  local c = decode(blob)
  for k = #c.codes, 1, -1 do
    if c.codes[k].h == code then
      table.remove(c.codes, k)
      break
    end
  end
  remove_time(c.sends, now)
  save(chal, c, now)
end

-- Withdraw, address side: removes the send at `now`.
local function address_withdraw(key, now, window)
  local stored = redis.call('GET', key)
  if not stored then
    return
  end
  local sends = {}
  for t in string.gmatch(stored, '%d+') do
    sends[#sends + 1] = tonumber(t)
  end
  remove_time(sends, now)
  save_address(key, sends, now, window)
end
