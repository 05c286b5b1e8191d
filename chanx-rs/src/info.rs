//! What `#[consumer]` records about a consumer: its channel metadata and handlers, read by the
//! AsyncAPI generator and by error messages.

use crate::MessageInfo;

/// Whether a handler answers client frames or channel-layer events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandlerKind {
    /// `#[ws_handler]`: a frame from the client.
    Message,
    /// `#[event_handler]`: an event from the channel layer.
    Event,
}

/// One handler of a consumer.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HandlerInfo {
    /// Which kind of input it handles.
    pub kind: HandlerKind,
    /// The Rust method's name.
    pub method: &'static str,
    /// The operation id: `action = "..."` on `#[ws_handler]`, or the method name.
    pub operation: &'static str,
    /// The message it receives.
    pub input: MessageInfo,
    /// The messages it may send (its return type and `output = [...]`).
    pub outputs: Vec<MessageInfo>,
    /// A one-line summary.
    pub summary: Option<&'static str>,
    /// The description (the `description` argument, else the method's doc comment).
    pub description: Option<&'static str>,
    /// Tags for documentation.
    pub tags: &'static [&'static str],
}

impl HandlerInfo {
    #[doc(hidden)]
    pub fn new(kind: HandlerKind, method: &'static str, operation: &'static str, input: MessageInfo) -> Self {
        HandlerInfo { kind, method, operation, input, outputs: Vec::new(), summary: None, description: None, tags: &[] }
    }

    #[doc(hidden)]
    pub fn with_docs(
        mut self,
        summary: Option<&'static str>,
        description: Option<&'static str>,
        tags: &'static [&'static str],
    ) -> Self {
        self.summary = summary;
        self.description = description;
        self.tags = tags;
        self
    }

    #[doc(hidden)]
    pub fn with_output(mut self, output: MessageInfo) -> Self {
        self.outputs.push(output);
        self
    }
}

/// Everything `#[consumer]` knows about a consumer.
///
/// ```
/// use chanx::{ConsumerInfo, messages::{Ping, Pong}};
///
/// struct EchoConsumer;
///
/// /// Answers pings.
/// #[chanx::consumer(tags = ["demo"])]
/// impl EchoConsumer {
///     #[ws_handler(summary = "Health check")]
///     async fn ping(&self, _msg: Ping) -> Pong {
///         Pong {}
///     }
/// }
///
/// let info = ConsumerInfo::of::<EchoConsumer>();
/// assert_eq!(info.name, "echo");
/// assert_eq!(info.description, Some("Answers pings."));
/// assert_eq!(info.handlers[0].input.action, "ping");
/// assert_eq!(info.handlers[0].outputs[0].action, "pong");
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConsumerInfo {
    /// The Rust type's name.
    pub type_name: &'static str,
    /// The channel name: `name = "..."`, else the type name without `Consumer`, in snake_case.
    pub name: String,
    /// `description = "..."`, else the doc comment of the impl block.
    pub description: Option<&'static str>,
    /// Tags for documentation.
    pub tags: &'static [&'static str],
    /// The groups every connection joins.
    pub groups: &'static [&'static str],
    /// Message and event handlers, in declaration order.
    pub handlers: Vec<HandlerInfo>,
    /// Events forwarded to the client unchanged.
    pub passthrough: Vec<MessageInfo>,
    /// Messages sent outside any handler (`emits = [...]`).
    pub emits: Vec<MessageInfo>,
    /// For a [topic](crate::Topic): its pattern, such as `room:{name}`.
    pub pattern: Option<&'static str>,
    /// The topics a consumer hosts (`topics = [...]`), in order.
    pub topics: Vec<ConsumerInfo>,
    /// For a [topic](crate::Topic) that keeps history: how much ([`Topic::HISTORY`](crate::Topic::HISTORY)).
    pub history: Option<crate::History>,
    /// For a [topic](crate::Topic) that keeps presence: its bounds and entry type.
    pub presence: Option<PresenceInfo>,
}

/// What a presence topic lists: its bounds ([`Topic::MAX_PRESENCE`](crate::Topic::MAX_PRESENCE),
/// [`Topic::MAX_PRESENCE_ENTRY_BYTES`](crate::Topic::MAX_PRESENCE_ENTRY_BYTES)) and the JSON
/// Schema of its [`Topic::PresenceEntry`](crate::Topic::PresenceEntry).
///
/// ```
/// # use chanx::{Context, Topic};
/// # #[derive(Default)] struct RoomTopic;
/// #[chanx::topic(pattern = "room:{name}", presence = String)]
/// impl Topic for RoomTopic {
///     fn presence(&self, _ctx: &Context) -> Option<String> {
///         Some("ada".into())
///     }
/// }
/// let presence = chanx::__private::topic_info::<RoomTopic>().presence.expect("a presence topic");
/// assert_eq!(presence.max_entries, 1_000);
/// ```
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct PresenceInfo {
    /// The most entries listed per topic.
    pub max_entries: usize,
    /// The largest entry, in bytes of JSON.
    pub max_entry_bytes: usize,
    /// Builds the JSON Schema of an entry.
    pub entry_schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
    /// The entry type's schema name (its component's name, when it is an object).
    pub entry_name: fn() -> std::borrow::Cow<'static, str>,
}

impl ConsumerInfo {
    /// What `#[consumer]` recorded about `C`.
    pub fn of<C: crate::Consumer>() -> Self {
        <C as crate::consumer::Handlers>::info()
    }

    #[doc(hidden)]
    pub fn new(
        type_name: &'static str,
        name: Option<&'static str>,
        description: Option<&'static str>,
        tags: &'static [&'static str],
        groups: &'static [&'static str],
    ) -> Self {
        let name = match name {
            Some(name) => name.to_owned(),
            None => crate::camelize::decamelize(type_name.strip_suffix("Consumer").unwrap_or(type_name)),
        };
        ConsumerInfo {
            type_name,
            name,
            description,
            tags,
            groups,
            handlers: Vec::new(),
            passthrough: Vec::new(),
            emits: Vec::new(),
            pattern: None,
            topics: Vec::new(),
            history: None,
            presence: None,
        }
    }

    /// What `#[topic]` records: a topic's name is its type name in snake_case, `Topic` kept
    /// (`RoomTopic` → `room_topic`), as chanx names it.
    #[doc(hidden)]
    pub fn new_topic(
        type_name: &'static str,
        name: Option<&'static str>,
        description: Option<&'static str>,
        tags: &'static [&'static str],
        pattern: &'static str,
    ) -> Self {
        let mut info = ConsumerInfo::new(type_name, Some(name.unwrap_or(type_name)), description, tags, &[]);
        if name.is_none() {
            info.name = crate::camelize::decamelize(type_name);
        }
        info.pattern = Some(pattern);
        info
    }

    #[doc(hidden)]
    pub fn with_topic(mut self, topic: ConsumerInfo) -> Self {
        self.topics.push(topic);
        self
    }

    #[doc(hidden)]
    pub fn with_handler(mut self, handler: HandlerInfo) -> Self {
        self.handlers.push(handler);
        self
    }

    #[doc(hidden)]
    pub fn with_passthrough(mut self, message: MessageInfo) -> Self {
        // An explicit #[event_handler] for the same action wins, as in chanx.
        let handled = self.handlers.iter().any(|h| h.kind == HandlerKind::Event && h.input.action == message.action);
        if !handled {
            self.passthrough.push(message);
        }
        self
    }

    #[doc(hidden)]
    pub fn with_emits(mut self, message: MessageInfo) -> Self {
        self.emits.push(message);
        self
    }
}
