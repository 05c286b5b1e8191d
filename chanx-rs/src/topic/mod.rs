//! Topics: many resources over one socket, as chanx 2.10–2.13 multiplexes them.
//!
//! A topic is a type declared with [`#[topic(pattern = "room:{name}")]`](crate::topic) the way a
//! consumer is declared: its own `#[ws_handler]`s and `#[event_handler]`s, an
//! [`authorize`](Topic::authorize) hook and [`on_subscribe`](Topic::on_subscribe) /
//! [`on_unsubscribe`](Topic::on_unsubscribe). A consumer hosts topics
//! (`#[consumer(topics = [RoomTopic])]`); a client then sends `subscribe` with a `topic`, and the
//! topic's handlers answer the frames addressed to it. [`Topic::broadcast`] pushes an event to
//! every subscriber, from anywhere and from any process sharing the layer (Python chanx
//! included). [`Router::topic`](crate::Router::topic) mounts one topic on its own route.
//!
//! The frames, errors and group names are chanx's (docs/topics.md, docs/protocol.md).

pub(crate) mod history;
mod pattern;
pub(crate) mod presence;
mod standalone;
mod subscriptions;

use std::future::Future;

use crate::consumer::Handlers;
use crate::layer::{LayerBody, LayerError, LayerMessage, safe_group_name};
use crate::{Context, HandlesEvent, Layer, Message, envelope};

pub(crate) use history::HistoryStore;
pub use history::{History, Recovery};
pub use pattern::same_shape;
pub(crate) use pattern::{fill, parameter_names};
pub(crate) use presence::{PresenceLimits, PresenceStore};
pub(crate) use standalone::Standalone;
pub(crate) use subscriptions::{
    Subscriptions, TopicLimits, handle_frame, on_topic_event, reauthorize, revoke, subscribe_default,
};

/// A subscribable stream on a consumer's connection, declared with
/// [`#[topic]`](crate::topic). One value is made per subscription, with [`new`](Topic::new)
/// (which `#[topic]` writes as `Default::default()` unless the `impl Topic` block has its own).
///
/// ```
/// use chanx::{Context, Topic, TopicParams};
/// # #[derive(chanx::Message, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
/// # #[message(action = "say")] struct Say { payload: String }
/// # #[derive(chanx::Message, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
/// # #[message(action = "said")] struct Said { payload: String }
///
/// /// A chat room.
/// #[derive(Default)]
/// struct RoomTopic;
///
/// #[chanx::topic(pattern = "room:{name}")]
/// impl Topic for RoomTopic {
///     async fn authorize(&self, _ctx: &Context, params: &TopicParams) -> bool {
///         !params.get("name").is_some_and(|name| name.starts_with("private"))
///     }
///
///     #[ws_handler]
///     async fn say(&self, msg: Say) -> Said {
///         Said { payload: msg.payload }
///     }
/// }
///
/// assert_eq!(RoomTopic::PATTERN, "room:{name}");
/// assert_eq!(RoomTopic::group_name("room:lobby"), "RoomTopic.room-lobby");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a chanx topic",
    note = "add `#[chanx::topic(pattern = \"...\")]` to an impl block of `{Self}`"
)]
pub trait Topic: Handlers {
    /// The topics this type serves: `{name}` placeholders match a run of characters without `:`.
    const PATTERN: &'static str;
    /// The type's name, the namespace of its group names (`RoomTopic.room-lobby`), as chanx
    /// uses the class name. Written by `#[topic]`.
    const TYPE_NAME: &'static str;
    /// Whether this topic's frames are followed by completion frames; `None` follows
    /// [`Settings::send_completion`](crate::Settings::send_completion), never the host
    /// consumer's own setting (as in chanx). `#[topic(send_completion = true)]`.
    const SEND_COMPLETION: Option<bool> = None;
    /// The history this topic keeps, for clients to recover what they missed
    /// (docs/topics.md, "History and recovery"); `None`, the default, keeps none.
    /// `#[topic(history(size = 1000, ttl = "5m"))]`.
    const HISTORY: Option<History> = None;
    /// Whether this topic keeps presence: subscribers get the list of members (the entries of
    /// [`presence`](Topic::presence)) after `subscribed` and on a `presence` request, then
    /// `presence_join` and `presence_leave` frames (docs/topics.md, "Presence").
    /// `#[topic(presence = Entry)]` turns it on and names the entry type.
    const PRESENCE: bool = false;
    /// The most entries a presence topic lists; later subscribers follow it unlisted.
    const MAX_PRESENCE: usize = 1_000;
    /// The largest presence entry, in bytes of JSON; a connection whose entry is larger follows
    /// the topic unlisted (and the hook's mistake is logged). Entries are often built from what
    /// a peer sent (a name in the URL), and every subscriber receives every entry.
    const MAX_PRESENCE_ENTRY_BYTES: usize = 1_024;
    /// What [`presence`](Topic::presence) lists each member with, and what the AsyncAPI
    /// document describes as the `entry` of `presence_state`, `presence_join` and
    /// `presence_leave`. `#[topic(presence = Entry)]` writes it; `#[topic]` writes `()` for a
    /// topic without presence.
    type PresenceEntry: serde::Serialize + schemars::JsonSchema + Send + 'static;

