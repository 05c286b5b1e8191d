//! Ending a user's access ends their sockets: deactivation and deletion in `/admin/`, and logout,
//! close every socket of theirs with 4401; and a revocation that crosses a socket's connect (after
//! its check, before it joined its groups) is caught by the check made again once joined.

use std::sync::Arc;

use axum::http::StatusCode;
use chanx::Layer;
use chanx::async_trait;
use chanx::layer::{ChannelLayer, ChannelReceiver, LayerError, LayerMessage, MemoryLayer};
use chanx::testing::WebsocketCommunicator;
use sandbox::accounts::{NewUser, User};
use sandbox::assistants::model::Conversation;
use sandbox::chat::model::{GroupChat, Member, Role};
use sandbox::sessions::{SESSION_ENDED, SESSION_ENDED_REASON};
use serde_json::json;
use tokio::sync::Notify;

use crate::chat_api::chat_with;
use crate::support::{PASSWORD, TestApp};

crate::on_both_databases!(
    deactivating_a_user_closes_every_socket_of_theirs,
    a_reactivated_user_must_log_in_again,
    deleting_a_user_closes_their_sockets,
    logging_out_closes_the_users_sockets,
    replaying_a_stolen_refresh_token_closes_the_users_sockets,
    a_removal_while_the_chat_socket_connects_still_closes_it,
    a_deactivation_while_a_socket_connects_still_closes_it,
    a_deletion_while_the_chat_socket_connects_still_closes_it,
    a_logout_while_a_socket_connects_still_closes_it,
    a_logout_ends_every_access_token_issued_before_it,
);

async fn superuser(app: &TestApp) -> User {
    let new =
        NewUser { email: "root@example.com".into(), password: PASSWORD.into(), is_staff: true, is_superuser: true };
    User::create(app.db(), &app.sandbox.state.hasher, new).await.expect("superuser")
}

/// Bob's sockets: his chat list, a chat he is in, the forum's list and a topic, and his own
/// assistant conversation.
async fn every_socket_of(app: &TestApp, bob: &User, chat: &GroupChat) -> Vec<(String, WebsocketCommunicator)> {
    let topic =
        app.post("/api/discussion/", Some(bob), json!({"title": "Q", "content": "?"})).await.json()["id"].clone();
    let conversation = Conversation::create(app.db(), Some(bob.id), "Mine").await.expect("conversation");
    let mut sockets = Vec::new();
    for path in [
        "/ws/chat/group/".to_owned(),
        format!("/ws/chat/{}/", chat.id),
        "/ws/discussion/".to_owned(),
        format!("/ws/discussion/{topic}/"),
        format!("/ws/assistants/{}/", conversation.id),
    ] {
        let comm = app.member_socket(&path, bob).await;
        sockets.push((path, comm));
    }
    sockets
}

/// Every socket is closed with 4401 and the reason, before any other frame.
async fn all_closed(sockets: Vec<(String, WebsocketCommunicator)>) {
    for (path, mut comm) in sockets {
        comm.assert_closed(SESSION_ENDED).await;
        assert_eq!(comm.close_reason(), Some(SESSION_ENDED_REASON), "{path}");
    }
}

/// Ada's chat socket still gets the chat's messages: only Bob's access ended.
async fn still_served(app: &TestApp, ada: &User, chat: &GroupChat, adas: &mut WebsocketCommunicator) {
    let posted =
        app.post(&format!("/api/chat/{}/messages/", chat.id), Some(ada), json!({"content": "still here"})).await;
    assert_eq!(posted.status, StatusCode::CREATED);
    assert_eq!(adas.receive_json().await["action"], "member_message");
}

async fn deactivating_a_user_closes_every_socket_of_theirs(app: TestApp) {
    let (ada, bob, root) =
        (app.user("ada@example.com").await, app.user("bob@example.com").await, superuser(&app).await);
    let chat = chat_with(&app, "Lab", &ada, &[(&bob, Role::Member)]).await;
    let sockets = every_socket_of(&app, &bob, &chat).await;
    let mut adas = app.member_socket(&format!("/ws/chat/{}/", chat.id), &ada).await;
    let toggled = app.form(&format!("/admin/users/{}/active/", bob.id), Some(&root), &[]).await;
    assert_eq!((toggled.status, toggled.location()), (StatusCode::FOUND, "/admin/"));
    all_closed(sockets).await;
    still_served(&app, &ada, &chat, &mut adas).await;
    // And Bob cannot come back.
    let mut again = app.socket("/ws/chat/group/", Some(&bob)).await;
    assert_eq!(again.wait_for_auth().await.status_code, 401);
    adas.disconnect().await;
}

