//! [`RedisLayer`]: the channel layer for many processes, over Redis pub/sub (feature `redis`).
//!
//! Wire-compatible with channels_redis's `RedisPubSubChannelLayer`, so Django Channels, Python
//! chanx and chanx-rs processes share one Redis:
//!
//! - a connection's channel is the pub/sub channel `{prefix}specific.{uuid hex}`;
//! - a group is the pub/sub channel `{prefix}__group__{group}`, to which each process with a
//!   member subscribes once (a group send is one `PUBLISH`, whatever the number of members);
//! - messages are msgpack maps, `{"type": "handle_channel_event", "event_data": {...}}` and the like;
//! - with several Redis URLs, a name lives on shard `(crc32(name) & 0xFFF) * shards / 4096`.
//!
//! Delivery is at most once, as with pub/sub anywhere: a message published while a process is
//! disconnected from Redis does not reach it. Each subscriber task reconnects with backoff and
//! resubscribes by itself; every message this process could not publish or deliver is counted
//! ([`RedisLayer::stats`]) and logged.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::aio::MultiplexedConnection;
use tokio::sync::{mpsc, oneshot};

#[path = "redis_history.rs"]
mod history;
#[path = "redis_presence.rs"]
mod presence;

use super::msgpack::{decode_message, encode_body};
use super::{ChannelLayer, ChannelReceiver, InboxSender, LayerError, LayerMessage, inbox};

const DEFAULT_CAPACITY: usize = 256;
const DEFAULT_MAX_MESSAGE_SIZE: usize = 1 << 20;
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A channel layer over one or more Redis servers. Cheap to clone; clones share connections.
///
/// ```no_run
/// # async fn run() -> Result<(), chanx::layer::LayerError> {
/// use chanx::layer::RedisLayer;
/// let layer = RedisLayer::builder(["redis://127.0.0.1:6379"]).prefix("chat").build()?;
/// let router = chanx::Router::new().with_layer(chanx::Layer::new(layer));
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct RedisLayer(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    prefix: String,
    capacity: usize,
    max_message_size: usize,
    shards: Vec<Shard>,
    local: RwLock<Local>,
    stats: Counters,
    scripts: history::Scripts,
    presence_scripts: presence::Scripts,
    /// How long a presence member stays listed without a refresh from its process.
    presence_ttl: Duration,
}

/// What this process holds: its connections' inboxes, and which of them are in which group.
#[derive(Debug, Default)]
struct Local {
    channels: HashMap<String, InboxSender>,
    /// Keyed by the group's pub/sub channel name.
    groups: HashMap<String, HashSet<String>>,
}

#[derive(Debug, Default)]
struct Counters {
    publish_failed: AtomicU64,
    undeliverable: AtomicU64,
    reconnects: AtomicU64,
}

/// The counters of a [`RedisLayer`] since it was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisStats {
    /// Messages this process could not publish (Redis unreachable); each send returned an error.
    pub publish_failed: u64,
    /// Messages received but not delivered: oversized, undecodable, or a local inbox was full.
    pub undeliverable: u64,
    /// Times a subscriber connection was re-established after a loss.
    pub reconnects: u64,
}

impl RedisStats {
    /// The counters in the Prometheus text format, to append to
    /// [`MetricsSnapshot::to_prometheus`](crate::metrics::MetricsSnapshot::to_prometheus).
    ///
    /// ```
    /// let text = chanx::layer::RedisStats::default().to_prometheus();
    /// assert!(text.contains("chanx_redis_publish_failed_total 0"));
    /// ```
    pub fn to_prometheus(&self) -> String {
        let mut out = String::new();
        for (name, help, value) in [
            ("publish_failed_total", "Messages that could not be published to Redis.", self.publish_failed),
            (
                "undeliverable_total",
                "Messages from Redis dropped: oversized, undecodable, or an inbox was full.",
                self.undeliverable,
            ),
            ("reconnects_total", "Redis subscriber connections re-established.", self.reconnects),
        ] {
            out.push_str(&format!(
                "# HELP chanx_redis_{name} {help}\n# TYPE chanx_redis_{name} counter\nchanx_redis_{name} {value}\n"
            ));
        }
        out
    }
}

