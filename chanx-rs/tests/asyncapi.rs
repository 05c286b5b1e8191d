//! Each mapping rule of the AsyncAPI generator, on small consumers.

use chanx::asyncapi::AsyncApi;
use chanx::auth::{BearerToken, CookieToken, CredentialSource, IsAuthenticated, TokenAuthenticator};
use chanx::messages::{Ping, Pong};
use chanx::{Consumer, Message, Router, Scope, Settings};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A line of chat.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug)]
#[message(action = "chat")]
struct ChatMessage {
    payload: ChatPayload,
}

/// What was said, and by whom.
#[derive(Serialize, Deserialize, JsonSchema, Debug)]
struct ChatPayload {
    /// The words.
    text: String,
    /// The author, when known.
    user_name: Option<String>,
}

/// A chat line for everyone.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug)]
#[message(action = "chat_notification")]
struct ChatNotification {
    payload: ChatPayload,
}

/// A job finished.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug)]
#[message(action = "job_done")]
struct JobDone {
    payload: u32,
}

/// A server notice.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug)]
#[message(action = "notice")]
struct Notice {
    payload: String,
}

struct ChatConsumer;

/// Room chat.
#[chanx::consumer(name = "chat", tags = ["chat"], passthrough = [Notice])]
impl ChatConsumer {
    #[ws_handler(summary = "Send chat", tags = ["messages"], output = [ChatNotification])]
    async fn handle_chat(&self, _msg: ChatMessage) {}

    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }

    /// Tells the room a job is done.
    #[event_handler]
    async fn job_done(&self, _event: JobDone) -> Notice {
        Notice { payload: "done".into() }
    }
}

mod other {
    use super::*;

    /// Another type named `ChatMessage`.
    #[derive(Message, Serialize, Deserialize, JsonSchema, Debug)]
    #[message(action = "shout")]
    pub(crate) struct ChatMessage {
        pub(crate) loud: bool,
    }

    /// The hub.
    pub(crate) struct HubConsumer;

    #[chanx::consumer]
    impl HubConsumer {
        #[ws_handler]
        async fn ping(&self, _msg: Ping) -> Pong {
            Pong {}
        }

        #[ws_handler]
        async fn shout(&self, _msg: ChatMessage) {}
    }
}

struct Private;

type PrivateAuth = TokenAuthenticator<String>;

#[chanx::consumer]
impl Consumer for Private {
    type Authenticator = PrivateAuth;

    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }
}

fn router() -> Router {
    let sources: Vec<Box<dyn CredentialSource>> = vec![Box::new(BearerToken), Box::new(CookieToken::new("sessionid"))];
    let auth = PrivateAuth::new(sources, |token: String| async move { Some(token) }).permission(IsAuthenticated);
    Router::new()
        .route("/ws/room/{room_name}/", |_: &Scope| ChatConsumer)
        .route("/ws/hub/", |_: &Scope| other::HubConsumer)
        .route_authenticated("/ws/private/", auth, |_: &Scope| Private)
}

fn document() -> serde_json::Value {
    as_json(AsyncApi::new("Demo", "1.0.0").description("demo").document(&router()))
}

fn as_json(document: chanx::asyncapi::Document) -> serde_json::Value {
    serde_json::to_value(document).expect("a document serializes")
}

#[test]
fn one_channel_per_route_with_address_parameters_and_messages() {
    let doc = document();
    assert_eq!(doc["servers"], json!({"development": {"host": "localhost:8000", "protocol": "ws"}}));
    let chat = &doc["channels"]["chat"];
    assert_eq!(chat["address"], "/ws/room/{room_name}/");
    assert_eq!(chat["title"], "chat");
    assert_eq!(chat["description"], "Room chat.");
    assert_eq!(chat["parameters"], json!({"room_name": {"description": "Path parameter for room_name (str)"}}));
    assert_eq!(chat["tags"], json!([{"name": "chat"}]));
    let keys: Vec<&String> = chat["messages"].as_object().expect("messages").keys().collect();
    assert_eq!(keys, ["chat_message", "chat_notification", "notice", "ping", "pong"]);
    assert_eq!(chat["messages"]["ping"], json!({"$ref": "#/components/messages/ping"}));
}

