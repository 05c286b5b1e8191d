//! AsyncAPI 3.0.0 documents generated from a [`Router`]: one channel per route, operations from
//! the handlers, messages and JSON Schemas from the Rust types, shaped like chanx's output so
//! chanx's client generator reads them.
//!
//! The output is deterministic: the same code gives byte-identical JSON, so a document can be
//! committed and reviewed.
//!
//! ```
//! use chanx::asyncapi::AsyncApi;
//! use chanx::messages::{Ping, Pong};
//! use chanx::{Router, Scope};
//!
//! /// Liveness checks.
//! struct Health;
//!
//! #[chanx::consumer]
//! impl Health {
//!     /// Answers a ping.
//!     #[ws_handler]
//!     async fn ping(&self, _msg: Ping) -> Pong {
//!         Pong {}
//!     }
//! }
//!
//! let router = Router::new().route("/ws/health/", |_: &Scope| Health);
//! let doc = AsyncApi::new("Health API", "1.0.0").document(&router);
//! assert_eq!(doc.asyncapi, "3.0.0");
//! assert_eq!(doc.channels["health"].address, "/ws/health/");
//! assert_eq!(doc.operations["ping"].action, chanx::asyncapi::Action::Receive);
//! ```

mod model;
mod presence;

use std::collections::{BTreeMap, BTreeSet};

use indexmap::IndexMap;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value, json};

pub use model::{
    Action, Channel, Components, CorrelationId, Document, Info, MessageObject, Operation, Parameter, Reference, Reply,
    SecurityScheme, Server, Tag, TopicExtension, TopicHistory,
};

use crate::auth::{Credential, Location};
use crate::{ConsumerInfo, HandlerKind, MessageInfo, Router};

/// Settings of a generated document: its `info` and `servers`.
///
/// ```
/// let spec = chanx::asyncapi::AsyncApi::new("Chat", "2.1.0")
///     .description("Real-time chat.")
///     .server("production", "chat.example.com", "wss");
/// ```
#[derive(Debug, Clone)]
pub struct AsyncApi {
    title: String,
    version: String,
    description: Option<String>,
    servers: Vec<(String, String, String)>,
    camelize: Option<bool>,
}

impl AsyncApi {
    /// A document titled `title`, at API version `version`, with the development server
    /// `localhost:8000` over `ws` until [`server`](Self::server) names others.
    pub fn new(title: impl Into<String>, version: impl Into<String>) -> Self {
        AsyncApi {
            title: title.into(),
            version: version.into(),
            description: None,
            servers: Vec::new(),
            camelize: None,
        }
    }

    /// The document's description.
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    /// Adds a server: its key (`development`, `production`…), `host` (with port) and protocol
    /// (`ws` or `wss`).
    pub fn server(mut self, name: impl Into<String>, host: impl Into<String>, protocol: impl Into<String>) -> Self {
        self.servers.push((name.into(), host.into(), protocol.into()));
        self
    }

    /// Documents keys in camelCase, as clients of camelizing consumers see them: channel,
    /// operation and message keys, and every schema property (schema names stay). By default,
    /// the document is camelized when every routed consumer camelizes (by
    /// [`Settings::camelize`](crate::Settings::camelize) or its own `camelize = true`).
    pub fn camelize(mut self, on: bool) -> Self {
        self.camelize = Some(on);
        self
    }

    /// The document for every route of `router`.
    pub fn document(&self, router: &Router) -> Document {
        let mut builder = Builder::default();
        for (path, consumer, credentials) in router.routes_info() {
            builder.add_route(path, &consumer, &credentials);
        }
        let mut document = builder.finish(self);
        if self.camelize.unwrap_or_else(|| router.all_camelize()) {
            camelize_document(&mut document);
        }
        document
    }

    /// The document as pretty-printed JSON (two-space indent, trailing newline).
    pub fn to_json(&self, router: &Router) -> String {
        // Serializing these types cannot fail: every map key is a string.
        let mut text = serde_json::to_string_pretty(&self.document(router)).unwrap_or_default();
        text.push('\n');
        text
    }

    /// The document as YAML, from the same model as the JSON: parsed by any YAML parser, it
    /// gives exactly the JSON document.
    #[cfg(feature = "yaml")]
    #[cfg_attr(docsrs, doc(cfg(feature = "yaml")))]
    pub fn to_yaml(&self, router: &Router) -> String {
        yaml_serde::to_string(&self.document(router)).unwrap_or_default()
    }