#[derive(Debug)]
struct Shard {
    client: redis::Client,
    publisher: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    commands: mpsc::UnboundedSender<Command>,
}

#[derive(Debug)]
enum Command {
    Subscribe(String, oneshot::Sender<Result<(), LayerError>>),
    Unsubscribe(String),
}

/// Builds a [`RedisLayer`].
#[derive(Debug)]
pub struct RedisLayerBuilder {
    urls: Vec<String>,
    prefix: String,
    capacity: usize,
    max_message_size: usize,
    presence_ttl: Duration,
}

impl RedisLayerBuilder {
    /// The prefix of every channel and group name; channels_redis's default is `asgi`. Processes
    /// that talk to each other must use the same one.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How many messages may wait for one connection before further ones are dropped (and
    /// counted), and the connection closed with 1013 so that its client re-syncs. Defaults to 256.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// The largest encoded message, in bytes, this layer publishes or decodes (1 MiB by default,
    /// as [`Settings::max_message_size`](crate::Settings::max_message_size)). A message from
    /// Redis is decoded into JSON values that take many times its size, so whoever can publish
    /// to the Redis could otherwise make every process allocate without bound: a larger one is
    /// dropped and counted as undeliverable, and sending one is an error.
    ///
    /// ```no_run
    /// # fn run() -> Result<(), chanx::layer::LayerError> {
    /// let layer = chanx::layer::RedisLayer::builder(["redis://127.0.0.1:6379"]).max_message_size(4 << 20).build()?;
    /// # Ok(()) }
    /// ```
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// How long a topic's presence member stays listed without a refresh from its process
    /// (15 s by default). Each process refreshes its members, and sweeps the expired members of
    /// the topics it follows, every `ttl / 3`: the members of a process that dies without
    /// leaving (killed, or cut off from Redis) are removed, with a `presence_leave` to every
    /// subscriber, at most `ttl + ttl / 3` (20 s by default) after its last refresh, as long as
    /// some live process follows the topic (docs/topics.md, "Presence across processes").
    /// Shorter notices deaths sooner, at one Redis script per followed topic per refresh.
    ///
    /// ```no_run
    /// # fn run() -> Result<(), chanx::layer::LayerError> {
    /// use std::time::Duration;
    /// let layer = chanx::layer::RedisLayer::builder(["redis://127.0.0.1:6379"])
    ///     .presence_ttl(Duration::from_secs(6))
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn presence_ttl(mut self, ttl: Duration) -> Self {
        self.presence_ttl = ttl.max(Duration::from_millis(30));
        self
    }

    /// Builds the layer and starts one subscriber task per shard. Connections are made lazily,
    /// so this only fails on a malformed URL. Call it inside a Tokio runtime.
    pub fn build(self) -> Result<RedisLayer, LayerError> {
        if self.urls.is_empty() {
            return Err(LayerError::Backend("a Redis layer needs at least one URL".into()));
        }
        let mut receivers = Vec::new();
        let mut shards = Vec::new();
        for url in &self.urls {
            let client = redis::Client::open(url.as_str()).map_err(backend)?;
            let (commands, receiver) = mpsc::unbounded_channel();
            receivers.push((client.clone(), receiver));
            shards.push(Shard { client, publisher: tokio::sync::Mutex::new(None), commands });
        }
        let inner = Arc::new(Inner {
            prefix: self.prefix,
            capacity: self.capacity,
            max_message_size: self.max_message_size,
            shards,
            local: RwLock::default(),
            stats: Counters::default(),
            scripts: history::Scripts::default(),
            presence_scripts: presence::Scripts::default(),
            presence_ttl: self.presence_ttl,
        });
        for (client, receiver) in receivers {
            tokio::spawn(subscriber(client, receiver, Arc::downgrade(&inner)));
        }
        Ok(RedisLayer(inner))
    }
}

