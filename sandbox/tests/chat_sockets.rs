//! `/ws/chat/group/` and `/ws/chat/{pk}/`: authentication, and every event with its exact frame,
//! triggered the way users trigger them: through the REST API and the pages.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use chanx::messages::EVENT_COMPLETE;
use sandbox::accounts::User;
use sandbox::chat::model::{GroupChat, Member, Role};
use serde_json::{Value, json};

use crate::chat_api::chat_with;
use crate::support::TestApp;

crate::on_both_databases!(
    both_sockets_answer_ping,
    sockets_refuse_strangers_with_the_right_codes,
    creating_a_chat_tells_my_chat_list,
    being_added_or_removed_updates_my_chat_list,
    activity_reaches_the_chat_lists_of_members_only,
    refused_requests_broadcast_nothing,
    chat_pages_get_member_changes,
    a_removed_member_is_told_and_disconnected,
    messages_reach_the_chat_with_is_mine_per_recipient,
    deleting_a_chat_tells_every_member,
    edits_and_deletions_reach_the_chat,
    a_page_that_reconnects_gets_what_it_missed_once_each,
    only_members_may_follow_a_chat_topic,
    a_removed_member_stops_following_the_chat_topic,
    presence_lists_who_is_online_and_follows_joins_and_leaves,
);

const WAIT: Duration = Duration::from_secs(3);

/// The frames until `event_complete`.
async fn events(comm: &mut chanx::testing::WebsocketCommunicator) -> Vec<Value> {
    comm.receive_all_messages(EVENT_COMPLETE, WAIT).await
}

async fn both_sockets_answer_ping(app: TestApp) {
    let ada = app.user("ada@example.com").await;
    let chat = chat_with(&app, "Lab", &ada, &[]).await;
    for path in ["/ws/chat/group/".to_owned(), format!("/ws/chat/{}/", chat.id)] {
        let mut comm = app.member_socket(&path, &ada).await;
        comm.send_json(&json!({"action": "ping"})).await;
        assert_eq!(comm.receive_all_messages("complete", WAIT).await, [json!({"action": "pong", "payload": null})]);
        comm.send_json(&json!({"action": "shout"})).await;
        let refused = comm.receive_all_messages("complete", WAIT).await;
        assert_eq!(refused[0]["action"], "error", "{refused:?}");
        assert_eq!(refused[0]["payload"][0]["type"], "union_tag_invalid");
        comm.send_text("not json").await;
        let refused = comm.receive_json().await;
        assert_eq!(refused["payload"][0]["type"], "json_invalid", "{refused}");
        comm.send_json(&json!({"action": "ping"})).await;
        assert_eq!(
            comm.receive_all_messages("complete", WAIT).await[0]["action"],
            "pong",
            "the socket survives bad input"
        );
        comm.disconnect().await;
    }
}

async fn sockets_refuse_strangers_with_the_right_codes(app: TestApp) {
    let (ada, eve) = (app.user("ada@example.com").await, app.user("eve@example.com").await);
    let chat = chat_with(&app, "Lab", &ada, &[]).await;
    let room = format!("/ws/chat/{}/", chat.id);
    let cases = [
        ("/ws/chat/group/", None, 401, "Authentication credentials were not provided."),
        (room.as_str(), None, 401, "Authentication credentials were not provided."),
        (room.as_str(), Some(&eve), 403, "You do not have permission to perform this action."),
        ("/ws/chat/999999/", Some(&ada), 404, "Not found."),
        ("/ws/chat/abc/", Some(&ada), 404, "Not found."),
    ];
    for (path, user, status, detail) in cases {
        let mut comm = app.socket(path, user).await;
        let auth = comm.wait_for_auth().await;
        assert_eq!((auth.status_code, auth.data.clone()), (status, json!({"detail": detail})), "{path}");
        comm.assert_closed(4000 + status).await;
    }
    let forged = chanx::testing::WebsocketCommunicator::builder(&app.sandbox.sockets, "/ws/chat/group/")
        .header("cookie", "my-jwt-auth=not.a.token")
        .connect()
        .await;
    let mut forged = forged;
    let auth = forged.wait_for_auth().await;
    assert_eq!((auth.status_code, auth.data), (401, json!({"detail": "Invalid token."})));
    forged.assert_closed(4401).await;
}

