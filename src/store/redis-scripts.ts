// The Lua scripts of the Redis engine. Each runs atomically and touches the keys of one session
// (all tagged `{S}`), plus instance leases and doorbell channels.
//
// Keys (prefix P, session S):
//   P{S}         hash   st live|hib · own instance · ep epoch · pr principal · w wire · pv · ip · ll · sb
//                       · il last inbox id · ic inbox id processed by the owner · la last activity · ca
//   P{S}:in      stream client→server messages: m JSON · x extra · t response stream tag · p previous id
//                       · n the request's mark (below) when taken while the owner was not listening
//   P{S}:om      hash   per stream tag: h:<tag> holder · l:<tag> last id · f:<tag> finished · s:<tag>
//                       opened at epoch · dl:<tag> last id a connection received; and q:<id> a legacy
//                       request in flight since epoch · k:<id> a batch's request in flight, its stream's
//                       tag · n:<tag> / n:q:<id> taken while the owner was not listening (it never had
//                       the request: a takeover runs it instead of failing it)
//   P{S}:o:<tag> stream server→client messages: d JSON · p previous id · f 1 on the stream's last
//   P{S}:of      zset   finished POST streams' tags by finish time: beyond the retained count, the
//                       oldest one's log and fields go (a busy session's metadata stays bounded)
//   Pi:<iid>     string an instance's lease
//   Pss          zset   live sessions (for list_changed fan-out; the score is not read)
//   Prs:<sha1>   set    `S|tag` of the sessions subscribed to a URI
// Doorbells on channel Pb:<iid>: `in|S` (inbox), `im|S|id|prev|tag|x\nm` (the one message just put in
// the inbox: x and m are JSON, which never holds a raw newline), `ev|S|tag|id|prev|fin|data` (event for a holder),
// `eg|S|tag|id` (an event too large to ring with: read it from the log), `dt|S|tag` (another instance took
// the stream), `ow|S|iid` (the session has a new owner: holders check its lease), `end|S` (the session
// ended). An instance ignores a kind it does not know, so new kinds leave older instances as they were.
// A copy rides along only up to DOORBELL_MAX_BYTES: Redis cuts a subscriber off whose output buffer
// grows past its pub/sub limit, and the log has every message anyway.

/** The largest message a doorbell carries. */
export const DOORBELL_MAX_BYTES = 16 * 1024;

/** KEYS: H IN OM IX · ARGV: sid me principal wire now ttl */
export const CREATE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'st', 'live', 'own', ARGV[2], 'ep', 1, 'pr', ARGV[3], 'w', ARGV[4],
  'ca', ARGV[5], 'la', ARGV[5], 'il', '0-0', 'ic', '0-0')
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[1])
redis.call('PEXPIRE', KEYS[4], ARGV[6])
return 1
`;

/**
 * Client messages into the inbox, durably, before they are acknowledged.
 * KEYS: H IN OM OF S (the log of the POST's stream; any key of the session when there is none)
 * · ARGV: sid me principal now ttl tag leasePrefix channelPrefix n, then n × (m x q)
 * where q names the message's request: always on a legacy session (its answer goes to the one legacy
 * stream), on a Streamable HTTP session only where batches are allowed; '' otherwise.
 * Returns {st, own, ep, ownerAlive, prevInboxId, lastInboxId} or {'gone'} or {'busy'}.
 */
export const INGRESS = `
local h = redis.call('HMGET', KEYS[1], 'st', 'pr', 'own', 'ep', 'il')
local st = h[1]
if not st or st == 'del' or h[2] ~= ARGV[3] then return {'gone'} end
local own = h[3]
local ep = h[4]
local prev = h[5]
local first = prev
local id = prev
local tag = ARGV[6]
if tag ~= '' then
  -- The stream of this POST's first request is open: that request still runs (sent again; its connection broke).
  local open = redis.call('HMGET', KEYS[3], 's:' .. tag, 'f:' .. tag)
  if open[1] and open[2] ~= '1' then return {'busy'} end
  if open[2] == '1' then
    -- A request id used again after its stream finished: the stream starts over, empty.
    redis.call('DEL', KEYS[5])
    redis.call('HDEL', KEYS[3], 'l:' .. tag, 'f:' .. tag, 'dl:' .. tag, 'n:' .. tag)
    redis.call('ZREM', KEYS[4], tag)
  end
  -- Any other request of the POST still running, alone or in a batch (batches: 2025-03-26 only).
  local requests = 0
  for i = 0, tonumber(ARGV[9]) - 1 do
    local q = ARGV[12 + 3 * i]
    if q ~= '' then
      requests = requests + 1
      if redis.call('HEXISTS', KEYS[3], 'k:' .. q) == 1 then return {'busy'} end
      if 'r.' .. q ~= tag then
        local other = redis.call('HMGET', KEYS[3], 's:r.' .. q, 'f:r.' .. q)
        if other[1] and other[2] ~= '1' then return {'busy'} end
      end
    end
  end
  -- A batch's requests are each noted until answered: a takeover fails those left, not just the first.
  if requests > 1 then
    for i = 0, tonumber(ARGV[9]) - 1 do
      local q = ARGV[12 + 3 * i]
      if q ~= '' then redis.call('HSET', KEYS[3], 'k:' .. q, tag) end
    end
  end
