//! `/ws/chat/group/` and `/ws/chat/{pk}/`: authentication, and every event with its exact frame,
//! triggered the way users trigger them: through the REST API and the pages.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use chanx::messages::EVENT_COMPLETE;
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