    /// Makes the value of one subscription, before [`authorize`](Topic::authorize).
    fn new(ctx: &Context, params: &TopicParams) -> Self;

    /// Whether this connection may subscribe; runs on every `subscribe` that is not already
    /// subscribed. `ctx` has the connection's user ([`Context::extension`]) and path parameters
    /// ([`Context::param`]); `params` the topic's own. Defaults to `true`. A refusal answers
    /// the `unauthorized` error frame and leaves the socket open.
    fn authorize(&self, ctx: &Context, params: &TopicParams) -> impl Future<Output = bool> + Send {
        let _ = (ctx, params);
        async { true }
    }

    /// The presence entry of this connection, when [`PRESENCE`](Topic::PRESENCE) is on, built
    /// from its context (a user's id and display name, say); `None` follows the topic unlisted.
    ///
    /// ```
    /// # use chanx::{Context, Topic};
    /// /// Who is in a room.
    /// #[derive(serde::Serialize, schemars::JsonSchema)]
    /// struct Member {
    ///     /// The name the member gave.
    ///     name: String,
    /// }
    ///
    /// #[derive(Default)]
    /// struct RoomTopic;
    ///
    /// #[chanx::topic(pattern = "room:{name}", presence = Member)]
    /// impl Topic for RoomTopic {
    ///     fn presence(&self, ctx: &Context) -> Option<Member> {
    ///         Some(Member { name: ctx.scope().query("name").unwrap_or("anonymous").to_owned() })
    ///     }
    /// }
    /// assert!(RoomTopic::PRESENCE);
    /// ```
    fn presence(&self, ctx: &Context) -> Option<Self::PresenceEntry> {
        let _ = ctx;
        None
    }

    /// Runs once subscribed (group joined, `subscribed` sent); its frames carry no `ref`.
    fn on_subscribe(&self, ctx: &Context) -> impl Future<Output = ()> + Send {
        let _ = ctx;
        async {}
    }

    /// Runs on `unsubscribe` and when the connection ends, before the topic's group is left;
    /// only for a subscription whose [`on_subscribe`](Topic::on_subscribe) started (one ended
    /// while it replayed history runs neither hook).
    fn on_unsubscribe(&self, ctx: &Context) -> impl Future<Output = ()> + Send {
        let _ = ctx;
        async {}
    }

    /// The group of `topic`'s subscribers: `safe_group_name(topic, namespace = type name)`, as
    /// chanx names it, so processes in other languages reach the same subscribers.
    fn group_name(topic: &str) -> String {
        safe_group_name(Some(Self::TYPE_NAME), &[topic])
    }