end
local alive = 0
-- The caller is the owner: whether its own lease runs changes nothing here (it delivers, or takes over).
if own == ARGV[2] then alive = 1 elseif own ~= '' and redis.call('EXISTS', ARGV[7] .. own) == 1 then alive = 1 end
-- Nobody listens on a live owner's channel: its process is gone, though its lease has yet to lapse.
if st == 'live' and own ~= ARGV[2] and alive == 1 and redis.call('PUBSUB', 'NUMSUB', ARGV[8] .. own)[2] == 0 then alive = 0 end
-- Messages the owner cannot have had carry their request's mark (n:<tag>, or n:q:<id> for a legacy
-- request), set in OM too: a takeover runs them instead of failing them as lost, and whoever delivers
-- one first clears its mark.
local unheard = st == 'live' and own ~= ARGV[2] and alive == 0
for i = 0, tonumber(ARGV[9]) - 1 do
  local q = ARGV[12 + 3 * i]
  local mark
  if unheard and tag ~= '' then mark = 'n:' .. tag elseif unheard and q ~= '' then mark = 'n:q:' .. q end
  if mark then
    id = redis.call('XADD', KEYS[2], '*', 'm', ARGV[10 + 3 * i], 'x', ARGV[11 + 3 * i], 't', tag, 'p', prev, 'n', mark)
    redis.call('HSET', KEYS[3], mark, '1')
  else
    id = redis.call('XADD', KEYS[2], '*', 'm', ARGV[10 + 3 * i], 'x', ARGV[11 + 3 * i], 't', tag, 'p', prev)
  end
  prev = id
  if q ~= '' and tag == '' then redis.call('HSET', KEYS[3], 'q:' .. q, ep) end
end
redis.call('HSET', KEYS[1], 'il', id, 'la', ARGV[4])
if tag ~= '' then redis.call('HSET', KEYS[3], 'h:' .. tag, ARGV[2], 's:' .. tag, ep) end
-- TTLs are renewed a tenth of the TTL beyond it, so a busy session renews them once per tenth, not per
-- message. OM says when: every other script that renews the session's TTLs sets OM's to the TTL or less
-- (ATTACH, ACQUIRE, TOUCH), and OM is missing or has none only before its first field, so whenever
-- OM has more than the TTL left, this script renewed all three in the last tenth, and the messages
-- just added (a stream is never deleted when trimmed) are in a key that has a TTL.
local ttl = tonumber(ARGV[5])
if redis.call('PTTL', KEYS[3]) <= ttl then
  for _, k in ipairs({KEYS[1], KEYS[2], KEYS[3]}) do redis.call('PEXPIRE', k, ttl + math.floor(ttl / 10)) end
