/**
 * Lua ports of the policies in algorithms.ts, one script per algorithm, run atomically by Redis.
 * Each line mirrors its TypeScript counterpart so both perform the same IEEE-754 operations in the
 * same order: a memory limiter and a Redis limiter fed the same calls at the same clock times return
 * identical decisions (tested). Numbers cross the wire exactly: JS → Lua as shortest round-trip
 * decimal strings (`String(x)`, parsed by strtod); Lua → JS and the stored state as packed
 * little-endian doubles (`struct.pack('<d', …)`), so no number is ever printed with sprintf.
 *
 * KEYS[1] = state key. ARGV = now ms ('' = use Redis TIME), n, limit, rate per ms, window ms,
 * TTL ms (an integer string: the longest a key can take to become fresh again, plus slack).
 * Reply = { allowed 0|1, struct.pack('<ddd', remaining, retryAfterMs, resetAtMs) }.
 */
import type { Algorithm } from './config.js';

const PRELUDE = `
local key = KEYS[1]
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
else
  now = tonumber(ARGV[1])
end
local n = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local rate = tonumber(ARGV[4])
local w = tonumber(ARGV[5])
local ttl = ARGV[6]
local function settle(allowedAt, raw)
  local r = raw
  if not (r > 0) then r = 0 end
  local step = 0
  local i = 0
  while i < 1100 and not allowedAt(now + r) do
    if step == 0 then step = math.max(math.abs(now + r) * 2.220446049250313e-16, 1e-9) end
    r = r + step
    step = step * 2
    i = i + 1
  end
  return r
end
local function store(value)
  redis.call('SET', key, value, 'PX', ttl)
end
local v = redis.call('GET', key)
`;

const TOKEN_BUCKET = `${PRELUDE}
local tokens, last
if v and #v == 16 then
  tokens, last = struct.unpack('<dd', v)
else
  tokens = limit
  last = now
end
if now > last then
  tokens = math.min(limit, tokens + (now - last) * rate)
  last = now
end
local allowed, remaining, retry, resetAt
if tokens >= n then
  local left = tokens - n
  tokens = left
  allowed = 1
  remaining = math.floor(left)
  retry = 0
  resetAt = last + (limit - left) / rate
else
  local ahead = 0
  if last > now then ahead = last - now end
  retry = settle(function(t)
    local tk = tokens
    if t > last then tk = math.min(limit, tokens + (t - last) * rate) end
    return tk >= n
  end, ahead + (n - tokens) / rate)
  allowed = 0
  remaining = math.floor(tokens)
  resetAt = last + (limit - tokens) / rate
end
store(struct.pack('<dd', tokens, last))
return { allowed, struct.pack('<ddd', remaining, retry, resetAt) }
`;

const FIXED_WINDOW = `${PRELUDE}
local idx = math.floor(now / w)
local sidx, count
if v and #v == 16 then
  sidx, count = struct.unpack('<dd', v)
else
  sidx = idx
  count = 0
end
if idx > sidx then
  sidx = idx
  count = 0
end
local allowed, retry
if count + n <= limit then
  count = count + n
  allowed = 1
  retry = 0
else
  allowed = 0
  retry = settle(function(t)
    if math.floor(t / w) > sidx then return n <= limit end
    return count + n <= limit
  end, (sidx + 1) * w - now)
end
local resetAt = (sidx + 1) * w
store(struct.pack('<dd', sidx, count))
return { allowed, struct.pack('<ddd', limit - count, retry, resetAt) }
`;

const SLIDING_WINDOW = `${PRELUDE}
local function weight(i, t)
  local x = 1 - (t - i * w) / w
  if x < 0 then return 0 elseif x > 1 then return 1 end
  return x
end
local idx = math.floor(now / w)
local sidx, prev, curr
if v and #v == 24 then
  sidx, prev, curr = struct.unpack('<ddd', v)
else
  sidx = idx
  prev = 0
  curr = 0
end
if idx > sidx then
  if idx == sidx + 1 then prev = curr else prev = 0 end
  curr = 0
  sidx = idx
end
local est = prev * weight(sidx, now) + curr
local allowed, remaining, retry, resetAt
if est + n <= limit then
  curr = curr + n
  local left = limit - (est + n)
  allowed = 1
  if left > 0 then remaining = math.floor(left) else remaining = 0 end
  retry = 0
  resetAt = (sidx + 2) * w
else
  local at
  if curr + n <= limit then
    at = sidx * w + w * (1 - (limit - curr - n) / prev)
  else
    at = (sidx + 1) * w + w * (1 - (limit - n) / curr)
  end
  retry = settle(function(t)
    local i2 = math.floor(t / w)
    local p, c, i = prev, curr, sidx
    if i2 > i then
      if i2 == i + 1 then p = c else p = 0 end
      c = 0
      i = i2
    end
    return p * weight(i, t) + c + n <= limit
  end, at - now)
  allowed = 0
  local left = limit - est
  if left > 0 then remaining = math.floor(left) else remaining = 0 end
  if curr > 0 then resetAt = (sidx + 2) * w elseif prev > 0 then resetAt = (sidx + 1) * w else resetAt = now end
end
store(struct.pack('<ddd', sidx, prev, curr))
return { allowed, struct.pack('<ddd', remaining, retry, resetAt) }
`;

const SLIDING_LOG = `${PRELUDE}
v = v or ''
local cnt = math.floor(#v / 16)
local times, weights = {}, {}
for i = 1, cnt do
  times[i], weights[i] = struct.unpack('<dd', v, (i - 1) * 16 + 1)
end
local h = 1
while h <= cnt and now - times[h] >= w do h = h + 1 end
local sum = 0
for i = h, cnt do sum = sum + weights[i] end
local allowed, retry, resetAt
if sum + n <= limit then
  local last = now
  if cnt >= h then last = times[cnt] end
  local at = last
  if now > last then at = now end
  cnt = cnt + 1
  times[cnt] = at
  weights[cnt] = n
  sum = sum + n
  allowed = 1
  retry = 0
  resetAt = at + w
else
  local need = sum + n - limit
  local freed = 0
  local i = h
  while freed < need and i <= cnt do
    freed = freed + weights[i]
    i = i + 1
  end
  retry = settle(function(t)
    local s2 = sum
    local j = h
    while j <= cnt and t - times[j] >= w do
      s2 = s2 - weights[j]
      j = j + 1
    end
    return s2 + n <= limit
  end, times[i - 1] + w - now)
  allowed = 0
  resetAt = times[cnt] + w
end
local parts = {}
for i = h, cnt do parts[#parts + 1] = struct.pack('<dd', times[i], weights[i]) end
store(table.concat(parts))
return { allowed, struct.pack('<ddd', limit - sum, retry, resetAt) }
`;

export const SCRIPTS: Readonly<Record<Algorithm, string>> = {
  'token-bucket': TOKEN_BUCKET,
  'fixed-window': FIXED_WINDOW,
  'sliding-window': SLIDING_WINDOW,
  'sliding-log': SLIDING_LOG,
};
