//! [`RedisCoreLayer`]: the channel layer of Django Channels' default Redis backend (feature
//! `redis`).
//!
//! Wire-compatible with channels_redis's `RedisChannelLayer` (4.x, the `channels_redis.core`
//! layer most Django Channels deployments configure), so a chanx-rs process joins them:
//!
//! - a connection's channel is `specific.{process}!{uuid hex}`; every channel of one process
//!   shares one Redis sorted set, `{prefix}specific.{process}!`, scored by send time, whose
//!   entries are 12 random bytes followed by the msgpack message with an `__asgi_channel__` key
//!   naming the channel(s) it is for. One task per shard pops that set (`ZPOPMIN`, then a
//!   blocking `BZPOPMIN` when it is empty) and hands each message to the local inboxes it names;
//! - a group is the sorted set `{prefix}:group:{group}` of channel names, scored by join time;
//!   a member older than `group_expiry` (a day by default) is dropped, as channels_redis drops it;
//! - a group send reads the members, and writes one message per process (not per member) into
//!   that process's set with one Lua script per shard, skipping a set that already holds
//!   `capacity` messages: the cost is O(members) at the sender;
//! - a set's messages expire `expiry` seconds (60 by default) after they were sent;
//! - with several Redis URLs, a name lives on shard `(crc32(name) & 0xFFF) * shards / 4096`,
//!   where the name of a process-specific channel is its part up to the `!`.
//!
//! What channels_redis drops silently (a send to a full channel inside a group send, a message
//! past its expiry) is counted here ([`RedisCoreLayer::stats`]) and logged; a direct send to a
//! full channel is an error, [`LayerError::ChannelFull`], as `ChannelFull` is in Python.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use redis::aio::MultiplexedConnection;
use serde_json::Value;

use super::msgpack::{DecodeError, body_from_map, decode_value, encode_body};
use super::{ChannelLayer, ChannelReceiver, InboxSender, LayerError, LayerMessage, inbox};

const DEFAULT_EXPIRY: u64 = 60;
const DEFAULT_GROUP_EXPIRY: u64 = 86_400;
const DEFAULT_CAPACITY: usize = 100;
const DEFAULT_INBOX_CAPACITY: usize = 256;
const DEFAULT_MAX_MESSAGE_SIZE: usize = 1 << 20;
const DEFAULT_MAX_GROUP_SIZE: usize = 100_000;
/// channels_redis's `random_prefix_length`: the bytes before each message that keep two equal
/// messages distinct members of a sorted set.
const DEFAULT_RANDOM_PREFIX_LENGTH: usize = 12;
/// Django Channels' `MAX_NAME_LENGTH`: a channel or group name is shorter than this.
const MAX_NAME_LENGTH: usize = 100;
/// How long one blocking pop waits before it is issued again (channels_redis's `brpop_timeout`).
const BLOCK_SECONDS: u64 = 5;
/// How many waiting messages one non-blocking pop takes.
const POP_BATCH: usize = 64;
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const DEFAULT_REFRESH: Duration = Duration::from_secs(60);
/// The key naming the channel(s) of a message inside it, as channels_redis writes it.
const ASGI_CHANNEL: &str = "__asgi_channel__";

/// Writes one message into each of `KEYS`, unless that set already holds its capacity; the
/// 1-based indexes of the keys that were full. One script per shard and group send, atomic, in
/// place of channels_redis's separate expiry, count and add calls, which it matches.
///
/// `ARGV`: the message of each key, the capacity of each key, the score (send time), the
/// expiry cut-off (messages scored below it are dropped first), the key expiry in seconds.
const SEND_SCRIPT: &str = r"
local n = #KEYS
local now, cutoff, expiry = ARGV[2 * n + 1], ARGV[2 * n + 2], ARGV[2 * n + 3]
local full = {}
for i = 1, n do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, cutoff)
    if redis.call('ZCARD', KEYS[i]) < tonumber(ARGV[n + i]) then
        redis.call('ZADD', KEYS[i], now, ARGV[i])
        redis.call('EXPIRE', KEYS[i], expiry)
    else
        full[#full + 1] = i
    end
end
return full
";

/// A channel layer over one or more Redis servers, speaking channels_redis's
/// `RedisChannelLayer` protocol. Cheap to clone; clones share connections.
///
/// ```no_run
/// # async fn run() -> Result<(), chanx::layer::LayerError> {
/// use chanx::layer::RedisCoreLayer;
/// // The same settings as CHANNEL_LAYERS' "default" in the Django project it joins.
/// let layer = RedisCoreLayer::builder(["redis://127.0.0.1:6379"]).prefix("asgi").capacity(100).build()?;
/// let router = chanx::Router::new().with_layer(chanx::Layer::new(layer));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct RedisCoreLayer(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    prefix: String,
    expiry: u64,
    group_expiry: u64,
    capacity: usize,
    inbox_capacity: usize,
    max_message_size: usize,
    max_group_size: usize,
    random_prefix_length: usize,
    /// `specific.{process}!`: this process's part of its channel names.
    process: String,
    shards: Vec<Shard>,
    /// Where sends to channels without a `!` go next (channels_redis picks shards in turn).
    next_shard: AtomicUsize,
    local: RwLock<Local>,
    stats: Counters,
    unique: Unique,
    clock: Clock,
    /// Held (shared) by each membership change while it reaches Redis and the local table, and
    /// (exclusive) by the refresh, so that a refresh never writes back a membership just left.
    memberships: tokio::sync::RwLock<()>,
}

/// What this process holds: its connections' inboxes, and the groups each joined through it.
#[derive(Debug, Default)]
struct Local {
    channels: HashMap<String, InboxSender>,
    groups: HashMap<String, HashSet<String>>,
}

#[derive(Debug, Default)]
struct Counters {
    over_capacity: AtomicU64,
    send_failed: AtomicU64,
    undeliverable: AtomicU64,
    group_truncated: AtomicU64,
    reconnects: AtomicU64,
}