end
if st == 'live' and own ~= ARGV[2] and alive == 1 then
  if tonumber(ARGV[9]) == 1 and #ARGV[10] + #ARGV[11] <= ${DOORBELL_MAX_BYTES} then
    redis.call('PUBLISH', ARGV[8] .. own, 'im|' .. ARGV[1] .. '|' .. id .. '|' .. first .. '|' .. tag .. '|' .. ARGV[11] .. '\\n' .. ARGV[10])
  else
    redis.call('PUBLISH', ARGV[8] .. own, 'in|' .. ARGV[1])
  end
end
return {st, own, ep, alive, first, id}
`;

/**
 * A server→client message into a stream's log, then a doorbell to the stream's holder. With an
 * epoch, only the owner of that epoch may append (a paused old owner is fenced).
 * KEYS: H O OM OF · ARGV: sid me epoch('' = unfenced) tag data fin ttl finishedTtl maxEvents channelPrefix
 * answeredRequest('' = none: its in-flight mark goes, q: on the legacy stream, k: in a batch) retainFinished streamPrefix,
 * then field value … of the session hash that the message makes true (the handshake's answer: pv, ip; a
 * subscription's: sb+ or sb- and the URI, added to or taken from the JSON list in sb)
 * Returns {id, prev, holder} or {'fenced'} or {'gone'}.
 */
export const APPEND = `
local h = redis.call('HMGET', KEYS[1], 'st', 'own', 'ep')
if not h[1] then return {'gone'} end -- every session hash has st
if ARGV[3] ~= '' and (h[2] ~= ARGV[2] or h[3] ~= ARGV[3]) then return {'fenced'} end
for i = 14, #ARGV, 2 do
  local f, v = ARGV[i], ARGV[i + 1]
  if f == 'sb+' or f == 'sb-' then
    -- One subscription more or less, applied here so that answers in any order leave the right set.
    local list, had = {}, false
    local sb = redis.call('HGET', KEYS[1], 'sb')
    if sb and sb ~= '' then
      for _, uri in ipairs(cjson.decode(sb)) do
        if uri == v then had = true end
        if uri ~= v or f == 'sb+' then table.insert(list, uri) end
      end
    end
    if f == 'sb+' and not had then table.insert(list, v) end
    redis.call('HSET', KEYS[1], 'sb', #list == 0 and '' or cjson.encode(list))
  else
    redis.call('HSET', KEYS[1], f, v)
  end
end
local tag = ARGV[4]
local prev = redis.call('HGET', KEYS[3], 'l:' .. tag) or '0-0'
local id
if ARGV[6] == '1' then
  id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[9], '*', 'd', ARGV[5], 'p', prev, 'f', '1')
  redis.call('HSET', KEYS[3], 'l:' .. tag, id, 'f:' .. tag, '1')
  redis.call('PEXPIRE', KEYS[2], ARGV[8])
  redis.call('ZADD', KEYS[4], tonumber(string.match(id, '^%d+')), tag)
  redis.call('PEXPIRE', KEYS[4], ARGV[7])
  if redis.call('ZCARD', KEYS[4]) > tonumber(ARGV[12]) then
    local old = redis.call('ZPOPMIN', KEYS[4])[1]
    redis.call('HDEL', KEYS[3], 'h:' .. old, 'l:' .. old, 'f:' .. old, 's:' .. old, 'dl:' .. old, 'n:' .. old)
    redis.call('DEL', ARGV[13] .. old)
  end
else
  id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[9], '*', 'd', ARGV[5], 'p', prev)
  redis.call('HSET', KEYS[3], 'l:' .. tag, id)
  redis.call('PEXPIRE', KEYS[2], ARGV[7])
end
if ARGV[11] ~= '' then
  if tag == 'l' then redis.call('HDEL', KEYS[3], 'q:' .. ARGV[11], 'n:q:' .. ARGV[11]) else redis.call('HDEL', KEYS[3], 'k:' .. ARGV[11]) end
