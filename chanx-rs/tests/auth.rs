//! Authentication and permissions, through the test communicator: who gets in, the frames a
//! client receives in each case, and what handlers see of the user and the object. On tokio's
//! paused clock, so the authentication deadline fires at its exact virtual instant.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chanx::auth::{
    AuthError, BearerToken, CookieToken, CredentialSource, IsAuthenticated, ObjectCheck, Permission, ProtocolToken,
    ResolveUser, TokenAuthenticator,
};
use chanx::layer::MemoryLayer;
use chanx::messages::{COMPLETE, GROUP_COMPLETE};
use chanx::testing::WebsocketCommunicator;
use chanx::{Consumer, Context, Layer, Message, Router, Scope, Settings};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq)]
struct User {
    name: String,
}

#[derive(Debug)]
struct Room {
    id: String,
    title: String,
    members: Vec<String>,
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug)]
#[message(action = "whoami")]
struct WhoAmI {}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug)]
#[message(action = "you_are")]
struct YouAre {
    payload: String,
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug)]
#[message(action = "say")]
struct Say {
    payload: String,
}

/// Tokens → users, with two tokens that make the lookup itself fail.
struct Users(HashMap<&'static str, User>);

#[chanx::async_trait]
impl ResolveUser<User> for Users {
    async fn resolve(&self, token: &str) -> Result<Option<User>, AuthError> {
        match token {
            "explode" => Err(AuthError::new("user database unavailable")),
            "panic" => panic!("the user lookup panicked"),
            "sloth" => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Ok(None)
            }
            _ => Ok(self.0.get(token).cloned()),
        }
    }
}

type RoomAuth = TokenAuthenticator<User, Room>;

fn authenticator() -> RoomAuth {
    let users = Users(HashMap::from([("t-ada", User { name: "ada".into() }), ("t-bob", User { name: "bob".into() })]));
    let sources: Vec<Box<dyn CredentialSource>> = vec![
        Box::new(BearerToken),
        Box::new(CookieToken::new("sessionid")),
        Box::new(ProtocolToken::new("access_token")),
    ];
    let lookup = |key: String| async move {
        (key == "1").then(|| Room { id: key, title: "Room one".into(), members: vec!["ada".into()] })
    };
    TokenAuthenticator::for_object(sources, users, "room", lookup).permission(IsAuthenticated).permission(ObjectCheck(
        |user: Option<&User>, room: &Room| user.is_some_and(|u| room.members.contains(&u.name)),
    ))
}

/// A room only its members may join.
struct RoomChat {
    log: Arc<Mutex<Vec<String>>>,
}

#[chanx::consumer]
impl Consumer for RoomChat {
    type Authenticator = RoomAuth;

    fn groups(&self, ctx: &Context) -> Vec<String> {
        ctx.extension::<Room>().map(|room| vec![format!("room.{}", room.id)]).unwrap_or_default()
    }

    async fn post_authentication(&self, ctx: &Context) {
        let user = ctx.extension::<User>().map(|u| u.name.clone());
        self.log.lock().expect("log").push(format!("post_authentication {user:?} in {:?}", ctx.groups()));
    }

    #[ws_handler]
    async fn whoami(&self, ctx: &Context, _msg: WhoAmI) -> YouAre {
        let user = ctx.extension::<User>().map(|u| u.name.clone()).unwrap_or_default();
        let room = ctx.extension::<Room>().map(|r| r.title.clone()).unwrap_or_default();
        YouAre { payload: format!("{user} in {room}") }
    }

    #[ws_handler(output = [Say])]
    async fn say(&self, ctx: &Context, msg: Say) -> Result<(), chanx::layer::LayerError> {
        ctx.broadcast_message(&msg).await
    }
}

struct App {
    router: Router,
    layer: Arc<MemoryLayer>,
    log: Arc<Mutex<Vec<String>>>,
}

fn app_with(settings: Settings) -> App {
    let log = Arc::new(Mutex::new(Vec::new()));
    let consumer_log = log.clone();
    let layer = Arc::new(MemoryLayer::default());
    let router = Router::new()
        .route_authenticated("/ws/rooms/{room}/", authenticator(), move |_: &Scope| RoomChat {
            log: consumer_log.clone(),
        })
        .with_layer(Layer::new(layer.clone()))
        .with_settings(settings);
    App { router, layer, log }
}

fn app() -> App {
    app_with(Settings::default())
}