async fn creating_a_chat_tells_my_chat_list(app: TestApp) {
    let ada = app.user("ada@example.com").await;
    let mut list = app.member_socket("/ws/chat/group/", &ada).await;
    let created = app.post("/api/chat/", Some(&ada), json!({"title": "Lab", "description": "d"})).await.json();
    assert_eq!(events(&mut list).await, [json!({"action": "added_to_group", "payload": created})]);
    // The new chat's activity is followed from now on.
    let id = created["id"].as_i64().expect("id");
    let patched =
        app.call(Method::PATCH, &format!("/api/chat/{id}/"), Some(&ada), Some(json!({"title": "Lab!"}))).await.json();
    assert_eq!(
        events(&mut list).await,
        [json!({"action": "group_chat_updated", "payload": {"groupPk": id, "updatedAt": patched["updatedAt"]}})]
    );
    list.disconnect().await;
}

async fn being_added_or_removed_updates_my_chat_list(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let chat = chat_with(&app, "Lab", &ada, &[]).await;
    let mut bobs_list = app.member_socket("/ws/chat/group/", &bob).await;
    let members = format!("/chat/{}/members/", chat.id);
    let added = app.form(&members, Some(&ada), &[("email", "bob@example.com"), ("role", "2003")]).await;
    assert_eq!((added.status, added.location()), (StatusCode::FOUND, members.as_str()));
    let frames = events(&mut bobs_list).await;
    let expected = json!({"id": chat.id, "title": "Lab", "description": "about things", "memberCount": 2, "updatedAt": chat.updated_at});
    assert_eq!(frames, [json!({"action": "added_to_group", "payload": expected})]);

    let member = Member::of(app.db(), chat.id, bob.id).await.expect("query").expect("member");
    let removed = app.form(&format!("{members}{}/remove/", member.id), Some(&ada), &[]).await;
    assert_eq!(removed.status, StatusCode::FOUND);
    assert_eq!(
        events(&mut bobs_list).await,
        [json!({"action": "removed_from_group", "payload": {"groupPk": chat.id, "groupTitle": "Lab"}})]
    );
    // The chat's activity no longer reaches Bob: its group was left at runtime.
    app.post(&format!("/api/chat/{}/messages/", chat.id), Some(&ada), json!({"content": "after Bob"})).await;
    assert!(bobs_list.receive_nothing().await);
    bobs_list.disconnect().await;
}

async fn activity_reaches_the_chat_lists_of_members_only(app: TestApp) {
    let (ada, bob, eve) =
        (app.user("ada@example.com").await, app.user("bob@example.com").await, app.user("eve@example.com").await);
    let chat = chat_with(&app, "Lab", &ada, &[(&bob, Role::Member)]).await;
    let mut adas = app.member_socket("/ws/chat/group/", &ada).await;
    let mut bobs = app.member_socket("/ws/chat/group/", &bob).await;
    let mut eves = app.member_socket("/ws/chat/group/", &eve).await;
    let put =
        app.call(Method::PUT, &format!("/api/chat/{}/", chat.id), Some(&ada), Some(json!({"title": "Renamed"}))).await;
    assert_eq!(put.status, StatusCode::OK);
    let expected =
        json!({"action": "group_chat_updated", "payload": {"groupPk": chat.id, "updatedAt": put.json()["updatedAt"]}});
    assert_eq!(events(&mut adas).await, std::slice::from_ref(&expected));
    assert_eq!(events(&mut bobs).await, [expected]);
    assert!(eves.receive_nothing().await);

    let posted =
        app.post(&format!("/api/chat/{}/messages/", chat.id), Some(&bob), json!({"content": "hi"})).await.json();
    let expected =
        json!({"action": "group_chat_updated", "payload": {"groupPk": chat.id, "updatedAt": posted["createdAt"]}});
    assert_eq!(events(&mut adas).await, [expected]);
    assert!(eves.receive_nothing().await);
    for comm in [adas, bobs, eves] {
        comm.disconnect().await;
    }
}

