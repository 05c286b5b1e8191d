//! Topic presence kept in Redis, for a [`RedisLayer`]: every process lists the members of every
//! other, and the members of a process that dies without leaving expire and are announced as
//! gone by a live one.
//!
//! Per presence topic (its group `g`) there are two keys on the shard of the group's channel:
//! `{prefix}__presence__{g}:entries` (a hash: member id → entry JSON) and `…:expiry` (a sorted
//! set: member id → the Redis time in ms at which it expires). Every process refreshes the
//! expiry of its own members every `presence_ttl / 3`; both keys expire `presence_ttl` after
//! the last write, so a topic nobody follows any more leaves nothing behind.
//!
//! Each change is one Lua script, so Redis runs it without interleaving: the cap is checked and
//! the member added in one step, and an expired member is removed by exactly one script, whose
//! process alone announces its leave.

use std::time::Duration;

use super::history::Script;
use super::{Inner, RedisLayer, backend};
use crate::layer::LayerError;
use crate::topic::PresenceLimits;
use crate::topic::presence::Member;
use crate::topic::presence::in_redis::Joined;

/// How long a member stays listed without a refresh from its process, by default.
pub(super) const DEFAULT_PRESENCE_TTL: Duration = Duration::from_secs(15);

/// Removes the expired members (at most ARGV[2]) into `gone`, as id, entry pairs. Shared by the
/// scripts below, which define `now`, `cap` and `gone` first.
macro_rules! sweep {
    () => {
        r#"
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, cap)) do
  local entry = redis.call('HGET', KEYS[1], id)
  redis.call('HDEL', KEYS[1], id)
  redis.call('ZREM', KEYS[2], id)
  gone[#gone + 1] = id
  gone[#gone + 1] = entry or ''
end
"#
    };
}