async fn a_reactivated_user_must_log_in_again(app: TestApp) {
    let (bob, root) = (app.user("bob@example.com").await, superuser(&app).await);
    let before = app.sandbox.state.tokens.refresh(app.db(), bob.id).await.expect("a login").token;
    for _ in ["deactivate", "reactivate"] {
        let toggled = app.form(&format!("/admin/users/{}/active/", bob.id), Some(&root), &[]).await;
        assert_eq!((toggled.status, toggled.location()), (StatusCode::FOUND, "/admin/"));
    }
    // The login of before the deactivation, stolen or not, does not come back with the account.
    let renewal = app.post("/api/accounts/token/refresh", None, json!({"refresh": before})).await;
    assert_eq!(renewal.status, StatusCode::UNAUTHORIZED, "{}", renewal.text);
    // A new login works.
    let login = app.post("/api/accounts/login", None, json!({"email": "bob@example.com", "password": PASSWORD})).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
}

async fn deleting_a_user_closes_their_sockets(app: TestApp) {
    let (ada, bob, root) =
        (app.user("ada@example.com").await, app.user("bob@example.com").await, superuser(&app).await);
    let chat = chat_with(&app, "Lab", &ada, &[(&bob, Role::Member)]).await;
    let sockets = every_socket_of(&app, &bob, &chat).await;
    let mut adas = app.member_socket(&format!("/ws/chat/{}/", chat.id), &ada).await;
    let deleted = app.form(&format!("/admin/users/{}/delete/", bob.id), Some(&root), &[]).await;
    assert_eq!((deleted.status, deleted.location()), (StatusCode::FOUND, "/admin/"));
    all_closed(sockets).await;
    still_served(&app, &ada, &chat, &mut adas).await;
    adas.disconnect().await;
}

async fn logging_out_closes_the_users_sockets(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let chat = chat_with(&app, "Lab", &ada, &[(&bob, Role::Member)]).await;
    let sockets = every_socket_of(&app, &bob, &chat).await;
    let mut adas = app.member_socket(&format!("/ws/chat/{}/", chat.id), &ada).await;
    let logout = app.post("/api/accounts/logout", Some(&bob), json!({})).await;
    assert_eq!(logout.status, StatusCode::OK, "{}", logout.text);
    all_closed(sockets).await;
    still_served(&app, &ada, &chat, &mut adas).await;
    adas.disconnect().await;
}

/// Logs Bob in and returns his refresh cookie's token, once a thief has used a copy of it a
/// minute ago (past the leeway for tabs renewing together): presenting it again is the alarm.
async fn stolen_and_used(app: &TestApp) -> String {
    let login = app.post("/api/accounts/login", None, json!({"email": "bob@example.com", "password": PASSWORD})).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    let token = login
        .cookies()
        .into_iter()
        .find_map(|c| c.strip_prefix("my-jwt-refresh=").map(|v| v.split(';').next().unwrap_or_default().to_owned()))
        .expect("refresh cookie");
    let request = |token: &str| {
        axum::http::Request::post("/api/accounts/token/refresh")
            .header("origin", crate::support::ORIGIN)
            .header("cookie", format!("my-jwt-refresh={token}"))
            .body(axum::body::Body::empty())
            .expect("request")
    };
    assert_eq!(app.send(request(&token)).await.status, StatusCode::OK, "the thief renews first");
    sqlx::query("UPDATE refresh_tokens SET rotated_at = rotated_at - 60 WHERE rotated = 1")
        .execute(app.db().pool())
        .await
        .expect("a minute passes");
    token
}

async fn replaying_a_stolen_refresh_token_closes_the_users_sockets(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let chat = chat_with(&app, "Lab", &ada, &[(&bob, Role::Member)]).await;
    let mut adas = app.member_socket(&format!("/ws/chat/{}/", chat.id), &ada).await;

    // Through the API: the thief may hold sockets opened with the access token they got.
    let stolen = stolen_and_used(&app).await;
    let sockets = every_socket_of(&app, &bob, &chat).await;
    let replay = axum::http::Request::post("/api/accounts/token/refresh")
        .header("origin", crate::support::ORIGIN)
        .header("cookie", format!("my-jwt-refresh={stolen}"))
        .body(axum::body::Body::empty())
        .expect("request");
    assert_eq!(app.send(replay).await.status, StatusCode::UNAUTHORIZED);
    all_closed(sockets).await;

    // Through a page load, which renews from the refresh cookie the same way.
    let stolen = stolen_and_used(&app).await;
    let mut socket = app.member_socket("/ws/chat/group/", &bob).await;
    let page = axum::http::Request::get("/chat/")
        .header("cookie", format!("my-jwt-refresh={stolen}"))
        .body(axum::body::Body::empty())
        .expect("request");
    assert!(!app.send(page).await.text.contains("bob@example.com"), "not signed in");
    socket.assert_closed(SESSION_ENDED).await;

    still_served(&app, &ada, &chat, &mut adas).await;
    adas.disconnect().await;
}

