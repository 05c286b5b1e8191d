//! The objects of an AsyncAPI 3.0 document, as far as chanx writes them. One model gives both
//! the JSON and the YAML output. Field order is the order of the output.

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::Value;

/// An AsyncAPI 3.0.0 document, as [`AsyncApi::document`](super::AsyncApi::document) builds it.
///
/// Serialize it with serde (`serde_json::to_value(&doc)`), or use
/// [`AsyncApi::to_json`](super::AsyncApi::to_json) and `to_yaml`.
///
/// ```
/// use chanx::asyncapi::AsyncApi;
///
/// let doc = AsyncApi::new("Empty", "0.1.0").document(&chanx::Router::new());
/// assert_eq!(doc.asyncapi, "3.0.0");
/// assert_eq!(doc.info.title, "Empty");
/// assert_eq!(serde_json::to_value(&doc)?["servers"]["development"]["protocol"], "ws");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Document {
    /// The AsyncAPI version: `3.0.0`.
    pub asyncapi: &'static str,
    /// Title, version and description of the API.
    pub info: Info,
    /// Where clients connect, by server name.
    pub servers: IndexMap<String, Server>,
    /// One channel per route, in the order the routes were added.
    pub channels: IndexMap<String, Channel>,
    /// One operation per handler, plus one per consumer for what it pushes.
    pub operations: IndexMap<String, Operation>,
    /// The messages, their schemas, the correlation id and the security schemes.
    pub components: Components,
}

/// The `info` object.
///
/// ```
/// let doc = chanx::asyncapi::AsyncApi::new("Chat", "2.0.0").description("Rooms.").document(&chanx::Router::new());
/// assert_eq!(doc.info.description.as_deref(), Some("Rooms."));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Info {
    /// The API's title.
    pub title: String,
    /// The API's version.
    pub version: String,
    /// CommonMark prose about the API.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A server clients connect to.
///
/// ```
/// let doc = chanx::asyncapi::AsyncApi::new("Chat", "1.0.0").server("production", "chat.example.com", "wss")
///     .document(&chanx::Router::new());
/// assert_eq!(doc.servers["production"].protocol, "wss");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Server {
    /// Host and port.
    pub host: String,
    /// `ws` or `wss`.
    pub protocol: String,
}

/// A `$ref` to another object of the document.
///
/// ```
/// let doc = chanx::asyncapi::AsyncApi::new("Empty", "0.1.0").document(&chanx::Router::new());
/// assert!(doc.operations.values().all(|op| op.channel.reference.starts_with("#/channels/")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Reference {
    /// A JSON pointer into this document, such as `#/components/messages/ping`.
    #[serde(rename = "$ref")]
    pub reference: String,
}

impl Reference {
    pub(crate) fn to(pointer: String) -> Self {
        Reference { reference: pointer }
    }
}

/// A tag, for grouping channels and operations.
///
/// ```
/// # let doc = chanx::asyncapi::AsyncApi::new("Empty", "0.1.0").document(&chanx::Router::new());
/// assert!(doc.channels.values().flat_map(|c| &c.tags).all(|t| !t.name.is_empty()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Tag {
    /// The tag.
    pub name: String,
}

/// A route: its address, its parameters and every message that travels on it.
///
/// ```
/// # let doc = chanx::asyncapi::AsyncApi::new("Empty", "0.1.0").document(&chanx::Router::new());
/// assert!(doc.channels.values().all(|c| c.address.starts_with('/')));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Channel {
    /// The route's path, with `{name}` parameters.
    pub address: String,
    /// The channel's key.
    pub title: String,
    /// CommonMark prose: the consumer's description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The path parameters.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub parameters: IndexMap<String, Parameter>,
    /// References to the component messages, by message key.
    pub messages: IndexMap<String, Reference>,
    /// The consumer's tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    /// For a topic's channel, chanx's `x-topic` extension, which chanx's client generator turns
    /// into a typed topic handle.
    #[serde(rename = "x-topic", skip_serializing_if = "Option::is_none")]
    pub topic: Option<TopicExtension>,
}