async fn join(app: &App, room: &str, header: (&str, &str)) -> WebsocketCommunicator {
    WebsocketCommunicator::builder(&app.router, &format!("/ws/rooms/{room}/"))
        .header(header.0, header.1)
        .connect()
        .await
}

#[tokio::test(start_paused = true)]
async fn a_member_is_accepted_and_handlers_see_the_user_and_the_room() {
    let app = app();
    let mut ada = join(&app, "1", ("authorization", "Bearer t-ada")).await;
    let auth = ada.wait_for_auth().await;
    assert_eq!((auth.status_code, auth.status_text.as_str(), auth.data), (200, "OK", json!({"detail": "OK"})));
    assert_eq!(*app.log.lock().expect("log"), ["post_authentication Some(\"ada\") in [\"room.1\"]"]);
    assert_eq!(app.layer.group_size("room.1"), 1);
    ada.send_message(&WhoAmI {}).await;
    assert_eq!(
        ada.receive_all_messages(COMPLETE, WAIT).await,
        [json!({"action": "you_are", "payload": "ada in Room one"})]
    );
    ada.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn cookies_and_subprotocol_tokens_are_credentials_too() {
    let app = app();
    for header in [("cookie", "theme=dark; sessionid=t-ada"), ("sec-websocket-protocol", "access_token, t-ada")] {
        let mut comm = join(&app, "1", header).await;
        comm.assert_authenticated_status_ok().await;
        comm.disconnect().await;
    }
}

#[tokio::test(start_paused = true)]
async fn missing_credentials_are_refused_with_401() {
    let app = app();
    let mut anonymous = WebsocketCommunicator::connect(&app.router, "/ws/rooms/1/").await;
    let auth = anonymous.wait_for_auth().await;
    assert_eq!((auth.status_code, auth.status_text.as_str()), (401, "Unauthorized"));
    assert_eq!(auth.data, json!({"detail": "Authentication credentials were not provided."}));
    anonymous.assert_closed(4401).await;
    anonymous.disconnect().await;
    assert!(app.log.lock().expect("log").is_empty(), "post_authentication must not run");
    assert_eq!(app.layer.group_size("room.1"), 0);
}

#[tokio::test(start_paused = true)]
async fn a_user_who_is_not_a_member_is_refused_with_403() {
    let app = app();
    let mut bob = join(&app, "1", ("authorization", "Bearer t-bob")).await;
    let auth = bob.wait_for_auth().await;
    assert_eq!((auth.status_code, auth.status_text.as_str()), (403, "Forbidden"));
    assert_eq!(auth.data, json!({"detail": "You do not have permission to perform this action."}));
    bob.assert_closed(4403).await;
    bob.disconnect().await;
    assert_eq!(app.router.metrics().snapshot().authentication_refusals, 1);
}

#[tokio::test(start_paused = true)]
async fn a_missing_object_is_refused_with_404() {
    let app = app();
    let mut ada = join(&app, "99", ("authorization", "Bearer t-ada")).await;
    let auth = ada.wait_for_auth().await;
    assert_eq!((auth.status_code, auth.data), (404, json!({"detail": "Not found."})));
    ada.assert_closed(4404).await;
    ada.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn an_authenticator_that_fails_or_panics_refuses_with_500() {
    let app = app();
    for token in ["explode", "panic"] {
        let mut comm = join(&app, "1", ("authorization", &format!("Bearer {token}"))).await;
        let auth = comm.wait_for_auth().await;
        assert_eq!((auth.status_code, auth.status_text.as_str()), (500, "Internal Server Error"), "{token}");
        comm.assert_closed(4500).await;
        comm.disconnect().await;
    }
    // The server is unharmed.
    let mut ada = join(&app, "1", ("authorization", "Bearer t-ada")).await;
    ada.assert_authenticated_status_ok().await;
    ada.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn garbage_tokens_and_malformed_headers_are_refused_with_401() {
    let app = app();
    let cases = [
        ("authorization", "Bearer not-a-token", "Invalid token."),
        ("authorization", "Bearer ../../etc/passwd", "Invalid token."),
        ("cookie", "sessionid=%00%ff", "Invalid token."),
        ("authorization", "Bearer", "Authentication credentials were not provided."),
        ("authorization", "Basic YWRhOnNlY3JldA==", "Authentication credentials were not provided."),
        ("cookie", ";;=;sessionid;=t-ada", "Authentication credentials were not provided."),
        ("sec-websocket-protocol", "access_token", "Authentication credentials were not provided."),
    ];
    for (name, value, detail) in cases {
        let mut comm = join(&app, "1", (name, value)).await;
        let auth = comm.wait_for_auth().await;
        assert_eq!((auth.status_code, auth.data), (401, json!({"detail": detail})), "{name}: {value}");
        comm.assert_closed(4401).await;
        comm.disconnect().await;
    }
}

#[tokio::test(start_paused = true)]
async fn slow_authentication_is_refused_with_4408() {
    let app = app_with(Settings::default().authentication_timeout(Duration::from_millis(100)));
    let started = tokio::time::Instant::now();
    let mut comm = join(&app, "1", ("authorization", "Bearer sloth")).await;
    let auth = comm.wait_for_auth().await;
    assert_eq!(started.elapsed(), Duration::from_millis(100), "refused at the deadline exactly");
    assert_eq!((auth.status_code, auth.status_text.as_str()), (408, "Request Timeout"));
    assert_eq!(auth.data, json!({"detail": "Authentication timed out"}));
    comm.assert_closed(4408).await;
    comm.disconnect().await;
    assert_eq!(app.router.metrics().snapshot().authentication_timeouts, 1);
}

#[tokio::test(start_paused = true)]
async fn nothing_from_a_refused_connection_reaches_the_group() {
    let app = app();
    let mut ada = join(&app, "1", ("authorization", "Bearer t-ada")).await;
    ada.assert_authenticated_status_ok().await;
    let mut bob = join(&app, "1", ("authorization", "Bearer t-bob")).await;
    bob.send_message(&Say { payload: "let me in".into() }).await;
    bob.assert_closed(4403).await;
    bob.disconnect().await;
    assert!(ada.receive_nothing().await, "a refused client's frame was handled");
    // Ada's own broadcasts still work.
    ada.send_message(&Say { payload: "hi".into() }).await;
    let frames = ada.receive_all_messages(GROUP_COMPLETE, WAIT).await;
    assert!(frames.contains(&json!({"action": "say", "payload": "hi"})), "{frames:?}");
    assert_eq!(app.layer.group_size("room.1"), 1, "only ada joined");
    ada.disconnect().await;
}

#[tokio::test(start_paused = true)]
async fn the_frame_is_camelized_with_the_consumer_and_can_be_switched_off() {
    let app = app_with(Settings::default().camelize(true));
    let mut bob = join(&app, "1", ("authorization", "Bearer t-bob")).await;
    let frame = bob.receive_json().await;
    assert_eq!(frame["payload"]["statusCode"], 403, "{frame}");
    assert_eq!(frame["payload"]["statusText"], "Forbidden", "{frame}");
    bob.assert_closed(4403).await;
    bob.disconnect().await;

    let app = app_with(Settings::default().send_authentication_message(false));
    let mut bob = join(&app, "1", ("authorization", "Bearer t-bob")).await;
    bob.assert_closed(4403).await;
    bob.disconnect().await;
    let mut ada = join(&app, "1", ("authorization", "Bearer t-ada")).await;
    ada.send_message(&WhoAmI {}).await;
    assert_eq!(ada.receive_json().await["action"], "you_are", "no authentication frame comes first");
    ada.disconnect().await;
}

/// A permission whose store is down.
struct Unavailable;

#[chanx::async_trait]
impl Permission<User> for Unavailable {
    async fn has_permission(&self, _user: Option<&User>, _scope: &Scope) -> Result<bool, AuthError> {
        Err(AuthError::new("permission store unavailable"))
    }
}

struct Guarded;

#[chanx::consumer(authenticator = TokenAuthenticator<User>)]
impl Guarded {
    #[ws_handler]
    async fn whoami(&self, _msg: WhoAmI) -> YouAre {
        YouAre { payload: String::new() }
    }
}

#[tokio::test(start_paused = true)]
async fn a_permission_that_cannot_decide_refuses_with_500() {
    let auth = TokenAuthenticator::new(BearerToken, |_token: String| async { Some(User { name: "ada".into() }) })
        .permission(Unavailable);
    let router = Router::new().route_authenticated("/ws/guarded/", auth, |_: &Scope| Guarded);
    let mut comm =
        WebsocketCommunicator::builder(&router, "/ws/guarded/").header("authorization", "Bearer t").connect().await;
    assert_eq!(comm.wait_for_auth().await.status_code, 500);
    comm.assert_closed(4500).await;
    comm.disconnect().await;
}