/// The counters of a [`RedisCoreLayer`] since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisCoreStats {
    /// Messages not written because the receiving channel already held `capacity` messages in
    /// Redis (its process does not keep up, or is gone): one per member a group send skipped,
    /// and one per direct send answered with [`LayerError::ChannelFull`].
    pub over_capacity: u64,
    /// Messages this process could not write (Redis unreachable); each send returned an error.
    pub send_failed: u64,
    /// Messages read from Redis but not delivered: oversized, undecodable, for a channel no
    /// longer open here, or a local inbox was full.
    pub undeliverable: u64,
    /// Members a group send skipped because the group held more than `max_group_size`.
    pub group_truncated: u64,
    /// Times a receiving connection was re-established after a loss.
    pub reconnects: u64,
}

impl RedisCoreStats {
    /// The counters in the Prometheus text format, to append to
    /// [`MetricsSnapshot::to_prometheus`](crate::metrics::MetricsSnapshot::to_prometheus).
    ///
    /// ```
    /// let text = chanx::layer::RedisCoreStats::default().to_prometheus();
    /// assert!(text.contains("chanx_redis_core_over_capacity_total 0"));
    /// ```
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        for (name, help, value) in [
            (
                "over_capacity_total",
                "Messages not written to Redis because the receiving channel was at capacity.",
                self.over_capacity,
            ),
            ("send_failed_total", "Messages that could not be written to Redis.", self.send_failed),
            (
                "undeliverable_total",
                "Messages from Redis dropped: oversized, undecodable, for a closed channel, or an inbox was full.",
                self.undeliverable,
            ),
            (
                "group_truncated_total",
                "Group members skipped because a group was over max_group_size.",
                self.group_truncated,
            ),
            ("reconnects_total", "Redis receiving connections re-established.", self.reconnects),
        ] {
            out.push_str(&format!(
                "# HELP chanx_redis_core_{name} {help}\n# TYPE chanx_redis_core_{name} counter\nchanx_redis_core_{name} {value}\n"
            ));
        }
        out
    }
}

#[derive(Debug)]
struct Shard {
    client: redis::Client,
    connection: tokio::sync::Mutex<Option<MultiplexedConnection>>,
}

/// Builds a [`RedisCoreLayer`]. Each setting has the name and the default of channels_redis's;
/// processes sharing a layer must agree on `prefix`, the URLs (in order) and
/// `random_prefix_length`.
#[derive(Debug)]
pub struct RedisCoreLayerBuilder {
    urls: Vec<String>,
    prefix: String,
    expiry: u64,
    group_expiry: u64,
    capacity: usize,
    inbox_capacity: usize,
    max_message_size: usize,
    max_group_size: usize,
    random_prefix_length: usize,
    refresh: Duration,
}

impl RedisCoreLayerBuilder {
    /// The prefix of every Redis key. Defaults to `asgi`, as channels_redis.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Seconds a message waits in Redis for its process before it is dropped. Defaults to 60.
    pub fn expiry(mut self, seconds: u64) -> Self {
        self.expiry = seconds.max(1);
        self
    }

    /// Seconds a group membership lasts after the join. Defaults to 86400 (a day), as
    /// channels_redis: a connection open longer leaves its groups unless it joins again.
    pub fn group_expiry(mut self, seconds: u64) -> Self {
        self.group_expiry = seconds.max(1);
        self
    }

    /// How many messages may wait in Redis for one channel (for one process, since a process's
    /// channels share one set); further ones are not written, and counted as
    /// [`RedisCoreStats::over_capacity`]. Defaults to 100, as channels_redis.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// How many messages may wait in one connection's inbox in this process before further ones
    /// are dropped (and counted), and the connection closed with 1013 so that its client
    /// re-syncs. Defaults to 256.
    pub fn inbox_capacity(mut self, capacity: usize) -> Self {
        self.inbox_capacity = capacity.max(1);
        self
    }

    /// The largest encoded message, in bytes, this layer writes or decodes (1 MiB by default,
    /// as [`Settings::max_message_size`](crate::Settings::max_message_size)); whoever can write
    /// to the Redis must not make every process allocate without bound. A larger message read
    /// is dropped and counted, and sending one is an error.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// The most members a group send reaches (the oldest first); the others are skipped, counted
    /// ([`RedisCoreStats::group_truncated`]) and logged. Defaults to 100,000: reading a group is
    /// an allocation whoever writes to the Redis controls.
    pub fn max_group_size(mut self, members: usize) -> Self {
        self.max_group_size = members.max(1);
        self
    }

    /// How often this process writes its connections' group memberships again, with a fresh
    /// join time. Defaults to 60 s (at most half of `group_expiry`). channels_redis never does:
    /// there a connection open longer than `group_expiry` silently leaves its groups, and after a
    /// Redis restart (without persistence) every connection is out of its groups until it
    /// reconnects. Here both heal within this interval.
    pub fn membership_refresh(mut self, every: Duration) -> Self {
        self.refresh = every.max(Duration::from_millis(10));
        self
    }

    /// channels_redis's `random_prefix_length`: the bytes before each message. Defaults to 12.
    pub fn random_prefix_length(mut self, bytes: usize) -> Self {
        self.random_prefix_length = bytes;
        self
    }

    /// Builds the layer and starts one receiving task per shard. Connections are made lazily,
    /// so this only fails on a malformed URL. Call it inside a Tokio runtime.
    pub fn build(self) -> Result<RedisCoreLayer, LayerError> {
        if self.urls.is_empty() {
            return Err(LayerError::Backend("a Redis layer needs at least one URL".into()));
        }
        let shards = self
            .urls
            .iter()
            .map(|url| {
                let client = redis::Client::open(url.as_str()).map_err(backend)?;
                Ok(Shard { client, connection: tokio::sync::Mutex::new(None) })
            })
            .collect::<Result<Vec<_>, LayerError>>()?;
        let process = format!("specific.{}!", uuid::Uuid::new_v4().simple());
        let inner = Arc::new(Inner {
            prefix: self.prefix,
            expiry: self.expiry,
            group_expiry: self.group_expiry,
            capacity: self.capacity,
            inbox_capacity: self.inbox_capacity,
            max_message_size: self.max_message_size,
            max_group_size: self.max_group_size,
            random_prefix_length: self.random_prefix_length,
            process,
            shards,
            next_shard: AtomicUsize::new(0),
            local: RwLock::default(),
            stats: Counters::default(),
            unique: Unique::new(),
            clock: Clock::default(),
            memberships: tokio::sync::RwLock::new(()),
        });
        let refresh = self.refresh.min(Duration::from_secs(self.group_expiry / 2).max(Duration::from_secs(1)));
        tokio::spawn(refresher(refresh, Arc::downgrade(&inner)));
        // channels_redis's `send` picks the shard of a process-specific channel by hashing the
        // whole name, and its `receive` by hashing the part up to the `!`: with several shards a
        // Python sender may write our set on any of them, so every shard is read.
        for index in 0..inner.shards.len() {
            tokio::spawn(receiver(index, inner.shards[index].client.clone(), Arc::downgrade(&inner)));
        }
        Ok(RedisCoreLayer(inner))
    }
}