/// chanx's `x-topic` channel extension: `{"name": "room_topic", "pattern": "room:{name}",
/// "parameters": ["name"]}`.
///
/// ```
/// # use chanx::{Router, asyncapi::AsyncApi};
/// # #[derive(Default)] struct RoomTopic;
/// # #[chanx::topic(pattern = "room:{name}")] impl RoomTopic {}
/// let doc = AsyncApi::new("Rooms", "1.0.0").document(&Router::new().topic::<RoomTopic>("/ws/rooms/{name}/"));
/// let topic = doc.channels["room_topic"].topic.as_ref().expect("a topic channel");
/// assert_eq!((topic.name.as_str(), topic.pattern.as_str()), ("room_topic", "room:{name}"));
/// assert_eq!(topic.parameters, ["name"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TopicExtension {
    /// The topic's name: its type name in snake_case (the generated handle's method name).
    pub name: String,
    /// The pattern, such as `room:{name}`.
    pub pattern: String,
    /// The pattern's placeholders, in order.
    pub parameters: Vec<String>,
    /// chanx-rs only, for a topic that keeps history: what it keeps and how a client recovers
    /// (chanx's generator ignores it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<TopicHistory>,
}

/// The `history` of an `x-topic`: `{"size": 1000, "ttlSeconds": 300, "subscribePayload": {...},
/// "subscribedPayload": {...}}`, the two JSON Schemas being the `payload` of a recovering
/// `subscribe` and of its `subscribed` answer.
///
/// ```
/// # use chanx::{Router, asyncapi::AsyncApi};
/// # #[derive(Default)] struct RoomTopic;
/// # #[chanx::topic(pattern = "room:{name}", history(size = 1000, ttl = "5m"))] impl RoomTopic {}
/// let doc = AsyncApi::new("Rooms", "1.0.0").document(&Router::new().topic::<RoomTopic>("/ws/rooms/{name}/"));
/// let history = doc.channels["room_topic"].topic.as_ref().and_then(|t| t.history.as_ref()).expect("history");
/// assert_eq!((history.size, history.ttl_seconds), (1000, 300));
/// assert_eq!(history.subscribed_payload["required"], serde_json::json!(["recovered", "seq", "epoch"]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct TopicHistory {
    /// The most pushes kept.
    pub size: usize,
    /// How long a push is kept, in seconds (rounded up).
    pub ttl_seconds: u64,
    /// The schema of a recovering `subscribe`'s payload: `{"since": {"seq", "epoch"}}`.
    pub subscribe_payload: serde_json::Value,
    /// The schema of the `subscribed` answer's payload: a [`Recovery`](crate::Recovery).
    pub subscribed_payload: serde_json::Value,
}

impl TopicHistory {
    pub(crate) fn of(history: crate::History) -> Self {
        let position = serde_json::json!({
            "seq": {"type": "integer", "minimum": 0, "description": "The last seq received; 0 for none."},
            "epoch": {"type": "string", "maxLength": 64, "description": "The epoch of that seq; empty for none."},
        });
        TopicHistory {
            size: history.size(),
            ttl_seconds: history.ttl().as_millis().div_ceil(1000).try_into().unwrap_or(u64::MAX),
            subscribe_payload: serde_json::json!({
                "type": "object",
                "properties": {"since": {"type": "object", "properties": position, "required": ["seq", "epoch"]}},
                "required": ["since"],
            }),
            subscribed_payload: serde_json::json!({
                "type": "object",
                "properties": {
                    "recovered": {"type": "boolean", "description": "Whether every missed push follows."},
                    "seq": {"type": "integer", "minimum": 0, "description": "The topic's latest seq."},
                    "epoch": {"type": "string", "description": "The topic's history generation."},
                },
                "required": ["recovered", "seq", "epoch"],
            }),
        }
    }
}

