-- Rotates a refresh token atomically. KEYS[1]: the session; KEYS[2]: the hashes it has
-- rotated past (beyond the previous one), newest first, at most 32; KEYS[3]: the
-- revocation feed, where a session ended by a replay is listed in the same step. The session is a
-- MessagePack array:
-- 1 user, 2 client, 3 scope, 4 created, 5 last used (= last rotation), 6 absolute expiry,
-- 7 auth time, 8 ip, 9 user agent, 10 current hash, 11 previous hash, 12 sealed successor.
-- ARGV: presented hash, successor hash, sealed successor, client id, '1' when the scope
-- asked for is wider than the session's (decided by the caller, '' otherwise), now, grace seconds, idle seconds, the feed member for this session,
-- until when the feed lists it (times in whole seconds).
local function ended_by_replay(raw)
  redis.call('DEL', KEYS[1], KEYS[2])
  local listed_until = tonumber(ARGV[10])
  redis.call('ZADD', KEYS[3], listed_until, ARGV[9])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[6])
  redis.call('EXPIREAT', KEYS[3], listed_until, 'NX')
  redis.call('EXPIREAT', KEYS[3], listed_until, 'GT')
  return {'reused', raw}
end
local raw = redis.call('GET', KEYS[1])
if not raw then return {'refused'} end
local s = cmsgpack.unpack(raw)
local now = tonumber(ARGV[6])
local idle = tonumber(ARGV[8])
if now >= s[6] or now >= s[5] + idle then
  redis.call('DEL', KEYS[1], KEYS[2])
  return {'refused'}
end
if s[2] ~= ARGV[4] then return {'refused'} end
local widened = ARGV[5] == '1'
if s[10] == ARGV[1] then
  if widened then return {'widened'} end
  if s[11] ~= '' then
    redis.call('LPUSH', KEYS[2], s[11])
    redis.call('LTRIM', KEYS[2], 0, 31)
  end
  s[11] = s[10]
  s[10] = ARGV[2]
  s[12] = ARGV[3]
  s[5] = now
  raw = cmsgpack.pack(s)
  local expires = math.min(s[6], now + idle)
  redis.call('SET', KEYS[1], raw, 'EXAT', expires)
  if redis.call('EXISTS', KEYS[2]) == 1 then
    redis.call('EXPIREAT', KEYS[2], expires)
  end
  return {'rotated', raw}
end
if s[11] ~= '' and s[11] == ARGV[1] then
  if now - s[5] <= tonumber(ARGV[7]) then
    if widened then return {'widened'} end
    return {'retried', raw}
  end
  return ended_by_replay(raw)
end
-- An older token of this session is a replay too; anything else is a guess.
if redis.call('LPOS', KEYS[2], ARGV[1]) then
  return ended_by_replay(raw)
end
return {'refused'}
