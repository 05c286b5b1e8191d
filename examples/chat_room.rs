//! A chat room: connections at `/ws/chat/{room}/` join their room's group; messages are
//! broadcast to the room, "typing" notices to everyone else in it, and a background task pushes
//! an announcement to every room from outside any connection.
//!
//! Run with:
//!
//! ```sh
//! cargo run --release --example chat_room -- --addr 127.0.0.1:8000
//! ```
//!
//! then, with any WebSocket client (`websocat ws://127.0.0.1:8000/ws/chat/lobby/`), send
//! `{"action": "send_message", "payload": {"author": "ada", "text": "hello"}}`. The API's
//! documentation is at <http://127.0.0.1:8000/asyncapi/>; export it with
//! `cargo run --example chat_room -- --asyncapi chat.asyncapi.json` (or `.yaml`).

use std::time::Duration;

use chanx::layer::{LayerError, safe_group_name};
use chanx::messages::{ErrorMessage, Ping, Pong};
use chanx::{Consumer, Context, Layer, Message, Router, Scope};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The group every chat connection joins, for announcements.
const EVERYONE: &str = "chat.everyone";

/// A chat line from a client.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "send_message")]
pub struct SendMessage {
    /// Who says what.
    pub payload: ChatLine,
}

/// A chat line delivered to the room.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "new_message")]
pub struct NewMessage {
    /// Who said what.
    pub payload: ChatLine,
}

/// The content of a chat line.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct ChatLine {
    /// The author's display name.
    pub author: String,
    /// The message text; blank text is refused.
    pub text: String,
}

/// "I am typing", from a client.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "typing")]
pub struct Typing {
    /// Who is typing.
    pub payload: String,
}

/// "Someone is typing", to the others in the room.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "user_typing")]
pub struct UserTyping {
    /// Who is typing.
    pub payload: String,
}

/// A server announcement, pushed to every room.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "announcement")]
pub struct Announcement {
    /// The announcement text.
    pub payload: String,
}

/// One chat room per `{room}` path parameter.
pub struct ChatConsumer;

/// Real-time chat rooms.
#[chanx::consumer(name = "chat", tags = ["chat"], passthrough = [Announcement])]
impl Consumer for ChatConsumer {
    fn groups(&self, ctx: &Context) -> Vec<String> {
        let room = ctx.param("room").unwrap_or("lobby");
        vec![safe_group_name(Some("chat"), &[room]), EVERYONE.to_owned()]
    }

    /// Health check.
    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }

    /// Posts a line to the room, sender included.
    #[ws_handler(output = [NewMessage, ErrorMessage])]
    async fn send_message(&self, ctx: &Context, msg: SendMessage) -> Result<(), LayerError> {
        if msg.payload.text.trim().is_empty() {
            // The frame is queued; a full queue already disconnects the client.
            let _ = ctx.send(&ErrorMessage::detail("message text must not be blank"));
            return Ok(());
        }
        let room = ctx.groups().into_iter().take(1);
        ctx.broadcast_message(&NewMessage { payload: msg.payload }).to(room).await
    }

    /// Tells the others in the room that someone is typing.
    #[ws_handler(output = [UserTyping])]
    async fn typing(&self, ctx: &Context, msg: Typing) -> Result<(), LayerError> {
        let room = ctx.groups().into_iter().take(1);
        ctx.broadcast_message(&UserTyping { payload: msg.payload }).to(room).exclude_current().await
    }
}

/// The app: chat rooms under `/ws/chat/`.
pub fn router() -> Router {
    Router::new().nest("/ws/chat", Router::new().route("/{room}/", |_: &Scope| ChatConsumer))
}

/// How the API is documented.
pub fn spec() -> chanx::asyncapi::AsyncApi {
    chanx::asyncapi::AsyncApi::new("Chat rooms", "1.0.0").description("The chat_room example.")
}