fn backend(err: impl std::fmt::Display) -> LayerError {
    LayerError::Backend(err.to_string())
}

async fn confirmed(ack: oneshot::Receiver<Result<(), LayerError>>) -> Result<(), LayerError> {
    ack.await.map_err(|_| backend("the Redis subscriber task has stopped"))?
}

impl RedisLayer {
    /// A builder over these Redis URLs (one per shard), with prefix `asgi`.
    pub fn builder<I>(urls: I) -> RedisLayerBuilder
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        RedisLayerBuilder {
            urls: urls.into_iter().map(Into::into).collect(),
            prefix: "asgi".to_owned(),
            capacity: DEFAULT_CAPACITY,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            presence_ttl: presence::DEFAULT_PRESENCE_TTL,
        }
    }

    /// A layer on one Redis, with prefix `asgi`.
    pub fn new(url: &str) -> Result<Self, LayerError> {
        Self::builder([url]).build()
    }

    /// The counters so far.
    pub fn stats(&self) -> RedisStats {
        let read = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let stats = &self.0.stats;
        RedisStats {
            publish_failed: read(&stats.publish_failed),
            undeliverable: read(&stats.undeliverable),
            reconnects: read(&stats.reconnects),
        }
    }

    /// How many connections of this process are in `group`.
    pub fn local_group_size(&self, group: &str) -> usize {
        let name = self.0.group_channel(group);
        self.0.read().groups.get(&name).map_or(0, HashSet::len)
    }
}

impl Inner {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Local> {
        self.local.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Local> {
        self.local.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn group_channel(&self, group: &str) -> String {
        format!("{}__group__{group}", self.prefix)
    }

    /// channels_redis's consistent hash: CRC-32 folded to 0..4096, then split evenly.
    fn shard(&self, name: &str) -> &Shard {
        let ring = self.shards.len();
        let index = if ring == 1 { 0 } else { (crc32fast::hash(name.as_bytes()) & 0xFFF) as usize * ring / 4096 };
        &self.shards[index]
    }

    /// Queues a subscription; await the returned receiver for Redis's confirmation. Queued (and
    /// so ordered) under the caller's lock on `local`, so that a subscribe and an unsubscribe of
    /// one name reach Redis in the order their local changes were made.
    fn request_subscribe(&self, name: &str) -> oneshot::Receiver<Result<(), LayerError>> {
        let (ack, acked) = oneshot::channel();
        // If the subscriber task is gone, `ack` is dropped and the caller sees an error.
        let _ = self.shard(name).commands.send(Command::Subscribe(name.to_owned(), ack));
        acked
    }

    fn request_unsubscribe(&self, name: &str) {
        let _ = self.shard(name).commands.send(Command::Unsubscribe(name.to_owned()));
    }

    /// Publishes to `name`; the number of subscribed Redis clients.
    async fn publish(&self, name: &str, message: &LayerMessage) -> Result<usize, LayerError> {
        let payload = encode_body(message.body()).map_err(backend)?;
        if payload.len() > self.max_message_size {
            return Err(backend(format!(
                "a message of {} bytes is over the layer's limit of {} bytes; not published",
                payload.len(),
                self.max_message_size
            )));
        }
        let published = self.on_publisher(name, |mut conn| async move {
            redis::cmd("PUBLISH").arg(name).arg(payload).query_async::<usize>(&mut conn).await
        });
        published.await.map_err(|err| self.publish_failed(name, err))
    }

    /// Runs `command` on the command connection of `name`'s shard, connecting first if needed;
    /// after an error, the next command reconnects.
    async fn on_publisher<T, F, Fut>(&self, name: &str, command: F) -> redis::RedisResult<T>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let shard = self.shard(name);
        let mut slot = shard.publisher.lock().await;
        let conn = match slot.as_ref() {
            Some(conn) => conn.clone(),
            None => {
                let conn = shard.client.get_multiplexed_async_connection().await?;
                *slot = Some(conn.clone());
                conn
            }
        };
        drop(slot);
        let result = command(conn).await;
        if result.is_err() {
            *shard.publisher.lock().await = None;
        }
        result
    }

