//! Topic history kept in Redis, for a [`RedisLayer`]: every process of the layer numbers a
//! topic's pushes in one sequence and recovers the pushes of the others.
//!
//! Per history topic (its group `g`) there are three keys on the shard of the group's channel:
//! `{prefix}__history__{g}:seq` (the last `seq`, by `INCR`), `…:log` (a stream whose entry ids are
//! `{seq}-0`, capped with `MAXLEN ~ size`, each entry the published bytes and the Redis time) and
//! `…:epoch` (made with `SET NX` when missing). All three expire `ttl` after the last push.
//!
//! One Lua script numbers, keeps and publishes a push: Redis runs it atomically, so a push is in
//! the log if and only if it was published, and pushes reach every subscriber in `seq` order.
//! The script publishes exactly the msgpack the layer publishes for any topic push: the layer
//! encodes the push with `seq: nil`, splits the bytes at that `nil`, and the script puts the
//! `seq` it assigned there (as rmp encodes a non-negative integer: smallest form).

use std::sync::Mutex;

use serde_json::Value;

use super::{Inner, RedisLayer, backend};
use crate::layer::msgpack::{decode_message, encode_body};
use crate::layer::{LayerBody, LayerError};
use crate::topic::history::{History, Missed, Recovery, Since};

/// Numbers, keeps and publishes one push. KEYS: seq, log, epoch. ARGV: the group's channel, the
/// encoded push before and after its `seq`, size, ttl in ms, a fresh epoch.
// The seq key exists whenever the epoch does (a recovering read that makes the epoch sets it to
// 0): one missing beside its epoch was lost alone (evicted), and so is the epoch's numbering.
const APPEND: &str = r#"
if redis.call('SET', KEYS[3], ARGV[6], 'NX', 'PX', ARGV[5]) then
  redis.call('DEL', KEYS[1], KEYS[2])
elseif redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[3], ARGV[6], 'PX', ARGV[5])
  redis.call('DEL', KEYS[2])
else
  redis.call('PEXPIRE', KEYS[3], ARGV[5])
end
local seq = redis.call('INCR', KEYS[1])
local function be(n, width)
  local out = ''
  for _ = 1, width do
    out = string.char(n % 256) .. out
    n = math.floor(n / 256)
  end
  return out
end
local encoded
if seq < 128 then encoded = string.char(seq)
elseif seq < 256 then encoded = '\204' .. be(seq, 1)
elseif seq < 65536 then encoded = '\205' .. be(seq, 2)
elseif seq < 4294967296 then encoded = '\206' .. be(seq, 4)
else encoded = '\207' .. be(seq, 8) end
local payload = ARGV[2] .. encoded .. ARGV[3]
local now = redis.call('TIME')
local ms = now[1] * 1000 + math.floor(now[2] / 1000)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], seq .. '-0', 'p', payload, 't', ms)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('PUBLISH', ARGV[1], payload)
return seq
"#;

/// The epoch (made when missing), the last `seq`, the Redis time in ms and, when the client's
/// epoch is the topic's and its `seq` is behind, at most `size` entries after its `seq`. KEYS: seq, log, epoch. ARGV: a
/// fresh epoch, ttl in ms, the client's seq, its epoch, size.
// A read never extends the epoch alone: were it to outlive the seq key, numbering would start
// again at 1 under the same epoch, and a client holding an old seq would "recover" new pushes.
// A seq key missing beside its epoch was lost alone: a new epoch, as for a lost epoch.
const SINCE: &str = r#"
if redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('DEL', KEYS[2])
  redis.call('SET', KEYS[1], 0, 'PX', ARGV[2])
elseif redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[2])
  redis.call('DEL', KEYS[2])
  redis.call('SET', KEYS[1], 0, 'PX', ARGV[2])
end
local epoch = redis.call('GET', KEYS[3])
local latest = tonumber(redis.call('GET', KEYS[1]) or '0')
local now = redis.call('TIME')
local ms = now[1] * 1000 + math.floor(now[2] / 1000)
local entries = {}
if epoch == ARGV[4] and tonumber(ARGV[3]) < latest then
  entries = redis.call('XRANGE', KEYS[2], '(' .. ARGV[3] .. '-0', '+', 'COUNT', ARGV[5])
end
return {epoch, latest, ms, entries}
"#;

/// A Lua script run with `EVALSHA`, falling back to `EVAL` when Redis does not have it (first
/// use, or after a restart or `SCRIPT FLUSH`).
#[derive(Debug)]
pub(super) struct Script {
    source: &'static str,
    sha: Mutex<Option<String>>,
}

impl Script {
    pub(super) const fn new(source: &'static str) -> Self {
        Script { source, sha: Mutex::new(None) }
    }

    pub(super) async fn run<T: redis::FromRedisValue>(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        keys: &[String],
        args: &[Vec<u8>],
    ) -> redis::RedisResult<T> {
        let known = self.sha.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        if let Some(sha) = known {
            let result = redis::cmd("EVALSHA").arg(sha).arg(keys.len()).arg(keys).arg(args).query_async(conn).await;
            match result {
                Err(err) if err.code() == Some("NOSCRIPT") => {}
                result => return result,
            }
        }
        let result = redis::cmd("EVAL").arg(self.source).arg(keys.len()).arg(keys).arg(args).query_async(conn).await;
        if result.is_ok() {
            let sha: redis::RedisResult<String> =
                redis::cmd("SCRIPT").arg("LOAD").arg(self.source).query_async(conn).await;
            if let Ok(sha) = sha {
                *self.sha.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(sha);
            }
        }
        result
    }
}

/// The scripts of one layer.
#[derive(Debug)]
pub(super) struct Scripts {
    append: Script,
    since: Script,
}

