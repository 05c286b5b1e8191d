//! The chat pages: what each kind of visitor sees, and the forms' redirects and rules.

use axum::http::StatusCode;
use sandbox::chat::model::{GroupChat, Member, Role};

use crate::chat_api::{chat_with, message};
use crate::support::TestApp;

crate::on_both_databases!(
    home_lists_my_chats_and_greets_visitors,
    the_new_chat_form_creates_or_explains,
    the_chat_page_depends_on_who_looks,
    user_content_is_rendered_as_text,
    the_members_page_shows_what_i_may_do,
    adding_members_follows_the_rules,
    removing_members_follows_the_rules,
    the_login_page_never_redirects_off_site,
    a_garbled_notice_cookie_is_ignored,
    private_chat_pages_tell_outsiders_nothing,
);

async fn home_lists_my_chats_and_greets_visitors(app: TestApp) {
    let ada = app.user("ada@example.com").await;
    chat_with(&app, "First chat", &ada, &[]).await;
    chat_with(&app, "Second chat", &ada, &[]).await;
    let root = app.get("/", None).await;
    assert_eq!((root.status, root.location()), (StatusCode::FOUND, "/chat/"));
    let home = app.get("/chat/", Some(&ada)).await;
    assert_eq!(home.status, StatusCode::OK);
    for text in [
        "My Group Chats",
        "New Group Chat",
        "Chat Title",
        "Create Chat",
        "connectionStatus",
        "refreshGroupChats",
        "groupChatList",
        "First chat",
        "Second chat",
        "ada@example.com",
    ] {
        assert!(home.text.contains(text), "{text}");
    }
    let visitor = app.get("/chat/", None).await;
    assert_eq!(visitor.status, StatusCode::OK);
    assert!(visitor.text.contains("log in") && visitor.text.contains("/login?next=/chat/"));
    assert!(!visitor.text.contains("First chat") && !visitor.text.contains("newChatForm"));
}

async fn the_new_chat_form_creates_or_explains(app: TestApp) {
    let ada = app.user("ada@example.com").await;
    let anonymous = app.form("/chat/", None, &[("title", "Sneaky")]).await;
    assert_eq!((anonymous.status, anonymous.location()), (StatusCode::FOUND, "/login?next=%2Fchat%2F"));
    let blank = app.form("/chat/", Some(&ada), &[("title", "  "), ("description", "kept")]).await;
    assert_eq!(blank.status, StatusCode::BAD_REQUEST);
    assert!(blank.text.contains("This field may not be blank.") && blank.text.contains("kept"));
    assert_eq!(app.count("SELECT COUNT(*) FROM group_chats").await, 0);

    let created = app.form("/chat/", Some(&ada), &[("title", "Lab"), ("description", "")]).await;
    assert_eq!(created.status, StatusCode::FOUND);
    let (id,): (i64,) = sqlx::query_as("SELECT id FROM group_chats").fetch_one(app.db().pool()).await.expect("created");
    assert_eq!(created.location(), format!("/chat/{id}/"));
    let owner = Member::of(app.db(), id, ada.id).await.expect("query").expect("owner");
    assert_eq!(owner.role(), Role::Owner);
}

async fn the_chat_page_depends_on_who_looks(app: TestApp) {
    let (ada, bob, eve) =
        (app.user("ada@example.com").await, app.user("bob@example.com").await, app.user("eve@example.com").await);
    let chat = chat_with(&app, "Lab", &ada, &[(&bob, Role::Member)]).await;
    let path = format!("/chat/{}/", chat.id);
    let member = app.get(&path, Some(&bob)).await;
    assert_eq!(member.status, StatusCode::OK);
    for text in [
        "My Chats",
        "Members",
        "messageForm",
        "messageInput",
        "messageTemplate",
        "connectionStatus",
        "Loading messages...",
        "Type your message here...",
        &format!("data-group-id=\"{}\"", chat.id),
        "/static/chat.js",
    ] {
        assert!(member.text.contains(text), "{text}");
    }
    let stranger = app.get(&path, Some(&eve)).await;
    assert_eq!((stranger.status, stranger.location()), (StatusCode::FOUND, "/chat/"), "as for a missing chat");
    for missing in ["/chat/999999/", "/chat/abc/"] {
        let response = app.get(missing, Some(&ada)).await;
        assert_eq!((response.status, response.location()), (StatusCode::FOUND, "/chat/"));
        assert!(
            response
                .cookies()
                .iter()
                .any(|c| c.starts_with("flash=") && c.contains("Chat%20not%20found") || c.contains("Chat+not+found"))
        );
    }
}