/// A memory layer that holds the first join of a group starting with `prefix` until released,
/// so a test can act between a socket's access check and its joining that group.
#[derive(Clone)]
struct HeldJoin {
    inner: Arc<MemoryLayer>,
    prefix: &'static str,
    held: Arc<std::sync::atomic::AtomicBool>,
    reached: Arc<Notify>,
    release: Arc<Notify>,
}

impl HeldJoin {
    fn new(prefix: &'static str) -> Self {
        HeldJoin {
            inner: Arc::new(MemoryLayer::default()),
            prefix,
            held: Arc::default(),
            reached: Arc::default(),
            release: Arc::default(),
        }
    }
}

#[async_trait]
impl ChannelLayer for HeldJoin {
    async fn new_channel(&self) -> Result<ChannelReceiver, LayerError> {
        self.inner.new_channel().await
    }
    async fn close_channel(&self, channel: &str) -> Result<(), LayerError> {
        self.inner.close_channel(channel).await
    }
    async fn send(&self, channel: &str, message: LayerMessage) -> Result<(), LayerError> {
        self.inner.send(channel, message).await
    }
    async fn group_add(&self, group: &str, channel: &str) -> Result<(), LayerError> {
        if group.starts_with(self.prefix) && !self.held.swap(true, std::sync::atomic::Ordering::SeqCst) {
            self.reached.notify_one();
            self.release.notified().await;
        }
        self.inner.group_add(group, channel).await
    }
    async fn group_discard(&self, group: &str, channel: &str) -> Result<(), LayerError> {
        self.inner.group_discard(group, channel).await
    }
    async fn group_send(&self, group: &str, message: LayerMessage) -> Result<(), LayerError> {
        self.inner.group_send(group, message).await
    }
}

/// Bob's chat socket passes its membership check, then is removed from the chat before it joins
/// the chat's group (so the removal notice cannot reach it): the check made once joined closes it.
async fn a_removal_while_the_chat_socket_connects_still_closes_it(app: TestApp) {
    let held = HeldJoin::new("group_chat.");
    let app = app.configured_with(&[], Layer::new(held.clone()));
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let chat = chat_with(&app, "Lab", &ada, &[(&bob, Role::Member)]).await;
    let member = Member::of(app.db(), chat.id, bob.id).await.expect("query").expect("member");
    let remove = async {
        held.reached.notified().await;
        let removed = app
            .call(
                axum::http::Method::DELETE,
                &format!("/api/chat/{}/members/{}/", chat.id, member.id),
                Some(&ada),
                None,
            )
            .await;
        assert_eq!(removed.status, StatusCode::NO_CONTENT);
        held.release.notify_one();
    };
    let room = format!("/ws/chat/{}/", chat.id);
    let (mut bobs, ()) = tokio::join!(app.socket(&room, Some(&bob)), remove);
    assert_eq!(bobs.wait_for_auth().await.status_code, 200, "the check before the join passed");
    bobs.assert_closed(4403).await;
    assert_eq!(bobs.close_reason(), Some("removed from the group chat"));
}

/// Bob's chat list passes its check, then Bob is deactivated (and his group closed) before the
/// socket joins his group: the check made once joined closes it.
async fn a_deactivation_while_a_socket_connects_still_closes_it(app: TestApp) {
    let held = HeldJoin::new("user.");
    let app = app.configured_with(&[], Layer::new(held.clone()));
    let (bob, root) = (app.user("bob@example.com").await, superuser(&app).await);
    let deactivate = async {
        held.reached.notified().await;
        let toggled = app.form(&format!("/admin/users/{}/active/", bob.id), Some(&root), &[]).await;
        assert_eq!(toggled.status, StatusCode::FOUND);
        held.release.notify_one();
    };
    let (mut bobs, ()) = tokio::join!(app.socket("/ws/chat/group/", Some(&bob)), deactivate);
    assert_eq!(bobs.wait_for_auth().await.status_code, 200, "the check before the join passed");
    bobs.assert_closed(SESSION_ENDED).await;
}

