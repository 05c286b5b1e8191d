//! [`Context`]: what a handler gets besides its message: the connection's scope and channel
//! name, sending, closing, groups and broadcasts.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::close::EndReason;
use crate::envelope::Echo;
use crate::layer::{LayerBody, LayerError, LayerMessage};
use crate::metrics::{DropReason, Metrics};
use crate::signal::Signal;
use crate::topic::Subscriptions;
use crate::{Layer, Message, Scope, envelope};

/// Why a frame could not be queued for the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The message could not be serialized.
    #[error("could not encode the message: {0}")]
    Encode(#[from] serde_json::Error),
    /// The connection is closed or closing.
    #[error("the connection is closed")]
    Closed,
    /// The client is not reading: its outbound queue is full, and it is being disconnected (1008).
    #[error("the client's outbound queue is full; it is being disconnected")]
    QueueFull,
}

/// How long a burst the server makes itself ([`Connection::outbound_room`]) waits for a client
/// that reads nothing before it is taken for slow.
pub(crate) const STALLED_AFTER: std::time::Duration = std::time::Duration::from_secs(10);

/// The state of one connection shared by its handlers.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) channel_name: String,
    pub(crate) scope: Scope,
    pub(crate) layer: Layer,
    pub(crate) camelize: bool,
    pub(crate) metrics: Arc<Metrics>,
    outbound: mpsc::Sender<Utf8Bytes>,
    /// The first close asked for; the connection task takes it.
    close: Mutex<Option<EndReason>>,
    close_signal: Signal,
    groups: Mutex<Groups>,
    /// The topics it hosts and follows.
    pub(crate) topics: Subscriptions,
    /// Typed values set during authentication (the user, the looked-up object) or later.
    extensions: RwLock<Vec<(TypeId, Arc<dyn Any + Send + Sync>)>>,
    /// Set when frames are logged.
    pub(crate) frame_log: Option<Arc<crate::frame_log::FrameLog>>,
}

/// The groups a connection is in. Joining and leaving cost the same however many it is in (a
/// hash map, not a list to search); each group keeps its join number, so they list in order.
#[derive(Debug, Default)]
struct Groups {
    joined: HashMap<String, u64>,
    joins: u64,
    /// Set once the connection has left its groups: a late `join_group` undoes itself.
    left: bool,
}

impl Groups {
    fn insert(&mut self, group: &str) {
        if !self.joined.contains_key(group) {
            self.joins += 1;
            self.joined.insert(group.to_owned(), self.joins);
        }
    }

    /// The groups, in the order they were joined.
    fn in_order(&self) -> Vec<String> {
        let mut joined: Vec<(&String, u64)> = self.joined.iter().map(|(g, n)| (g, *n)).collect();
        joined.sort_unstable_by_key(|(_, n)| *n);
        joined.into_iter().map(|(g, _)| g.clone()).collect()
    }
}

impl Connection {
    pub(crate) fn new(
        channel_name: String,
        scope: Scope,
        layer: Layer,
        camelize: bool,
        outbound: mpsc::Sender<Utf8Bytes>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Connection {
            channel_name,
            scope,
            layer,
            camelize,
            metrics,
            outbound,
            close: Mutex::new(None),
            close_signal: Signal::default(),
            groups: Mutex::new(Groups::default()),
            topics: Subscriptions::new(
                &[],
                crate::topic::TopicLimits { max_topics: 0, max_topic_length: 0, completion: false },
            ),
            extensions: RwLock::default(),
            frame_log: None,
        }
    }

    /// The same connection, hosting these topics.
    pub(crate) fn with_topics(mut self, topics: Subscriptions) -> Self {
        self.topics = topics;
        self
    }

    /// The same connection, logging its frames with `log` (`None`: not logging them).
    pub(crate) fn with_frame_log(mut self, log: Option<crate::frame_log::FrameLog>) -> Self {
        self.frame_log = log.map(Arc::new);
        self
    }