fn backend(err: impl std::fmt::Display) -> LayerError {
    LayerError::Backend(err.to_string())
}

impl RedisCoreLayer {
    /// A builder over these Redis URLs (one per shard, in channels_redis's `hosts` order), with
    /// channels_redis's defaults.
    pub fn builder<I>(urls: I) -> RedisCoreLayerBuilder
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        RedisCoreLayerBuilder {
            urls: urls.into_iter().map(Into::into).collect(),
            prefix: "asgi".to_owned(),
            expiry: DEFAULT_EXPIRY,
            group_expiry: DEFAULT_GROUP_EXPIRY,
            capacity: DEFAULT_CAPACITY,
            inbox_capacity: DEFAULT_INBOX_CAPACITY,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_group_size: DEFAULT_MAX_GROUP_SIZE,
            random_prefix_length: DEFAULT_RANDOM_PREFIX_LENGTH,
            refresh: DEFAULT_REFRESH,
        }
    }

    /// A layer on one Redis, with channels_redis's defaults (prefix `asgi`).
    pub fn new(url: &str) -> Result<Self, LayerError> {
        Self::builder([url]).build()
    }

    /// The counters so far.
    pub fn stats(&self) -> RedisCoreStats {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let stats = &self.0.stats;
        RedisCoreStats {
            over_capacity: read(&stats.over_capacity),
            send_failed: read(&stats.send_failed),
            undeliverable: read(&stats.undeliverable),
            group_truncated: read(&stats.group_truncated),
            reconnects: read(&stats.reconnects),
        }
    }
}

/// The Redis key and shard of a channel, as channels_redis computes them.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    key: String,
    /// `None`: a channel without a `!`, whose shard is picked in turn.
    shard: Option<usize>,
}

/// Django Channels' rule for channel names: shorter than 100 characters, ASCII letters, digits,
/// `-`, `_` and `.`, then optionally `!` and word characters, `-`, `_` and `.`.
fn valid_channel_name(name: &str) -> bool {
    let (head, tail) = match name.split_once('!') {
        Some((head, tail)) => (head, Some(tail)),
        None => (name, None),
    };
    let plain = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    name.len() < MAX_NAME_LENGTH
        && !head.is_empty()
        && head.bytes().all(plain)
        // Python's `\w` takes any Unicode word character; ours the ASCII ones, which is all
        // channels_redis itself generates.
        && tail.is_none_or(|tail| tail.bytes().all(plain))
}

/// channels_redis's `_consistent_hash`: CRC-32 folded to 0..4096, then split evenly.
fn consistent_hash(name: &str, ring: usize) -> usize {
    if ring == 1 { 0 } else { (crc32fast::hash(name.as_bytes()) & 0xFFF) as usize * ring / 4096 }
}

