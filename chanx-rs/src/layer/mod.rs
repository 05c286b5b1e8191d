//! Channel layers: how connections, processes and background tasks reach each other.
//!
//! A layer delivers [`LayerMessage`]s to one connection's channel name ([`ChannelLayer::send`]) or to
//! every member of a group ([`ChannelLayer::group_send`]). The message shapes are chanx's, so other
//! processes speaking Django Channels can share a layer:
//!
//! | call | body |
//! |---|---|
//! | `broadcast_message` | `{"type": "handle_group_message", "message": {...}, "exclude_current": bool, "from_channel": "..."}` |
//! | `send_event`, `broadcast_event` | `{"type": "handle_channel_event", "event_data": {...}}` |
//! | `Topic::broadcast` | `{"type": "handle_topic_event", "topic": "room:lobby", "seq": 1, "event_data": {...}}` |
//! | `close_group` | `{"type": "handle_close_connection", "code": 4403, "reason": "..."}` |
//!
//! [`Layer`] is the cheap, cloneable handle users hold; [`MemoryLayer`] is the default, for one
//! process; `RedisLayer` and `RedisCoreLayer` (feature `redis`) are for many, and speak the wire
//! formats of channels_redis's `RedisPubSubChannelLayer` and `RedisChannelLayer`.

mod group_name;
mod memory;
#[cfg(feature = "redis")]
pub(crate) mod msgpack;
#[cfg(feature = "redis")]
mod named;
#[cfg(feature = "redis")]
pub(crate) mod redis;
#[cfg(feature = "redis")]
pub(crate) mod redis_core;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;

pub use group_name::{MAX_GROUP_NAME_LENGTH, safe_group_name};
pub use memory::MemoryLayer;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use named::{LayerConfigError, from_config, from_urls};

/// The name of a router's default layer ([`Router::layer`](crate::Router::layer)), which a
/// consumer uses unless it names another with `#[consumer(layer = "...")]`; "default", as Django
/// Channels names the first entry of `CHANNEL_LAYERS`.
pub const DEFAULT_LAYER: &str = "default";
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::{RedisLayer, RedisLayerBuilder, RedisStats};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis_core::{RedisCoreLayer, RedisCoreLayerBuilder, RedisCoreStats};

use crate::signal::Signal;
use crate::{Message, close_code, envelope};

/// What a layer failed to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LayerError {
    /// A group name must be 1–99 characters of `A-Z a-z 0-9 . _ -`.
    #[error("invalid group name {0:?}: use 1-99 characters of A-Z, a-z, 0-9, '.', '_' and '-' (see safe_group_name)")]
    InvalidGroupName(String),
    /// No connection has this channel name (it may have disconnected).
    #[error("no channel named {0:?}")]
    ChannelNotFound(String),
    /// A channel name must be shorter than 100 characters of `A-Z a-z 0-9 . _ -`, optionally
    /// followed by `!` and more of them (Django Channels' rule, checked by `RedisCoreLayer`).
    #[error(
        "invalid channel name {0:?}: use under 100 characters of A-Z, a-z, 0-9, '.', '_' and '-', with at most one '!'"
    )]
    InvalidChannelName(String),
    /// The receiving channel is full; the message was dropped. In one process (the in-memory
    /// and pub/sub layers) the connection is also closed with [`close_code::INBOX_OVERFLOW`] so
    /// that its client reconnects and re-syncs; with [`RedisCoreLayer`]
    /// the channel's messages waiting in Redis reached its capacity (its process is not reading).
    #[error("channel {0:?} is full; the message was dropped")]
    ChannelFull(String),
    /// [`Layer::from_url_and_kind`] knows `pubsub` and `core`.
    #[error("unknown Redis layer {0:?}: use \"pubsub\" (RedisPubSubChannelLayer) or \"core\" (RedisChannelLayer)")]
    UnknownLayerKind(String),
    /// [`Layer::close_group`] takes 1000 or an application code, 3000–4999 (see
    /// [`close_code::is_application_close_code`]).
    #[error(
        "close code {0} is not {normal} or {first}-{last}; the protocol codes are the server's own",
        normal = close_code::NORMAL,
        first = close_code::APPLICATION.start(),
        last = close_code::APPLICATION.end()
    )]
    InvalidCloseCode(u16),
    /// A close reason must fit a close frame: at most [`close_code::MAX_REASON_BYTES`] bytes of UTF-8.
    #[error("a close reason of {0} bytes is longer than the 123 bytes a close frame holds")]
    CloseReasonTooLong(usize),
    /// A message could not be encoded.
    #[error("could not encode the message: {0}")]
    Encode(#[from] serde_json::Error),
    /// The layer's backend failed (such as a lost Redis connection).
    #[error("channel layer backend error: {0}")]
    Backend(String),
}