    /// Counts and logs a message that could not be published, and returns the caller's error.
    fn publish_failed(&self, name: &str, err: impl std::fmt::Display) -> LayerError {
        self.stats.publish_failed.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(channel = name, error = %err, "could not publish to Redis; the message is lost");
        backend(err)
    }

    /// Hands a message received on `name` to the local channel or group members it is for.
    fn deliver(&self, name: &str, payload: &[u8]) {
        if payload.len() > self.max_message_size {
            self.stats.undeliverable.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(channel = name, bytes = payload.len(), "oversized message from Redis dropped");
            return;
        }
        let body = match decode_message(payload) {
            Ok(body) => body,
            Err(err) => {
                self.stats.undeliverable.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(channel = name, error = %err, "undecodable message from Redis dropped");
                return;
            }
        };
        let message = LayerMessage::new(body);
        let local = self.read();
        let send = |channel: &str| {
            if let Some(inbox) = local.channels.get(channel)
                && inbox.try_deliver(message.clone()).is_err()
            {
                self.stats.undeliverable.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    channel,
                    "a connection's inbox is full: message from Redis dropped, closing it (inbox overflow)"
                );
            }
        };
        // A name is either a group's channel or one connection's.
        match local.groups.get(name) {
            Some(members) => members.iter().for_each(|channel| send(channel)),
            None => send(name),
        }
    }
}

/// One shard's subscriber connection: applies subscribe commands, delivers messages, and
/// reconnects and resubscribes with backoff when the connection is lost.
async fn subscriber(client: redis::Client, mut commands: mpsc::UnboundedReceiver<Command>, layer: Weak<Inner>) {
    let mut subscribed: HashSet<String> = HashSet::new();
    let mut backoff = Duration::from_millis(100);
    let mut connected_before = false;
    loop {
        let pubsub = match client.get_async_pubsub().await {
            Ok(pubsub) => pubsub,
            Err(err) => {
                tracing::warn!(error = %err, ?backoff, "Redis subscriber cannot connect; retrying");
                // Keep answering commands meanwhile: they fail fast instead of waiting.
                let wait = tokio::time::sleep(backoff);
                tokio::pin!(wait);
                loop {
                    tokio::select! {
                        () = &mut wait => break,
                        command = commands.recv() => match command {
                            None => return,
                            Some(Command::Subscribe(name, ack)) => {
                                let _ = ack.send(Err(backend(format!("Redis unreachable, cannot subscribe to {name}: {err}"))));
                            }
                            Some(Command::Unsubscribe(name)) => {
                                subscribed.remove(&name);
                            }
                        },
                    }
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        let (mut sink, mut stream) = pubsub.split();
        if !subscribed.is_empty() {
            let names: Vec<&String> = subscribed.iter().collect();
            if let Err(err) = sink.subscribe(names).await {
                tracing::warn!(error = %err, "Redis resubscription failed; reconnecting");
                continue;
            }
        }
        if connected_before {
            if let Some(layer) = layer.upgrade() {
                layer.stats.reconnects.fetch_add(1, Ordering::Relaxed);
            }
            tracing::info!(channels = subscribed.len(), "Redis subscriber reconnected and resubscribed");
        }
        connected_before = true;
        backoff = Duration::from_millis(100);
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    None => return,
                    Some(Command::Subscribe(name, ack)) if subscribed.contains(&name) => {
                        let _ = ack.send(Ok(()));
                    }
                    Some(Command::Subscribe(name, ack)) => {
                        let result = sink.subscribe(&name).await;
                        let failed = result.is_err();
                        if !failed {
                            subscribed.insert(name);
                        }
                        let _ = ack.send(result.map_err(backend));
                        if failed {
                            break;
                        }
                    }
                    Some(Command::Unsubscribe(name)) => {
                        subscribed.remove(&name);
                        if sink.unsubscribe(&name).await.is_err() {
                            break;
                        }
                    }
                },
                message = stream.next() => match message {
                    Some(message) => {
                        let Some(layer) = layer.upgrade() else { return };
                        layer.deliver(message.get_channel_name(), message.get_payload_bytes());
                    }
                    None => {
                        tracing::warn!("lost the Redis subscriber connection; reconnecting");
                        break;
                    }
                },
            }
        }
    }
}