    /// A self-contained HTML page documenting every channel, operation and message schema. It
    /// loads nothing from the network: the document and the renderer are inline.
    pub fn to_html(&self, router: &Router) -> String {
        // `<` only occurs inside JSON strings, where `\u003c` means the same; this keeps a
        // description containing `</script>` from ending the script element.
        let json = serde_json::to_string(&self.document(router)).unwrap_or_default().replace('<', "\\u003c");
        PAGE.replace("__ASYNCAPI_JSON__", &json)
    }

    /// Writes the document to `path`: YAML when the file name ends in `.yaml` or `.yml`, else
    /// JSON. For a command-line export.
    ///
    /// ```no_run
    /// # fn run(router: &chanx::Router) -> std::io::Result<()> {
    /// chanx::asyncapi::AsyncApi::new("Chat", "1.0.0").write(router, "asyncapi.json")?;
    /// # Ok(()) }
    /// ```
    pub fn write(&self, router: &Router, path: impl AsRef<std::path::Path>) -> std::io::Result<()> {
        let path = path.as_ref();
        let yaml = path.extension().is_some_and(|ext| ext == "yaml" || ext == "yml");
        if !yaml {
            return std::fs::write(path, self.to_json(router));
        }
        #[cfg(feature = "yaml")]
        return std::fs::write(path, self.to_yaml(router));
        #[cfg(not(feature = "yaml"))]
        Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "YAML output needs chanx's `yaml` feature"))
    }

    /// The response for a documentation path under `prefix`: `{prefix}` (the HTML page),
    /// `{prefix}asyncapi.json` and `{prefix}asyncapi.yaml`.
    pub(crate) fn page(&self, router: &Router, prefix: &str, path: &str) -> Option<(&'static str, String)> {
        match path.strip_prefix(prefix)? {
            "" => Some(("text/html; charset=utf-8", self.to_html(router))),
            "asyncapi.json" => Some(("application/json", self.to_json(router))),
            #[cfg(feature = "yaml")]
            "asyncapi.yaml" => Some(("application/yaml; charset=utf-8", self.to_yaml(router))),
            _ => None,
        }
    }
}

const PAGE: &str = include_str!("page.html");

#[derive(Default)]
struct Builder {
    channels: IndexMap<String, Channel>,
    operations: IndexMap<String, Operation>,
    /// Component message key → schema name.
    messages: BTreeMap<String, String>,
    schemas: BTreeMap<String, Value>,
    security: BTreeMap<String, SecurityScheme>,
    /// Messages of request/reply pairs: they carry the correlation id `ref`.
    correlated: BTreeSet<String>,
}

/// `ChatMessage` → `chat_message`.
fn message_key(type_name: &str) -> String {
    crate::camelize::decamelize(type_name)
}

/// `user_name` → `User Name`, pydantic's default title.
fn title_of(field: &str) -> String {
    field
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars.next().map(|c| c.to_uppercase().chain(chars).collect::<String>()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn schema_generator() -> schemars::SchemaGenerator {
    let mut settings = SchemaSettings::draft2020_12();
    settings.definitions_path = "/components/schemas".into();
    settings.meta_schema = None;
    settings.into_generator()
}

/// `{"type": ["string", "null"], ...}` → `{"anyOf": [{"type": "string", ...}, {"type": "null"}]}`,
/// the form pydantic writes and chanx's client generator turns into `str | None`.
fn nullable_as_any_of(property: &mut Map<String, Value>) {
    let Some(Value::Array(types)) = property.get("type") else { return };
    let others: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
    if others.len() != 1 || others.len() == types.len() {
        return;
    }
    let annotations = ["title", "description", "default"];
    let mut inner = Map::new();
    for (key, value) in std::mem::take(property) {
        if annotations.contains(&key.as_str()) {
            property.insert(key, value);
        } else if key != "type" {
            inner.insert(key, value);
        }
    }
    let mut typed = Map::new();
    typed.insert("type".into(), others[0].clone());
    typed.extend(inner);
    property.insert("anyOf".into(), json!([typed, {"type": "null"}]));
}

/// A doc comment as a description: the prose before its first code example, as CommonMark
/// without rustdoc's links to Rust items, which mean nothing outside rustdoc.
fn prose(doc: &str) -> String {
    let text = doc.split("```").next().unwrap_or_default();
    let kept: Vec<&str> = text.lines().filter(|line| !is_item_link_definition(line)).collect();
    plain_item_links(kept.join("\n").trim())
}

/// Whether `target` names a Rust item rather than a URL or an anchor.
fn is_item_path(target: &str) -> bool {
    !target.is_empty()
        && target
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | ':' | '!' | '(' | ')' | '<' | '>' | '@' | '`'))
}