/// The body of a layer message, tagged by `type` as in Django Channels.
///
/// ```
/// use chanx::layer::LayerBody;
/// let body = LayerBody::ChannelEvent { event_data: serde_json::json!({"action": "job_done", "payload": 1}) };
/// assert_eq!(serde_json::to_value(&body)?["type"], "handle_channel_event");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(tag = "type")]
#[non_exhaustive]
pub enum LayerBody {
    /// A ready frame for the clients of a group (`broadcast_message`).
    #[serde(rename = "handle_group_message")]
    GroupMessage {
        /// The frame, sent to each client as is (camelized by consumers that camelize).
        message: Value,
        /// Whether the sending connection skips it.
        exclude_current: bool,
        /// The sending connection's channel name; `None` when sent from outside a connection.
        from_channel: Option<String>,
    },
    /// A typed event, handled by the receiving consumer's `#[event_handler]` for its action.
    #[serde(rename = "handle_channel_event")]
    ChannelEvent {
        /// The event's frame: `{"action": ..., "payload": ...}`.
        event_data: Value,
    },
    /// An event for the subscribers of a topic ([`Topic::broadcast`](crate::Topic::broadcast)),
    /// handled by the topic's `#[event_handler]` for its action; dropped by a connection that
    /// does not follow `topic`.
    #[serde(rename = "handle_topic_event")]
    TopicEvent {
        /// The topic, such as `room:lobby`.
        topic: String,
        /// The caller's sequence number, sent to the client as `seq`.
        seq: Option<i64>,
        /// The event's frame: `{"action": ..., "payload": ...}`.
        event_data: Value,
    },
    /// Re-checks a topic's subscriptions ([`Topic::reauthorize`](crate::Topic::reauthorize)):
    /// each runs [`Topic::authorize`](crate::Topic::authorize) again, and those refused are
    /// unsubscribed by the server. chanx-rs only: a Python consumer would not handle it.
    #[serde(rename = "handle_topic_reauthorize")]
    TopicReauthorize {
        /// The topic, such as `room:lobby`.
        topic: String,
    },
    /// Closes the receiving connection with this code and reason, once the frames already
    /// queued for its client are written ([`Layer::close_group`]).
    ///
    /// A Django Channels consumer receiving it runs its `handle_close_connection` method; one
    /// without that method raises `ValueError: No handler for message type`, which also ends its
    /// socket, but abnormally (see docs/layers.md).
    #[serde(rename = "handle_close_connection")]
    CloseConnection {
        /// The close code: 1000, or 3000–4999.
        code: u16,
        /// The close reason, at most 123 bytes.
        reason: String,
    },
}

/// A message travelling through a layer. Cloning is cheap: one group send shares one message
/// between all members, and each rendering of a group frame is serialized once, not per member.
#[derive(Clone, Debug)]
pub struct LayerMessage(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    body: LayerBody,
    /// The group frame, serialized once as is and once camelized, on first use.
    rendered: [OnceLock<Utf8Bytes>; 2],
}

impl LayerMessage {
    /// Wraps a body.
    ///
    /// ```
    /// use chanx::layer::{LayerBody, LayerMessage};
    /// let msg = LayerMessage::new(LayerBody::ChannelEvent { event_data: serde_json::json!({"action": "x"}) });
    /// assert!(matches!(msg.body(), LayerBody::ChannelEvent { .. }));
    /// ```
    pub fn new(body: LayerBody) -> Self {
        LayerMessage(Arc::new(Inner { body, rendered: [OnceLock::new(), OnceLock::new()] }))
    }

    /// The body.
    pub fn body(&self) -> &LayerBody {
        &self.0.body
    }

