//! Private rooms: a JWT (HS256) authenticator and an object permission, so that only a room's
//! members may join it. The token travels as `Authorization: Bearer <jwt>`, a `token` cookie, or,
//! from a browser, as the subprotocol pair `["access_token", jwt]`.
//!
//! ```sh
//! cargo run --example private_rooms -- --addr 127.0.0.1:8000
//! ```
//!
//! It prints a token for `ada` (member of `general` and `lab`) and one for `bob` (member of
//! `general` only); connect to `ws://127.0.0.1:8000/ws/rooms/lab/` with one of them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chanx::auth::{AuthError, ObjectLookup, TokenAuthenticator};
use chanx::auth::{BearerToken, CookieToken, CredentialSource, IsAuthenticated, JwtHs256, ObjectCheck, ProtocolToken};
use chanx::layer::LayerError;
use chanx::{Consumer, Context, Message, Router, Scope};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The claims of our tokens: who, and until when.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Claims {
    /// The user name.
    pub sub: String,
    /// Expiry, in seconds since the Unix epoch.
    pub exp: u64,
}

/// A room and who may enter it.
#[derive(Debug)]
pub struct Room {
    /// Its key in the URL.
    pub key: String,
    /// User names of its members.
    pub members: Vec<String>,
}

/// A line of chat, client → room.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug)]
#[message(action = "say")]
pub struct Say {
    /// The text.
    pub payload: String,
}

/// A line of chat, room → every member, signed with the sender's name.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, PartialEq)]
#[message(action = "said")]
pub struct Said {
    /// Who and what.
    pub payload: SaidPayload,
}

/// The body of [`Said`].
#[derive(Serialize, Deserialize, JsonSchema, Debug, PartialEq)]
pub struct SaidPayload {
    /// The sender.
    pub user: String,
    /// The text.
    pub text: String,
}

/// The authenticator of [`RoomConsumer`]: claims are the user, a [`Room`] the object.
pub type RoomAuth = TokenAuthenticator<Claims, Room>;

/// A room's chat, for its members only.
pub struct RoomConsumer;

#[chanx::consumer]
impl Consumer for RoomConsumer {
    type Authenticator = RoomAuth;

    fn groups(&self, ctx: &Context) -> Vec<String> {
        ctx.extension::<Room>().map(|room| vec![format!("room.{}", room.key)]).unwrap_or_default()
    }

    /// Says something to everyone in the room.
    #[ws_handler(output = [Said])]
    async fn say(&self, ctx: &Context, msg: Say) -> Result<(), LayerError> {
        let user = ctx.extension::<Claims>().map(|claims| claims.sub.clone()).unwrap_or_default();
        ctx.broadcast_message(&Said { payload: SaidPayload { user, text: msg.payload } }).await
    }
}

/// The rooms, for the authenticator to find the one of the `{room}` path parameter.
pub struct Rooms(pub Arc<HashMap<String, Arc<Room>>>);

#[chanx::async_trait]
impl ObjectLookup<Room> for Rooms {
    async fn lookup(&self, key: &str) -> Result<Option<Room>, AuthError> {
        Ok(self.0.get(key).map(|room| Room { key: room.key.clone(), members: room.members.clone() }))
    }
}

/// The authenticator: a JWT from any of three places, its claims as the user, the room from the
/// `{room}` path parameter, and two permissions.
pub fn authenticator(jwt: JwtHs256<Claims>, rooms: Arc<HashMap<String, Arc<Room>>>) -> RoomAuth {
    let sources: Vec<Box<dyn CredentialSource>> =
        vec![Box::new(BearerToken), Box::new(CookieToken::new("token")), Box::new(ProtocolToken::new("access_token"))];
    TokenAuthenticator::for_object(sources, jwt, "room", Rooms(rooms)).permission(IsAuthenticated).permission(
        ObjectCheck(|user: Option<&Claims>, room: &Room| user.is_some_and(|u| room.members.contains(&u.sub))),
    )
}

/// The rooms of this demo.
pub fn rooms() -> Arc<HashMap<String, Arc<Room>>> {
    let room = |key: &str, members: &[&str]| {
        (
            key.to_owned(),
            Arc::new(Room { key: key.to_owned(), members: members.iter().map(|m| (*m).to_owned()).collect() }),
        )
    };
    Arc::new(HashMap::from([room("general", &["ada", "bob"]), room("lab", &["ada"])]))
}

/// The app, signing and verifying with `secret`.
pub fn router(secret: &[u8]) -> Router {
    Router::new().route_authenticated(
        "/ws/rooms/{room}/",
        authenticator(JwtHs256::new(secret), rooms()),
        |_: &Scope| RoomConsumer,
    )
}

