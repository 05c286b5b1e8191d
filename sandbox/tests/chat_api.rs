//! `/api/chat/…`: statuses, bodies and permission rules.

use axum::http::{Method, StatusCode};
use sandbox::accounts::User;
use sandbox::chat::model::{ChatMessage, GroupChat, Member, Role};
use serde_json::json;

use crate::support::TestApp;

crate::on_both_databases!(
    chats_list_only_mine_and_need_a_user,
    creating_a_chat_makes_me_its_owner,
    blank_or_oversized_chats_are_refused_and_not_saved,
    only_members_see_a_chat,
    only_the_owner_edits_or_deletes_a_chat,
    messages_are_newest_first_with_is_mine_per_viewer,
    messages_paginate_with_limit_and_offset,
    non_members_cannot_read_or_post_messages,
    hostile_message_content_is_refused_or_stored_verbatim,
    only_the_sender_edits_or_deletes_a_message,
    a_new_message_bumps_the_chat_but_an_edit_does_not,
    members_are_managed_by_owners_and_admins,
    pagination_links_come_from_server_url_never_from_host,
    creating_chats_and_adding_members_are_throttled_per_user,
);

/// A chat owned by `owner` with `others` as members in the given roles.
pub(crate) async fn chat_with(app: &TestApp, title: &str, owner: &User, others: &[(&User, Role)]) -> GroupChat {
    let (chat, _) = GroupChat::create(app.db(), owner, title, Some("about things")).await.expect("chat");
    for (user, role) in others {
        Member::add(app.db(), chat.id, user, *role).await.expect("member");
    }
    GroupChat::get(app.db(), chat.id).await.expect("query").expect("chat")
}

/// Posts `content` as `user` in `chat` straight to the database.
pub(crate) async fn message(app: &TestApp, chat: &GroupChat, user: &User, content: &str) -> ChatMessage {
    let sender = Member::of(app.db(), chat.id, user.id).await.expect("query").expect("member");
    ChatMessage::create(app.db(), chat.id, &sender, content).await.expect("message")
}

async fn chats_list_only_mine_and_need_a_user(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    chat_with(&app, "one", &ada, &[]).await;
    chat_with(&app, "two", &bob, &[(&ada, Role::Member)]).await;
    chat_with(&app, "not mine", &bob, &[]).await;
    let list = app.get("/api/chat/", Some(&ada)).await;
    assert_eq!(list.status, StatusCode::OK);
    let body = list.json();
    assert_eq!(body["count"], 2);
    let titles: Vec<&str> =
        body["results"].as_array().expect("list").iter().filter_map(|c| c["title"].as_str()).collect();
    assert_eq!(titles, ["two", "one"], "latest activity first");
    assert_eq!(app.get("/api/chat/", None).await.status, StatusCode::UNAUTHORIZED);
}

async fn creating_a_chat_makes_me_its_owner(app: TestApp) {
    let ada = app.user("ada@example.com").await;
    let response = app.post("/api/chat/", Some(&ada), json!({"title": "Lab", "description": "the lab"})).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
    let body = response.json();
    assert_eq!(
        (body["title"].clone(), body["description"].clone(), body["memberCount"].clone()),
        (json!("Lab"), json!("the lab"), json!(1))
    );
    let id = body["id"].as_i64().expect("id");
    let owner = Member::of(app.db(), id, ada.id).await.expect("query").expect("member");
    assert_eq!(owner.role(), Role::Owner);
    let without_description = app.post("/api/chat/", Some(&ada), json!({"title": "Bare"})).await;
    assert_eq!(without_description.json()["description"], json!(null));
}

async fn blank_or_oversized_chats_are_refused_and_not_saved(app: TestApp) {
    let ada = app.user("ada@example.com").await;
    let cases = [
        (json!({"title": ""}), "title", "blank"),
        (json!({"title": "   "}), "title", "blank"),
        (json!({"description": "no title"}), "title", "required"),
        (json!({"title": "x".repeat(256)}), "title", "max_length"),
        (json!({"title": "ok", "description": "d".repeat(2001)}), "description", "max_length"),
    ];
    for (body, attr, code) in cases {
        let response = app.post("/api/chat/", Some(&ada), body).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST);
        assert_eq!(response.json()["errors"][0]["attr"], attr);
        assert_eq!(response.json()["errors"][0]["code"], code);
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM group_chats").await, 0);
    assert_eq!(app.count("SELECT COUNT(*) FROM chat_members").await, 0);
}