async fn user_content_is_rendered_as_text(app: TestApp) {
    let ada = app.user("ada@example.com").await;
    let chat = chat_with(&app, "<script>alert(1)</script>", &ada, &[]).await;
    message(&app, &chat, &ada, "<img src=x onerror=alert(2)>").await;
    for path in ["/chat/".to_owned(), format!("/chat/{}/", chat.id), format!("/chat/{}/members/", chat.id)] {
        let page = app.get(&path, Some(&ada)).await;
        assert!(!page.text.contains("<script>alert(1)</script>"), "{path}");
        assert!(page.text.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"), "{path}");
    }
    // Messages are drawn by the page's script with textContent; the script never uses innerHTML.
    let script = app.get("/static/chat.js", None).await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(script.text.contains("textContent") && !script.text.contains("innerHTML"));
}

async fn the_members_page_shows_what_i_may_do(app: TestApp) {
    let (ada, bob, cat, eve) = (
        app.user("ada@example.com").await,
        app.user("bob@example.com").await,
        app.user("cat@example.com").await,
        app.user("eve@example.com").await,
    );
    let chat = chat_with(&app, "Lab", &ada, &[(&bob, Role::Admin), (&cat, Role::Member)]).await;
    let path = format!("/chat/{}/members/", chat.id);
    let as_admin = app.get(&path, Some(&bob)).await;
    for text in [
        "Add New Member",
        "Back to Chat",
        "Email",
        "Role",
        "Actions",
        "ada@example.com",
        "cat@example.com",
        "Owner",
        "Admin",
    ] {
        assert!(as_admin.text.contains(text), "{text}");
    }
    let cat_member = Member::of(app.db(), chat.id, cat.id).await.expect("query").expect("member");
    let owner = Member::of(app.db(), chat.id, ada.id).await.expect("query").expect("member");
    assert!(as_admin.text.contains(&format!("/members/{}/remove/", cat_member.id)), "admins may remove members");
    assert!(!as_admin.text.contains(&format!("/members/{}/remove/", owner.id)), "nobody removes the owner");
    let as_member = app.get(&path, Some(&cat)).await;
    assert!(!as_member.text.contains("Add New Member") && !as_member.text.contains("/remove/"));
    assert!(as_member.text.contains("ada@example.com"));
    assert_eq!(app.get(&path, Some(&eve)).await.location(), "/chat/", "a stranger sees nothing");
    let missing = app.get("/chat/999999/members/", Some(&ada)).await;
    assert_eq!((missing.status, missing.location()), (StatusCode::FOUND, "/chat/"));
}

async fn adding_members_follows_the_rules(app: TestApp) {
    let (ada, bob, cat, dan, eve) = (
        app.user("ada@example.com").await,
        app.user("bob@example.com").await,
        app.user("cat@example.com").await,
        app.user("dan@example.com").await,
        app.user("eve@example.com").await,
    );
    let chat = chat_with(&app, "Lab", &ada, &[(&bob, Role::Admin), (&cat, Role::Member)]).await;
    let here = format!("/chat/{}/members/", chat.id);
    let login = format!("/login?next=%2Fchat%2F{}%2Fmembers%2F", chat.id);
    let cases: [(Option<&sandbox::accounts::User>, &str, &str, &str); 8] = [
        (None, "dan@example.com", "2003", &login),
        (Some(&eve), "dan@example.com", "2003", "/chat/"),
        (Some(&cat), "dan@example.com", "2003", &here),
        (Some(&bob), "dan@example.com", "2001", &here),
        (Some(&bob), "dan@example.com", "not a role", &here),
        (Some(&bob), "nobody@example.com", "2003", &here),
        (Some(&bob), "cat@example.com", "2003", &here),
        (Some(&bob), "'; DELETE FROM chat_members; --", "2003", &here),
    ];
    for (user, email, role, location) in cases {
        let response = app.form(&here, user, &[("email", email), ("role", role)]).await;
        assert_eq!((response.status, response.location()), (StatusCode::FOUND, location), "{email} {role}");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM chat_members").await, 3, "nothing changed");
    let missing = app.form("/chat/999999/members/", Some(&bob), &[("email", "dan@example.com")]).await;
    assert_eq!(missing.location(), "/chat/");

    let added = app.form(&here, Some(&bob), &[("email", "dan@example.com"), ("role", "2002")]).await;
    assert_eq!((added.status, added.location()), (StatusCode::FOUND, here.as_str()));
    assert!(added.cookies().iter().any(|c| c.starts_with("flash=") && c.contains("dan%40example.com")));
    let dan_member = Member::of(app.db(), chat.id, dan.id).await.expect("query").expect("added");
    assert_eq!(dan_member.role(), Role::Admin);
    // The notice shows once on the next page.
    let next = app
        .send(
            axum::http::Request::get(&here)
                .header(
                    "cookie",
                    format!("{}; {}", app.cookie_for(&bob), added.cookies()[0].split(';').next().unwrap_or("")),
                )
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await;
    assert!(next.text.contains("Added dan@example.com to the group chat"));
    assert!(next.cookies().iter().any(|c| c.starts_with("flash=;") && c.contains("Max-Age=0")));
}

async fn removing_members_follows_the_rules(app: TestApp) {
    let (ada, bob, cat, eve) = (
        app.user("ada@example.com").await,
        app.user("bob@example.com").await,
        app.user("cat@example.com").await,
        app.user("eve@example.com").await,
    );
    let chat = chat_with(&app, "Lab", &ada, &[(&bob, Role::Admin), (&cat, Role::Member)]).await;
    message(&app, &chat, &cat, "cat was here").await;
    let member = |user: &sandbox::accounts::User| {
        let (db, id, chat) = (app.db().clone(), user.id, chat.id);
        async move { Member::of(&db, chat, id).await.expect("query").expect("member").id }
    };
    let (owner, admin, plain) = (member(&ada).await, member(&bob).await, member(&cat).await);
    let here = format!("/chat/{}/members/", chat.id);
    let remove = |id: i64| format!("/chat/{}/members/{id}/remove/", chat.id);

    assert!(app.form(&remove(plain), None, &[]).await.location().starts_with("/login?next="));
    assert_eq!(app.form(&remove(plain), Some(&eve), &[]).await.location(), "/chat/");
    assert_eq!(app.form(&remove(admin), Some(&cat), &[]).await.location(), here);
    assert_eq!(app.form(&remove(owner), Some(&bob), &[]).await.location(), here);
    assert_eq!(app.form(&format!("/chat/999999/members/{plain}/remove/"), Some(&ada), &[]).await.location(), "/chat/");
    assert_eq!(app.form(&remove(999_999), Some(&ada), &[]).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&remove(plain), Some(&ada)).await.status,
        StatusCode::METHOD_NOT_ALLOWED,
        "no state-changing GET"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM chat_members").await, 3);

    let removed = app.form(&remove(plain), Some(&bob), &[]).await;
    assert_eq!((removed.status, removed.location()), (StatusCode::FOUND, here.as_str()));
    assert_eq!(app.count("SELECT COUNT(*) FROM chat_members").await, 2);
    assert_eq!(app.count("SELECT COUNT(*) FROM chat_messages").await, 0, "their messages go with them");
    assert!(GroupChat::get(app.db(), chat.id).await.expect("query").is_some());
}

async fn the_login_page_never_redirects_off_site(app: TestApp) {
    for (next, kept) in [
        ("/chat/7/", "/chat/7/"),
        ("https://evil.example/", "/chat/"),
        ("//evil.example", "/chat/"),
        ("/\\evil", "/chat/"),
    ] {
        let encoded: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
        let page = app.get(&format!("/login?next={encoded}"), None).await;
        assert_eq!(page.status, StatusCode::OK);
        let expected = format!("data-next=\"{}\"", kept.replace('/', "&#x2f;"));
        assert!(page.text.contains(&expected), "{next}: {expected}");
    }
    let page = app.get("/login", None).await;
    for text in ["loginForm", "registerForm", "/static/login.js"] {
        assert!(page.text.contains(text));
    }
    for file in ["app.js", "app.css", "login.js", "chat.js"] {
        assert_eq!(app.get(&format!("/static/{file}"), None).await.status, StatusCode::OK, "{file}");
    }
    assert_eq!(app.get("/static/../Cargo.toml", None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/no/such/page/", None).await.status, StatusCode::NOT_FOUND);
}

async fn a_garbled_notice_cookie_is_ignored(app: TestApp) {
    let ada = app.user("ada@example.com").await;
    for flash in ["%7Bnot-json", "%FF%FE", "", "[{\"level\":1}]"] {
        let request = axum::http::Request::get("/chat/")
            .header("cookie", format!("{}; flash={flash}", app.cookie_for(&ada)))
            .body(axum::body::Body::empty())
            .expect("request");
        let page = app.send(request).await;
        assert_eq!(page.status, StatusCode::OK, "{flash}");
        assert!(page.text.contains("My Group Chats") && !page.text.contains("class=\"notice"), "{flash}");
    }
}

/// A chat's pages are for its members, as its REST routes are: a visitor is sent to log in, and a
/// signed-in stranger gets what a missing chat gets; neither sees the title or the description.
async fn private_chat_pages_tell_outsiders_nothing(app: TestApp) {
    let (ada, eve) = (app.user("ada@example.com").await, app.user("eve@example.com").await);
    let chat = crate::chat_api::chat_with(&app, "Secret plans", &ada, &[]).await;
    assert_eq!(chat.description.as_deref(), Some("about things"));
    for page in ["", "members/"] {
        let path = format!("/chat/{}/{page}", chat.id);
        let visitor = app.get(&path, None).await;
        let login: String = form_urlencoded::byte_serialize(path.as_bytes()).collect();
        assert_eq!((visitor.status, visitor.location()), (StatusCode::FOUND, format!("/login?next={login}").as_str()));
        let missing_path = format!("/chat/999999/{page}");
        let missing = app.get(&missing_path, Some(&eve)).await;
        let stranger = app.get(&path, Some(&eve)).await;
        assert_eq!((stranger.status, stranger.location()), (StatusCode::FOUND, "/chat/"), "{path}");
        assert_eq!((stranger.status, stranger.location()), (missing.status, missing.location()), "{path}");
        assert_eq!(stranger.cookies(), missing.cookies(), "the same notice as for a missing chat");
        for response in [&visitor, &stranger] {
            assert!(!response.text.contains("Secret plans") && !response.text.contains("about things"), "{path}");
        }
        assert!(app.get(&path, Some(&ada)).await.text.contains("Secret plans"), "members still see it");
    }
}