end
local holder = redis.call('HGET', KEYS[3], 'h:' .. tag) or ''
-- An unfenced append (a change, from any instance) rings the holder even when it is the caller: nothing else
-- delivers it there.
if holder ~= '' and (holder ~= ARGV[2] or ARGV[3] == '') then
  if #ARGV[5] <= ${DOORBELL_MAX_BYTES} then
    redis.call('PUBLISH', ARGV[10] .. holder, 'ev|' .. ARGV[1] .. '|' .. tag .. '|' .. id .. '|' .. prev .. '|' .. ARGV[6] .. '|' .. ARGV[5])
  else
    redis.call('PUBLISH', ARGV[10] .. holder, 'eg|' .. ARGV[1] .. '|' .. tag .. '|' .. id)
  end
end
return {id, prev, holder}
`;

/**
 * A connection takes a stream: it becomes the holder, the previous holder is told to let go.
 * KEYS: H OM · ARGV: sid me principal tag now ttl leasePrefix channelPrefix
 * Returns {st, own, ownerAlive, lastId, finished, deliveredId, wire} or {'gone'}.
 */
export const ATTACH = `
local st = redis.call('HGET', KEYS[1], 'st')
if not st or st == 'del' or redis.call('HGET', KEYS[1], 'pr') ~= ARGV[3] then return {'gone'} end
local tag = ARGV[4]
-- A POST's stream that was never opened (a made-up Last-Event-ID): nothing to hold, nothing noted.
if string.sub(tag, 1, 2) == 'r.' and not redis.call('HGET', KEYS[2], 's:' .. tag) then return {st, '', 0, '', '0', '', '', ''} end
local old = redis.call('HGET', KEYS[2], 'h:' .. tag)
redis.call('HSET', KEYS[2], 'h:' .. tag, ARGV[2])
redis.call('HSET', KEYS[1], 'la', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
if old and old ~= ARGV[2] then redis.call('PUBLISH', ARGV[8] .. old, 'dt|' .. ARGV[1] .. '|' .. tag) end
local own = redis.call('HGET', KEYS[1], 'own')
local alive = 0
if own ~= '' and redis.call('EXISTS', ARGV[7] .. own) == 1 then alive = 1 end
return {st, own, alive, redis.call('HGET', KEYS[2], 'l:' .. tag) or '', redis.call('HGET', KEYS[2], 'f:' .. tag) or '0',
  redis.call('HGET', KEYS[2], 'dl:' .. tag) or '', redis.call('HGET', KEYS[1], 'w'), redis.call('HGET', KEYS[2], 's:' .. tag) or ''}
`;

/** A holder lets go of a stream, remembering what its connection received. KEYS: OM · ARGV: me tag lastId */
export const RELEASE = `
if redis.call('HGET', KEYS[1], 'h:' .. ARGV[2]) == ARGV[1] then
  redis.call('HDEL', KEYS[1], 'h:' .. ARGV[2])
  redis.call('HSET', KEYS[1], 'dl:' .. ARGV[2], ARGV[3])
end
return 1
`;

/**
 * Ownership moves: from a hibernated session, or from an owner whose lease is gone. The epoch
 * grows, so the old owner's next append is fenced.
 * Every other instance holding one of the session's streams is told who owns it now.
 * KEYS: H OM · ARGV: me expectedOwner leasePrefix now ttl sid channelPrefix
 * Returns {'ok', epoch, previous state, hash fields…, '|', om fields…} or {'alive'|'moved'|'gone', owner}.
 */
export const ACQUIRE = `
local st = redis.call('HGET', KEYS[1], 'st')
if not st or st == 'del' then return {'gone', ''} end
local own = redis.call('HGET', KEYS[1], 'own')
if st == 'live' then
  if own == ARGV[1] then return {'mine', own} end
  if own ~= ARGV[2] then return {'moved', own} end
  if redis.call('EXISTS', ARGV[3] .. own) == 1 then return {'alive', own} end
end
local ep = redis.call('HINCRBY', KEYS[1], 'ep', 1)
redis.call('HSET', KEYS[1], 'st', 'live', 'own', ARGV[1], 'la', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5]) -- no more than the TTL: the next INGRESS renews all (see there)
local out = {'ok', tostring(ep), st}
for _, v in ipairs(redis.call('HGETALL', KEYS[1])) do table.insert(out, v) end
table.insert(out, '|')
local told = {[ARGV[1]] = true}
local om = redis.call('HGETALL', KEYS[2])
for i = 1, #om, 2 do
  local holder = om[i + 1]
  if string.sub(om[i], 1, 2) == 'h:' and not told[holder] then
    told[holder] = true
    redis.call('PUBLISH', ARGV[7] .. holder, 'ow|' .. ARGV[6] .. '|' .. ARGV[1])
  end