#[async_trait]
impl ChannelLayer for RedisLayer {
    async fn new_channel(&self) -> Result<ChannelReceiver, LayerError> {
        let name = format!("{}specific.{}", self.0.prefix, uuid::Uuid::new_v4().simple());
        let (sender, receiver) = inbox(name.clone(), self.0.capacity);
        let subscribed = {
            let mut local = self.0.write();
            local.channels.insert(name.clone(), sender);
            self.0.request_subscribe(&name)
        };
        if let Err(err) = confirmed(subscribed).await {
            self.0.write().channels.remove(&name);
            return Err(err);
        }
        Ok(receiver)
    }

    async fn close_channel(&self, channel: &str) -> Result<(), LayerError> {
        let mut local = self.0.write();
        local.channels.remove(channel);
        self.0.request_unsubscribe(channel);
        local.groups.retain(|group, members| {
            members.remove(channel);
            let empty = members.is_empty();
            if empty {
                self.0.request_unsubscribe(group);
            }
            !empty
        });
        Ok(())
    }

    async fn send(&self, channel: &str, message: LayerMessage) -> Result<(), LayerError> {
        match self.0.publish(channel, &message).await? {
            // No process holds the channel: the connection is gone.
            0 => Err(LayerError::ChannelNotFound(channel.to_owned())),
            _ => Ok(()),
        }
    }

    async fn group_add(&self, group: &str, channel: &str) -> Result<(), LayerError> {
        let name = self.0.group_channel(group);
        // Every join waits for the subscription: a second member joining while the first one's
        // SUBSCRIBE is in flight must not miss messages either (the subscriber answers at once
        // for names it already holds).
        let subscribed = {
            let mut local = self.0.write();
            if !local.channels.contains_key(channel) {
                return Err(LayerError::ChannelNotFound(channel.to_owned()));
            }
            local.groups.entry(name.clone()).or_default().insert(channel.to_owned());
            self.0.request_subscribe(&name)
        };
        if let Err(err) = confirmed(subscribed).await {
            let mut local = self.0.write();
            if let Some(members) = local.groups.get_mut(&name) {
                members.remove(channel);
                if members.is_empty() {
                    local.groups.remove(&name);
                }
            }
            return Err(err);
        }
        Ok(())
    }

    async fn group_discard(&self, group: &str, channel: &str) -> Result<(), LayerError> {
        let name = self.0.group_channel(group);
        let mut local = self.0.write();
        if let Some(members) = local.groups.get_mut(&name) {
            members.remove(channel);
            if members.is_empty() {
                local.groups.remove(&name);
                self.0.request_unsubscribe(&name);
            }
        }
        Ok(())
    }