impl Default for Scripts {
    fn default() -> Self {
        Scripts { append: Script::new(APPEND), since: Script::new(SINCE) }
    }
}

fn new_epoch() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn ttl_ms(history: History) -> Vec<u8> {
    history.ttl().as_millis().max(1).to_string().into_bytes()
}

impl Inner {
    fn history_keys(&self, group: &str) -> [String; 3] {
        let base = format!("{}__history__{group}", self.prefix);
        [format!("{base}:seq"), format!("{base}:log"), format!("{base}:epoch")]
    }
}

impl RedisLayer {
    /// Numbers `event_data`, keeps it in `group`'s log and publishes it to the group, in one
    /// script; the `seq` it got. An error (Redis unreachable) is counted as a failed publish:
    /// then the push is neither kept nor published.
    pub(crate) async fn history_publish(
        &self,
        group: &str,
        history: History,
        topic: &str,
        event_data: Value,
    ) -> Result<u64, LayerError> {
        let inner = &self.0;
        let channel = inner.group_channel(group);
        let body = LayerBody::TopicEvent { topic: topic.to_owned(), seq: None, event_data };
        let encoded = encode_body(&body).map_err(backend)?;
        // `"seq"` then nil: the first 0xc0 of the encoding, since none comes before it (the
        // type, the topic's UTF-8 and their headers cannot hold one).
        let at = encoded
            .windows(5)
            .position(|w| w == [0xa3, b's', b'e', b'q', 0xc0])
            .map(|at| at + 4)
            .ok_or_else(|| backend("a topic push without its seq field"))?;
        if encoded.len() + 8 > inner.max_message_size {
            return Err(backend(format!(
                "a message of {} bytes is over the layer's limit of {} bytes; not published",
                encoded.len(),
                inner.max_message_size
            )));
        }
        let keys = inner.history_keys(group);
        let args = [
            channel.clone().into_bytes(),
            encoded[..at].to_vec(),
            encoded[at + 1..].to_vec(),
            history.size().to_string().into_bytes(),
            ttl_ms(history),
            new_epoch().into_bytes(),
        ];
        let scripts = &inner.scripts;
        let appended = inner
            .on_publisher(&channel, |mut conn| async move { scripts.append.run::<u64>(&mut conn, &keys, &args).await })
            .await;
        appended.map_err(|err| inner.publish_failed(&channel, err))
    }

    /// The epoch `group`'s pushes are numbered under now (`Some("")` when it has none yet);
    /// `None` when Redis cannot be read.
    pub(crate) async fn history_epoch(&self, group: &str) -> Option<String> {
        let inner = &self.0;
        let channel = inner.group_channel(group);
        let [_, _, epoch_key] = inner.history_keys(group);
        let read = inner
            .on_publisher(&channel, |mut conn| async move {
                redis::cmd("GET").arg(&epoch_key).query_async::<Option<String>>(&mut conn).await
            })
            .await;
        read.inspect_err(|err| tracing::warn!(%group, error = %err, "could not read a topic's epoch from Redis"))
            .ok()
            .map(Option::unwrap_or_default)
    }

    /// The answer to a client that stopped at `since` on `group`, and what it missed.
    pub(crate) async fn history_since(
        &self,
        group: &str,
        history: History,
        since: &Since,
    ) -> Result<(Recovery, Missed), LayerError> {
        let inner = &self.0;
        let channel = inner.group_channel(group);
        let keys = inner.history_keys(group);
        let asked = since.seq.unwrap_or(u64::MAX);
        // No epoch of ours is empty: a malformed `since` reads nothing.
        let epoch_asked = since.epoch.as_deref().filter(|_| since.seq.is_some()).unwrap_or_default();
        let args = [
            new_epoch().into_bytes(),
            ttl_ms(history),
            asked.to_string().into_bytes(),
            epoch_asked.as_bytes().to_vec(),
            history.size().to_string().into_bytes(),
        ];
        type Entries = Vec<(String, Vec<(String, Vec<u8>)>)>;
        let scripts = &inner.scripts;
        let (epoch, latest, now, entries): (String, u64, u64, Entries) = inner
            .on_publisher(&channel, |mut conn| async move { scripts.since.run(&mut conn, &keys, &args).await })
            .await
            .map_err(backend)?;
        let oldest_fresh = now.saturating_sub(u64::try_from(history.ttl().as_millis()).unwrap_or(u64::MAX));
        let mut missed = Vec::with_capacity(entries.len());
        let mut expected = asked.saturating_add(1);
        let mut complete = since.epoch.as_deref() == Some(epoch.as_str()) && since.seq.is_some() && asked <= latest;
        for (id, fields) in entries {
            if !complete {
                break;
            }
            let seq = id.split_once('-').and_then(|(seq, _)| seq.parse::<u64>().ok());
            let mut payload = None;
            let mut at = None;
            for (name, value) in fields {
                match name.as_str() {
                    "p" => payload = Some(value),
                    "t" => at = std::str::from_utf8(&value).ok().and_then(|t| t.parse::<u64>().ok()),
                    _ => {}
                }
            }
            // The first missed push must be the one after the client's, and still fresh.
            if seq != Some(expected) || (seq == Some(asked.saturating_add(1)) && at.is_none_or(|at| at < oldest_fresh))
            {
                complete = false;
                break;
            }
            match payload.as_deref().map(decode_message) {
                Some(Ok(LayerBody::TopicEvent { event_data, .. })) => missed.push((expected, event_data)),
                _ => {
                    complete = false;
                    break;
                }
            }
            expected += 1;
        }
        let recovered = complete && expected == latest.saturating_add(1);
        if !recovered {
            missed.clear();
        }
        Ok((Recovery { recovered, seq: latest, epoch }, missed))
    }
}