    /// The serialized frame of a group message, computed once per rendering.
    pub(crate) fn group_frame(&self, frame: &Value, camelize: bool) -> Utf8Bytes {
        self.0.rendered[usize::from(camelize)]
            .get_or_init(|| envelope::render(frame.clone(), camelize, envelope::Echo::NONE))
            .clone()
    }
}

/// Creates one connection's inbox: a bounded queue of `capacity` messages (at least one) for the
/// channel `name`. Backends keep the [`InboxSender`] and hand the [`ChannelReceiver`] to the
/// connection.
///
/// ```
/// use chanx::layer::{DeliveryError, LayerBody, LayerMessage, inbox};
/// let (sender, _receiver) = inbox("specific.demo!1", 1);
/// let message = || LayerMessage::new(LayerBody::ChannelEvent { event_data: serde_json::json!({"action": "x"}) });
/// assert_eq!(sender.try_deliver(message()), Ok(()));
/// // Full: the message is dropped and the connection told to close with 1013.
/// assert_eq!(sender.try_deliver(message()), Err(DeliveryError::Full));
/// ```
pub fn inbox(name: impl Into<String>, capacity: usize) -> (InboxSender, ChannelReceiver) {
    // Unbounded, with a count of our own for the bound: a bounded `mpsc` takes a lock to give
    // back each permit its receiver frees, once per member and per group message.
    let (sender, receiver) = mpsc::unbounded_channel();
    let overflow = Arc::new(Overflow { capacity: capacity.max(1), ..Overflow::default() });
    let close = Arc::new(CloseRequest::default());
    let receiver = ChannelReceiver { name: name.into(), receiver, overflow: overflow.clone(), close: close.clone() };
    (InboxSender { sender, overflow, close }, receiver)
}

/// Why [`InboxSender::try_deliver`] did not deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The inbox is full: the connection is not keeping up. The message is dropped, and the
    /// connection closes with [`close_code::INBOX_OVERFLOW`].
    #[error("the inbox is full")]
    Full,
    /// The connection has ended.
    #[error("the channel is closed")]
    Closed,
}

/// The sending end of one connection's inbox (see [`inbox`]). Cheap to clone.
///
/// It never waits: a layer delivering to many connections must not be held up by one that does
/// not keep up. Such a connection has lost messages, so it is closed, and its client reconnects
/// and re-syncs instead of showing a state with holes in it.
#[derive(Debug, Clone)]
pub struct InboxSender {
    sender: mpsc::UnboundedSender<LayerMessage>,
    overflow: Arc<Overflow>,
    close: Arc<CloseRequest>,
}

impl InboxSender {
    /// Queues `message` for the connection; when its inbox is full, drops the message and tells
    /// the connection to close with [`close_code::INBOX_OVERFLOW`].
    ///
    /// A close request ([`LayerBody::CloseConnection`]) is queued in order like any message, and
    /// also noted beside the queue, so that a connection busy with a long channel event is
    /// closed at once rather than once the event ends.
    pub fn try_deliver(&self, message: LayerMessage) -> Result<(), DeliveryError> {
        if let LayerBody::CloseConnection { code, reason } = message.body() {
            self.close.set(*code, reason);
        }
        // Counted before it is sent, so the receiver never counts it out first.
        if self.overflow.queued.fetch_add(1, Ordering::AcqRel) >= self.overflow.capacity {
            self.overflow.queued.fetch_sub(1, Ordering::AcqRel);
            // An ended receiver leaves its messages counted: the connection is gone, not slow.
            if self.sender.is_closed() {
                return Err(DeliveryError::Closed);
            }
            self.overflow.signal.raise();
            return Err(DeliveryError::Full);
        }
        self.sender.send(message).map_err(|_| {
            self.overflow.queued.fetch_sub(1, Ordering::AcqRel);
            DeliveryError::Closed
        })
    }
}

/// The inbox's bound: how many messages wait in it, and the signal raised once one was dropped
/// because it was full. The connection waits for the signal beside its other work.
#[derive(Debug, Default)]
pub(crate) struct Overflow {
    queued: AtomicUsize,
    capacity: usize,
    signal: Signal,
}

impl Overflow {
    /// Resolves once a message was dropped.
    pub(crate) async fn occurred(&self) {
        self.signal.raised().await;
    }
}

/// The first close asked through the layer, kept beside the inbox: a connection whose inbox
/// is not being read (an event handler is running) still sees it.
#[derive(Debug, Default)]
pub(crate) struct CloseRequest {
    requested: std::sync::Mutex<Option<(u16, String)>>,
    signal: Signal,
}