    /// Pushes `event` to every connection subscribed to `topic`, in every process sharing the
    /// layer: chanx's `handle_topic_event` message to [`group_name`](Topic::group_name). Each
    /// subscriber's `#[event_handler]` for the event turns it into its client's frame, which
    /// carries `topic` and `seq` (and no `ref`). A connection that is no longer subscribed
    /// drops it without error. `seq` is the caller's numbering, for gaps to be noticed, unless
    /// the topic keeps [`HISTORY`](Topic::HISTORY): then `seq` is ignored, and the push is
    /// numbered and kept by the layer's history, atomically with being published.
    ///
    /// Only events this topic has an `#[event_handler]` for type-check.
    fn broadcast<E: Message>(
        layer: &Layer,
        topic: &str,
        event: &E,
        seq: Option<i64>,
    ) -> impl Future<Output = Result<(), LayerError>> + Send
    where
        Self: HandlesEvent<E>,
    {
        let group = Self::group_name(topic);
        let event_data = envelope::to_frame(event);
        async move {
            let event_data = event_data?;
            match Self::HISTORY {
                Some(history) => {
                    let send = |message| layer.group_send(&group, message);
                    layer.history().publish(&group, history, topic, event_data, send).await.map(drop)
                }
                None => {
                    let body = LayerBody::TopicEvent { topic: topic.to_owned(), seq, event_data };
                    layer.group_send(&group, LayerMessage::new(body)).await
                }
            }
        }
    }

    /// Ends access that [`authorize`](Topic::authorize) no longer grants, without closing any
    /// socket: every connection subscribed to `topic`, in every process sharing the layer, runs
    /// `authorize` again, and those refused are unsubscribed by the server (`on_unsubscribe`
    /// runs, the group is left, presence sends the leave) and receive `unsubscribed` with no
    /// `ref`. Pushes broadcast after this call reach none of them. From a handler, pass
    /// [`ctx.layer()`](crate::Context::layer).
    fn reauthorize(layer: &Layer, topic: &str) -> impl Future<Output = Result<(), LayerError>> + Send {
        let group = Self::group_name(topic);
        let body = LayerBody::TopicReauthorize { topic: topic.to_owned() };
        async move { layer.group_send(&group, LayerMessage::new(body)).await }
    }
}

/// The parameters of a topic, matched against its pattern: `name` → `lobby` for `room:lobby`
/// and `room:{name}`.
///
/// ```
/// # use chanx::{Context, Topic, TopicParams};
/// # #[derive(Default)] struct ChatTopic;
/// #[chanx::topic(pattern = "chat:{org}:{room}")]
/// impl Topic for ChatTopic {
///     async fn authorize(&self, _ctx: &Context, params: &TopicParams) -> bool {
///         params.topic() == "chat:acme:ops" && params.get("org") == Some("acme") && params.get("nope").is_none()
///     }
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicParams {
    topic: String,
    params: Vec<(&'static str, String)>,
}

impl TopicParams {
    /// The value of the placeholder `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// The whole topic, such as `room:lobby`.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Every placeholder and its value, in the pattern's order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.params.iter().map(|(n, v)| (*n, v.as_str()))
    }
}

/// Why a topic frame was refused: the `reason` of its error frame
/// (`{"reason": ..., "detail": ...}`). The first three are chanx's, with its detail texts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TopicErrorReason {
    /// No hosted topic's pattern matches: `"Unknown topic 'nope:1'"`.
    UnknownTopic,
    /// [`Topic::authorize`] refused: `"Not allowed to subscribe to 'room:private'"`.
    Unauthorized,
    /// A frame for a topic the connection is not subscribed to: `"Not subscribed to 'room:x'"`.
    NotSubscribed,
    /// chanx-rs only: the connection is subscribed to
    /// [`Settings::max_topics_per_connection`](crate::Settings::max_topics_per_connection) topics.
    TooManyTopics,
    /// chanx-rs only: the topic is longer than
    /// [`Settings::max_topic_length`](crate::Settings::max_topic_length) bytes.
    TopicTooLong,
}

impl TopicErrorReason {
    /// The `reason` on the wire.
    ///
    /// ```
    /// assert_eq!(chanx::TopicErrorReason::UnknownTopic.as_str(), "unknown_topic");
    /// assert_eq!(chanx::TopicErrorReason::TooManyTopics.as_str(), "too_many_topics");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            TopicErrorReason::UnknownTopic => "unknown_topic",
            TopicErrorReason::Unauthorized => "unauthorized",
            TopicErrorReason::NotSubscribed => "not_subscribed",
            TopicErrorReason::TooManyTopics => "too_many_topics",
            TopicErrorReason::TopicTooLong => "topic_too_long",
        }
    }
}