impl Inner {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Local> {
        self.local.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Local> {
        self.local.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn group_key(&self, group: &str) -> String {
        format!("{}:group:{group}", self.prefix)
    }

    /// This process's sorted set: where the messages for all its channels wait.
    fn own_key(&self) -> String {
        format!("{}{}", self.prefix, self.process)
    }

    fn target(&self, channel: &str) -> Target {
        match channel.find('!') {
            Some(bang) => {
                let non_local = &channel[..=bang];
                Target {
                    key: format!("{}{non_local}", self.prefix),
                    shard: Some(consistent_hash(non_local, self.shards.len())),
                }
            }
            None => Target { key: format!("{}{channel}", self.prefix), shard: None },
        }
    }

    fn shard_of(&self, target: &Target) -> usize {
        target.shard.unwrap_or_else(|| self.next_shard.fetch_add(1, Ordering::Relaxed) % self.shards.len())
    }

    async fn connection(&self, shard: usize) -> redis::RedisResult<MultiplexedConnection> {
        let shard = &self.shards[shard];
        let mut slot = shard.connection.lock().await;
        if let Some(connection) = slot.as_ref() {
            return Ok(connection.clone());
        }
        let connection = shard.client.get_multiplexed_async_connection().await?;
        *slot = Some(connection.clone());
        Ok(connection)
    }

    /// Runs a command on a shard; on failure forgets the connection, so that the next call
    /// reconnects.
    async fn query<T: redis::FromRedisValue>(&self, shard: usize, command: &redis::Cmd) -> redis::RedisResult<T> {
        let mut connection = self.connection(shard).await?;
        let result = command.query_async(&mut connection).await;
        if result.is_err() {
            *self.shards[shard].connection.lock().await = None;
        }
        result
    }

    async fn pipeline<T: redis::FromRedisValue>(&self, shard: usize, pipe: &redis::Pipeline) -> redis::RedisResult<T> {
        let mut connection = self.connection(shard).await?;
        let result = pipe.query_async(&mut connection).await;
        if result.is_err() {
            *self.shards[shard].connection.lock().await = None;
        }
        result
    }

    /// Writes `messages` (key, message, the number of channels it is for) on one shard; the
    /// indexes of those refused because their key was at capacity.
    async fn write_messages(
        &self,
        shard: usize,
        messages: &[(String, Vec<u8>, usize)],
    ) -> redis::RedisResult<Vec<usize>> {
        let now = self.clock.score();
        let mut command = redis::cmd("EVAL");
        command.arg(SEND_SCRIPT).arg(messages.len());
        for (key, _, _) in messages {
            command.arg(key);
        }
        for (_, message, _) in messages {
            command.arg(message);
        }
        for _ in messages {
            command.arg(self.capacity);
        }
        // As channels_redis: scores are send times in seconds; expired means older than
        // `int(now) - expiry`.
        command.arg(now).arg(now.trunc() - self.expiry as f64).arg(self.expiry);
        let full: Vec<usize> = self.query(shard, &command).await?;
        Ok(full.into_iter().filter_map(|index| index.checked_sub(1)).collect())
    }

    fn failed(&self, what: &str, err: &redis::RedisError) -> LayerError {
        self.stats.send_failed.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(error = %err, "could not write to Redis ({what}); the message is lost");
        backend(err)
    }

    /// A message as channels_redis stores it: random prefix, then the body's msgpack map with
    /// `__asgi_channel__` added last (where Python's dict puts it).
    fn frame(&self, body: &[u8], channels: Recipients<'_>) -> Result<Vec<u8>, LayerError> {
        let mut out = Vec::with_capacity(self.random_prefix_length + body.len() + 64);
        self.unique.prefix(self.random_prefix_length, &mut out);
        append_asgi_channel(body, channels, &mut out)?;
        if out.len() - self.random_prefix_length > self.max_message_size {
            return Err(backend(format!(
                "a message of {} bytes is over the layer's limit of {} bytes; not sent",
                out.len() - self.random_prefix_length,
                self.max_message_size
            )));
        }
        Ok(out)
    }

    fn encode(&self, message: &LayerMessage) -> Result<Vec<u8>, LayerError> {
        encode_body(message.body()).map_err(backend)
    }

    /// Hands a message popped from this process's set to the local channels it names.
    fn deliver(&self, payload: &[u8]) {
        let Some(message) = payload.get(self.random_prefix_length..) else {
            self.drop_message(&"shorter than its random prefix");
            return;
        };
        if message.len() > self.max_message_size {
            self.stats.undeliverable.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(bytes = message.len(), "oversized message from Redis dropped");
            return;
        }
        let (channels, body) = match decode_core_message(message) {
            Ok(decoded) => decoded,
            Err(err) => {
                self.drop_message(&err);
                return;
            }
        };
        let message = LayerMessage::new(body);
        let local = self.read();
        for channel in &channels {
            match local.channels.get(channel) {
                Some(inbox) => {
                    if inbox.try_deliver(message.clone()).is_err() {
                        self.stats.undeliverable.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            channel,
                            "a connection's inbox is full: message from Redis dropped, closing it (inbox overflow)"
                        );
                    }
                }
                None => {
                    // A member that left between a group send's read of the group and now.
                    self.stats.undeliverable.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(channel, "message from Redis for a channel no longer open here dropped");
                }
            }
        }
    }

    fn drop_message(&self, why: &dyn std::fmt::Display) {
        self.stats.undeliverable.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(error = %why, "undecodable message from Redis dropped");
    }

    async fn zrem(&self, group: &str, channel: &str) -> Result<(), LayerError> {
        let shard = consistent_hash(group, self.shards.len());
        let mut command = redis::cmd("ZREM");
        command.arg(self.group_key(group)).arg(channel);
        self.query::<()>(shard, &command).await.map_err(backend)
    }
}

/// Whom a stored message is for: one channel (a direct send) or several of one process.
#[derive(Debug, Clone, Copy)]
enum Recipients<'a> {
    One(&'a str),
    Many(&'a [&'a str]),
}

/// Appends `body` (a msgpack map) to `out` with the `__asgi_channel__` entry added.
fn append_asgi_channel(body: &[u8], channels: Recipients<'_>, out: &mut Vec<u8>) -> Result<(), LayerError> {
    let (len, header) = match body {
        [b @ 0x80..=0x8f, ..] => (u32::from(b & 0x0f), 1),
        [0xde, a, b, ..] => (u32::from(u16::from_be_bytes([*a, *b])), 3),
        [0xdf, a, b, c, d, ..] => (u32::from_be_bytes([*a, *b, *c, *d]), 5),
        _ => return Err(backend("a layer message must encode as a msgpack map")),
    };
    let write = |out: &mut Vec<u8>| -> Result<(), rmp::encode::ValueWriteError> {
        rmp::encode::write_map_len(out, len + 1)?;
        out.extend_from_slice(&body[header..]);
        rmp::encode::write_str(out, ASGI_CHANNEL)?;
        match channels {
            Recipients::One(channel) => rmp::encode::write_str(out, channel)?,
            Recipients::Many(channels) => {
                let count = u32::try_from(channels.len()).map_err(|_| {
                    rmp::encode::ValueWriteError::InvalidDataWrite(std::io::Error::other("too many channels"))
                })?;
                rmp::encode::write_array_len(out, count)?;
                for channel in channels {
                    rmp::encode::write_str(out, channel)?;
                }
            }
        }
        Ok(())
    };
    write(out).map_err(backend)
}

/// [`append_asgi_channel`] of a body, without a random prefix (for the fuzz target).
#[cfg(feature = "fuzzing")]
pub(crate) fn encode_core_message(body: &super::LayerBody, channels: &[&str]) -> Result<Vec<u8>, LayerError> {
    let mut out = Vec::new();
    append_asgi_channel(&encode_body(body).map_err(backend)?, Recipients::Many(channels), &mut out)?;
    Ok(out)
}

/// Why a stored message could not be decoded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CoreDecodeError {
    /// Not a layer message.
    #[error(transparent)]
    Message(#[from] DecodeError),
    /// No `__asgi_channel__`, or one that is not a string or a list of strings.
    #[error("no valid __asgi_channel__ (a channel name or a list of them)")]
    Recipients,
}