impl CloseRequest {
    fn set(&self, code: u16, reason: &str) {
        let mut requested = self.requested.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if requested.is_none() {
            *requested = Some((code, reason.to_owned()));
            drop(requested);
            self.signal.raise();
        }
    }

    /// Resolves with the code and reason of the first close asked.
    pub(crate) async fn requested(&self) -> (u16, String) {
        loop {
            self.signal.raised().await;
            if let Some(close) = self.requested.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone() {
                return close;
            }
        }
    }
}

/// The receiving end of one connection's channel, made by [`inbox`].
#[derive(Debug)]
pub struct ChannelReceiver {
    name: String,
    receiver: mpsc::UnboundedReceiver<LayerMessage>,
    overflow: Arc<Overflow>,
    close: Arc<CloseRequest>,
}

impl ChannelReceiver {
    /// The overflow signal of this inbox.
    pub(crate) fn overflow(&self) -> Arc<Overflow> {
        self.overflow.clone()
    }

    /// The close requests sent to this inbox, seen without reading it.
    pub(crate) fn close_request(&self) -> Arc<CloseRequest> {
        self.close.clone()
    }

    /// The channel name, unique across every process sharing the layer.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next message; `None` once the layer has dropped the channel.
    pub async fn recv(&mut self) -> Option<LayerMessage> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next message, as [`recv`](Self::recv) waits for it.
    pub(crate) fn poll_recv(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Option<LayerMessage>> {
        self.receiver.poll_recv(cx).map(|message| self.taken(message))
    }

    /// A message already waiting, if any.
    pub(crate) fn try_recv(&mut self) -> Option<LayerMessage> {
        let message = self.receiver.try_recv().ok();
        self.taken(message)
    }

    /// Counts a message out of the inbox's bound.
    fn taken(&self, message: Option<LayerMessage>) -> Option<LayerMessage> {
        if message.is_some() {
            self.overflow.queued.fetch_sub(1, Ordering::AcqRel);
        }
        message
    }
}

/// A channel layer backend. Implement it to add a backend; use it through [`Layer`].
///
/// Group names reaching a backend are already validated by [`Layer`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a channel layer",
    note = "use chanx::layer::MemoryLayer, or implement chanx::layer::ChannelLayer for `{Self}`"
)]
#[async_trait]
pub trait ChannelLayer: Send + Sync + 'static {
    /// Creates a channel with a fresh, unique name for one connection.
    async fn new_channel(&self) -> Result<ChannelReceiver, LayerError>;
    /// Removes a channel and its group memberships (the connection has ended).
    async fn close_channel(&self, channel: &str) -> Result<(), LayerError>;
    /// Delivers a message to one channel.
    async fn send(&self, channel: &str, message: LayerMessage) -> Result<(), LayerError>;
    /// Adds a channel to a group.
    async fn group_add(&self, group: &str, channel: &str) -> Result<(), LayerError>;
    /// Removes a channel from a group.
    async fn group_discard(&self, group: &str, channel: &str) -> Result<(), LayerError>;
    /// Delivers a message to every channel of a group.
    async fn group_send(&self, group: &str, message: LayerMessage) -> Result<(), LayerError>;
}

/// A shared handle to a channel layer: what connections, HTTP handlers and background tasks use to
/// reach each other.
///
/// ```
/// use chanx::Layer;
/// # #[derive(chanx::Message, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
/// # #[message(action = "job_done")] struct JobDone { payload: u32 }
/// # tokio_test_block_on(async {
/// let layer = Layer::memory();
/// // From a spawned task or an HTTP handler: every member of "jobs" gets the event.
/// layer.broadcast_event(["jobs"], &JobDone { payload: 7 }).await?;
/// # Ok::<(), chanx::layer::LayerError>(()) });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().expect("runtime").block_on(f) }
/// ```
#[derive(Clone)]
pub struct Layer(Arc<dyn ChannelLayer>, Arc<TopicState>);

/// What topics keep per layer, beside its backend.
struct TopicState {
    history: crate::topic::HistoryStore,
    presence: crate::topic::PresenceStore,
}

impl std::fmt::Debug for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Layer")
    }
}

