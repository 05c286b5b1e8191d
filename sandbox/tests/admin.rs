//! `/admin/`: who may see it, and what staff and superusers may change.

use axum::http::StatusCode;
use sandbox::accounts::{NewUser, User};
use sandbox::assistants::model::Conversation;
use sandbox::chat::model::GroupChat;
use serde_json::json;

use crate::support::{PASSWORD, TestApp};

crate::on_both_databases!(only_staff_see_the_admin, staff_delete_records_and_superusers_manage_accounts);

async fn account(app: &TestApp, email: &str, is_staff: bool, is_superuser: bool) -> User {
    let new = NewUser { email: email.into(), password: PASSWORD.into(), is_staff, is_superuser };
    User::create(app.db(), &app.sandbox.state.hasher, new).await.expect("user")
}

async fn only_staff_see_the_admin(app: TestApp) {
    let (member, staff) = (app.user("member@example.com").await, account(&app, "staff@example.com", true, false).await);
    GroupChat::create(app.db(), &member, "<i>chat</i>", None).await.expect("chat");
    assert_eq!(app.get("/admin/", None).await.location(), "/login?next=%2Fadmin%2F");
    assert_eq!(app.get("/admin/", Some(&member)).await.status, StatusCode::FORBIDDEN);
    assert!(!app.get("/chat/", Some(&member)).await.text.contains("href=\"/admin/\""));
    let page = app.get("/admin/", Some(&staff)).await;
    assert_eq!(page.status, StatusCode::OK);
    for text in [
        "Users",
        "Group chats",
        "Assistant conversations",
        "Discussion topics",
        "member@example.com",
        "&lt;i&gt;chat&lt;&#x2f;i&gt;",
    ] {
        assert!(page.text.contains(text), "{text}");
    }
    assert!(!page.text.contains("/active/"), "plain staff cannot change accounts");
    assert!(app.get("/chat/", Some(&staff)).await.text.contains("href=\"/admin/\""));
}

async fn staff_delete_records_and_superusers_manage_accounts(app: TestApp) {
    let member = app.user("member@example.com").await;
    let staff = account(&app, "staff@example.com", true, false).await;
    let root = account(&app, "root@example.com", true, true).await;
    let (chat, _) = GroupChat::create(app.db(), &member, "Lab", None).await.expect("chat");
    let conversation = Conversation::create(app.db(), Some(member.id), "Talk").await.expect("conversation");
    let topic =
        app.post("/api/discussion/", Some(&member), json!({"title": "Q", "content": "?"})).await.json()["id"].clone();

    assert_eq!(
        app.form(&format!("/admin/chats/{}/delete/", chat.id), Some(&member), &[]).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM group_chats").await, 1, "a member deletes nothing");
    for path in [
        format!("/admin/chats/{}/delete/", chat.id),
        format!("/admin/conversations/{}/delete/", conversation.id),
        format!("/admin/topics/{topic}/delete/"),
    ] {
        let response = app.form(&path, Some(&staff), &[]).await;
        assert_eq!((response.status, response.location()), (StatusCode::FOUND, "/admin/"), "{path}");
        assert_eq!(app.form(&path, Some(&staff), &[]).await.status, StatusCode::NOT_FOUND, "already gone");
    }
    for table in ["group_chats", "assistant_conversations", "discussion_topics"] {
        assert_eq!(app.count(&format!("SELECT COUNT(*) FROM {table}")).await, 0, "{table}");
    }
    assert_eq!(app.form("/admin/secrets/1/delete/", Some(&staff), &[]).await.status, StatusCode::NOT_FOUND);

    let toggle = format!("/admin/users/{}/active/", member.id);
    app.form(&toggle, Some(&staff), &[]).await;
    assert_eq!(
        app.get("/api/accounts/user", Some(&member)).await.status,
        StatusCode::OK,
        "staff cannot change accounts"
    );
    app.form(&toggle, Some(&root), &[]).await;
    assert_eq!(
        app.get("/api/accounts/user", Some(&member)).await.status,
        StatusCode::UNAUTHORIZED,
        "a deactivated user is out at once"
    );
    assert_eq!(
        app.post("/api/accounts/login", None, json!({"email": "member@example.com", "password": PASSWORD}))
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    app.form(&toggle, Some(&root), &[]).await;
    assert_eq!(app.get("/api/accounts/user", Some(&member)).await.status, StatusCode::OK, "and back");

    let own = app.form(&format!("/admin/users/{}/delete/", root.id), Some(&root), &[]).await;
    assert!(
        own.cookies()
            .iter()
            .any(|c| c.contains("cannot%20change%20your%20own") || c.contains("cannot+change+your+own"))
    );
    assert_eq!(app.form("/admin/users/999999/delete/", Some(&root), &[]).await.status, StatusCode::NOT_FOUND);
    app.form(&format!("/admin/users/{}/delete/", member.id), Some(&root), &[]).await;
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 2);
}