#[test]
fn ws_handlers_receive_and_reply_and_events_send() {
    let doc = document();
    let chat = &doc["operations"]["handle_chat"];
    assert_eq!(chat["action"], "receive");
    assert_eq!(chat["summary"], "Send chat");
    assert_eq!(chat["tags"], json!([{"name": "messages"}]));
    assert_eq!(chat["messages"], json!([{"$ref": "#/channels/chat/messages/chat_message"}]));
    assert_eq!(chat["reply"]["messages"], json!([{"$ref": "#/channels/chat/messages/chat_notification"}]));
    let event = &doc["operations"]["job_done"];
    assert_eq!(
        (event["action"].as_str(), event["description"].as_str()),
        (Some("send"), Some("Tells the room a job is done."))
    );
    assert_eq!(event["messages"], json!([{"$ref": "#/channels/chat/messages/notice"}]));
    assert_eq!(doc["operations"]["chat_emits"]["messages"], json!([{"$ref": "#/channels/chat/messages/notice"}]));
    // The hub's `ping` operation key was taken by chat's: it is prefixed with its channel.
    assert_eq!(doc["operations"]["hub_ping"]["channel"], json!({"$ref": "#/channels/hub"}));
    // Replies carry the request's `ref`.
    assert_eq!(
        doc["components"]["messages"]["pong"]["correlationId"],
        json!({"$ref": "#/components/correlationIds/ref"})
    );
}

#[test]
fn schemas_look_like_chanx_ones() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let chat = &schemas["ChatMessage"];
    assert_eq!(chat["title"], "ChatMessage");
    assert_eq!(chat["description"], "A line of chat.");
    assert_eq!(
        chat["properties"]["action"],
        json!({"const": "chat", "default": "chat", "title": "Action", "type": "string"})
    );
    assert_eq!(chat["properties"]["payload"]["$ref"], "#/components/schemas/ChatPayload");
    let payload = &schemas["ChatPayload"];
    assert_eq!(payload["title"], "ChatPayload");
    assert_eq!(
        payload["properties"]["user_name"],
        json!({
            "description": "The author, when known.",
            "title": "User Name",
            "anyOf": [{"type": "string"}, {"type": "null"}],
            "default": null,
        })
    );
    assert_eq!(payload["required"], json!(["text"]));
    assert_eq!(schemas["Ping"]["properties"]["payload"], json!({"default": null, "title": "Payload", "type": "null"}));
    // Two types named ChatMessage: the later one is prefixed with its consumer.
    assert_eq!(schemas["HubChatMessage"]["properties"]["action"]["const"], "shout");
    assert_eq!(
        doc["components"]["messages"]["hub_chat_message"]["payload"]["$ref"],
        "#/components/schemas/HubChatMessage"
    );
}

#[test]
fn credentials_become_security_schemes() {
    let doc = document();
    assert_eq!(
        doc["components"]["securitySchemes"],
        json!({
            "cookie_sessionid": {"type": "httpApiKey", "name": "sessionid", "in": "cookie"},
            "header_Authorization": {"type": "httpApiKey", "name": "Authorization", "in": "header", "description": "`Bearer <token>`"},
        })
    );
    assert_eq!(
        doc["operations"]["private_ping"]["security"],
        json!([{"$ref": "#/components/securitySchemes/header_Authorization"}, {"$ref": "#/components/securitySchemes/cookie_sessionid"}])
    );
    assert!(doc["operations"]["handle_chat"].get("security").is_none());
}

#[test]
fn camelized_documents_rename_keys_but_not_schema_names() {
    let doc =
        as_json(AsyncApi::new("Demo", "1.0.0").document(&router().with_settings(Settings::default().camelize(true))));
    assert!(doc["operations"]["handleChat"].is_object());
    assert_eq!(doc["operations"]["handleChat"]["messages"], json!([{"$ref": "#/channels/chat/messages/chatMessage"}]));
    assert!(doc["components"]["messages"]["chatNotification"].is_object());
    assert_eq!(doc["components"]["messages"]["chatMessage"]["payload"]["$ref"], "#/components/schemas/ChatMessage");
    let payload = &doc["components"]["schemas"]["ChatPayload"];
    assert_eq!(payload["properties"]["userName"]["title"], "User Name");
    let plain = AsyncApi::new("Demo", "1.0.0").description("demo").camelize(false);
    assert_eq!(as_json(plain.document(&router().with_settings(Settings::default().camelize(true)))), document());
}

#[test]
fn output_is_deterministic() {
    let spec = AsyncApi::new("Demo", "1.0.0").server("production", "chat.example.com", "wss");
    assert_eq!(spec.to_json(&router()), spec.to_json(&router()));
    #[cfg(feature = "yaml")]
    assert_eq!(spec.to_yaml(&router()), spec.to_yaml(&router()));
    assert!(spec.to_json(&router()).contains("\"production\""));
}