impl Layer {
    /// Wraps a backend. The history and presence lists of topics are kept in Redis, shared by
    /// every process, when the backend is a `RedisLayer` (feature `redis`), else in this
    /// process (docs/topics.md, "History in Redis" and "Presence across processes").
    pub fn new(layer: impl ChannelLayer) -> Self {
        let history = crate::topic::HistoryStore::for_backend(&layer);
        let presence = crate::topic::PresenceStore::for_backend(&layer);
        Layer(Arc::new(layer), Arc::new(TopicState { history, presence }))
    }

    /// The history of this layer's history topics: in Redis for a `RedisLayer`, else in
    /// this process.
    pub(crate) fn history(&self) -> &crate::topic::HistoryStore {
        &self.1.history
    }

    /// The presence lists of this layer's presence topics: in Redis for a `RedisLayer`, else
    /// in this process.
    pub(crate) fn presence(&self) -> &crate::topic::PresenceStore {
        &self.1.presence
    }

    /// A new in-memory layer, for one process.
    pub fn memory() -> Self {
        Layer::new(MemoryLayer::default())
    }

    /// A [`RedisLayer`] on `url` when it is given (as from `REDIS_URL`), else an in-memory one.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), chanx::layer::LayerError> {
    /// let layer = chanx::Layer::from_url(std::env::var("REDIS_URL").ok().as_deref())?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn from_url(url: Option<&str>) -> Result<Self, LayerError> {
        match url.filter(|url| !url.trim().is_empty()) {
            Some(url) => Ok(Layer::new(RedisLayer::new(url)?)),
            None => Ok(Layer::memory()),
        }
    }

    /// The Redis layer named by `kind` on `url` when `url` is given, else an in-memory one: what
    /// `REDIS_URL` and `REDIS_LAYER` select in the examples. `kind` is `pubsub` (the default,
    /// when `None` or empty: [`RedisLayer`], as channels_redis's `RedisPubSubChannelLayer`) or
    /// `core` ([`RedisCoreLayer`], as channels_redis's `RedisChannelLayer`, the layer Django
    /// Channels documents); both with prefix `asgi`. Any other kind is
    /// [`LayerError::UnknownLayerKind`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), chanx::layer::LayerError> {
    /// let url = std::env::var("REDIS_URL").ok();
    /// let kind = std::env::var("REDIS_LAYER").ok();
    /// let layer = chanx::Layer::from_url_and_kind(url.as_deref(), kind.as_deref())?;
    /// // Nothing is checked without a URL, but a misspelt kind always is.
    /// let wrong = chanx::Layer::from_url_and_kind(None, Some("cor"));
    /// assert!(matches!(wrong, Err(chanx::layer::LayerError::UnknownLayerKind(kind)) if kind == "cor"));
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn from_url_and_kind(url: Option<&str>, kind: Option<&str>) -> Result<Self, LayerError> {
        let core = match kind.map(str::trim).unwrap_or_default() {
            "" | "pubsub" => false,
            "core" => true,
            other => return Err(LayerError::UnknownLayerKind(other.to_owned())),
        };
        match url.filter(|url| !url.trim().is_empty()) {
            Some(url) if core => Ok(Layer::new(RedisCoreLayer::new(url)?)),
            Some(url) => Ok(Layer::new(RedisLayer::new(url)?)),
            None => Ok(Layer::memory()),
        }
    }

    /// Sends a typed event to one connection, handled by its `#[event_handler]` for the action.
    pub async fn send_event<M: Message>(&self, channel: &str, event: &M) -> Result<(), LayerError> {
        let message = LayerMessage::new(LayerBody::ChannelEvent { event_data: envelope::to_frame(event)? });
        self.0.send(channel, message).await
    }

    /// Sends a typed event to every member of each group.
    pub async fn broadcast_event<M: Message>(
        &self,
        groups: impl IntoIterator<Item = impl AsRef<str>>,
        event: &M,
    ) -> Result<(), LayerError> {
        let message = LayerMessage::new(LayerBody::ChannelEvent { event_data: envelope::to_frame(event)? });
        self.send_to_groups(groups, message).await
    }

    /// Sends a message straight to the clients of every member of each group (no handler runs).
    pub async fn broadcast_message<M: Message>(
        &self,
        groups: impl IntoIterator<Item = impl AsRef<str>>,
        message: &M,
    ) -> Result<(), LayerError> {
        let body = LayerBody::GroupMessage {
            message: envelope::to_frame(message)?,
            exclude_current: false,
            from_channel: None,
        };
        self.send_to_groups(groups, LayerMessage::new(body)).await
    }

    /// Sends one layer message to each group; every group is tried, and the first error returned.
    pub async fn send_to_groups(
        &self,
        groups: impl IntoIterator<Item = impl AsRef<str>>,
        message: LayerMessage,
    ) -> Result<(), LayerError> {
        let mut result = Ok(());
        for group in groups {
            let outcome = self.group_send(group.as_ref(), message.clone()).await;
            if result.is_ok() {
                result = outcome;
            }
        }
        result
    }

    /// Closes every connection that is a member of `group`, in every process sharing the layer,
    /// with close code `code` and `reason`: from an HTTP handler when an account is deactivated,
    /// say, with every connection of that user in a per-user group.
    ///
    /// Each connection handles it in order with the layer messages sent to it before: it writes
    /// what is already queued for its client, then closes (its `disconnect` runs as usual). It
    /// is counted as `group_closes` in the router's [metrics](crate::metrics). Connections that
    /// join the group afterwards are not affected: check access again after joining.
    ///
    /// `code` must be 1000 or an application code, 3000–4999 ([`LayerError::InvalidCloseCode`]):
    /// the codes 1001–1015 mean things the server decides itself (shutdown, a limit, an error),
    /// and a client must be able to trust them. `reason` is at most 123 bytes
    /// ([`LayerError::CloseReasonTooLong`]), what a close frame holds.
    ///
    /// ```
    /// use chanx::layer::{Layer, LayerBody, LayerError};
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let layer = Layer::memory();
    /// let mut inbox = layer.new_channel().await?;
    /// layer.group_add("user.42", inbox.name()).await?;
    /// layer.close_group("user.42", 4403, "access revoked").await?;
    /// let message = inbox.recv().await.expect("delivered");
    /// assert!(matches!(message.body(), LayerBody::CloseConnection { code: 4403, reason } if reason == "access revoked"));
    /// assert!(matches!(layer.close_group("user.42", 1001, "").await, Err(LayerError::InvalidCloseCode(1001))));
    /// # Ok::<(), LayerError>(()) }).unwrap();
    /// ```
    pub async fn close_group(&self, group: &str, code: u16, reason: &str) -> Result<(), LayerError> {
        check_group_name(group)?;
        if !close_code::is_application_close_code(code) {
            return Err(LayerError::InvalidCloseCode(code));
        }
        if reason.len() > close_code::MAX_REASON_BYTES {
            return Err(LayerError::CloseReasonTooLong(reason.len()));
        }
        let body = LayerBody::CloseConnection { code, reason: reason.to_owned() };
        self.0.group_send(group, LayerMessage::new(body)).await
    }

    /// Delivers a message to one channel.
    pub async fn send(&self, channel: &str, message: LayerMessage) -> Result<(), LayerError> {
        self.0.send(channel, message).await
    }

    /// Delivers a message to every member of a group.
    pub async fn group_send(&self, group: &str, message: LayerMessage) -> Result<(), LayerError> {
        check_group_name(group)?;
        self.0.group_send(group, message).await
    }

    /// Adds a channel to a group.
    pub async fn group_add(&self, group: &str, channel: &str) -> Result<(), LayerError> {
        check_group_name(group)?;
        self.0.group_add(group, channel).await
    }

    /// Removes a channel from a group.
    pub async fn group_discard(&self, group: &str, channel: &str) -> Result<(), LayerError> {
        check_group_name(group)?;
        self.0.group_discard(group, channel).await
    }

    /// Opens a channel of its own, to receive messages outside any connection: a background task
    /// that should hear about something, say. Add it to groups like a connection's channel, and
    /// close it with [`close_channel`](Self::close_channel) when done.
    ///
    /// ```
    /// use chanx::layer::{Layer, LayerBody};
    /// # #[derive(chanx::Message, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    /// # #[message(action = "stop")]
    /// # struct Stop {}
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let layer = Layer::memory();
    /// let mut inbox = layer.new_channel().await?;
    /// layer.group_add("workers", inbox.name()).await?;
    /// layer.broadcast_event(["workers"], &Stop {}).await?;
    /// let message = inbox.recv().await.expect("delivered");
    /// assert!(matches!(message.body(), LayerBody::ChannelEvent { event_data } if event_data["action"] == "stop"));
    /// layer.group_discard("workers", inbox.name()).await?;
    /// layer.close_channel(inbox.name()).await?;
    /// # Ok::<(), chanx::layer::LayerError>(()) }).unwrap();
    /// ```
    pub async fn new_channel(&self) -> Result<ChannelReceiver, LayerError> {
        self.0.new_channel().await
    }

    /// Closes a channel opened with [`new_channel`](Self::new_channel); later sends to it fail
    /// with [`LayerError::ChannelNotFound`].
    pub async fn close_channel(&self, channel: &str) -> Result<(), LayerError> {
        self.0.close_channel(channel).await
    }
}