    /// Waits until the outbound queue has room for `frames` more (at most its capacity), for a
    /// burst the server makes itself (a replay of history) to wait for the writer rather than
    /// fill the queue faster than any client reads and be closed as slow. The room is held
    /// while waiting, so it is there when this returns `true`. A client that frees none for
    /// [`STALLED_AFTER`] is slow: it is closed as for a full queue, and this returns `false`.
    pub(crate) async fn outbound_room(&self, frames: usize) -> bool {
        let frames = frames.min(self.outbound.max_capacity());
        let mut held = Vec::with_capacity(frames);
        let room = async {
            while held.len() < frames {
                match self.outbound.reserve().await {
                    Ok(permit) => held.push(permit),
                    Err(_) => return false,
                }
            }
            true
        };
        match tokio::time::timeout(STALLED_AFTER, room).await {
            Ok(room) => room,
            Err(_) => {
                self.metrics.dropped(DropReason::QueueFull);
                if self.request_close(EndReason::SlowClient) {
                    tracing::warn!(channel = %self.channel_name, "outbound queue full for {STALLED_AFTER:?}; disconnecting a slow client");
                }
                false
            }
        }
    }

    /// Queues a serialized frame. A full queue means the client stopped reading: close it.
    pub(crate) fn enqueue(&self, frame: Utf8Bytes) -> Result<(), SendError> {
        self.outbound.try_send(frame).map_err(|err| match err {
            mpsc::error::TrySendError::Full(_) => {
                self.metrics.dropped(DropReason::QueueFull);
                if self.request_close(EndReason::SlowClient) {
                    tracing::warn!(channel = %self.channel_name, "outbound queue full; disconnecting a slow client");
                }
                SendError::QueueFull
            }
            mpsc::error::TrySendError::Closed(_) => SendError::Closed,
        })
    }

    /// Asks the connection task to close; `false` when a close was already requested. It is
    /// counted in the metrics once the connection task takes it.
    pub(crate) fn request_close(&self, reason: EndReason) -> bool {
        let mut close = self.close.lock().unwrap_or_else(PoisonError::into_inner);
        let first = close.is_none();
        if first {
            *close = Some(reason);
        }
        drop(close);
        self.close_signal.raise();
        first
    }

    /// The close requested so far, if any.
    pub(crate) fn pending_close(&self) -> Option<EndReason> {
        self.close.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Resolves once a close was requested, with its reason. Waited for beside everything else
    /// the connection does, so waiting costs an atomic load, not a lock (see [`Signal`]).
    pub(crate) async fn close_requested(&self) -> EndReason {
        loop {
            self.close_signal.raised().await;
            if let Some(close) = self.pending_close() {
                return close;
            }
        }
    }

    fn groups(&self) -> std::sync::MutexGuard<'_, Groups> {
        self.groups.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) async fn join_group(&self, group: &str) -> Result<(), LayerError> {
        self.layer.group_add(group, &self.channel_name).await?;
        let raced_disconnect = {
            let mut groups = self.groups();
            if !groups.left {
                groups.insert(group);
            }
            groups.left
        };
        if raced_disconnect {
            self.layer.group_discard(group, &self.channel_name).await?;
        }
        Ok(())
    }

    pub(crate) async fn leave_group(&self, group: &str) -> Result<(), LayerError> {
        self.groups().joined.remove(group);
        self.layer.group_discard(group, &self.channel_name).await
    }

    /// Leaves every group, static or joined at runtime; later joins undo themselves.
    pub(crate) async fn leave_all_groups(&self) {
        let joined = {
            let mut groups = self.groups();
            groups.left = true;
            let joined = groups.in_order();
            groups.joined = HashMap::new();
            joined
        };
        for group in joined {
            if let Err(err) = self.layer.group_discard(&group, &self.channel_name).await {
                tracing::warn!(%group, error = %err, "could not leave a group on disconnect");
            }
        }
    }

    pub(crate) fn joined_groups(&self) -> Vec<String> {
        self.groups().in_order()
    }
}

/// A handler's view of its connection. Cheap to clone; clones may move into spawned tasks.
///
/// Frames sent through a context that handles a client frame carrying a `ref` echo that `ref`
/// (and `version`), as chanx 2.13 does, so clients can match replies to requests.
///
/// In a [topic](crate::Topic)'s handlers and hooks, every frame sent also carries the topic (and
/// a push carries the `seq` it was broadcast with), as chanx's topic frames do.
#[derive(Clone, Debug)]
pub struct Context {
    conn: Arc<Connection>,
    echo: Echo,
}

impl Context {
    pub(crate) fn new(conn: Arc<Connection>) -> Self {
        Context { conn, echo: Echo::default() }
    }