#[cfg(feature = "yaml")]
#[test]
fn the_yaml_reads_as_yaml_and_parses_to_exactly_the_json() {
    let spec = AsyncApi::new("Demo", "1.0.0").description("demo");
    let yaml = spec.to_yaml(&router());
    assert!(yaml.starts_with("asyncapi: 3.0.0\ninfo:\n  title: Demo\n"), "{yaml}");
    assert!(
        !yaml.lines().any(|line| line.trim_start().trim_start_matches("- ").starts_with('"')),
        "a quoted key:\n{yaml}"
    );
    let parsed: serde_json::Value = yaml_serde::from_str(&yaml).expect("the YAML parses");
    assert_eq!(parsed, document());
}

struct Camel;

#[chanx::consumer(camelize = true)]
impl Camel {
    #[ws_handler]
    async fn handle_chat(&self, _msg: ChatMessage) {}
}

#[test]
fn a_router_whose_consumers_all_camelize_gives_a_camelized_document() {
    let doc = as_json(AsyncApi::new("Demo", "1.0.0").document(&Router::new().route("/ws/camel/", |_: &Scope| Camel)));
    assert!(doc["operations"]["handleChat"].is_object(), "{doc}");
    assert!(doc["components"]["schemas"]["ChatPayload"]["properties"]["userName"].is_object(), "{doc}");
}

/// Who is in a lobby.
#[derive(Serialize, JsonSchema)]
struct LobbyMember {
    /// The member's display name.
    display_name: String,
}

/// A lobby that lists its members.
#[derive(Default)]
struct LobbyTopic;

#[chanx::topic(pattern = "lobby:{name}", presence = LobbyMember)]
impl chanx::Topic for LobbyTopic {
    const MAX_PRESENCE: usize = 50;

    fn presence(&self, _ctx: &chanx::Context) -> Option<LobbyMember> {
        Some(LobbyMember { display_name: "ada".into() })
    }
}

/// A lobby with presence whose entries are plain strings.
#[derive(Default)]
struct NamesTopic;

#[chanx::topic(pattern = "names:{name}", presence = String)]
impl chanx::Topic for NamesTopic {
    fn presence(&self, _ctx: &chanx::Context) -> Option<String> {
        None
    }
}

struct LobbyHub;

#[chanx::consumer(topics = [LobbyTopic, NamesTopic])]
impl LobbyHub {}

#[test]
fn presence_topics_document_their_typed_presence_messages() {
    let router = Router::new().route("/ws/lobby/", |_: &Scope| LobbyHub);
    let doc = as_json(AsyncApi::new("Lobby", "1.0.0").document(&router));
    let schemas = &doc["components"]["schemas"];
    // The entry type is a component of its own, referenced by each topic's member schema.
    assert_eq!(schemas["LobbyMember"]["properties"]["display_name"]["type"], "string");
    assert_eq!(schemas["LobbyTopicPresenceMember"]["properties"]["entry"]["$ref"], "#/components/schemas/LobbyMember");
    assert_eq!(schemas["NamesTopicPresenceMember"]["properties"]["entry"]["type"], "string");
    assert_eq!(schemas["LobbyTopicPresenceMembers"]["properties"]["members"]["maxItems"], 50);
    for (schema, action) in [
        ("LobbyTopicPresenceState", "presence_state"),
        ("LobbyTopicPresenceJoin", "presence_join"),
        ("LobbyTopicPresenceLeave", "presence_leave"),
        ("PresenceRequest", "presence"),
    ] {
        assert_eq!(schemas[schema]["properties"]["action"]["const"], action, "{schema}");
    }
    // Each topic channel receives the request and replies with its state, correlated by ref.
    let channel = &doc["channels"]["lobby_hub_lobby_topic"]["messages"];
    for key in
        ["presence_request", "lobby_topic_presence_state", "lobby_topic_presence_join", "lobby_topic_presence_leave"]
    {
        assert!(channel.get(key).is_some(), "{key} in {channel}");
    }
    let request = &doc["operations"]["presence"];
    assert_eq!(request["action"], "receive");
    assert_eq!(
        request["reply"]["messages"][0]["$ref"],
        "#/channels/lobby_hub_lobby_topic/messages/lobby_topic_presence_state"
    );
    assert_eq!(doc["operations"]["lobby_hub_names_topic_presence"]["action"], "receive");
    assert_eq!(
        doc["components"]["messages"]["presence_request"]["correlationId"]["$ref"],
        "#/components/correlationIds/ref"
    );
    // A topic without presence documents none.
    assert!(document()["components"]["messages"].get("presence_request").is_none());
}