/// The chat is deleted after Bob's socket found it and before it joined its group: 4404, as the
/// deletion notice would have closed it.
async fn a_deletion_while_the_chat_socket_connects_still_closes_it(app: TestApp) {
    let held = HeldJoin::new("group_chat.");
    let app = app.configured_with(&[], Layer::new(held.clone()));
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let chat = chat_with(&app, "Lab", &ada, &[(&bob, Role::Member)]).await;
    let delete = async {
        held.reached.notified().await;
        let path = format!("/api/chat/{}/", chat.id);
        assert_eq!(app.call(axum::http::Method::DELETE, &path, Some(&ada), None).await.status, StatusCode::NO_CONTENT);
        held.release.notify_one();
    };
    let room = format!("/ws/chat/{}/", chat.id);
    let (mut bobs, ()) = tokio::join!(app.socket(&room, Some(&bob)), delete);
    assert_eq!(bobs.wait_for_auth().await.status_code, 200, "the check before the join passed");
    bobs.assert_closed(4404).await;
}

/// Bob's chat list passes its token check, then Bob logs out (his group is closed) before the
/// socket joins his group. The check made once joined finds the token issued before the logout.
async fn a_logout_while_a_socket_connects_still_closes_it(app: TestApp) {
    let held = HeldJoin::new("user.");
    let app = app.configured_with(&[], Layer::new(held.clone()));
    let bob = app.user("bob@example.com").await;
    let logout = async {
        held.reached.notified().await;
        let out = app.post("/api/accounts/logout", Some(&bob), json!({})).await;
        assert_eq!(out.status, StatusCode::OK, "{}", out.text);
        held.release.notify_one();
    };
    let (mut bobs, ()) = tokio::join!(app.socket("/ws/chat/group/", Some(&bob)), logout);
    assert_eq!(bobs.wait_for_auth().await.status_code, 200, "the check before the join passed");
    bobs.assert_closed(SESSION_ENDED).await;
}

async fn a_logout_ends_every_access_token_issued_before_it(app: TestApp) {
    let bob = app.user("bob@example.com").await;
    let login = app.post("/api/accounts/login", None, json!({"email": "bob@example.com", "password": PASSWORD})).await;
    let copied = login.json()["access"].as_str().expect("access token").to_owned();
    let other_device =
        app.post("/api/accounts/login", None, json!({"email": "bob@example.com", "password": PASSWORD})).await;
    let me = |token: &str| {
        axum::http::Request::get("/api/accounts/user")
            .header("authorization", format!("Bearer {token}"))
            .body(axum::body::Body::empty())
            .expect("request")
    };
    assert_eq!(app.send(me(&copied)).await.status, StatusCode::OK);
    let logout = app.post("/api/accounts/logout", Some(&bob), json!({})).await;
    assert_eq!(logout.status, StatusCode::OK, "{}", logout.text);
    // A copy of the access token no longer works, on requests nor sockets: it used to live on
    // for ACCESS_TOKEN_MINUTES.
    assert_eq!(app.send(me(&copied)).await.status, StatusCode::UNAUTHORIZED);
    let mut socket = WebsocketCommunicator::builder(&app.sandbox.sockets, "/ws/chat/group/")
        .header("authorization", &format!("Bearer {copied}"))
        .connect()
        .await;
    assert_eq!(socket.wait_for_auth().await.status_code, 401);
    // The other device renews with its refresh token, whose family the logout left alone.
    let refresh = other_device
        .cookies()
        .into_iter()
        .find_map(|c| c.strip_prefix("my-jwt-refresh=").map(|v| v.split(';').next().unwrap_or_default().to_owned()))
        .expect("refresh cookie");
    let renewed = app.post("/api/accounts/token/refresh", None, json!({"refresh": refresh})).await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.text);
    let fresh = renewed.json()["access"].as_str().expect("access token").to_owned();
    assert_eq!(app.send(me(&fresh)).await.status, StatusCode::OK);
    // A page of another browser, whose access cookie the logout ended, renews by itself.
    let browser =
        app.post("/api/accounts/login", None, json!({"email": "bob@example.com", "password": PASSWORD})).await;
    let cookies: Vec<String> =
        browser.cookies().into_iter().map(|c| c.split(';').next().unwrap_or_default().to_owned()).collect();
    let logout = app.post("/api/accounts/logout", Some(&bob), json!({})).await;
    assert_eq!(logout.status, StatusCode::OK, "{}", logout.text);
    let page = axum::http::Request::get("/chat/")
        .header("cookie", cookies.join("; "))
        .body(axum::body::Body::empty())
        .expect("request");
    let page = app.send(page).await;
    assert!(page.text.contains("bob@example.com"), "still signed in on that browser");
    assert!(page.cookies().iter().any(|c| c.starts_with("my-jwt-auth=") && !c.contains("Max-Age=0")), "renewed");
    // And a new login works at once.
    let again = app.post("/api/accounts/login", None, json!({"email": "bob@example.com", "password": PASSWORD})).await;
    let token = again.json()["access"].as_str().expect("access token").to_owned();
    assert_eq!(app.send(me(&token)).await.status, StatusCode::OK);
}
