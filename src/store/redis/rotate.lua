-- Rotates a refresh token atomically. KEYS[1]: the session.
-- ARGV: presented hash, successor hash, sealed successor, client id, scope asked for
-- ('' when none), now, grace seconds, idle seconds (times in whole seconds).
local raw = redis.call('GET', KEYS[1])
if not raw then return {'refused'} end
local s = cjson.decode(raw)
local now = tonumber(ARGV[6])
if now >= s.ae or now >= s.ie then
  redis.call('DEL', KEYS[1])
  return {'refused'}
end
if s.c ~= ARGV[4] then return {'refused'} end
local function within(granted, asked)
  for scope in string.gmatch(asked, '%S+') do
    if not string.find(' ' .. granted .. ' ', ' ' .. scope .. ' ', 1, true) then return false end
  end
  return true
end
local widened = ARGV[5] ~= '' and not within(s.s, ARGV[5])
if s.h == ARGV[1] then
  if widened then return {'widened'} end
  s.ph = s.h
  s.h = ARGV[2]
  s.x = ARGV[3]
  s.rt = now
  s.lu = now
  s.ie = now + tonumber(ARGV[8])
  raw = cjson.encode(s)
  redis.call('SET', KEYS[1], raw, 'EXAT', math.min(s.ae, s.ie))
  return {'rotated', raw}
end
if s.ph ~= nil and s.ph == ARGV[1] then
  if s.rt ~= nil and now - s.rt <= tonumber(ARGV[7]) then
    if widened then return {'widened'} end
    return {'retried', raw}
  end
  redis.call('DEL', KEYS[1])
  return {'reused', raw}
end
return {'refused'}