/// A hosted topic type, type-erased: what `#[consumer(topics = [...])]` lists.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct TopicType {
    pub(crate) pattern: &'static str,
    pub(crate) type_name: &'static str,
    pub(crate) completion: Option<bool>,
    pub(crate) history: Option<History>,
    /// The bounds of presence entries, for a topic that keeps presence.
    pub(crate) presence: Option<PresenceLimits>,
    pub(crate) create: fn(&Context, &TopicParams) -> Box<dyn DynTopic>,
}

impl std::fmt::Debug for TopicType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicType").field("type_name", &self.type_name).field("pattern", &self.pattern).finish()
    }
}

impl TopicType {
    /// The entry of `T`.
    pub const fn of<T: Topic>() -> Self {
        TopicType {
            pattern: T::PATTERN,
            type_name: T::TYPE_NAME,
            completion: T::SEND_COMPLETION,
            history: T::HISTORY,
            presence: if T::PRESENCE {
                Some(PresenceLimits { max_entries: T::MAX_PRESENCE, max_entry_bytes: T::MAX_PRESENCE_ENTRY_BYTES })
            } else {
                None
            },
            create: create::<T>,
        }
    }

    /// The parameters of `topic` if this type serves it.
    pub(crate) fn parse(&self, topic: &str) -> Option<TopicParams> {
        let params = pattern::parse(self.pattern, topic)?;
        Some(TopicParams { topic: topic.to_owned(), params })
    }
}

fn create<T: Topic>(ctx: &Context, params: &TopicParams) -> Box<dyn DynTopic> {
    Box::new(T::new(ctx, params))
}

/// The metadata of a hosted topic (failing to compile, at the user's type, when it is none).
pub fn topic_info<T: Topic>() -> crate::ConsumerInfo {
    let mut info = T::info();
    info.history = T::HISTORY;
    if T::PRESENCE {
        info.presence = Some(crate::info::PresenceInfo {
            max_entries: T::MAX_PRESENCE,
            max_entry_bytes: T::MAX_PRESENCE_ENTRY_BYTES,
            entry_schema: <T::PresenceEntry as schemars::JsonSchema>::json_schema,
            entry_name: <T::PresenceEntry as schemars::JsonSchema>::schema_name,
        });
    }
    info
}

type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the connection needs of a subscription's topic value: its handlers and hooks, boxed so
/// the connection code is compiled once.
pub(crate) trait DynTopic: crate::dispatch::Dispatch {
    fn authorize<'a>(&'a self, ctx: &'a Context, params: &'a TopicParams) -> BoxFuture<'a, bool>;
    fn on_subscribe<'a>(&'a self, ctx: &'a Context) -> BoxFuture<'a, ()>;
    fn on_unsubscribe<'a>(&'a self, ctx: &'a Context) -> BoxFuture<'a, ()>;
    fn presence(&self, ctx: &Context) -> Option<serde_json::Value>;
}

impl<T: Topic> DynTopic for T {
    fn authorize<'a>(&'a self, ctx: &'a Context, params: &'a TopicParams) -> BoxFuture<'a, bool> {
        Box::pin(Topic::authorize(self, ctx, params))
    }

    fn on_subscribe<'a>(&'a self, ctx: &'a Context) -> BoxFuture<'a, ()> {
        Box::pin(Topic::on_subscribe(self, ctx))
    }

    fn on_unsubscribe<'a>(&'a self, ctx: &'a Context) -> BoxFuture<'a, ()> {
        Box::pin(Topic::on_unsubscribe(self, ctx))
    }

    fn presence(&self, ctx: &Context) -> Option<serde_json::Value> {
        let entry = Topic::presence(self, ctx)?;
        serde_json::to_value(entry)
            .inspect_err(|err| tracing::error!(error = %err, "a presence entry does not serialize"))
            .ok()
    }
}