/// Decodes a stored message (without its random prefix): the channels it is for, and its body.
/// Time and allocation are linear in its length, nesting bounded as for every layer message.
pub(crate) fn decode_core_message(message: &[u8]) -> Result<(Vec<String>, super::LayerBody), CoreDecodeError> {
    let Value::Object(mut map) = decode_value(message)? else { return Err(CoreDecodeError::Recipients) };
    let channels = match map.remove(ASGI_CHANNEL) {
        Some(Value::String(channel)) => vec![channel],
        Some(Value::Array(channels)) => channels
            .into_iter()
            .map(|channel| match channel {
                Value::String(channel) => Ok(channel),
                _ => Err(CoreDecodeError::Recipients),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(CoreDecodeError::Recipients),
    };
    Ok((channels, body_from_map(map)?))
}

/// Random prefixes that are also unique: random bytes drawn once per process, with a counter
/// mixed into their last eight, so that two equal messages from this process never collapse
/// into one sorted-set member (no random draw per message either).
#[derive(Debug)]
struct Unique {
    base: [u8; 16],
    counter: AtomicU64,
}

impl Unique {
    fn new() -> Self {
        Unique { base: *uuid::Uuid::new_v4().as_bytes(), counter: AtomicU64::new(0) }
    }

    fn prefix(&self, length: usize, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend(self.base.iter().cycle().take(length));
        let count = self.counter.fetch_add(1, Ordering::Relaxed).to_be_bytes();
        let tail = length.min(8);
        for (byte, mix) in out[start + length - tail..].iter_mut().zip(&count[8 - tail..]) {
            *byte ^= mix;
        }
    }
}

/// Send times as scores: seconds since the epoch, as channels_redis's `time.time()`, but
/// strictly increasing in this process, so that two messages sent in one microsecond are read
/// in the order they were sent (a sorted set orders equal scores by their random bytes).
#[derive(Debug, Default)]
struct Clock(AtomicU64);

impl Clock {
    fn score(&self) -> f64 {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        let mut next = now;
        let _ = self.0.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
            let last = f64::from_bits(last);
            next = if now > last { now } else { last + 1e-6 };
            Some(next.to_bits())
        });
        next
    }
}

/// Writes every group membership of this process's channels again, every `every`.
async fn refresher(every: Duration, layer: Weak<Inner>) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(layer) = layer.upgrade() else { return };
        layer.refresh_memberships().await;
    }
}

impl Inner {
    async fn refresh_memberships(&self) {
        let _exclusive = self.memberships.write().await;
        let mut by_shard: HashMap<usize, redis::Pipeline> = HashMap::new();
        let score = self.clock.score();
        for (channel, groups) in &self.read().groups {
            for group in groups {
                let key = self.group_key(group);
                let pipe = by_shard.entry(consistent_hash(group, self.shards.len())).or_insert_with(redis::pipe);
                pipe.cmd("ZADD").arg(&key).arg(score).arg(channel).ignore();
                pipe.cmd("EXPIRE").arg(&key).arg(self.group_expiry).ignore();
            }
        }
        for (shard, pipe) in by_shard {
            if let Err(err) = self.pipeline::<()>(shard, &pipe).await {
                tracing::warn!(shard, error = %err, "could not refresh group memberships in Redis; retrying at the next interval");
            }
        }
    }
}

/// What `BZPOPMIN` answers: the key, the member (the stored message) and its score.
type BlockingPop = (Vec<u8>, Vec<u8>, Vec<u8>);