/// A token for `user`, valid for `ttl`.
pub fn token_for(secret: &[u8], user: &str, ttl: Duration) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let claims = Claims { sub: user.to_owned(), exp: (now + ttl).as_secs() };
    JwtHs256::<Claims>::new(secret).sign(&claims).unwrap_or_default()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    chanx_workspace::init_logging();
    let addr = chanx_workspace::addr_arg("127.0.0.1:8000");
    // A demo secret: a real service reads it from its configuration.
    let secret = std::env::var("CHANX_DEMO_SECRET").unwrap_or_else(|_| "change me: a demo secret only".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let local = listener.local_addr()?;
    for user in ["ada", "bob"] {
        let token = token_for(secret.as_bytes(), user, Duration::from_secs(3600));
        tracing::info!("{user}: Authorization: Bearer {token}");
    }
    tracing::info!("rooms on ws://{local}/ws/rooms/{{general,lab}}/");
    // Shuts down gracefully (sockets closed with 1001) on Ctrl-C and on SIGTERM.
    chanx::serve(listener, router(secret.as_bytes())).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_asyncapi_document_lists_the_credentials_as_security_schemes() {
        let spec =
            chanx::asyncapi::AsyncApi::new("Private rooms", "1.0.0").server("production", "rooms.example.com", "wss");
        chanx_workspace::assert_golden("private_rooms.asyncapi.json", &spec.to_json(&router(b"any")));
    }

    use chanx::messages::GROUP_COMPLETE;
    use chanx::testing::WebsocketCommunicator;
    use chanx_workspace::{Client, spawn_server};
    use serde_json::json;

    use super::*;

    const SECRET: &[u8] = b"test secret";
    const WAIT: Duration = Duration::from_secs(2);

    async fn join(router: &Router, room: &str, user: Option<&str>) -> WebsocketCommunicator {
        let mut builder = WebsocketCommunicator::builder(router, &format!("/ws/rooms/{room}/"));
        if let Some(user) = user {
            let token = token_for(SECRET, user, Duration::from_secs(60));
            builder = builder.header("authorization", &format!("Bearer {token}"));
        }
        builder.connect().await
    }

    #[tokio::test]
    async fn members_talk_and_outsiders_are_refused() {
        let router = router(SECRET);
        let mut ada = join(&router, "lab", Some("ada")).await;
        ada.assert_authenticated_status_ok().await;
        ada.send_message(&Say { payload: "hello lab".into() }).await;
        let frames = ada.receive_all_messages(GROUP_COMPLETE, WAIT).await;
        assert!(frames.contains(&json!({"action": "said", "payload": {"user": "ada", "text": "hello lab"}})));

        for (room, user, code) in [("lab", Some("bob"), 4403), ("lab", None, 4401), ("attic", Some("ada"), 4404)] {
            let mut comm = join(&router, room, user).await;
            assert_eq!(comm.wait_for_auth().await.close_code(), code);
            comm.assert_closed(code).await;
            comm.disconnect().await;
        }
        assert!(ada.receive_nothing().await);
        ada.disconnect().await;
    }

    #[tokio::test]
    async fn expired_and_forged_tokens_are_refused() {
        let router = router(SECRET);
        let forged = token_for(b"another secret", "ada", Duration::from_secs(60));
        let expired = JwtHs256::<Claims>::new(SECRET).sign(&Claims { sub: "ada".into(), exp: 1 }).unwrap_or_default();
        for token in [forged, expired] {
            let mut comm = WebsocketCommunicator::builder(&router, "/ws/rooms/general/")
                .header("cookie", &format!("token={token}"))
                .connect()
                .await;
            let auth = comm.wait_for_auth().await;
            assert_eq!((auth.status_code, auth.data), (401, json!({"detail": "Invalid token."})));
            comm.disconnect().await;
        }
    }

    #[tokio::test]
    async fn a_browser_sends_its_token_as_a_subprotocol_and_gets_the_marker_back() {
        let addr = spawn_server(router(SECRET)).await;
        let token = token_for(SECRET, "bob", Duration::from_secs(60));
        let offered = format!("access_token, {token}");
        // The client library refuses the handshake unless the server picks one of its protocols.
        let mut bob = Client::connect_with(addr, "/ws/rooms/general/", &[("sec-websocket-protocol", &offered)])
            .await
            .expect("the server accepted the subprotocol handshake");
        let auth = bob.receive_json().await;
        assert_eq!(auth["payload"]["status_code"], 200, "{auth}");
        bob.close().await;
    }
}