/// Announces the uptime to every room, from outside any connection, every `period`.
pub async fn announce(layer: Layer, period: Duration) {
    let started = tokio::time::Instant::now();
    let mut ticks = tokio::time::interval(period);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let text = format!("server up for {} s", started.elapsed().as_secs());
        if let Err(err) = ChatConsumer::broadcast_event_to(&layer, &[EVERYONE], &Announcement { payload: text }).await {
            tracing::warn!(error = %err, "announcement failed");
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    chanx_workspace::init_logging();
    let args: Vec<String> = std::env::args().collect();
    if let Some(file) = args.windows(2).find(|w| w[0] == "--asyncapi").map(|w| &w[1]) {
        spec().write(&router(), file)?;
        println!("AsyncAPI document written to {file}");
        return Ok(());
    }
    let addr = chanx_workspace::addr_arg("127.0.0.1:8000");
    let router = router().asyncapi("/asyncapi/", spec());
    tokio::spawn(announce(router.layer().clone(), Duration::from_secs(30)));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    tracing::info!("chat rooms on ws://{local}/ws/chat/{{room}}/, documentation on http://{local}/asyncapi/");
    chanx::serve(listener, router).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_asyncapi_document_matches_the_committed_one() {
        chanx_workspace::assert_golden("chat_room.asyncapi.json", &super::spec().to_json(&super::router()));
        chanx_workspace::assert_golden("chat_room.asyncapi.yaml", &super::spec().to_yaml(&super::router()));
    }

    use chanx::messages::{COMPLETE, EVENT_COMPLETE, GROUP_COMPLETE};
    use chanx::testing::WebsocketCommunicator;
    use serde_json::json;

    use super::*;

    const WAIT: Duration = Duration::from_secs(2);

    #[tokio::test]
    async fn a_message_reaches_its_room_only() {
        let router = router();
        let mut ada = WebsocketCommunicator::connect(&router, "/ws/chat/lobby/").await;
        let mut bob = WebsocketCommunicator::connect(&router, "/ws/chat/lobby/").await;
        let mut eve = WebsocketCommunicator::connect(&router, "/ws/chat/other/").await;
        ada.send_json(&json!({"action": "send_message", "payload": {"author": "ada", "text": "hi"}})).await;
        let expected = json!({"action": "new_message", "payload": {"author": "ada", "text": "hi"}});
        assert_eq!(ada.receive_all_messages(GROUP_COMPLETE, WAIT).await, std::slice::from_ref(&expected));
        assert_eq!(bob.receive_all_messages(GROUP_COMPLETE, WAIT).await, [expected]);
        assert!(eve.receive_nothing().await);
        for comm in [ada, bob, eve] {
            comm.disconnect().await;
        }
    }

    #[tokio::test]
    async fn blank_messages_are_refused() {
        let router = router();
        let mut ada = WebsocketCommunicator::connect(&router, "/ws/chat/lobby/").await;
        ada.send_json(&json!({"action": "send_message", "payload": {"author": "ada", "text": "  "}})).await;
        assert_eq!(
            ada.receive_all_messages(COMPLETE, WAIT).await,
            [json!({"action": "error", "payload": {"detail": "message text must not be blank"}})]
        );
        ada.disconnect().await;
    }

    #[tokio::test]
    async fn typing_goes_to_the_others() {
        let router = router();
        let mut ada = WebsocketCommunicator::connect(&router, "/ws/chat/lobby/").await;
        let mut bob = WebsocketCommunicator::connect(&router, "/ws/chat/lobby/").await;
        ada.send_json(&json!({"action": "typing", "payload": "ada"})).await;
        assert_eq!(
            bob.receive_all_messages(GROUP_COMPLETE, WAIT).await,
            [json!({"action": "user_typing", "payload": "ada"})]
        );
        ada.receive_all_messages(COMPLETE, WAIT).await;
        assert!(ada.receive_nothing().await);
        ada.disconnect().await;
        bob.disconnect().await;
    }

    #[tokio::test(start_paused = true)]
    async fn announcements_arrive_from_a_background_task() {
        let router = router();
        let mut ada = WebsocketCommunicator::connect(&router, "/ws/chat/lobby/").await;
        tokio::spawn(announce(router.layer().clone(), Duration::from_secs(30)));
        let frames = ada.receive_all_messages(EVENT_COMPLETE, Duration::from_secs(60)).await;
        assert_eq!(frames, [json!({"action": "announcement", "payload": "server up for 30 s"})]);
        ada.disconnect().await;
    }
}