    /// This context answering the frame with `reference` (same topic, no `seq`).
    pub(crate) fn replying_to(&self, reference: Option<String>) -> Self {
        let echo = Echo { topic: self.echo.topic.clone(), reference: reference.map(Arc::from), seq: None };
        Context { conn: self.conn.clone(), echo }
    }

    /// This connection's context for `topic`'s frames: no `ref`, no `seq`.
    pub(crate) fn for_topic(&self, topic: Arc<str>) -> Self {
        Context { conn: self.conn.clone(), echo: Echo { topic: Some(topic), reference: None, seq: None } }
    }

    /// This context for a topic push broadcast with `seq`.
    pub(crate) fn pushing(&self, seq: Option<i64>) -> Self {
        let echo = Echo { topic: self.echo.topic.clone(), reference: None, seq };
        Context { conn: self.conn.clone(), echo }
    }

    pub(crate) fn connection(&self) -> &Arc<Connection> {
        &self.conn
    }

    /// The topic this context belongs to: `Some` in a [topic](crate::Topic)'s handlers and
    /// hooks, such as `"room:lobby"`; `None` in the consumer's own.
    pub fn topic(&self) -> Option<&str> {
        self.echo.topic.as_deref()
    }

    /// This connection's unique channel name: give it to [`Layer::send_event`] to reach it.
    pub fn channel_name(&self) -> &str {
        &self.conn.channel_name
    }

    /// The request this connection came from: path parameters, query, headers.
    pub fn scope(&self) -> &Scope {
        &self.conn.scope
    }

    /// A path parameter of the route, such as `room` in `/ws/chat/{room}/`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.conn.scope.param(name)
    }

    /// The channel layer, to send events to other connections.
    pub fn layer(&self) -> &Layer {
        &self.conn.layer
    }

    /// Whether this connection camelizes keys.
    pub fn camelizes(&self) -> bool {
        self.conn.camelize
    }

    /// Queues a message for this client. It never waits: if the client has stopped reading and
    /// its queue is full, the connection is closed with 1008 and [`SendError::QueueFull`] returned.
    pub fn send<M: Message>(&self, message: &M) -> Result<(), SendError> {
        self.send_frame(envelope::encode(message)?)
    }

    pub(crate) fn send_frame(&self, frame: envelope::Frame) -> Result<(), SendError> {
        self.conn.enqueue(self.render(frame))
    }

    /// `frame` as this connection writes it: camelized when the consumer camelizes, with the
    /// `ref` of the client frame being answered.
    pub(crate) fn render(&self, frame: envelope::Frame) -> Utf8Bytes {
        frame.render(self.conn.camelize, &self.echo)
    }

    /// Queues a raw JSON frame for this client (camelized when the consumer camelizes).
    pub fn send_json(&self, frame: Value) -> Result<(), SendError> {
        self.conn.enqueue(envelope::render(frame, self.conn.camelize, &self.echo))
    }

    /// Closes the connection with `code` once the frames already queued are written.
    ///
    /// A code that no close frame may carry (0–999, 1004–1006, 1014–2999, 5000 and up)
    /// becomes 1000, and a reason longer than a close frame holds (123 bytes) is cut at a
    /// character boundary, so that the client always reads a valid close frame.
    pub fn close(&self, code: u16, reason: &str) {
        self.conn.request_close(EndReason::application(code, reason));
    }

    /// Asks the connection to close for one of chanx's own reasons.
    pub(crate) fn end(&self, reason: EndReason) {
        self.conn.request_close(reason);
    }

    /// Stores a typed value for this connection, replacing any earlier value of the same type.
    /// Authenticators store the user and the looked-up object here.
    ///
    /// ```
    /// # async fn example(ctx: &chanx::Context) {
    /// #[derive(Debug, PartialEq)]
    /// struct User { name: String }
    /// ctx.insert_extension(User { name: "ada".into() });
    /// assert_eq!(ctx.extension::<User>().map(|u| u.name.clone()), Some("ada".to_owned()));
    /// # }
    /// ```
    pub fn insert_extension<T: Send + Sync + 'static>(&self, value: T) {
        let mut extensions = self.conn.extensions.write().unwrap_or_else(PoisonError::into_inner);
        let value: Arc<dyn Any + Send + Sync> = Arc::new(value);
        match extensions.iter_mut().find(|(id, _)| *id == TypeId::of::<T>()) {
            Some(slot) => slot.1 = value,
            None => extensions.push((TypeId::of::<T>(), value)),
        }
    }

    /// The value of type `T` stored with [`insert_extension`](Self::insert_extension), such as
    /// the authenticated user: `ctx.extension::<User>()`.
    pub fn extension<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let extensions = self.conn.extensions.read().unwrap_or_else(PoisonError::into_inner);
        let (_, value) = extensions.iter().find(|(id, _)| *id == TypeId::of::<T>())?;
        value.clone().downcast().ok()
    }

    /// Joins a group at runtime; it is left automatically on disconnect.
    pub async fn join_group(&self, group: &str) -> Result<(), LayerError> {
        self.conn.join_group(group).await
    }

    /// Leaves a group.
    pub async fn leave_group(&self, group: &str) -> Result<(), LayerError> {
        self.conn.leave_group(group).await
    }

    /// Ends this connection's subscription to `topic` on the server's initiative, leaving the
    /// socket open: access that [`authorize`](crate::Topic::authorize) granted has ended.
    /// The topic's `on_unsubscribe` runs, its group is left, and the client receives
    /// `{"action": "unsubscribed", "topic": topic}` with no `ref`, the frame chanx answers an
    /// `unsubscribe` with (docs/protocol.md). No push of the topic is delivered to this
    /// connection once the subscription is removed. Returns whether it was subscribed;
    /// callable from the consumer's handlers and from the topic's own.
    ///
    /// ```
    /// # #[derive(chanx::Message, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    /// # #[message(action = "leave")] struct Leave {}
    /// #[derive(Default)]
    /// struct RoomTopic;
    ///
    /// #[chanx::topic(pattern = "room:{name}")]
    /// impl RoomTopic {
    ///     /// The client asked to be banned: ends its subscription server-side.
    ///     #[ws_handler]
    ///     async fn leave(&self, ctx: &chanx::Context, _msg: Leave) {
    ///         let topic = ctx.topic().unwrap_or_default().to_owned();
    ///         ctx.revoke_topic(&topic).await;
    ///     }
    /// }
    /// ```
    pub async fn revoke_topic(&self, topic: &str) -> bool {
        crate::topic::revoke(&self.for_topic(Arc::from(topic))).await
    }

    /// The groups this connection is in: the consumer's groups plus those joined at runtime.
    pub fn groups(&self) -> Vec<String> {
        self.conn.joined_groups()
    }

    /// Sends a message to the clients of a group's members, as is (no handler runs on the way).
    /// By default it goes to this connection's groups, sender included; see [`Broadcast`].
    pub fn broadcast_message<'a, M: Message>(&'a self, message: &'a M) -> Broadcast<'a, M> {
        Broadcast { ctx: self, message, groups: None, exclude_current: false }
    }
}