/// One shard's receiving loop: pops this process's set and delivers, reconnecting with backoff.
async fn receiver(index: usize, client: redis::Client, layer: Weak<Inner>) {
    let Some(key) = layer.upgrade().map(|layer| layer.own_key()) else { return };
    let config = redis::AsyncConnectionConfig::new()
        // The blocking pop holds the connection for up to BLOCK_SECONDS.
        .set_response_timeout(Some(Duration::from_secs(BLOCK_SECONDS + 5)));
    let mut backoff = Duration::from_millis(100);
    let mut connected_before = false;
    loop {
        let mut connection = match client.get_multiplexed_async_connection_with_config(&config).await {
            Ok(connection) => connection,
            Err(err) => {
                if layer.strong_count() == 0 {
                    return;
                }
                tracing::warn!(shard = index, error = %err, ?backoff, "Redis receiver cannot connect; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        if connected_before {
            if let Some(layer) = layer.upgrade() {
                layer.stats.reconnects.fetch_add(1, Ordering::Relaxed);
            }
            tracing::info!(shard = index, "Redis receiver reconnected");
        }
        connected_before = true;
        backoff = Duration::from_millis(100);
        loop {
            if layer.strong_count() == 0 {
                return;
            }
            let popped: redis::RedisResult<Vec<Vec<u8>>> =
                redis::cmd("ZPOPMIN").arg(&key).arg(POP_BATCH).query_async(&mut connection).await;
            let messages = match popped {
                // A flat list of member, score, member, score...
                Ok(flat) if !flat.is_empty() => flat.into_iter().step_by(2).collect(),
                Ok(_) => {
                    let blocked: redis::RedisResult<Option<BlockingPop>> =
                        redis::cmd("BZPOPMIN").arg(&key).arg(BLOCK_SECONDS).query_async(&mut connection).await;
                    match blocked {
                        Ok(Some((_, message, _))) => vec![message],
                        Ok(None) => continue,
                        Err(err) => {
                            tracing::warn!(shard = index, error = %err, "lost the Redis receiving connection; reconnecting");
                            break;
                        }
                    }
                }
                Err(err) => {
                    tracing::warn!(shard = index, error = %err, "lost the Redis receiving connection; reconnecting");
                    break;
                }
            };
            let Some(layer) = layer.upgrade() else { return };
            for message in &messages {
                layer.deliver(message);
            }
        }
    }
}

#[async_trait]
impl ChannelLayer for RedisCoreLayer {
    async fn new_channel(&self) -> Result<ChannelReceiver, LayerError> {
        let name = format!("{}{}", self.0.process, uuid::Uuid::new_v4().simple());
        let (sender, receiver) = inbox(name.clone(), self.0.inbox_capacity);
        self.0.write().channels.insert(name, sender);
        Ok(receiver)
    }

    async fn close_channel(&self, channel: &str) -> Result<(), LayerError> {
        let _shared = self.0.memberships.read().await;
        let groups = {
            let mut local = self.0.write();
            local.channels.remove(channel);
            local.groups.remove(channel).unwrap_or_default()
        };
        // Groups it still belongs to (normally none: a connection leaves its groups first).
        let mut result = Ok(());
        for group in groups {
            let outcome = self.0.zrem(&group, channel).await;
            if result.is_ok() {
                result = outcome;
            }
        }
        result
    }

    async fn send(&self, channel: &str, message: LayerMessage) -> Result<(), LayerError> {
        if !valid_channel_name(channel) {
            return Err(LayerError::InvalidChannelName(channel.to_owned()));
        }
        let body = self.0.encode(&message)?;
        let target = self.0.target(channel);
        // As channels_redis: only a process-specific channel's messages name it inside.
        let stored = match target.shard {
            Some(_) => self.0.frame(&body, Recipients::One(channel))?,
            None => {
                let mut out = Vec::new();
                self.0.unique.prefix(self.0.random_prefix_length, &mut out);
                out.extend_from_slice(&body);
                out
            }
        };
        let shard = self.0.shard_of(&target);
        let full = self
            .0
            .write_messages(shard, &[(target.key, stored, 1)])
            .await
            .map_err(|err| self.0.failed("send", &err))?;
        if full.is_empty() {
            Ok(())
        } else {
            self.0.stats.over_capacity.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(channel, capacity = self.0.capacity, "channel at capacity in Redis: message not sent");
            Err(LayerError::ChannelFull(channel.to_owned()))
        }
    }

    async fn group_add(&self, group: &str, channel: &str) -> Result<(), LayerError> {
        if !valid_channel_name(channel) {
            return Err(LayerError::InvalidChannelName(channel.to_owned()));
        }
        let _shared = self.0.memberships.read().await;
        let key = self.0.group_key(group);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("ZADD")
            .arg(&key)
            .arg(self.0.clock.score())
            .arg(channel)
            .ignore()
            .cmd("EXPIRE")
            .arg(&key)
            .arg(self.0.group_expiry)
            .ignore();
        self.0.pipeline::<()>(consistent_hash(group, self.0.shards.len()), &pipe).await.map_err(backend)?;
        let mut local = self.0.write();
        if local.channels.contains_key(channel) {
            local.groups.entry(channel.to_owned()).or_default().insert(group.to_owned());
        }
        Ok(())
    }

    async fn group_discard(&self, group: &str, channel: &str) -> Result<(), LayerError> {
        let _shared = self.0.memberships.read().await;
        {
            let mut local = self.0.write();
            if let Some(groups) = local.groups.get_mut(channel) {
                groups.remove(group);
                if groups.is_empty() {
                    local.groups.remove(channel);
                }
            }
        }
        self.0.zrem(group, channel).await
    }

    async fn group_send(&self, group: &str, message: LayerMessage) -> Result<(), LayerError> {
        let inner = &self.0;
        let body = inner.encode(&message)?;
        let key = inner.group_key(group);
        let group_shard = consistent_hash(group, inner.shards.len());
        let cutoff = inner.clock.score().trunc() - inner.group_expiry as f64;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("ZREMRANGEBYSCORE")
            .arg(&key)
            .arg(0)
            .arg(cutoff)
            .ignore()
            .cmd("ZRANGE")
            .arg(&key)
            .arg(0)
            .arg(inner.max_group_size - 1)
            .cmd("ZCARD")
            .arg(&key);
        let (members, size): (Vec<Vec<u8>>, usize) =
            inner.pipeline(group_shard, &pipe).await.map_err(|err| inner.failed("group send", &err))?;
        if size > inner.max_group_size {
            let skipped = size - inner.max_group_size;
            inner.stats.group_truncated.fetch_add(skipped as u64, Ordering::Relaxed);
            tracing::warn!(
                group,
                size,
                limit = inner.max_group_size,
                "group over max_group_size: newest members skipped"
            );
        }
        // Members grouped by the set they are read from: one per process, or per plain channel.
        let mut sets: Vec<(Target, Vec<&str>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for member in &members {
            let Some(channel) = std::str::from_utf8(member).ok().filter(|name| valid_channel_name(name)) else {
                tracing::warn!(group, "a group member that is not a channel name skipped");
                continue;
            };
            let target = inner.target(channel);
            match index.get(&target.key) {
                Some(&at) => sets[at].1.push(channel),
                None => {
                    index.insert(target.key.clone(), sets.len());
                    sets.push((target, vec![channel]));
                }
            }
        }
        let mut by_shard: HashMap<usize, Vec<(String, Vec<u8>, usize)>> = HashMap::new();
        for (target, channels) in sets {
            let stored = inner.frame(&body, Recipients::Many(&channels))?;
            by_shard.entry(inner.shard_of(&target)).or_default().push((target.key, stored, channels.len()));
        }
        let writes = by_shard
            .iter()
            .map(|(shard, messages)| async move { (messages, inner.write_messages(*shard, messages).await) });
        let mut result = Ok(());
        for (messages, outcome) in futures_util::future::join_all(writes).await {
            match outcome {
                Ok(full) => {
                    let skipped: usize =
                        full.iter().filter_map(|&at| messages.get(at)).map(|(_, _, count)| count).sum();
                    if skipped > 0 {
                        inner.stats.over_capacity.fetch_add(skipped as u64, Ordering::Relaxed);
                        let keys: Vec<&str> =
                            full.iter().filter_map(|&at| messages.get(at)).map(|(key, _, _)| key.as_str()).collect();
                        tracing::warn!(
                            group,
                            members = skipped,
                            ?keys,
                            capacity = inner.capacity,
                            "group members at capacity in Redis: message not sent to them"
                        );
                    }
                }
                Err(err) => {
                    let err = inner.failed("group send", &err);
                    if result.is_ok() {
                        result = Err(err);
                    }
                }
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    //! Every expected value here was computed with channels_redis 4.3.0 itself (its
    //! `RedisChannelLayer`, `_consistent_hash` and `msgpack.packb`), not by our reading of it.

    use super::*;
    use crate::layer::LayerBody;

    fn layer(urls: &[&str], prefix_length: usize) -> RedisCoreLayer {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let urls: Vec<String> = urls.iter().map(|url| (*url).to_owned()).collect();
        runtime
            .block_on(async { RedisCoreLayer::builder(urls).random_prefix_length(prefix_length).build() })
            .expect("built")
    }

    #[test]
    fn keys_and_shards_match_channels_redis() {
        let three = layer(&["redis://127.0.0.1:1", "redis://127.0.0.1:2", "redis://127.0.0.1:3"], 12);
        // `layer._group_key("room.1")`.
        assert_eq!(three.0.group_key("room.1"), "asgi:group:room.1");
        // `prefix + layer.non_local_name(channel)`, on `consistent_hash(non_local_name)`, as
        // `_map_channel_keys_to_connection` maps them: {2: ['asgispecific.abc!'], 0: ['asgispecific.xyz!']}.
        assert_eq!(three.0.target("specific.abc!1"), Target { key: "asgispecific.abc!".into(), shard: Some(2) });
        assert_eq!(three.0.target("specific.abc!2"), Target { key: "asgispecific.abc!".into(), shard: Some(2) });
        assert_eq!(three.0.target("specific.xyz!9"), Target { key: "asgispecific.xyz!".into(), shard: Some(0) });
        // A channel without `!` is its own key, its shard picked in turn.
        assert_eq!(three.0.target("worker"), Target { key: "asgiworker".into(), shard: None });
        // `_consistent_hash(name, 3)` and `_consistent_hash(name, 2)`.
        for (name, on_three, on_two) in [
            ("specific.0123456789abcdef0123456789abcdef!", 1, 0),
            ("specific.fedcba9876543210fedcba9876543210!", 0, 0),
            ("room.1", 2, 1),
            ("alerts", 0, 0),
            ("lobby", 1, 0),
            ("specific.abc!", 2, 1),
        ] {
            assert_eq!(
                (consistent_hash(name, 3), consistent_hash(name, 2), consistent_hash(name, 1)),
                (on_three, on_two, 0),
                "{name}"
            );
        }
        // This process's channels all share its own set.
        let own = three.0.own_key();
        assert!(own.starts_with("asgispecific.") && own.ends_with('!'), "{own}");
    }

    #[test]
    fn channel_names_follow_django_channels_rules() {
        // `BaseChannelLayer().require_valid_channel_name(name)`.
        for (name, valid) in [
            ("specific.abc!def", true),
            ("specific.abc!", true),
            ("worker", true),
            ("a.b-c_d", true),
            ("specific.abc!d.e-f_g", true),
            ("", false),
            ("!abc", false),
            ("specific.abc!de!f", false),
            ("sp ace", false),
            ("café", false),
        ] {
            assert_eq!(valid_channel_name(name), valid, "{name:?}");
        }
        assert!(valid_channel_name(&"x".repeat(99)));
        assert!(!valid_channel_name(&"x".repeat(100)));
    }

    #[test]
    fn messages_are_stored_as_channels_redis_stores_them() {
        let layer = layer(&["redis://127.0.0.1:1"], 0);
        let event = LayerBody::ChannelEvent { event_data: serde_json::json!({"action": "ping", "payload": null}) };
        let body = encode_body(&event).expect("encoded");
        let direct = layer.0.frame(&body, Recipients::One("specific.abc!def")).expect("framed");
        assert_eq!(direct, PYTHON_DIRECT);
        let said = LayerBody::GroupMessage {
            message: serde_json::json!({"action": "said", "payload": "hi"}),
            exclude_current: false,
            from_channel: None,
        };
        let body = encode_body(&said).expect("encoded");
        let group = layer.0.frame(&body, Recipients::Many(&["specific.abc!1", "specific.abc!2"])).expect("framed");
        assert_eq!(group, PYTHON_GROUP);
        // With channels_redis's default, twelve bytes come first, different for each message.
        let layer = super::tests::layer(&["redis://127.0.0.1:1"], 12);
        let one = layer.0.frame(&body, Recipients::One("specific.abc!1")).expect("framed");
        let two = layer.0.frame(&body, Recipients::One("specific.abc!1")).expect("framed");
        assert_eq!(one[12..], two[12..]);
        assert_ne!(one[..12], two[..12]);
    }

    #[test]
    fn messages_written_by_channels_redis_decode() {
        // `layer.serialize(message)`: twelve random bytes, then msgpack.
        let (prefix, message) = PYTHON_SERIALIZED.split_at(12);
        assert_eq!(prefix.len(), 12);
        let (channels, body) = decode_core_message(message).expect("decoded");
        assert_eq!(channels, ["specific.abc!1", "specific.abc!2"]);
        assert_eq!(
            body,
            LayerBody::GroupMessage {
                message: serde_json::json!({"action": "said", "payload": "hi"}),
                exclude_current: false,
                from_channel: None,
            }
        );
        let (channels, body) = decode_core_message(PYTHON_DIRECT).expect("decoded");
        assert_eq!(channels, ["specific.abc!def"]);
        assert!(matches!(body, LayerBody::ChannelEvent { .. }));
    }

    #[test]
    fn hostile_stored_messages_are_refused() {
        let encode = |value: serde_json::Value| rmp_serde::to_vec_named(&value).expect("encoded");
        let event = serde_json::json!({"type": "handle_channel_event", "event_data": {"action": "x"}});
        // No recipient, or recipients that are not channel names.
        assert!(matches!(decode_core_message(&encode(event.clone())), Err(CoreDecodeError::Recipients)));
        for recipients in [serde_json::json!(5), serde_json::json!(["a", 5]), serde_json::json!({"a": 1})] {
            let mut message = event.clone();
            message[ASGI_CHANNEL] = recipients;
            assert!(matches!(decode_core_message(&encode(message)), Err(CoreDecodeError::Recipients)));
        }
        // Not a map, not msgpack, a length claiming more than the message holds, deep nesting.
        assert!(decode_core_message(&encode(serde_json::json!([1, 2]))).is_err());
        assert!(decode_core_message(&[0xc1]).is_err());
        assert!(decode_core_message(&[0xdf, 0xff, 0xff, 0xff, 0xff]).is_err());
        let mut deep = vec![0x81, 0xa1, b'a'];
        deep.extend(std::iter::repeat_n(0x91, 10_000));
        deep.push(0xc0);
        assert!(decode_core_message(&deep).is_err());
    }

    #[test]
    fn a_full_local_inbox_or_a_closed_channel_is_counted() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        runtime.block_on(async {
            let layer = RedisCoreLayer::builder(["redis://127.0.0.1:1"])
                .inbox_capacity(1)
                .random_prefix_length(0)
                .build()
                .expect("built");
            let inbox = layer.new_channel().await.expect("a channel");
            let event = LayerBody::ChannelEvent { event_data: serde_json::json!({"action": "x"}) };
            let body = encode_body(&event).expect("encoded");
            let stored = layer.0.frame(&body, Recipients::Many(&[inbox.name(), "specific.gone!1"])).expect("framed");
            layer.0.deliver(&stored);
            // Delivered to the open channel; the closed one is counted.
            assert_eq!(layer.stats().undeliverable, 1);
            layer.0.deliver(&stored);
            // Now the inbox (capacity 1) is full too.
            assert_eq!(layer.stats().undeliverable, 3);
            layer.0.deliver(&[0xc1]);
            assert_eq!(layer.stats().undeliverable, 4);
        });
    }

    #[test]
    fn oversized_messages_are_neither_sent_nor_read() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        runtime.block_on(async {
            let layer = RedisCoreLayer::builder(["redis://127.0.0.1:1"]).max_message_size(64).build().expect("built");
            let big = LayerBody::ChannelEvent { event_data: serde_json::json!({"action": "x".repeat(100)}) };
            let sent = layer.send("specific.abc!def", LayerMessage::new(big.clone())).await;
            assert!(matches!(sent, Err(LayerError::Backend(reason)) if reason.contains("over the layer's limit")));
            let mut stored = vec![0; 12];
            append_asgi_channel(&encode_body(&big).expect("encoded"), Recipients::One("specific.abc!def"), &mut stored)
                .expect("framed");
            layer.0.deliver(&stored);
            assert_eq!(layer.stats(), RedisCoreStats { undeliverable: 1, ..RedisCoreStats::default() });
        });
    }

    #[test]
    fn scores_increase_and_prefixes_differ() {
        let clock = Clock::default();
        let scores: Vec<f64> = (0..1000).map(|_| clock.score()).collect();
        assert!(scores.windows(2).all(|pair| pair[1] > pair[0]));
        let unique = Unique::new();
        let prefixes: HashSet<Vec<u8>> = (0..1000)
            .map(|_| {
                let mut out = Vec::new();
                unique.prefix(12, &mut out);
                out
            })
            .collect();
        assert_eq!(prefixes.len(), 1000);
        assert!(prefixes.iter().all(|prefix| prefix.len() == 12));
    }

    /// `msgpack.packb({"type": "handle_channel_event", "event_data": {"action": "ping", "payload": None},
    /// "__asgi_channel__": "specific.abc!def"})`: what `send` stores after its random prefix.
    const PYTHON_DIRECT: &[u8] = &[
        131, 164, 116, 121, 112, 101, 180, 104, 97, 110, 100, 108, 101, 95, 99, 104, 97, 110, 110, 101, 108, 95, 101,
        118, 101, 110, 116, 170, 101, 118, 101, 110, 116, 95, 100, 97, 116, 97, 130, 166, 97, 99, 116, 105, 111, 110,
        164, 112, 105, 110, 103, 167, 112, 97, 121, 108, 111, 97, 100, 192, 176, 95, 95, 97, 115, 103, 105, 95, 99,
        104, 97, 110, 110, 101, 108, 95, 95, 176, 115, 112, 101, 99, 105, 102, 105, 99, 46, 97, 98, 99, 33, 100, 101,
        102,
    ];

    /// The same for a group send's message to two channels of one process.
    const PYTHON_GROUP: &[u8] = &[
        133, 164, 116, 121, 112, 101, 180, 104, 97, 110, 100, 108, 101, 95, 103, 114, 111, 117, 112, 95, 109, 101, 115,
        115, 97, 103, 101, 167, 109, 101, 115, 115, 97, 103, 101, 130, 166, 97, 99, 116, 105, 111, 110, 164, 115, 97,
        105, 100, 167, 112, 97, 121, 108, 111, 97, 100, 162, 104, 105, 175, 101, 120, 99, 108, 117, 100, 101, 95, 99,
        117, 114, 114, 101, 110, 116, 194, 172, 102, 114, 111, 109, 95, 99, 104, 97, 110, 110, 101, 108, 192, 176, 95,
        95, 97, 115, 103, 105, 95, 99, 104, 97, 110, 110, 101, 108, 95, 95, 146, 174, 115, 112, 101, 99, 105, 102, 105,
        99, 46, 97, 98, 99, 33, 49, 174, 115, 112, 101, 99, 105, 102, 105, 99, 46, 97, 98, 99, 33, 50,
    ];

    /// `RedisChannelLayer().serialize(...)` of that group message: random prefix included.
    const PYTHON_SERIALIZED: &[u8] = &[
        126, 244, 20, 149, 52, 231, 157, 43, 16, 77, 27, 113, 133, 164, 116, 121, 112, 101, 180, 104, 97, 110, 100,
        108, 101, 95, 103, 114, 111, 117, 112, 95, 109, 101, 115, 115, 97, 103, 101, 167, 109, 101, 115, 115, 97, 103,
        101, 130, 166, 97, 99, 116, 105, 111, 110, 164, 115, 97, 105, 100, 167, 112, 97, 121, 108, 111, 97, 100, 162,
        104, 105, 175, 101, 120, 99, 108, 117, 100, 101, 95, 99, 117, 114, 114, 101, 110, 116, 194, 172, 102, 114, 111,
        109, 95, 99, 104, 97, 110, 110, 101, 108, 192, 176, 95, 95, 97, 115, 103, 105, 95, 99, 104, 97, 110, 110, 101,
        108, 95, 95, 146, 174, 115, 112, 101, 99, 105, 102, 105, 99, 46, 97, 98, 99, 33, 49, 174, 115, 112, 101, 99,
        105, 102, 105, 99, 46, 97, 98, 99, 33, 50,
    ];
}