async fn refused_requests_broadcast_nothing(app: TestApp) {
    let (ada, bob, eve) =
        (app.user("ada@example.com").await, app.user("bob@example.com").await, app.user("eve@example.com").await);
    let chat = chat_with(&app, "Lab", &ada, &[(&bob, Role::Member)]).await;
    let mut adas = app.member_socket("/ws/chat/group/", &ada).await;
    let mut room = app.member_socket(&format!("/ws/chat/{}/", chat.id), &ada).await;
    assert_eq!(app.post("/api/chat/", Some(&ada), json!({"title": ""})).await.status, StatusCode::BAD_REQUEST);
    let by_eve =
        app.call(Method::PUT, &format!("/api/chat/{}/", chat.id), Some(&eve), Some(json!({"title": "x"}))).await;
    assert_eq!(by_eve.status, StatusCode::NOT_FOUND);
    let by_bob =
        app.call(Method::PATCH, &format!("/api/chat/{}/", chat.id), Some(&bob), Some(json!({"title": "x"}))).await;
    assert_eq!(by_bob.status, StatusCode::FORBIDDEN);
    let blank = app.post(&format!("/api/chat/{}/messages/", chat.id), Some(&ada), json!({"content": "  "})).await;
    assert_eq!(blank.status, StatusCode::BAD_REQUEST);
    let members = format!("/chat/{}/members/", chat.id);
    app.form(&members, Some(&bob), &[("email", "eve@example.com")]).await;
    app.form(&members, Some(&ada), &[("email", "nobody@example.com")]).await;
    app.form(&members, Some(&ada), &[("email", "eve@example.com"), ("role", "2001")]).await;
    assert!(adas.receive_nothing().await);
    assert!(room.receive_nothing().await);
    assert_eq!(GroupChat::get(app.db(), chat.id).await.expect("query").expect("chat").title, "Lab");
    assert_eq!(app.count("SELECT COUNT(*) FROM chat_members").await, 2);
    room.send_json(&json!({"action": "ping"})).await;
    assert_eq!(room.receive_json().await["action"], "pong");
    adas.disconnect().await;
    room.disconnect().await;
}

async fn chat_pages_get_member_changes(app: TestApp) {
    let (ada, bob, cat) =
        (app.user("ada@example.com").await, app.user("bob@example.com").await, app.user("cat@example.com").await);
    let chat = chat_with(&app, "Lab", &ada, &[(&bob, Role::Admin)]).await;
    let mut room = app.member_socket(&format!("/ws/chat/{}/", chat.id), &ada).await;
    let members = format!("/chat/{}/members/", chat.id);
    app.form(&members, Some(&bob), &[("email", "cat@example.com"), ("role", "2002")]).await;
    let member = Member::of(app.db(), chat.id, cat.id).await.expect("query").expect("added");
    assert_eq!(member.role(), Role::Admin);
    assert_eq!(
        events(&mut room).await,
        [
            json!({"action": "member_added", "payload": {"id": member.id, "user": "cat@example.com", "chatRole": 2002, "userId": cat.id}})
        ]
    );
    app.form(&format!("{members}{}/remove/", member.id), Some(&bob), &[]).await;
    assert_eq!(
        events(&mut room).await,
        [json!({"action": "member_removed", "payload": {"userPk": cat.id, "email": "cat@example.com"}})]
    );
    room.disconnect().await;
}

async fn a_removed_member_is_told_and_disconnected(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let chat = chat_with(&app, "Lab", &ada, &[(&bob, Role::Member)]).await;
    let mut bobs_room = app.member_socket(&format!("/ws/chat/{}/", chat.id), &bob).await;
    let member = Member::of(app.db(), chat.id, bob.id).await.expect("query").expect("member");
    let removed = app.form(&format!("/chat/{}/members/{}/remove/", chat.id, member.id), Some(&ada), &[]).await;
    assert_eq!(removed.status, StatusCode::FOUND);
    let notice = json!({"redirect": "/chat/", "message": "You have been removed from this group chat"});
    assert_eq!(bobs_room.receive_json().await, json!({"action": "user_removed_from_group", "payload": notice}));
    bobs_room.assert_closed(4403).await;
    // Reconnecting is refused: Bob is no longer a member.
    let mut again = app.socket(&format!("/ws/chat/{}/", chat.id), Some(&bob)).await;
    assert_eq!(again.wait_for_auth().await.status_code, 403);
}