    async fn group_send(&self, group: &str, message: LayerMessage) -> Result<(), LayerError> {
        let name = self.0.group_channel(group);
        self.0.publish(&name, &message).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::LayerBody;

    #[test]
    fn names_and_shards_match_channels_redis() {
        let layer = tokio::runtime::Builder::new_current_thread().enable_all().build().map(|rt| {
            rt.block_on(async {
                RedisLayer::builder(["redis://127.0.0.1:1", "redis://127.0.0.1:2", "redis://127.0.0.1:3"])
                    .build()
                    .map_err(|e| e.to_string())
            })
        });
        let Ok(Ok(layer)) = layer else { panic!("built") };
        assert_eq!(layer.0.group_channel("room.1"), "asgi__group__room.1");
        // Values computed with channels_redis.utils._consistent_hash(name, 3).
        let index = |name: &str| layer.0.shards.iter().position(|s| std::ptr::eq(s, layer.0.shard(name)));
        assert_eq!(index("asgi__group__room.1"), Some(0));
        assert_eq!(index("asgispecific.0123456789abcdef0123456789abcdef"), Some(1));
        assert_eq!(index("asgi__group__g8"), Some(2));
    }

    #[test]
    fn messages_encode_as_channels_redis_msgpack() {
        let body = LayerBody::ChannelEvent { event_data: serde_json::json!({"action": "ping", "payload": null}) };
        let bytes = rmp_serde::to_vec_named(&body).expect("encoded");
        assert_eq!(bytes, CHANNELS_REDIS_BYTES);
        let back: LayerBody = rmp_serde::from_slice(&bytes).expect("decoded");
        assert_eq!(back, body);
    }

    #[test]
    fn close_requests_decode_whatever_the_key_order() {
        // A Python process may write the keys in any order.
        let python = serde_json::json!({"reason": "access revoked", "code": 4403, "type": "handle_close_connection"});
        let bytes = rmp_serde::to_vec_named(&python).expect("encoded");
        let body: LayerBody = rmp_serde::from_slice(&bytes).expect("decoded");
        assert_eq!(body, LayerBody::CloseConnection { code: 4403, reason: "access revoked".into() });
        assert_eq!(decode_message(&bytes).expect("decoded by the layer"), body);
        let out = rmp_serde::to_vec_named(&body).expect("encoded");
        let back: serde_json::Value = rmp_serde::from_slice(&out).expect("plain msgpack");
        assert_eq!(
            back,
            serde_json::json!({"type": "handle_close_connection", "code": 4403, "reason": "access revoked"})
        );
        // A code out of u16's range is undecodable, and dropped and counted like any such message.
        let wild = serde_json::json!({"type": "handle_close_connection", "code": 70000, "reason": ""});
        assert!(rmp_serde::from_slice::<LayerBody>(&rmp_serde::to_vec_named(&wild).expect("encoded")).is_err());
    }

    #[test]
    fn topic_events_decode_as_python_chanx_sends_them() {
        // TopicCls.broadcast("discussion:5", event, seq=None), as a Python process writes it.
        let python = serde_json::json!({"type": "handle_topic_event", "topic": "discussion:5", "seq": null,
                                        "event_data": {"action": "new_reply", "payload": "hi"}});
        let bytes = rmp_serde::to_vec_named(&python).expect("encoded");
        let body = decode_message(&bytes).expect("decoded by the layer");
        let expected = LayerBody::TopicEvent {
            topic: "discussion:5".into(),
            seq: None,
            event_data: serde_json::json!({"action": "new_reply", "payload": "hi"}),
        };
        assert_eq!(body, expected);
        // And ours reads back, to Python, with chanx's keys and a seq.
        let LayerBody::TopicEvent { topic, event_data, .. } = expected else { unreachable!() };
        let ours = LayerBody::TopicEvent { topic, seq: Some(42), event_data };
        let back: serde_json::Value =
            rmp_serde::from_slice(&rmp_serde::to_vec_named(&ours).expect("encoded")).expect("msgpack");
        assert_eq!(
            back,
            serde_json::json!({"type": "handle_topic_event", "topic": "discussion:5", "seq": 42,
                               "event_data": {"action": "new_reply", "payload": "hi"}})
        );
    }

    #[test]
    fn hostile_messages_are_refused_or_decoded_in_bounds() {
        // 200 nested arrays: refused before the decoder's recursion grows the stack further.
        let mut nested = vec![130, 164, b't', b'y', b'p', b'e', 180];
        nested.extend_from_slice(b"handle_channel_event");
        nested.extend_from_slice(&[170]);
        nested.extend_from_slice(b"event_data");
        nested.extend(std::iter::repeat_n(0x91, 200));
        nested.push(0xc0);
        assert!(decode_message(&nested).is_err());
        // Nesting within the bound decodes.
        let shallow: Vec<u8> = nested[..nested.len() - 201].iter().copied().chain([0x91; 100]).chain([0xc0]).collect();
        assert!(decode_message(&shallow).is_ok());
        // Lengths that claim more than the message holds are an error, not an allocation.
        for claim in [[0xdd, 0xff, 0xff, 0xff, 0xff], [0xdf, 0xff, 0xff, 0xff, 0xff], [0xdb, 0xff, 0xff, 0xff, 0xff]] {
            let mut lying = nested[..nested.len() - 201].to_vec();
            lying.extend_from_slice(&claim);
            assert!(decode_message(&lying).is_err());
        }
    }

    #[test]
    fn messages_decode_as_layer_bodies_do() {
        let event = LayerBody::ChannelEvent { event_data: serde_json::json!({"action": "ping", "payload": [1, 2]}) };
        let group = LayerBody::GroupMessage {
            message: serde_json::json!({"action": "said", "payload": "hi"}),
            exclude_current: true,
            from_channel: Some("asgispecific.abc".into()),
        };
        let anonymous =
            LayerBody::GroupMessage { message: serde_json::json!(null), exclude_current: false, from_channel: None };
        for body in [event, group, anonymous] {
            let bytes = rmp_serde::to_vec_named(&body).expect("encoded");
            assert_eq!(decode_message(&bytes).expect("decoded"), body);
        }
        // Malformed messages are refused as LayerBody refuses them.
        for malformed in [
            serde_json::json!({"type": "handle_channel_event"}),
            serde_json::json!({"type": "handle_group_message", "message": 1, "exclude_current": "yes"}),
            serde_json::json!({"type": "handle_group_message", "message": 1, "exclude_current": true, "from_channel": 5}),
            serde_json::json!({"type": "unknown"}),
        ] {
            let bytes = rmp_serde::to_vec_named(&malformed).expect("encoded");
            assert!(decode_message(&bytes).is_err(), "{malformed}");
            assert!(rmp_serde::from_slice::<LayerBody>(&bytes).is_err(), "{malformed}");
        }
        // Stricter than serde's own decoding, which reads a list's first item as a variant index.
        let list = rmp_serde::to_vec_named(&serde_json::json!([1, 2])).expect("encoded");
        assert!(decode_message(&list).is_err());
    }

    #[test]
    fn oversized_messages_are_dropped_and_counted() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        runtime.block_on(async {
            let layer = RedisLayer::builder(["redis://127.0.0.1:1"]).max_message_size(64).build().expect("built");
            let big = LayerBody::ChannelEvent { event_data: serde_json::json!({"action": "x".repeat(100)}) };
            let bytes = rmp_serde::to_vec_named(&big).expect("encoded");
            layer.0.deliver("asgispecific.x", &bytes);
            assert_eq!(layer.stats().undeliverable, 1);
            let sent = layer.0.publish("asgispecific.x", &LayerMessage::new(big)).await;
            assert!(matches!(sent, Err(LayerError::Backend(reason)) if reason.contains("over the layer's limit")));
            assert_eq!(layer.stats().publish_failed, 0);
        });
    }

    /// `msgpack.packb({"type": "handle_channel_event", "event_data": {"action": "ping", "payload": None}})`.
    const CHANNELS_REDIS_BYTES: &[u8] = &[
        130, 164, 116, 121, 112, 101, 180, 104, 97, 110, 100, 108, 101, 95, 99, 104, 97, 110, 110, 101, 108, 95, 101,
        118, 101, 110, 116, 170, 101, 118, 101, 110, 116, 95, 100, 97, 116, 97, 130, 166, 97, 99, 116, 105, 111, 110,
        164, 112, 105, 110, 103, 167, 112, 97, 121, 108, 111, 97, 100, 192,
    ];
}