end
for _, v in ipairs(om) do table.insert(out, v) end
return out
`;

/**
 * The owner puts an idle session to sleep: only if it still owns it at this epoch and has processed
 * every inbox entry. KEYS: H IN · ARGV: me epoch processedInboxId
 */
export const HIBERNATE = `
if redis.call('HGET', KEYS[1], 'st') ~= 'live' or redis.call('HGET', KEYS[1], 'own') ~= ARGV[1]
  or redis.call('HGET', KEYS[1], 'ep') ~= ARGV[2] or redis.call('HGET', KEYS[1], 'il') ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[1], 'st', 'hib', 'own', '', 'ic', ARGV[3])
redis.call('XTRIM', KEYS[2], 'MINID', ARGV[3])
return 1
`;

/**
 * The session ends everywhere: its keys go, its owner and holders are rung.
 * KEYS: H IN OM IX OF · ARGV: sid me keyPrefixOfStreams channelPrefix subscriptionSetPrefix
 */
export const END = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local rung = {}
local own = redis.call('HGET', KEYS[1], 'own')
if own and own ~= '' and own ~= ARGV[2] then rung[own] = true end
local om = redis.call('HGETALL', KEYS[3])
for i = 1, #om, 2 do
  local f = om[i]
  if string.sub(f, 1, 2) == 'l:' then redis.call('DEL', ARGV[3] .. string.sub(f, 3)) end
  if string.sub(f, 1, 2) == 'h:' and om[i + 1] ~= ARGV[2] then rung[om[i + 1]] = true end
end
local sb = redis.call('HGET', KEYS[1], 'sb')
if sb and sb ~= '' then
  for _, uri in ipairs(cjson.decode(sb)) do
    redis.call('SREM', ARGV[5] .. redis.sha1hex(uri), ARGV[1] .. '|g', ARGV[1] .. '|l')
  end
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[5])
redis.call('ZREM', KEYS[4], ARGV[1])
for iid, _ in pairs(rung) do redis.call('PUBLISH', ARGV[4] .. iid, 'end|' .. ARGV[1]) end
return 1
`;

/**
 * A session whose streams are held on an instance is in use, messages or not (as in one process, where
 * an attached stream keeps a session from expiring): its last activity and its keys' TTLs are renewed,
 * with the logs of the held streams. KEYS: H IN OM OF IX · ARGV: sid now ttl streamPrefix, then the held tags.
 * Returns the session's subscriptions (JSON, '' for none), whose sets the caller renews (they are not
 * in the session's hash slot), or nil when the session no longer exists.
 */
export const TOUCH = `
local st = redis.call('HGET', KEYS[1], 'st')
if not st or st == 'del' then return false end
redis.call('HSET', KEYS[1], 'la', ARGV[2])
for _, k in ipairs({KEYS[1], KEYS[2], KEYS[3], KEYS[4]}) do redis.call('PEXPIRE', k, ARGV[3]) end
for i = 5, #ARGV do redis.call('PEXPIRE', ARGV[4] .. ARGV[i], ARGV[3]) end
redis.call('ZADD', KEYS[5], ARGV[2], ARGV[1]) -- back in the index if the index itself had expired
return redis.call('HGET', KEYS[1], 'sb') or ''
`;

/** The owner's processed inbox position; nothing is written for a session that is gone. KEYS: H IN · ARGV: id */
export const INBOX_DONE = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'ic', ARGV[1])
redis.call('XTRIM', KEYS[2], 'MINID', ARGV[1])
return 1
`;