/// Django Channels' rule: 1–99 characters of ASCII letters, digits, `.`, `_` and `-`.
fn check_group_name(group: &str) -> Result<(), LayerError> {
    let valid = !group.is_empty()
        && group.len() <= MAX_GROUP_NAME_LENGTH
        && group.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid { Ok(()) } else { Err(LayerError::InvalidGroupName(group.to_owned())) }
}

#[async_trait]
impl<L: ChannelLayer> ChannelLayer for Arc<L> {
    async fn new_channel(&self) -> Result<ChannelReceiver, LayerError> {
        (**self).new_channel().await
    }
    async fn close_channel(&self, channel: &str) -> Result<(), LayerError> {
        (**self).close_channel(channel).await
    }
    async fn send(&self, channel: &str, message: LayerMessage) -> Result<(), LayerError> {
        (**self).send(channel, message).await
    }
    async fn group_add(&self, group: &str, channel: &str) -> Result<(), LayerError> {
        (**self).group_add(group, channel).await
    }
    async fn group_discard(&self, group: &str, channel: &str) -> Result<(), LayerError> {
        (**self).group_discard(group, channel).await
    }
    async fn group_send(&self, group: &str, message: LayerMessage) -> Result<(), LayerError> {
        (**self).group_send(group, message).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn group_names_are_checked_before_reaching_the_backend() {
        let layer = Layer::memory();
        let message = || LayerMessage::new(LayerBody::ChannelEvent { event_data: Value::Null });
        for bad in ["", "room 5", "café", &"x".repeat(100)] {
            let result = layer.group_send(bad, message()).await;
            assert!(matches!(result, Err(LayerError::InvalidGroupName(_))), "{bad:?}: {result:?}");
        }
        assert!(layer.group_send(&"x".repeat(99), message()).await.is_ok());
        assert!(layer.group_send("chat.room-5_a", message()).await.is_ok());
    }

    fn event() -> LayerMessage {
        LayerMessage::new(LayerBody::ChannelEvent { event_data: Value::Null })
    }

    /// A connection that ended with its inbox full is gone, not slow: a sender learns it is
    /// closed (as from a bounded channel), and no overflow is reported for it.
    #[test]
    fn a_full_inbox_whose_receiver_ended_is_closed() {
        let (sender, receiver) = inbox("conn", 1);
        sender.try_deliver(event()).expect("room for one");
        drop(receiver);
        assert_eq!(sender.try_deliver(event()), Err(DeliveryError::Closed));
    }

    /// Senders racing for the last places of an inbox never put more in it than its bound, and
    /// each message read gives its place back.
    #[test]
    fn concurrent_senders_never_exceed_the_bound_and_reads_free_places() {
        const CAPACITY: usize = 64;
        let (sender, mut receiver) = inbox("conn", CAPACITY);
        for round in 0..3 {
            let delivered: usize = std::thread::scope(|scope| {
                let senders: Vec<_> = (0..4)
                    .map(|_| {
                        let sender = sender.clone();
                        scope.spawn(move || (0..CAPACITY).filter(|_| sender.try_deliver(event()).is_ok()).count())
                    })
                    .collect();
                senders.into_iter().map(|s| s.join().expect("no panic")).sum()
            });
            assert_eq!(delivered, CAPACITY, "round {round}");
            let mut read = 0;
            while receiver.try_recv().is_some() {
                read += 1;
            }
            assert_eq!(read, CAPACITY, "round {round}");
        }
    }
}