/// A pending [`Context::broadcast_message`]; `.await` it to send.
///
/// ```no_run
/// # use chanx::{Context, messages::Pong};
/// # async fn handler(ctx: &Context) -> Result<(), chanx::layer::LayerError> {
/// ctx.broadcast_message(&Pong {}).await?;                                  // my groups, me included
/// ctx.broadcast_message(&Pong {}).exclude_current().await?;                // my groups, not me
/// ctx.broadcast_message(&Pong {}).to(["lobby", "room.5"]).await?;          // other groups
/// # Ok(()) }
/// ```
#[must_use = "a broadcast does nothing until it is awaited"]
#[derive(Debug)]
pub struct Broadcast<'a, M> {
    ctx: &'a Context,
    message: &'a M,
    groups: Option<Vec<String>>,
    exclude_current: bool,
}

impl<M> Broadcast<'_, M> {
    /// Sends to these groups instead of the connection's own.
    pub fn to(mut self, groups: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.groups = Some(groups.into_iter().map(Into::into).collect());
        self
    }

    /// Skips the sending connection.
    pub fn exclude_current(mut self) -> Self {
        self.exclude_current = true;
        self
    }
}

impl<'a, M: Message> IntoFuture for Broadcast<'a, M> {
    type Output = Result<(), LayerError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move {
            let body = LayerBody::GroupMessage {
                message: envelope::to_frame(self.message)?,
                exclude_current: self.exclude_current,
                from_channel: Some(self.ctx.channel_name().to_owned()),
            };
            let groups = self.groups.unwrap_or_else(|| self.ctx.groups());
            self.ctx.layer().send_to_groups(groups, LayerMessage::new(body)).await
        })
    }
}