async fn messages_reach_the_chat_with_is_mine_per_recipient(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let chat = chat_with(&app, "Lab", &ada, &[(&bob, Role::Member)]).await;
    let mut adas = app.member_socket(&format!("/ws/chat/{}/", chat.id), &ada).await;
    let mut bobs = app.member_socket(&format!("/ws/chat/{}/", chat.id), &bob).await;
    let content = "<b>bold?</b> it's \"fine\"";
    let posted = app.post(&format!("/api/chat/{}/messages/", chat.id), Some(&ada), json!({"content": content})).await;
    assert_eq!(posted.status, StatusCode::CREATED);
    let mut expected = posted.json();
    assert_eq!(expected["isMine"], true);
    assert_eq!(events(&mut adas).await, [json!({"action": "member_message", "payload": expected.clone()})]);
    expected["isMine"] = json!(false);
    assert_eq!(events(&mut bobs).await, [json!({"action": "member_message", "payload": expected})]);
    adas.disconnect().await;
    bobs.disconnect().await;
}

async fn deleting_a_chat_tells_every_member(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let chat = chat_with(&app, "Doomed", &ada, &[(&bob, Role::Member)]).await;
    let mut bobs_list = app.member_socket("/ws/chat/group/", &bob).await;
    let mut bobs_room = app.member_socket(&format!("/ws/chat/{}/", chat.id), &bob).await;
    assert_eq!(
        app.call(Method::DELETE, &format!("/api/chat/{}/", chat.id), Some(&bob), None).await.status,
        StatusCode::FORBIDDEN
    );
    assert!(bobs_list.receive_nothing().await, "a refused delete says nothing");
    assert_eq!(
        app.call(Method::DELETE, &format!("/api/chat/{}/", chat.id), Some(&ada), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        events(&mut bobs_list).await,
        [json!({"action": "removed_from_group", "payload": {"groupPk": chat.id, "groupTitle": "Doomed"}})]
    );
    let notice = json!({"redirect": "/chat/", "message": "The group chat Doomed was deleted"});
    assert_eq!(bobs_room.receive_json().await, json!({"action": "user_removed_from_group", "payload": notice}));
    bobs_room.assert_closed(4404).await;
    bobs_list.disconnect().await;
}

async fn edits_and_deletions_reach_the_chat(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let chat = chat_with(&app, "Lab", &ada, &[(&bob, Role::Member)]).await;
    let posted =
        app.post(&format!("/api/chat/{}/messages/", chat.id), Some(&ada), json!({"content": "typo"})).await.json();
    let mut bobs = app.member_socket(&format!("/ws/chat/{}/", chat.id), &bob).await;
    let path = format!("/api/chat/{}/messages/{}/", chat.id, posted["id"]);
    assert_eq!(
        app.call(Method::PATCH, &path, Some(&bob), Some(json!({"content": "forged"}))).await.status,
        StatusCode::FORBIDDEN
    );
    assert!(bobs.receive_nothing().await, "a refused edit says nothing");
    let edited = app.call(Method::PATCH, &path, Some(&ada), Some(json!({"content": "fixed"}))).await.json();
    let mut expected = edited.clone();
    expected["isMine"] = json!(false);
    assert_eq!(events(&mut bobs).await, [json!({"action": "member_message_edited", "payload": expected})]);
    assert_eq!(app.call(Method::DELETE, &path, Some(&ada), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(events(&mut bobs).await, [json!({"action": "member_message_deleted", "payload": {"id": posted["id"]}})]);
    bobs.disconnect().await;
}

// ---- the chat's topic: recovery after a lost connection, and who is online ----

/// The frames that arrive until the socket has been quiet for a moment, completion frames left
/// out.
async fn frames(comm: &mut chanx::testing::WebsocketCommunicator) -> Vec<Value> {
    let all = comm.receive_all_json(Duration::from_millis(500)).await;
    all.into_iter().filter(|f| !f["action"].as_str().is_some_and(|a| a.ends_with("complete"))).collect()
}

/// The chat topic's push of `action` with `payload` and `seq`.
fn push(topic: &str, action: &str, payload: &Value, seq: u64) -> Value {
    json!({"action": action, "payload": payload, "version": 1, "topic": topic, "seq": seq})
}

/// A message as the REST API answered its sender, as another member sees it.
fn for_others(message: &Value) -> Value {
    let mut message = message.clone();
    message["isMine"] = json!(false);
    message
}

async fn a_page_that_reconnects_gets_what_it_missed_once_each(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let chat = chat_with(&app, "Lab", &ada, &[(&bob, Role::Member)]).await;
    let topic = sandbox::chat::consumers::chat_topic(chat.id);
    let messages = format!("/api/chat/{}/messages/", chat.id);
    let mut adas = app.member_socket(&format!("/ws/chat/{}/", chat.id), &ada).await;
    let first = adas.subscribe_since(&topic, 0, "").await;
    assert_eq!((first.recovered, first.seq), (false, 0), "nothing pushed yet: the page loads the list");
    assert_eq!(frames(&mut adas).await.len(), 1, "the presence list");

    let one = for_others(&app.post(&messages, Some(&bob), json!({"content": "one"})).await.json());
    // Once, from the topic (numbered); the chat group's plain copy is not sent to a follower.
    assert_eq!(frames(&mut adas).await, [push(&topic, "member_message", &one, 1)]);

    adas.reconnect().await;
    adas.assert_authenticated_status_ok().await;
    let two = for_others(&app.post(&messages, Some(&bob), json!({"content": "two"})).await.json());
    let three = for_others(&app.post(&messages, Some(&bob), json!({"content": "three"})).await.json());
    let path = format!("{messages}{}/", two["id"]);
    let edited = for_others(&app.call(Method::PATCH, &path, Some(&bob), Some(json!({"content": "two!"}))).await.json());
    let mine = app.post(&messages, Some(&ada), json!({"content": "from my phone"})).await.json();
    // Until it subscribes, the new socket is a plain chat socket: the original's frames (the
    // page shows each message once, by id, whichever way it came).
    let plain: Vec<Value> = [("member_message", &two), ("member_message", &three)]
        .into_iter()
        .chain([("member_message_edited", &edited)])
        .map(|(action, payload)| json!({"action": action, "payload": payload}))
        .chain([json!({"action": "member_message", "payload": mine})])
        .collect();
    assert_eq!(frames(&mut adas).await, plain);

    let again = adas.subscribe_since(&topic, 1, &first.epoch).await;
    assert_eq!((again.recovered, again.seq, again.epoch.as_str()), (true, 5, first.epoch.as_str()));
    let got = frames(&mut adas).await;
    assert_eq!(got.len(), 5, "{got:#?}");
    assert_eq!(
        got[..4],
        [
            push(&topic, "member_message", &two, 2),
            push(&topic, "member_message", &three, 3),
            push(&topic, "member_message_edited", &edited, 4),
            push(&topic, "member_message", &mine, 5),
        ]
    );
    assert_eq!(mine["isMine"], true, "isMine is the recipient's, in the replay too");
    assert_eq!(got[4]["action"], "presence_state");

    // Live again, from the next seq, once.
    let four = for_others(&app.post(&messages, Some(&bob), json!({"content": "four"})).await.json());
    assert_eq!(frames(&mut adas).await, [push(&topic, "member_message", &four, 6)]);
    assert_eq!(app.call(Method::DELETE, &path, Some(&bob), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(frames(&mut adas).await, [push(&topic, "member_message_deleted", &json!({"id": two["id"]}), 7)]);

    // A page that does not follow the topic (the original's client) gets the plain frames.
    let mut plain = app.member_socket(&format!("/ws/chat/{}/", chat.id), &bob).await;
    let five = app.post(&messages, Some(&ada), json!({"content": "five"})).await.json();
    assert_eq!(events(&mut plain).await, [json!({"action": "member_message", "payload": for_others(&five)})]);
    assert_eq!(frames(&mut adas).await, [push(&topic, "member_message", &five, 8)]);
    adas.disconnect().await;
    plain.disconnect().await;
}

async fn only_members_may_follow_a_chat_topic(app: TestApp) {
    let (ada, eve) = (app.user("ada@example.com").await, app.user("eve@example.com").await);
    let chat = chat_with(&app, "Lab", &ada, &[]).await;
    let eves_chat = chat_with(&app, "Eve's", &eve, &[]).await;
    let mut eves = app.member_socket(&format!("/ws/chat/{}/", eves_chat.id), &eve).await;
    let others = [
        sandbox::chat::consumers::chat_topic(chat.id),
        format!("chat:0{}", eves_chat.id),
        "chat:abc".to_owned(),
        "chat:999999".to_owned(),
    ];
    for (n, topic) in others.iter().enumerate() {
        let refused = eves.subscribe(topic).await;
        let detail = format!("Not allowed to subscribe to '{topic}'");
        let expected = json!({
            "action": "error", "payload": {"reason": "unauthorized", "detail": detail},
            "version": 1, "topic": topic, "ref": (n + 1).to_string(),
        });
        assert_eq!(refused, expected);
    }
    let posted = app.post(&format!("/api/chat/{}/messages/", chat.id), Some(&ada), json!({"content": "private"})).await;
    assert_eq!(posted.status, StatusCode::CREATED);
    assert!(frames(&mut eves).await.is_empty(), "nothing of Ada's chat reaches Eve");
    // Her own chat she may follow.
    assert_eq!(eves.subscribe(&sandbox::chat::consumers::chat_topic(eves_chat.id)).await["action"], "subscribed");
    eves.disconnect().await;
}

async fn a_removed_member_stops_following_the_chat_topic(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let chat = chat_with(&app, "Lab", &ada, &[(&bob, Role::Member)]).await;
    let other = chat_with(&app, "Other", &bob, &[]).await;
    let topic = sandbox::chat::consumers::chat_topic(chat.id);
    let mut adas = app.member_socket(&format!("/ws/chat/{}/", chat.id), &ada).await;
    assert_eq!(adas.subscribe(&topic).await["action"], "subscribed");
    // Bob follows the chat from its own page and from the socket of another chat of his.
    let mut bobs_room = app.member_socket(&format!("/ws/chat/{}/", chat.id), &bob).await;
    let mut bobs_other = app.member_socket(&format!("/ws/chat/{}/", other.id), &bob).await;
    for comm in [&mut bobs_room, &mut bobs_other] {
        assert_eq!(comm.subscribe(&topic).await["action"], "subscribed");
    }
    for comm in [&mut adas, &mut bobs_room, &mut bobs_other] {
        frames(comm).await;
    }

    let member = Member::of(app.db(), chat.id, bob.id).await.expect("query").expect("member");
    let removed = app.form(&format!("/chat/{}/members/{}/remove/", chat.id, member.id), Some(&ada), &[]).await;
    assert_eq!(removed.status, StatusCode::FOUND);
    // The other socket stays open; its subscription is ended by the server (no ref). Until
    // then it may hear that Bob's chat page went offline.
    let (left, ended): (Vec<Value>, Vec<Value>) =
        frames(&mut bobs_other).await.into_iter().partition(|f| f["action"] == "presence_leave");
    assert_eq!(ended, [json!({"action": "unsubscribed", "payload": null, "version": 1, "topic": topic})]);
    assert!(left.len() <= 1 && left.iter().all(|f| f["payload"]["entry"]["userId"] == bob.id), "{left:?}");
    let notice = json!({"redirect": "/chat/", "message": "You have been removed from this group chat"});
    assert_eq!(bobs_room.receive_json().await, json!({"action": "user_removed_from_group", "payload": notice}));
    bobs_room.assert_closed(4403).await;
    // Ada hears that Bob left, and that both his connections went offline.
    let got = frames(&mut adas).await;
    let actions: Vec<&str> = got.iter().filter_map(|f| f["action"].as_str()).collect();
    assert_eq!(actions, ["member_removed", "presence_leave", "presence_leave"], "{got:#?}");

    app.post(&format!("/api/chat/{}/messages/", chat.id), Some(&ada), json!({"content": "after Bob"})).await;
    assert!(frames(&mut bobs_other).await.is_empty(), "nothing of the chat reaches Bob any more");
    let again = bobs_other.subscribe(&topic).await;
    assert_eq!(again["payload"]["reason"], "unauthorized", "{again}");
    bobs_other.send_json(&json!({"action": "ping"})).await;
    assert_eq!(bobs_other.receive_json().await["action"], "pong");
    adas.disconnect().await;
    bobs_other.disconnect().await;
}

async fn presence_lists_who_is_online_and_follows_joins_and_leaves(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let ada = User::update_names(app.db(), ada.id, "Ada", " Lovelace ").await.expect("query").expect("ada");
    let chat = chat_with(&app, "Lab", &ada, &[(&bob, Role::Member)]).await;
    let topic = sandbox::chat::consumers::chat_topic(chat.id);
    let room = format!("/ws/chat/{}/", chat.id);
    let adas_entry = json!({"userId": ada.id, "name": "Ada Lovelace"});
    let bobs_entry = json!({"userId": bob.id, "name": "bob@example.com"});

    let mut adas = app.member_socket(&room, &ada).await;
    assert_eq!(adas.subscribe(&topic).await["action"], "subscribed");
    let state = frames(&mut adas).await;
    let ada_id = state[0]["payload"]["members"][0]["id"].clone();
    let members = json!({"members": [{"id": ada_id, "entry": adas_entry}]});
    assert_eq!(state, [json!({"action": "presence_state", "payload": members, "version": 1, "topic": topic})]);

    let mut bobs = app.member_socket(&room, &bob).await;
    assert_eq!(bobs.subscribe(&topic).await["action"], "subscribed");
    let joined = frames(&mut adas).await;
    let bob_id = joined[0]["payload"]["id"].clone();
    assert!(bob_id.is_string() && bob_id != ada_id, "{joined:?}");
    let join = json!({"action": "presence_join", "payload": {"id": bob_id, "entry": bobs_entry}, "topic": topic});
    assert_eq!(joined, [join]);
    let listed = frames(&mut bobs).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    let mut entries: Vec<Value> = listed[0]["payload"]["members"].as_array().cloned().unwrap_or_default();
    entries.sort_by_key(|m| m["entry"]["userId"].as_i64());
    assert_eq!(entries, [json!({"id": ada_id, "entry": adas_entry}), json!({"id": bob_id, "entry": bobs_entry})]);
    // Asked again.
    bobs.send_json(&json!({"version": 1, "topic": topic, "ref": "p", "action": "presence"})).await;
    let asked = frames(&mut bobs).await;
    assert_eq!((asked[0]["action"].as_str(), asked[0]["ref"].as_str()), (Some("presence_state"), Some("p")));

    bobs.disconnect().await;
    let leave = json!({"action": "presence_leave", "payload": {"id": bob_id, "entry": bobs_entry}, "topic": topic});
    assert_eq!(frames(&mut adas).await, [leave]);
    assert_eq!(adas.unsubscribe(&topic).await["action"], "unsubscribed");
    adas.disconnect().await;
}

/// A page away for longer than the chat's history keeps is told `recovered: false` (and reloads
/// the list through the REST API). The clock is paused only to pass the history's 10 minutes.
#[tokio::test]
async fn a_page_away_longer_than_the_history_reloads_sqlite() {
    a_page_away_longer_than_the_history_reloads(TestApp::sqlite().await).await;
}

#[tokio::test]
async fn a_page_away_longer_than_the_history_reloads_postgres() {
    if let Some(app) = TestApp::postgres().await {
        a_page_away_longer_than_the_history_reloads(app).await;
    }
}

async fn a_page_away_longer_than_the_history_reloads(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let chat = chat_with(&app, "Lab", &ada, &[(&bob, Role::Member)]).await;
    let topic = sandbox::chat::consumers::chat_topic(chat.id);
    let messages = format!("/api/chat/{}/messages/", chat.id);
    let mut adas = app.member_socket(&format!("/ws/chat/{}/", chat.id), &ada).await;
    let first = adas.subscribe_since(&topic, 0, "").await;
    app.post(&messages, Some(&bob), json!({"content": "seen"})).await;
    let seen = frames(&mut adas).await;
    let seq = seen.iter().find_map(|f| f["seq"].as_u64()).expect("a numbered push");

    adas.reconnect().await;
    adas.assert_authenticated_status_ok().await;
    app.post(&messages, Some(&bob), json!({"content": "missed"})).await;
    assert_eq!(frames(&mut adas).await.len(), 1, "the plain frame of a socket that follows nothing yet");
    let ttl = <sandbox::chat::consumers::ChatRoomTopic as chanx::Topic>::HISTORY.expect("history").ttl();
    tokio::time::pause();
    tokio::time::advance(ttl + Duration::from_secs(1)).await;
    tokio::time::resume();

    let late = adas.subscribe_since(&topic, seq, &first.epoch).await;
    assert!(!late.recovered, "{late:?}");
    assert!(frames(&mut adas).await.iter().all(|f| f["action"] == "presence_state"), "nothing is replayed");
    // What the page reloads instead.
    let list = app.get(&messages, Some(&ada)).await.json();
    let contents: Vec<&str> =
        list["results"].as_array().expect("list").iter().filter_map(|m| m["content"].as_str()).collect();
    assert_eq!(contents, ["missed", "seen"]);
    // Pushes after the answer's seq are live as usual.
    app.post(&messages, Some(&bob), json!({"content": "back"})).await;
    let back = frames(&mut adas).await;
    assert_eq!(back.iter().map(|f| f["seq"].as_u64()).collect::<Vec<_>>(), [Some(late.seq + 1)], "{back:?}");
    adas.disconnect().await;
}

/// Behind one Redis, a page that loses its socket on one process and comes back on another
/// recovers what it missed there: the chat's history is in Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_recovers_on_another_process_through_redis() {
    let Some(url) = crate::server::redis_url().await else { return };
    let prefix = format!("sandbox-test.{}.", uuid::Uuid::new_v4().simple());
    let layer = || {
        let redis = chanx::layer::RedisLayer::builder([url.clone()]).prefix(prefix.clone()).build().expect("layer");
        chanx::Layer::new(redis)
    };
    let app = TestApp::sqlite_with(layer()).await;
    let other = app.another_process(layer());
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let chat = chat_with(&app, "Lab", &ada, &[(&bob, Role::Member)]).await;
    let topic = sandbox::chat::consumers::chat_topic(chat.id);
    let (room, messages) = (format!("/ws/chat/{}/", chat.id), format!("/api/chat/{}/messages/", chat.id));

    let mut here = app.member_socket(&room, &ada).await;
    let first = here.subscribe_since(&topic, 0, "").await;
    assert!(!first.recovered);
    frames(&mut here).await;
    let one = for_others(&app.post(&messages, Some(&bob), json!({"content": "one"})).await.json());
    assert_eq!(frames(&mut here).await, [push(&topic, "member_message", &one, 1)]);
    here.disconnect().await;

    let two = for_others(&app.post(&messages, Some(&bob), json!({"content": "two"})).await.json());
    let three = for_others(&app.post(&messages, Some(&bob), json!({"content": "three"})).await.json());
    let mut there = chanx::testing::WebsocketCommunicator::builder(&other.sockets, &room)
        .header("cookie", &app.cookie_for(&ada))
        .timeout(Duration::from_secs(3))
        .connect()
        .await;
    there.assert_authenticated_status_ok().await;
    let again = there.subscribe_since(&topic, 1, &first.epoch).await;
    assert_eq!((again.recovered, again.seq), (true, 3), "{again:?}");
    let got: Vec<Value> = frames(&mut there).await.into_iter().filter(|f| f["action"] != "presence_state").collect();
    assert_eq!(got, [push(&topic, "member_message", &two, 2), push(&topic, "member_message", &three, 3)]);
    // Live across processes, numbered by the same history.
    let four = for_others(&app.post(&messages, Some(&bob), json!({"content": "four"})).await.json());
    assert_eq!(frames(&mut there).await, [push(&topic, "member_message", &four, 4)]);
    there.disconnect().await;
}