async fn only_members_see_a_chat(app: TestApp) {
    let (ada, eve) = (app.user("ada@example.com").await, app.user("eve@example.com").await);
    let chat = chat_with(&app, "Lab", &ada, &[]).await;
    let mine = app.get(&format!("/api/chat/{}/", chat.id), Some(&ada)).await;
    assert_eq!(mine.status, StatusCode::OK);
    assert_eq!(
        mine.json(),
        json!({"id": chat.id, "title": "Lab", "description": "about things", "memberCount": 1, "updatedAt": chat.updated_at})
    );
    assert_eq!(app.get(&format!("/api/chat/{}/", chat.id), Some(&eve)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/chat/999999/", Some(&ada)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/chat/abc/", Some(&ada)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get(&format!("/api/chat/{}/", chat.id), None).await.status, StatusCode::UNAUTHORIZED);
}

async fn only_the_owner_edits_or_deletes_a_chat(app: TestApp) {
    let (ada, bob, cat, eve) = (
        app.user("ada@example.com").await,
        app.user("bob@example.com").await,
        app.user("cat@example.com").await,
        app.user("eve@example.com").await,
    );
    let chat = chat_with(&app, "Lab", &ada, &[(&bob, Role::Admin), (&cat, Role::Member)]).await;
    let path = format!("/api/chat/{}/", chat.id);
    for (user, status) in [(&bob, StatusCode::FORBIDDEN), (&cat, StatusCode::FORBIDDEN), (&eve, StatusCode::NOT_FOUND)]
    {
        let put = app.call(Method::PUT, &path, Some(user), Some(json!({"title": "Hijacked"}))).await;
        assert_eq!(put.status, status);
        assert_eq!(app.call(Method::DELETE, &path, Some(user), None).await.status, status);
    }
    assert_eq!(GroupChat::get(app.db(), chat.id).await.expect("query").expect("still there").title, "Lab");

    let patch = app.call(Method::PATCH, &path, Some(&ada), Some(json!({"title": "Lab 2"}))).await;
    assert_eq!(patch.status, StatusCode::OK);
    assert_eq!(
        (patch.json()["title"].clone(), patch.json()["description"].clone()),
        (json!("Lab 2"), json!("about things"))
    );
    let put = app.call(Method::PUT, &path, Some(&ada), Some(json!({"title": "Lab 3"}))).await;
    assert_eq!((put.status, put.json()["description"].clone()), (StatusCode::OK, json!(null)), "PUT replaces");
    let blank = app.call(Method::PATCH, &path, Some(&ada), Some(json!({"title": ""}))).await;
    assert_eq!(blank.status, StatusCode::BAD_REQUEST);

    assert_eq!(app.call(Method::DELETE, &path, Some(&ada), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.count("SELECT COUNT(*) FROM chat_members").await, 0, "members go with the chat");
}

async fn messages_are_newest_first_with_is_mine_per_viewer(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let chat = chat_with(&app, "Lab", &ada, &[(&bob, Role::Member)]).await;
    message(&app, &chat, &ada, "first").await;
    message(&app, &chat, &bob, "second").await;
    let list = app.get(&format!("/api/chat/{}/messages/", chat.id), Some(&ada)).await.json();
    assert_eq!(list["count"], 2);
    let results = list["results"].as_array().expect("list");
    assert_eq!((results[0]["content"].clone(), results[0]["isMine"].clone()), (json!("second"), json!(false)));
    assert_eq!((results[1]["content"].clone(), results[1]["isMine"].clone()), (json!("first"), json!(true)));
    assert_eq!(
        results[0]["sender"],
        json!({"id": results[0]["sender"]["id"], "user": "bob@example.com", "chatRole": 2003, "userId": bob.id})
    );
    assert!(results[0]["formattedTime"].as_str().is_some_and(|t| t.contains(" - ") && t.contains("M")));

    let id = results[1]["id"].as_i64().expect("id");
    let as_bob = app.get(&format!("/api/chat/{}/messages/{id}/", chat.id), Some(&bob)).await;
    assert_eq!((as_bob.status, as_bob.json()["isMine"].clone()), (StatusCode::OK, json!(false)));
    let missing = app.get(&format!("/api/chat/{}/messages/999999/", chat.id), Some(&bob)).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}

async fn messages_paginate_with_limit_and_offset(app: TestApp) {
    let ada = app.user("ada@example.com").await;
    let chat = chat_with(&app, "Lab", &ada, &[]).await;
    for n in 0..27 {
        message(&app, &chat, &ada, &format!("message {n}")).await;
    }
    let first = app.get(&format!("/api/chat/{}/messages/", chat.id), Some(&ada)).await.json();
    assert_eq!((first["count"].clone(), first["results"].as_array().map(Vec::len)), (json!(27), Some(20)));
    assert_eq!(first["previous"], json!(null));
    let next = first["next"].as_str().expect("a next page");
    assert_eq!(next, format!("http://localhost:8000/api/chat/{}/messages/?limit=20&offset=20", chat.id));
    let second = app.get(next.trim_start_matches("http://localhost:8000"), Some(&ada)).await.json();
    assert_eq!(second["results"].as_array().map(Vec::len), Some(7));
    assert_eq!(second["next"], json!(null));
    assert_eq!(second["results"][6]["content"], "message 0");
    let small = app.get(&format!("/api/chat/{}/messages/?limit=5&offset=abc", chat.id), Some(&ada)).await.json();
    assert_eq!(small["results"].as_array().map(Vec::len), Some(5), "an unreadable offset means 0");
}

async fn non_members_cannot_read_or_post_messages(app: TestApp) {
    let (ada, eve) = (app.user("ada@example.com").await, app.user("eve@example.com").await);
    let chat = chat_with(&app, "Lab", &ada, &[]).await;
    let path = format!("/api/chat/{}/messages/", chat.id);
    assert_eq!(app.get(&path, Some(&eve)).await.status, StatusCode::FORBIDDEN);
    assert_eq!(app.post(&path, Some(&eve), json!({"content": "let me in"})).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/api/chat/999999/messages/", Some(&ada)).await.status,
        StatusCode::FORBIDDEN,
        "a missing chat too"
    );
    assert_eq!(app.get(&path, None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.count("SELECT COUNT(*) FROM chat_messages").await, 0);
}

async fn hostile_message_content_is_refused_or_stored_verbatim(app: TestApp) {
    let ada = app.user("ada@example.com").await;
    let chat = chat_with(&app, "Lab", &ada, &[]).await;
    let path = format!("/api/chat/{}/messages/", chat.id);
    for (body, code) in [
        (json!({"content": ""}), "blank"),
        (json!({"content": " \n\t "}), "blank"),
        (json!({"content": "x".repeat(5001)}), "max_length"),
        (json!({}), "required"),
    ] {
        let response = app.post(&path, Some(&ada), body).await;
        assert_eq!(
            (response.status, response.json()["errors"][0]["code"].clone()),
            (StatusCode::BAD_REQUEST, json!(code))
        );
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM chat_messages").await, 0);

    let verbatim = [
        "<script>alert('x')</script>",
        "Robert'); DROP TABLE chat_messages;--",
        "100% \"quoted\" \\ back\\slash $1 ? :name",
        "emoji 🦀 and ünïcode",
    ];
    for content in verbatim {
        let response = app.post(&path, Some(&ada), json!({"content": content})).await;
        assert_eq!(response.status, StatusCode::CREATED);
        assert_eq!(response.json()["content"], content);
    }
    let stored = app.get(&path, Some(&ada)).await.json();
    let contents: Vec<&str> =
        stored["results"].as_array().expect("list").iter().rev().filter_map(|m| m["content"].as_str()).collect();
    assert_eq!(contents, verbatim);
}

async fn only_the_sender_edits_or_deletes_a_message(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let chat = chat_with(&app, "Lab", &ada, &[(&bob, Role::Admin)]).await;
    let mine = message(&app, &chat, &ada, "original").await;
    let path = format!("/api/chat/{}/messages/{}/", chat.id, mine.id);
    let by_bob = app.call(Method::PATCH, &path, Some(&bob), Some(json!({"content": "forged"}))).await;
    assert_eq!(by_bob.status, StatusCode::FORBIDDEN);
    assert_eq!(app.call(Method::DELETE, &path, Some(&bob), None).await.status, StatusCode::FORBIDDEN);

    let edited = app.call(Method::PATCH, &path, Some(&ada), Some(json!({"content": "fixed"}))).await;
    assert_eq!(edited.status, StatusCode::OK);
    assert_eq!((edited.json()["content"].clone(), edited.json()["isEdited"].clone()), (json!("fixed"), json!(true)));
    let blank = app.call(Method::PUT, &path, Some(&ada), Some(json!({"content": " "}))).await;
    assert_eq!(blank.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.call(Method::DELETE, &path, Some(&ada), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.count("SELECT COUNT(*) FROM chat_messages").await, 0);
}

async fn a_new_message_bumps_the_chat_but_an_edit_does_not(app: TestApp) {
    let ada = app.user("ada@example.com").await;
    let chat = chat_with(&app, "Lab", &ada, &[]).await;
    let posted = message(&app, &chat, &ada, "hello").await;
    let bumped = GroupChat::get(app.db(), chat.id).await.expect("query").expect("chat").updated_at;
    assert!(bumped > chat.updated_at, "{bumped} > {}", chat.updated_at);
    assert_eq!(bumped, posted.created_at);
    ChatMessage::edit(app.db(), posted.id, "changed").await.expect("edit");
    let after = GroupChat::get(app.db(), chat.id).await.expect("query").expect("chat").updated_at;
    assert_eq!(after, bumped);
}

async fn members_are_managed_by_owners_and_admins(app: TestApp) {
    let (ada, bob, cat, dan) = (
        app.user("ada@example.com").await,
        app.user("bob@example.com").await,
        app.user("cat@example.com").await,
        app.user("dan@example.com").await,
    );
    let chat = chat_with(&app, "Lab", &ada, &[(&bob, Role::Admin), (&cat, Role::Member)]).await;
    let path = format!("/api/chat/{}/members/", chat.id);
    let by_member = app.post(&path, Some(&cat), json!({"email": "dan@example.com"})).await;
    assert_eq!(by_member.status, StatusCode::FORBIDDEN);
    for (body, status) in [
        (json!({"email": "dan@example.com", "chatRole": 2001}), StatusCode::FORBIDDEN),
        (json!({"email": "dan@example.com", "chatRole": 7}), StatusCode::BAD_REQUEST),
        (json!({"email": "nobody@example.com"}), StatusCode::BAD_REQUEST),
        (json!({"email": "cat@example.com"}), StatusCode::BAD_REQUEST),
    ] {
        assert_eq!(app.post(&path, Some(&bob), body.clone()).await.status, status, "{body}");
    }
    let added = app.post(&path, Some(&bob), json!({"email": "DAN@example.com", "chatRole": 2002})).await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    assert_eq!(
        (added.json()["user"].clone(), added.json()["chatRole"].clone(), added.json()["userId"].clone()),
        (json!("dan@example.com"), json!(2002), json!(dan.id))
    );
    assert_eq!(app.get(&path, Some(&cat)).await.json().as_array().map(Vec::len), Some(4));

    let owner = Member::of(app.db(), chat.id, ada.id).await.expect("query").expect("owner");
    let admin = Member::of(app.db(), chat.id, bob.id).await.expect("query").expect("admin");
    assert_eq!(
        app.call(Method::DELETE, &format!("{path}{}/", owner.id), Some(&bob), None).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.call(Method::DELETE, &format!("{path}{}/", admin.id), Some(&cat), None).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.call(Method::DELETE, &format!("{path}999999/"), Some(&bob), None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.call(Method::DELETE, &format!("{path}{}/", admin.id), Some(&bob), None).await.status,
        StatusCode::NO_CONTENT,
        "an admin may leave"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM chat_members").await, 3);
}

/// `next` and `previous` point at `SERVER_URL`, whatever `Host` a client sends: a forged header
/// cannot make the API hand out links to another site.
async fn pagination_links_come_from_server_url_never_from_host(app: TestApp) {
    let ada = app.user("ada@example.com").await;
    let chat = chat_with(&app, "Lab", &ada, &[]).await;
    for n in 0..3 {
        message(&app, &chat, &ada, &format!("message {n}")).await;
    }
    async fn page(app: &TestApp, chat: i64, ada: &User, host: &str) -> serde_json::Value {
        let request = axum::http::Request::get(format!("/api/chat/{chat}/messages/?limit=1&offset=1"))
            .header("host", host)
            .header("cookie", app.cookie_for(ada))
            .body(axum::body::Body::empty())
            .expect("request");
        app.send(request).await.json()
    }
    let links = |page: &serde_json::Value| (page["next"].clone(), page["previous"].clone());
    let path = format!("/api/chat/{}/messages/", chat.id);
    for host in ["evil.example", "localhost:8000@evil.example", "evil.example/phish?"] {
        assert_eq!(
            links(&page(&app, chat.id, &ada, host).await),
            (
                json!(format!("http://localhost:8000{path}?limit=1&offset=2")),
                json!(format!("http://localhost:8000{path}?limit=1"))
            ),
            "Host: {host}"
        );
    }
    let app = app.configured(&[("SERVER_URL", "https://chat.example.com/".into())]);
    assert_eq!(
        links(&page(&app, chat.id, &ada, "evil.example").await),
        (
            json!(format!("https://chat.example.com{path}?limit=1&offset=2")),
            json!(format!("https://chat.example.com{path}?limit=1"))
        )
    );
}

/// One user cannot create chats or add members without limit (`CHATS_PER_HOUR`,
/// `CHAT_INVITATIONS_PER_HOUR`): past the budget, the API answers 429 with `Retry-After`, the
/// pages too, and nothing is saved; other users keep their own budgets.
async fn creating_chats_and_adding_members_are_throttled_per_user(app: TestApp) {
    let app = app.configured(&[("CHATS_PER_HOUR", "2".into()), ("CHAT_INVITATIONS_PER_HOUR", "2".into())]);
    let (ada, bob, cat) =
        (app.user("ada@example.com").await, app.user("bob@example.com").await, app.user("cat@example.com").await);
    let retry_after = |response: &crate::support::TestResponse| {
        response.headers.get("retry-after").and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
    };
    assert_eq!(app.post("/api/chat/", Some(&ada), json!({"title": " "})).await.status, StatusCode::BAD_REQUEST);
    for title in ["One", "Two"] {
        assert_eq!(app.post("/api/chat/", Some(&ada), json!({"title": title})).await.status, StatusCode::CREATED);
    }
    let third = app.post("/api/chat/", Some(&ada), json!({"title": "Three"})).await;
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS, "{}", third.text);
    assert_eq!(third.json()["errors"][0]["code"], "throttled");
    // Two chats an hour: the next one is half an hour away.
    assert!(retry_after(&third).is_some_and(|s| s > 1700 && s <= 1800), "{:?}", third.headers);
    let by_page = app.form("/chat/", Some(&ada), &[("title", "Four")]).await;
    assert_eq!(by_page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&by_page).is_some());
    assert_eq!(
        app.count("SELECT COUNT(*) FROM group_chats").await,
        2,
        "an invalid form costs nothing, and refused ones save nothing"
    );
    assert_eq!(app.post("/api/chat/", Some(&bob), json!({"title": "Bob's"})).await.status, StatusCode::CREATED);

    let chat = chat_with(&app, "Lab", &ada, &[]).await;
    let path = format!("/api/chat/{}/members/", chat.id);
    assert_eq!(app.post(&path, Some(&ada), json!({"email": "bob@example.com"})).await.status, StatusCode::CREATED);
    let unknown = app.post(&path, Some(&ada), json!({"email": "nobody@example.com"})).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "probing for accounts costs too");
    let throttled = app.post(&path, Some(&ada), json!({"email": "cat@example.com"})).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&throttled).is_some());
    let by_form = app.form(&format!("/chat/{}/members/", chat.id), Some(&ada), &[("email", "cat@example.com")]).await;
    assert_eq!(by_form.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(Member::of(app.db(), chat.id, cat.id).await.expect("query").is_none(), "nobody was added");
}