/// Sweeps, lists ARGV[3] with entry ARGV[4] unless it is empty or the topic is full, and reads
/// at most `cap` members. KEYS: entries, expiry. ARGV: ttl in ms, cap, id, entry. Returns
/// `{listed, gone, members}`, the last two as flat id, entry lists.
const SYNC: &str = concat!(
    r#"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local ttl = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local gone = {}
"#,
    sweep!(),
    r#"
local listed = 0
if ARGV[3] ~= '' and (redis.call('ZSCORE', KEYS[2], ARGV[3]) or redis.call('ZCARD', KEYS[2]) < cap) then
  redis.call('ZADD', KEYS[2], now + ttl, ARGV[3])
  redis.call('HSET', KEYS[1], ARGV[3], ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
  listed = 1
end
local members = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, cap - 1)) do
  members[#members + 1] = id
  members[#members + 1] = redis.call('HGET', KEYS[1], id) or ''
end
return {listed, gone, members}
"#
);

/// Removes member ARGV[1]; its entry if this script removed it, else nil. KEYS: entries, expiry.
const LEAVE: &str = r#"
local entry = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('ZREM', KEYS[2], ARGV[1]) == 1 then return entry or '' end
return false
"#;

/// Pushes back the expiry of this process's members (ARGV[3..], id, entry pairs), lists again
/// those that are missing (swept while this process was cut off, or Redis lost them) while the
/// topic has room, then sweeps the others' expired members. KEYS: entries, expiry. ARGV: ttl in
/// ms, cap, then the pairs. Returns `{rejoined ids, gone}`.
const REFRESH: &str = concat!(
    r#"
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local ttl = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local rejoined = {}
for i = 3, #ARGV - 1, 2 do
  local id = ARGV[i]
  if redis.call('ZSCORE', KEYS[2], id) then
    redis.call('ZADD', KEYS[2], now + ttl, id)
  elseif redis.call('ZCARD', KEYS[2]) < cap then
    redis.call('ZADD', KEYS[2], now + ttl, id)
    redis.call('HSET', KEYS[1], id, ARGV[i + 1])
    rejoined[#rejoined + 1] = id
  end
end
if #ARGV > 2 then
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
end
local gone = {}
"#,
    sweep!(),
    r#"
return {rejoined, gone}
"#
);

/// The presence scripts of one layer.
#[derive(Debug)]
pub(super) struct Scripts {
    sync: Script,
    leave: Script,
    refresh: Script,
}

impl Default for Scripts {
    fn default() -> Self {
        Scripts { sync: Script::new(SYNC), leave: Script::new(LEAVE), refresh: Script::new(REFRESH) }
    }
}

/// Flat `id, entry, id, entry…` as pairs; an id or entry that is not UTF-8 (not written by
/// chanx-rs) is dropped.
fn pairs(flat: Vec<Vec<u8>>) -> Vec<Member> {
    let mut out = Vec::with_capacity(flat.len() / 2);
    let mut items = flat.into_iter();
    while let (Some(id), Some(entry)) = (items.next(), items.next()) {
        if let (Ok(id), Ok(entry)) = (String::from_utf8(id), String::from_utf8(entry)) {
            out.push((id, entry));
        }
    }
    out
}

/// The cap as a script argument: Lua numbers are doubles, and Redis reads `ZRANGE` bounds as
/// integers, so a cap beyond 2^30 (no list is that long) is sent as 2^30.
fn cap(limits: PresenceLimits) -> Vec<u8> {
    limits.max_entries.clamp(1, 1 << 30).to_string().into_bytes()
}

fn ms(duration: Duration) -> Vec<u8> {
    duration.as_millis().max(1).to_string().into_bytes()
}

impl Inner {
    fn presence_keys(&self, group: &str) -> [String; 2] {
        let base = format!("{}__presence__{group}", self.prefix);
        [format!("{base}:entries"), format!("{base}:expiry")]
    }
}

impl RedisLayer {
    /// How often each process refreshes its members' expiry and sweeps the expired.
    pub(crate) fn presence_refresh_interval(&self) -> Duration {
        (self.0.presence_ttl / 3).max(Duration::from_millis(10))
    }

    /// Sweeps `group`'s expired members, lists `member` (id, entry) when given and there is
    /// room, and reads the list.
    pub(crate) async fn presence_sync(
        &self,
        group: &str,
        limits: PresenceLimits,
        member: Option<(&str, &str)>,
    ) -> Result<Joined, LayerError> {
        let inner = &self.0;
        let channel = inner.group_channel(group);
        let keys = inner.presence_keys(group);
        let (id, entry) = member.unwrap_or_default();
        let args = [ms(inner.presence_ttl), cap(limits), id.as_bytes().to_vec(), entry.as_bytes().to_vec()];
        let script = &inner.presence_scripts.sync;
        let (listed, gone, members): (i64, Vec<Vec<u8>>, Vec<Vec<u8>>) = inner
            .on_publisher(&channel, |mut conn| async move { script.run(&mut conn, &keys, &args).await })
            .await
            .map_err(backend)?;
        Ok(Joined { listed: listed == 1, members: pairs(members), gone: pairs(gone) })
    }

    /// Removes member `id` from `group`; its entry when this call removed it.
    pub(crate) async fn presence_leave(&self, group: &str, id: &str) -> Result<Option<String>, LayerError> {
        let inner = &self.0;
        let channel = inner.group_channel(group);
        let keys = inner.presence_keys(group);
        let args = [id.as_bytes().to_vec()];
        let script = &inner.presence_scripts.leave;
        let entry: Option<Vec<u8>> = inner
            .on_publisher(&channel, |mut conn| async move { script.run(&mut conn, &keys, &args).await })
            .await
            .map_err(backend)?;
        Ok(entry.map(|entry| String::from_utf8(entry).unwrap_or_default()))
    }

    /// Refreshes this process's members `mine` of `group` (listing again those Redis lost) and
    /// sweeps the expired: the ids listed again, and the members swept.
    pub(crate) async fn presence_refresh(
        &self,
        group: &str,
        limits: PresenceLimits,
        mine: &[Member],
    ) -> Result<(Vec<String>, Vec<Member>), LayerError> {
        let inner = &self.0;
        let channel = inner.group_channel(group);
        let keys = inner.presence_keys(group);
        let mut args = Vec::with_capacity(2 + 2 * mine.len());
        args.push(ms(inner.presence_ttl));
        args.push(cap(limits));
        for (id, entry) in mine {
            args.push(id.as_bytes().to_vec());
            args.push(entry.as_bytes().to_vec());
        }
        let script = &inner.presence_scripts.refresh;
        let (rejoined, gone): (Vec<String>, Vec<Vec<u8>>) = inner
            .on_publisher(&channel, |mut conn| async move { script.run(&mut conn, &keys, &args).await })
            .await
            .map_err(backend)?;
        Ok((rejoined, pairs(gone)))
    }
}