/// A path parameter of a channel.
///
/// ```
/// # let doc = chanx::asyncapi::AsyncApi::new("Empty", "0.1.0").document(&chanx::Router::new());
/// assert!(doc.channels.values().flat_map(|c| c.parameters.values()).all(|p| !p.description.is_empty()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Parameter {
    /// What the parameter is.
    pub description: String,
}

/// Which side sends an operation's messages, from the server's point of view.
///
/// ```
/// use chanx::asyncapi::Action;
/// assert_eq!(serde_json::to_value(Action::Receive)?, "receive");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// The server sends (events, pushes).
    Send,
    /// The server receives (client messages, which may have replies).
    Receive,
}

/// A handler, or what a consumer pushes.
///
/// ```
/// # let doc = chanx::asyncapi::AsyncApi::new("Empty", "0.1.0").document(&chanx::Router::new());
/// assert!(doc.operations.values().all(|op| !op.messages.is_empty()));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Operation {
    /// Who sends.
    pub action: Action,
    /// The channel it happens on.
    pub channel: Reference,
    /// CommonMark prose: the handler's doc comment.
    pub description: String,
    /// A one-line summary.
    pub summary: String,
    /// The messages sent (for `receive`, the client's message).
    pub messages: Vec<Reference>,
    /// The answers of a `receive` operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply: Option<Reply>,
    /// The handler's tags.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    /// The security schemes of the route.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security: Vec<Reference>,
}

/// The answers of an operation.
///
/// ```
/// # let doc = chanx::asyncapi::AsyncApi::new("Empty", "0.1.0").document(&chanx::Router::new());
/// assert!(doc.operations.values().filter_map(|op| op.reply.as_ref()).all(|r| !r.messages.is_empty()));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Reply {
    /// The channel the answers travel on.
    pub channel: Reference,
    /// The messages that may answer.
    pub messages: Vec<Reference>,
}

/// The reusable objects: messages, schemas, the correlation id and the security schemes.
///
/// ```
/// # let doc = chanx::asyncapi::AsyncApi::new("Empty", "0.1.0").document(&chanx::Router::new());
/// assert!(doc.components.messages.is_empty() && doc.components.security_schemes.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Components {
    /// Every message, by key.
    pub messages: IndexMap<String, MessageObject>,
    /// The JSON Schema (2020-12) of each message and of the types they contain, by type name.
    pub schemas: IndexMap<String, Value>,
    /// `ref`, when some operation has replies.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub correlation_ids: IndexMap<String, CorrelationId>,
    /// How the routes authenticate.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub security_schemes: IndexMap<String, SecurityScheme>,
}

/// A message: its payload schema, and its correlation id when it takes part in a request and reply.
///
/// ```
/// # let doc = chanx::asyncapi::AsyncApi::new("Empty", "0.1.0").document(&chanx::Router::new());
/// assert!(doc.components.messages.values().all(|m| m.payload.reference.starts_with("#/components/schemas/")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MessageObject {
    /// The schema of the whole frame.
    pub payload: Reference,
    /// The `ref` correlation id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<Reference>,
}

/// Where a reply's correlation id is found.
///
/// ```
/// # let doc = chanx::asyncapi::AsyncApi::new("Empty", "0.1.0").document(&chanx::Router::new());
/// assert!(doc.components.correlation_ids.values().all(|c| c.location.starts_with("$message")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CorrelationId {
    /// CommonMark prose.
    pub description: String,
    /// A runtime expression: `$message.payload#/ref`.
    pub location: String,
}

/// An `httpApiKey` security scheme: a credential read from a header, a cookie or the query.
///
/// ```
/// # let doc = chanx::asyncapi::AsyncApi::new("Empty", "0.1.0").document(&chanx::Router::new());
/// assert!(doc.components.security_schemes.values().all(|s| s.kind == "httpApiKey"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct SecurityScheme {
    /// `httpApiKey`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The header, cookie or query parameter's name.
    pub name: String,
    /// `header`, `cookie` or `query`.
    #[serde(rename = "in")]
    pub location: &'static str,
    /// CommonMark prose.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}