/// `[Ping]: crate::messages::Ping`, a reference definition rustdoc resolves.
fn is_item_link_definition(line: &str) -> bool {
    let Some(rest) = line.trim_start().strip_prefix('[') else { return false };
    rest.split_once("]:").is_some_and(|(_, target)| is_item_path(target.trim()))
}

/// `` [`Ping`] `` → `` `Ping` ``, `[the ping](Ping)` and `` [the ping][`Ping`] `` → `the ping`;
/// links to URLs stay. One pass: each bracket is looked at once.
fn plain_item_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        // The label ends at the next `]`, unless another `[` or a line break comes first.
        let Some(close) = after.find(['[', ']', '\n']).filter(|&i| after.as_bytes()[i] == b']') else {
            out.push('[');
            rest = after;
            continue;
        };
        let label = &after[..close];
        let tail = &after[close + 1..];
        let target = |opening: char, closing: char| {
            tail.strip_prefix(opening).and_then(|t| t.find(closing).map(|end| (&t[..end], &t[end + 1..])))
        };
        if let Some((_, next)) = target('(', ')').filter(|(t, _)| is_item_path(t)) {
            out.push_str(label);
            rest = next;
        } else if let Some((_, next)) = target('[', ']').filter(|(t, _)| is_item_path(t)) {
            out.push_str(label);
            rest = next;
        } else if !tail.starts_with(['(', '[']) && is_item_path(label) && looks_like_item(label) {
            out.push_str(label);
            rest = tail;
        } else {
            out.push('[');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A shortcut link's label that rustdoc would resolve: code, a path, or a type name.
fn looks_like_item(label: &str) -> bool {
    (label.starts_with('`') && label.ends_with('`') && label.len() > 2)
        || label.contains("::")
        || label.starts_with(|c: char| c.is_ascii_uppercase())
}

/// Gives every property a title (and a `null` default to optional ones), as pydantic does,
/// keeps the prose of descriptions, and removes what AsyncAPI schemas do not carry.
fn pydantic_style(schema: &mut Value) {
    let Value::Object(object) = schema else { return };
    object.remove("$schema");
    if let Some(Value::String(description)) = object.get_mut("description") {
        *description = prose(description);
    }
    let required: Vec<String> = object
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    if let Some(Value::Object(properties)) = object.get_mut("properties") {
        for (name, property) in properties.iter_mut() {
            if let Value::Object(property) = property {
                property.entry("title").or_insert_with(|| Value::String(title_of(name)));
                if let Some(Value::String(description)) = property.get_mut("description") {
                    *description = prose(description);
                }
                nullable_as_any_of(property);
                let nullable = matches!(property.get("anyOf"), Some(Value::Array(options)) if options.contains(&json!({"type": "null"})));
                if nullable && !required.contains(name) {
                    property.entry("default").or_insert(Value::Null);
                }
            }
        }
    }
}

impl Builder {
    /// Registers a message's schema under its type name; returns its component message key.
    fn message(&mut self, info: &MessageInfo, consumer: &ConsumerInfo) -> String {
        let mut generator = schema_generator();
        let mut schema = (info.schema)(&mut generator).to_value();
        for (name, mut sub) in generator.take_definitions(true) {
            if let Value::Object(object) = &mut sub {
                object.entry("title").or_insert_with(|| Value::String(name.clone()));
            }
            pydantic_style(&mut sub);
            self.schemas.entry(name).or_insert(sub);
        }
        // The action is added by the envelope; the schema shows it as a constant, as chanx does.
        if let Value::Object(object) = &mut schema {
            let properties = object.entry("properties").or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(properties) = properties {
                let mut with_action = Map::new();
                with_action.insert(
                    "action".into(),
                    json!({"const": info.action, "default": info.action, "title": "Action", "type": "string"}),
                );
                with_action.extend(std::mem::take(properties));
                // A message without payload is sent with `"payload": null`.
                with_action
                    .entry("payload")
                    .or_insert_with(|| json!({"default": null, "title": "Payload", "type": "null"}));
                *properties = with_action;
            }
            object.entry("title").or_insert_with(|| Value::String(info.type_name.to_owned()));
        }
        pydantic_style(&mut schema);
        let mut name = info.type_name.to_owned();
        if self.schemas.get(&name).is_some_and(|existing| *existing != schema) {
            // Two types with one name: the later is prefixed with its consumer, as chanx does.
            let prefix = consumer.type_name.strip_suffix("Consumer").unwrap_or(consumer.type_name);
            name = format!("{prefix}{name}");
            if let Value::Object(object) = &mut schema {
                object.insert("title".into(), Value::String(name.clone()));
            }
        }
        self.schemas.insert(name.clone(), schema);
        let key = message_key(&name);
        self.messages.insert(key.clone(), name);
        key
    }

    /// The channels of one route: its consumer's own, and one per hosted topic at the same
    /// address with `x-topic` (chanx's `expand_topic_routes`); a standalone topic route is the
    /// topic's channel alone.
    fn add_route(&mut self, path: &str, consumer: &ConsumerInfo, credentials: &[Credential]) {
        if consumer.pattern.is_some() {
            return self.add_channel(path, &consumer.name, consumer, credentials);
        }
        // chanx keeps the host's channel only when it has something of its own to document.
        let own = consumer.topics.is_empty()
            || !consumer.handlers.is_empty()
            || !consumer.passthrough.is_empty()
            || !consumer.emits.is_empty();
        if own {
            self.add_channel(path, &consumer.name, consumer, credentials);
        }
        for topic in &consumer.topics {
            self.add_channel(path, &format!("{}_{}", consumer.name, topic.name), topic, credentials);
        }
    }

    fn add_channel(&mut self, path: &str, name: &str, consumer: &ConsumerInfo, credentials: &[Credential]) {
        let mut channel_name = name.to_owned();
        let mut n = 2;
        while self.channels.contains_key(&channel_name) {
            channel_name = format!("{name}_{n}");
            n += 1;
        }
        let channel_ref = || Reference::to(format!("#/channels/{channel_name}"));
        let message_ref = |key: &str| Reference::to(format!("#/channels/{channel_name}/messages/{key}"));

        let security: Vec<Reference> = credentials
            .iter()
            .map(|credential| {
                let (key, scheme) = security_scheme(credential);
                self.security.insert(key.clone(), scheme);
                Reference::to(format!("#/components/securitySchemes/{key}"))
            })
            .collect();

        let mut channel_messages = BTreeSet::new();
        let mut operations = Vec::new();
        for handler in &consumer.handlers {
            let outputs: Vec<String> = handler.outputs.iter().map(|o| self.message(o, consumer)).collect();
            let mut operation = Operation {
                action: Action::Send,
                channel: channel_ref(),
                description: prose(handler.description.unwrap_or("")),
                summary: handler.summary.unwrap_or("").to_owned(),
                messages: outputs.iter().map(|o| message_ref(o)).collect(),
                reply: None,
                tags: tags(handler.tags),
                security: security.clone(),
            };
            if handler.kind == HandlerKind::Message {
                let input = self.message(&handler.input, consumer);
                operation.action = Action::Receive;
                operation.messages = vec![message_ref(&input)];
                if !outputs.is_empty() {
                    self.correlated.insert(input.clone());
                    self.correlated.extend(outputs.iter().cloned());
                    operation.reply = Some(Reply {
                        channel: channel_ref(),
                        messages: outputs.iter().map(|o| message_ref(o)).collect(),
                    });
                }
                channel_messages.insert(input);
            }
            channel_messages.extend(outputs);
            operations.push((handler.operation.to_owned(), operation));
        }
        if let Some(presence) = consumer.presence.as_ref().filter(|_| consumer.pattern.is_some()) {
            let keys = self.presence_messages(consumer, presence);
            self.correlated.insert(keys.request.clone());
            self.correlated.insert(keys.state.clone());
            operations.push((
                "presence".to_owned(),
                Operation {
                    action: Action::Receive,
                    channel: channel_ref(),
                    description: "Asks for the topic's members; answered with `presence_state`.".to_owned(),
                    summary: "The topic's members".to_owned(),
                    messages: vec![message_ref(&keys.request)],
                    reply: Some(Reply { channel: channel_ref(), messages: vec![message_ref(&keys.state)] }),
                    tags: Vec::new(),
                    security: security.clone(),
                },
            ));
            operations.push((
                format!("{channel_name}_presence_changes"),
                Operation {
                    action: Action::Send,
                    channel: channel_ref(),
                    description: "The members after `subscribed`, then each join and leave of another member."
                        .to_owned(),
                    summary: "Who follows the topic".to_owned(),
                    messages: [&keys.state, &keys.join, &keys.leave].into_iter().map(|k| message_ref(k)).collect(),
                    reply: None,
                    tags: Vec::new(),
                    security: security.clone(),
                },
            ));
            channel_messages.extend([keys.request, keys.state, keys.join, keys.leave]);
        }
        let pushed: Vec<String> =
            consumer.passthrough.iter().chain(&consumer.emits).map(|m| self.message(m, consumer)).collect();
        if !pushed.is_empty() {
            let operation = Operation {
                action: Action::Send,
                channel: channel_ref(),
                description: "Events passed through and messages the server pushes.".to_owned(),
                summary: "Messages the server pushes".to_owned(),
                messages: pushed.iter().map(|m| message_ref(m)).collect(),
                reply: None,
                tags: Vec::new(),
                security: security.clone(),
            };
            operations.push((format!("{channel_name}_emits"), operation));
            channel_messages.extend(pushed);
        }

        let channel = Channel {
            address: path.to_owned(),
            title: channel_name.clone(),
            description: consumer.description.map(prose),
            parameters: path_parameters(path)
                .into_iter()
                .map(|p| {
                    let description = format!("Path parameter for {p} (str)");
                    (p, Parameter { description })
                })
                .collect(),
            messages: channel_messages
                .into_iter()
                .map(|key| {
                    let reference = Reference::to(format!("#/components/messages/{key}"));
                    (key, reference)
                })
                .collect(),
            tags: tags(consumer.tags),
            topic: consumer.pattern.map(|pattern| TopicExtension {
                name: consumer.name.clone(),
                pattern: pattern.to_owned(),
                parameters: crate::topic::parameter_names(pattern).into_iter().map(str::to_owned).collect(),
                history: consumer.history.map(TopicHistory::of),
            }),
        };
        for (key, operation) in operations {
            let key = if self.operations.contains_key(&key) { format!("{channel_name}_{key}") } else { key };
            self.operations.insert(key, operation);
        }
        self.channels.insert(channel_name, channel);
    }

    fn finish(self, spec: &AsyncApi) -> Document {
        let servers = if spec.servers.is_empty() {
            [("development".to_owned(), Server { host: "localhost:8000".into(), protocol: "ws".into() })]
                .into_iter()
                .collect()
        } else {
            spec.servers
                .iter()
                .map(|(name, host, protocol)| (name.clone(), Server { host: host.clone(), protocol: protocol.clone() }))
                .collect()
        };
        let messages = self
            .messages
            .iter()
            .map(|(key, schema)| {
                let message = MessageObject {
                    payload: Reference::to(format!("#/components/schemas/{schema}")),
                    correlation_id: self
                        .correlated
                        .contains(key)
                        .then(|| Reference::to("#/components/correlationIds/ref".to_owned())),
                };
                (key.clone(), message)
            })
            .collect();
        let mut correlation_ids = IndexMap::new();
        if !self.correlated.is_empty() {
            correlation_ids.insert(
                "ref".to_owned(),
                CorrelationId {
                    description: "A reply carries the `ref` of the request it answers.".to_owned(),
                    location: "$message.payload#/ref".to_owned(),
                },
            );
        }
        Document {
            asyncapi: "3.0.0",
            info: Info {
                title: spec.title.clone(),
                version: spec.version.clone(),
                description: spec.description.clone(),
            },
            servers,
            channels: self.channels,
            operations: self.operations,
            components: Components {
                messages,
                schemas: self.schemas.into_iter().collect(),
                correlation_ids,
                security_schemes: self.security.into_iter().collect(),
            },
        }
    }
}

fn tags(names: &[&str]) -> Vec<Tag> {
    names.iter().map(|name| Tag { name: (*name).to_owned() }).collect()
}

/// Renames the document's keys to camelCase the way chanx does: channel, operation and message
/// keys, the pointers to them, and every schema property (schema names stay).
fn camelize_document(document: &mut Document) {
    use crate::camelize::camelize;
    fn rename_keys<T>(map: &mut IndexMap<String, T>) {
        *map = std::mem::take(map).into_iter().map(|(k, v)| (camelize(&k), v)).collect();
    }
    /// Property names and `required` entries, in a schema and every subschema.
    fn camelize_schema(schema: &mut Value) {
        match schema {
            Value::Object(object) => {
                if let Some(Value::Object(properties)) = object.get_mut("properties") {
                    *properties = std::mem::take(properties).into_iter().map(|(k, v)| (camelize(&k), v)).collect();
                }
                if let Some(Value::Array(required)) = object.get_mut("required") {
                    for name in required.iter_mut() {
                        if let Value::String(name) = name {
                            *name = camelize(name);
                        }
                    }
                }
                for (key, value) in object.iter_mut() {
                    if key != "required" {
                        camelize_schema(value);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(camelize_schema),
            _ => {}
        }
    }
    /// A pointer to a channel, operation or message: every segment but keywords and the names
    /// of schemas and other components.
    fn camelize_ref(reference: &mut Reference) {
        let keep_next = ["schemas", "securitySchemes", "correlationIds"];
        let keywords = ["#", "channels", "messages", "operations", "components"];
        let mut previous = "";
        let segments: Vec<String> = reference
            .reference
            .split('/')
            .map(|segment| {
                let keep = keywords.contains(&segment) || keep_next.contains(&segment) || keep_next.contains(&previous);
                previous = segment;
                if keep { segment.to_owned() } else { camelize(segment) }
            })
            .collect();
        reference.reference = segments.join("/");
    }
    rename_keys(&mut document.channels);
    for channel in document.channels.values_mut() {
        rename_keys(&mut channel.messages);
        channel.messages.values_mut().for_each(camelize_ref);
    }
    rename_keys(&mut document.operations);
    for operation in document.operations.values_mut() {
        camelize_ref(&mut operation.channel);
        operation.messages.iter_mut().for_each(camelize_ref);
        if let Some(reply) = &mut operation.reply {
            camelize_ref(&mut reply.channel);
            reply.messages.iter_mut().for_each(camelize_ref);
        }
    }
    rename_keys(&mut document.components.messages);
    document.components.schemas.values_mut().for_each(camelize_schema);
}

/// The `{name}` segments of a route.
pub(crate) fn path_parameters(path: &str) -> Vec<String> {
    path.split('{').skip(1).filter_map(|rest| rest.split_once('}')).map(|(name, _)| name.to_owned()).collect()
}

/// An `httpApiKey` security scheme for a credential, and its component key.
fn security_scheme(credential: &Credential) -> (String, SecurityScheme) {
    let (location, name) = match credential.location {
        Location::Cookie => ("cookie", credential.name.as_str()),
        Location::Query => ("query", credential.name.as_str()),
        Location::Subprotocol => ("header", "Sec-WebSocket-Protocol"),
        _ => ("header", credential.name.as_str()),
    };
    let key: String = format!("{location}_{name}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.' { c } else { '_' })
        .collect();
    let description = match credential.location {
        Location::Subprotocol => Some(format!(
            "The token as the subprotocol after `{}`: `Sec-WebSocket-Protocol: {}, <token>`",
            credential.name, credential.name
        )),
        _ => credential.description.clone(),
    };
    (key, SecurityScheme { kind: "httpApiKey", name: name.to_owned(), location, description })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_and_parameters() {
        assert_eq!(title_of("user_name"), "User Name");
        assert_eq!(title_of("payload"), "Payload");
        assert_eq!(path_parameters("/ws/{org}/rooms/{room}/"), ["org", "room"]);
        assert!(path_parameters("/ws/lobby/").is_empty());
        assert_eq!(message_key("ChatMessage"), "chat_message");
    }

    #[test]
    fn descriptions_keep_commonmark_and_drop_rustdoc_links() {
        assert_eq!(prose("Answers [`Ping`] with [`Pong`]."), "Answers `Ping` with `Pong`.");
        assert_eq!(prose("Sent by [the chat](crate::chat) and [`Layer`]."), "Sent by the chat and `Layer`.");
        assert_eq!(prose("See [the layer][`Layer::send`]."), "See the layer.");
        assert_eq!(
            prose("Per [RFC 6455](https://www.rfc-editor.org/rfc/rfc6455)."),
            "Per [RFC 6455](https://www.rfc-editor.org/rfc/rfc6455)."
        );
        assert_eq!(prose("A list [1, 2] and [sic] stay; [Pong] goes."), "A list [1, 2] and [sic] stay; Pong goes.");
        assert_eq!(prose("Uses [Pong].\n\n[Pong]: crate::messages::Pong"), "Uses Pong.");
        assert_eq!(prose("Text.\n```\ncode\n```\nmore"), "Text.");
        assert_eq!(prose("[[[unclosed ["), "[[[unclosed [");
    }

    #[test]
    fn link_removal_is_linear_in_the_doc() {
        // Every `[` opens a label that another `[` ends: each is looked at once.
        let doc = "[".repeat(200_000) + "]";
        assert_eq!(prose(&doc).len(), doc.len());
    }
}
