//! `/admin/`: who may see it, and what staff and superusers may change.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use sandbox::accounts::{NewUser, User};
use sandbox::assistants::model::Conversation;
use sandbox::chat::model::{GroupChat, Member, Role};
use sandbox::sessions::SESSION_ENDED;
use serde_json::json;

use crate::support::{PASSWORD, TestApp, TestResponse};

crate::on_both_databases!(
    only_staff_see_the_admin,
    staff_delete_records_and_superusers_manage_accounts,
    lists_search_filter_and_page,
    hostile_query_strings_are_bounded_and_literal,
    superusers_change_users_and_end_their_access,
    superusers_add_users,
    staff_add_and_change_chats,
    staff_manage_chat_members_and_removal_ends_their_access,
    staff_change_conversations_topics_and_replies,
    staff_add_conversations_topics_and_replies,
    every_admin_form_refuses_members_and_cross_site_posts,
    admin_changes_reach_open_pages_as_the_apps_do,
);

/// A signed-in browser's form post that names no origin: what a forged cross-site form whose
/// browser strips `Origin` and `Referer` sends; the CSRF guard refuses it.
async fn form_without_origin(app: &TestApp, path: &str, user: &User, fields: &[(&str, &str)]) -> TestResponse {
    let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    let request = Request::post(path)
        .header("host", "localhost:8000")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("cookie", app.cookie_for(user))
        .body(Body::from(body))
        .expect("request");
    app.send(request).await
}

/// The flash notice a response leaves for the next page, decoded.
fn notice(response: &TestResponse) -> String {
    let cookie = response.cookies().into_iter().find(|c| c.starts_with("flash=")).unwrap_or_default();
    let raw = cookie.trim_start_matches("flash=").split(';').next().unwrap_or_default().to_owned();
    form_urlencoded::parse(format!("v={raw}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// The ids a list page links to, in order.
fn listed(page: &TestResponse) -> Vec<String> {
    page.text.split("data-row=\"").skip(1).filter_map(|rest| rest.split('"').next()).map(str::to_owned).collect()
}

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

async fn lists_search_filter_and_page(app: TestApp) {
    let root = account(&app, "root@example.com", true, true).await;
    let mut ids = Vec::new();
    for n in 0..30 {
        ids.push(app.user(&format!("person{n:02}@example.com")).await.id);
    }
    let mut shown = Vec::new();
    for page in 1..=2 {
        let list = app.get(&format!("/admin/users/?page={page}"), Some(&root)).await;
        assert_eq!(list.status, StatusCode::OK);
        assert!(list.text.contains("31 found"), "{}", list.text);
        shown.extend(listed(&list));
    }
    assert_eq!(shown.len(), 31, "25 then 6: every user once");
    let past_the_end = app.get("/admin/users/?page=9", Some(&root)).await;
    assert_eq!(listed(&past_the_end).len(), 6, "a page past the end is the last one");
    assert!(past_the_end.text.contains("page 2 of 2") && past_the_end.text.contains("rel=\"prev\""));
    assert!(!past_the_end.text.contains("rel=\"next\""));

    let found = app.get("/admin/users/?q=PERSON1", Some(&root)).await;
    assert_eq!(listed(&found).len(), 10, "person10 to person19, case-insensitively");
    // Deactivate two people and filter on it, with the search kept across pages.
    for id in &ids[..2] {
        app.form(&format!("/admin/users/{id}/active/"), Some(&root), &[]).await;
    }
    let inactive = app.get("/admin/users/?active=no", Some(&root)).await;
    assert_eq!(listed(&inactive), [ids[1].to_string(), ids[0].to_string()]);
    let active_people = app.get("/admin/users/?active=yes&q=person&page=1", Some(&root)).await;
    assert!(active_people.text.contains("28 found"), "{}", active_people.text);
    assert!(active_people.text.contains("q=person&amp;active=yes&amp;page=2"), "the next link keeps the query");
    let staff = app.get("/admin/users/?staff=yes", Some(&root)).await;
    assert_eq!(listed(&staff), [root.id.to_string()]);

    let (chat, _) = GroupChat::create(app.db(), &root, "Physics lab", Some("Quarks")).await.expect("chat");
    GroupChat::create(app.db(), &root, "Poetry", None).await.expect("chat");
    assert_eq!(listed(&app.get("/admin/chats/?q=quark", Some(&root)).await), [chat.id.to_string()]);
    assert_eq!(listed(&app.get("/admin/chats/?described=yes", Some(&root)).await), [chat.id.to_string()]);
    let anonymous = Conversation::create(app.db(), None, "Hello").await.expect("conversation");
    Conversation::create(app.db(), Some(root.id), "Mine").await.expect("conversation");
    assert_eq!(listed(&app.get("/admin/conversations/?anonymous=yes", Some(&root)).await), [anonymous.id]);
    let topic = app.post("/api/discussion/", Some(&root), json!({"title": "Why?", "content": "Because"})).await.json()
        ["id"]
        .clone();
    let reply = app
        .post(&format!("/api/discussion/{topic}/replies/"), Some(&root), json!({"content": "An answer"}))
        .await
        .json()["id"]
        .clone();
    assert_eq!(listed(&app.get("/admin/topics/?q=because&answered=no", Some(&root)).await), [topic.to_string()]);
    assert!(listed(&app.get("/admin/topics/?answered=yes", Some(&root)).await).is_empty());
    assert_eq!(listed(&app.get("/admin/replies/?q=answer", Some(&root)).await), [reply.to_string()]);
    assert_eq!(app.get("/admin/secrets/", Some(&root)).await.status, StatusCode::NOT_FOUND);
}

async fn hostile_query_strings_are_bounded_and_literal(app: TestApp) {
    let root = account(&app, "root@example.com", true, true).await;
    let (percent, _) = GroupChat::create(app.db(), &root, "100% sure", None).await.expect("chat");
    let (underscore, _) = GroupChat::create(app.db(), &root, "snake_case", None).await.expect("chat");
    GroupChat::create(app.db(), &root, "plain", None).await.expect("chat");
    // LIKE's wildcards in the search are literal characters.
    assert_eq!(listed(&app.get("/admin/chats/?q=%25", Some(&root)).await), [percent.id.to_string()]);
    assert_eq!(listed(&app.get("/admin/chats/?q=_", Some(&root)).await), [underscore.id.to_string()]);
    assert!(listed(&app.get("/admin/chats/?q=%5C", Some(&root)).await).is_empty(), "a backslash too");
    // SQL in the search or a filter is text, or ignored.
    let injected = app.get("/admin/chats/?q=%27%20OR%201%3D1%20--&described=1%20OR%201%3D1", Some(&root)).await;
    assert_eq!((injected.status, listed(&injected).len()), (StatusCode::OK, 0));
    // A huge search is cut, not refused; a silly page is page 1.
    let long = format!("/admin/users/?q={}&page=-5", "a".repeat(5000));
    let page = app.get(&long, Some(&root)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains(&format!("value=\"{}\"", "a".repeat(100))) && !page.text.contains(&"a".repeat(101)));
    assert!(listed(&app.get("/admin/users/?q=%F0%9F%A6%80", Some(&root)).await).is_empty());
    for query in ["page=99999999999999999999999", "page=abc", "page=0", "active=maybe", "q="] {
        let page = app.get(&format!("/admin/users/?{query}"), Some(&root)).await;
        assert_eq!((page.status, listed(&page)), (StatusCode::OK, vec![root.id.to_string()]), "{query}");
    }
    let twice = app.get("/admin/users/?staff=yes&staff=no", Some(&root)).await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST, "a filter given twice is refused");
    // The search is escaped in the page it is shown on.
    let shown = app.get("/admin/users/?q=%3Cscript%3E", Some(&root)).await;
    assert!(!shown.text.contains("<script>") && shown.text.contains("&lt;script&gt;"));
}

async fn superusers_change_users_and_end_their_access(app: TestApp) {
    let root = account(&app, "root@example.com", true, true).await;
    let bob = app.user("bob@example.com").await;
    let form = app.get(&format!("/admin/users/{}/", bob.id), Some(&root)).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.text.contains("bob@example.com") && form.text.contains("name=\"is_active\" value=\"on\" checked"));
    let path = format!("/admin/users/{}/", bob.id);

    // Validation: the two passwords differ, or the password is weak; nothing is saved.
    let mismatch = app.form(&path, Some(&root), &[("password1", "a new long password"), ("password2", "other")]).await;
    assert_eq!(mismatch.status, StatusCode::BAD_REQUEST);
    assert!(mismatch.text.contains("didn&#x27;t match"), "{}", mismatch.text);
    let weak = app.form(&path, Some(&root), &[("is_active", "on"), ("password1", "123"), ("password2", "123")]).await;
    assert_eq!(weak.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.get("/api/accounts/user", Some(&bob)).await.status, StatusCode::OK, "still active");

    // Staff and a new password: Bob's sockets close and his password is the new one.
    let mut list = app.member_socket("/ws/chat/group/", &bob).await;
    let changed = app
        .form(
            &path,
            Some(&root),
            &[
                ("is_active", "on"),
                ("is_staff", "on"),
                ("password1", "a new long password"),
                ("password2", "a new long password"),
            ],
        )
        .await;
    assert_eq!((changed.status, changed.location()), (StatusCode::FOUND, "/admin/users/"));
    assert!(notice(&changed).contains("bob@example.com was changed"));
    list.assert_closed(SESSION_ENDED).await;
    let login = |password: &'static str| {
        app.post("/api/accounts/login", None, json!({"email": "bob@example.com", "password": password}))
    };
    assert_eq!(login(PASSWORD).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(login("a new long password").await.status, StatusCode::OK);
    let bob = User::find(app.db(), bob.id).await.expect("query").expect("bob");
    assert!(bob.is_staff);

    // Unticking "active" deactivates: his sockets close and his tokens stop working.
    let mut list = app.member_socket("/ws/chat/group/", &bob).await;
    let deactivated = app.form(&path, Some(&root), &[("is_staff", "on")]).await;
    assert_eq!(deactivated.status, StatusCode::FOUND);
    list.assert_closed(SESSION_ENDED).await;
    assert_eq!(app.get("/api/accounts/user", Some(&bob)).await.status, StatusCode::UNAUTHORIZED);
    assert!(app.get("/admin/users/?active=no", Some(&root)).await.text.contains("bob@example.com"));

    // Plain staff may look but not change; nobody changes their own account; a missing one is 404.
    let staff = account(&app, "staff@example.com", true, false).await;
    assert_eq!(app.get(&path, Some(&staff)).await.status, StatusCode::OK);
    let refused = app.form(&path, Some(&staff), &[("is_active", "on")]).await;
    assert!(notice(&refused).contains("Only superusers"));
    assert_eq!(app.get("/api/accounts/user", Some(&bob)).await.status, StatusCode::UNAUTHORIZED, "still off");
    let own = app.form(&format!("/admin/users/{}/", root.id), Some(&root), &[]).await;
    assert!(notice(&own).contains("cannot change your own"));
    assert!(User::find(app.db(), root.id).await.expect("query").is_some(), "root is still active");
    assert_eq!(app.form("/admin/users/999999/", Some(&root), &[]).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/admin/users/999999/", Some(&root)).await.status, StatusCode::NOT_FOUND);
}

async fn superusers_add_users(app: TestApp) {
    let root = account(&app, "root@example.com", true, true).await;
    assert_eq!(app.get("/admin/users/add/", Some(&root)).await.status, StatusCode::OK);
    let fields = |email: &'static str, password2: &'static str| {
        [("email", email), ("password1", "a long new password"), ("password2", password2), ("is_staff", "on")]
    };
    let added = app.form("/admin/users/add/", Some(&root), &fields("New@Example.com", "a long new password")).await;
    assert_eq!(added.status, StatusCode::FOUND);
    let new = User::find_by_email(app.db(), "new@example.com").await.expect("query").expect("added");
    assert_eq!(added.location(), format!("/admin/users/{}/", new.id));
    assert!(new.is_staff && !new.is_superuser);
    let login =
        app.post("/api/accounts/login", None, json!({"email": "new@example.com", "password": "a long new password"}));
    assert_eq!(login.await.status, StatusCode::OK);

    for (fields, error) in [
        (fields("new@example.com", "a long new password"), "already registered"),
        (fields("not an email", "a long new password"), "valid email"),
        (fields("other@example.com", "something else"), "didn&#x27;t match"),
    ] {
        let refused = app.form("/admin/users/add/", Some(&root), &fields).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{error}");
        assert!(refused.text.contains(error), "{error}: {}", refused.text);
    }
    let weak = app.form(
        "/admin/users/add/",
        Some(&root),
        &[("email", "w@example.com"), ("password1", "1"), ("password2", "1")],
    );
    assert_eq!(weak.await.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 2);

    let staff = account(&app, "staff@example.com", true, false).await;
    let refused = app.form("/admin/users/add/", Some(&staff), &fields("x@example.com", "a long new password")).await;
    assert!(notice(&refused).contains("Only superusers"));
    assert!(notice(&app.get("/admin/users/add/", Some(&staff)).await).contains("Only superusers"));
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 3);
}

async fn staff_add_and_change_chats(app: TestApp) {
    let staff = account(&app, "staff@example.com", true, false).await;
    let ada = app.user("ada@example.com").await;
    let mut adas_list = app.member_socket("/ws/chat/group/", &ada).await;
    let added = app
        .form("/admin/chats/add/", Some(&staff), &[("owner", "ada@example.com"), ("title", "Lab"), ("description", "")])
        .await;
    assert_eq!(added.status, StatusCode::FOUND, "{}", added.text);
    let chats = GroupChat::all_for(app.db(), ada.id).await.expect("chats");
    assert_eq!(chats.len(), 1);
    let chat = &chats[0];
    assert_eq!(added.location(), format!("/admin/chats/{}/", chat.id));
    assert_eq!(chat.description, None);
    let told = adas_list.receive_json().await;
    assert_eq!(told["action"], "added_to_group", "the owner's open chat list hears of it: {told}");
    adas_list.disconnect().await;

    for (fields, error) in [
        ([("owner", "nobody@example.com"), ("title", "X"), ("description", "")], "No active user"),
        ([("owner", "ada@example.com"), ("title", "  "), ("description", "")], "may not be blank"),
    ] {
        let refused = app.form("/admin/chats/add/", Some(&staff), &fields).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert!(refused.text.contains(error), "{error}");
    }

    let path = format!("/admin/chats/{}/", chat.id);
    let form = app.get(&path, Some(&staff)).await;
    assert!(form.text.contains("value=\"Lab\"") && form.text.contains("ada@example.com"));
    let changed = app.form(&path, Some(&staff), &[("title", "Physics"), ("description", "Quarks")]).await;
    assert_eq!((changed.status, changed.location()), (StatusCode::FOUND, path.as_str()));
    let saved = GroupChat::get(app.db(), chat.id).await.expect("query").expect("chat");
    assert_eq!((saved.title.as_str(), saved.description.as_deref()), ("Physics", Some("Quarks")));
    let long = "d".repeat(2001);
    let refused = app.form(&path, Some(&staff), &[("title", "Physics"), ("description", &long)]).await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.text.contains("no more than 2000"));
    assert_eq!(app.get("/admin/chats/999999/", Some(&staff)).await.status, StatusCode::NOT_FOUND);
}

async fn staff_manage_chat_members_and_removal_ends_their_access(app: TestApp) {
    let staff = account(&app, "staff@example.com", true, false).await;
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let (chat, owner) = GroupChat::create(app.db(), &ada, "Lab", None).await.expect("chat");
    let members = format!("/admin/chats/{}/members/", chat.id);
    let added = app.form(&members, Some(&staff), &[("email", "bob@example.com"), ("role", "2002")]).await;
    assert!(notice(&added).contains("Added bob@example.com"));
    let member = Member::of(app.db(), chat.id, bob.id).await.expect("query").expect("bob is in");
    assert_eq!(member.role(), Role::Admin);
    for (fields, error) in [
        ([("email", "bob@example.com"), ("role", "2003")], "already a member"),
        ([("email", "nobody@example.com"), ("role", "2003")], "No active user"),
        ([("email", "staff@example.com"), ("role", "2001")], "Choose the role"),
    ] {
        assert!(notice(&app.form(&members, Some(&staff), &fields).await).contains(error), "{error}");
    }

    let mut bobs_room = app.member_socket(&format!("/ws/chat/{}/", chat.id), &bob).await;
    let removed = app.form(&format!("{members}{}/remove/", member.id), Some(&staff), &[]).await;
    assert!(notice(&removed).contains("Removed bob@example.com"));
    assert_eq!(bobs_room.receive_json().await["action"], "user_removed_from_group");
    bobs_room.assert_closed(4403).await;
    let mut again = app.socket(&format!("/ws/chat/{}/", chat.id), Some(&bob)).await;
    assert_eq!(again.wait_for_auth().await.status_code, 403, "and he cannot come back");

    let owner_stays = app.form(&format!("{members}{}/remove/", owner.id), Some(&staff), &[]).await;
    assert!(notice(&owner_stays).contains("owner cannot be removed"));
    assert_eq!(app.form(&format!("{members}999999/remove/"), Some(&staff), &[]).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.count("SELECT COUNT(*) FROM chat_members").await, 1);
}

async fn staff_change_conversations_topics_and_replies(app: TestApp) {
    let staff = account(&app, "staff@example.com", true, false).await;
    let ada = app.user("ada@example.com").await;
    let conversation = Conversation::create(app.db(), Some(ada.id), "Talk").await.expect("conversation");
    let topic =
        app.post("/api/discussion/", Some(&ada), json!({"title": "Q", "content": "?"})).await.json()["id"].clone();
    let reply =
        app.post(&format!("/api/discussion/{topic}/replies/"), Some(&ada), json!({"content": "A"})).await.json()["id"]
            .clone();
    type Fields = Vec<(&'static str, &'static str)>;
    let cases: [(String, Fields, Fields); 3] = [
        (format!("/admin/conversations/{}/", conversation.id), vec![("title", "Renamed")], vec![("title", " ")]),
        (
            format!("/admin/topics/{topic}/"),
            vec![("title", "Better question"), ("content", "Clearer")],
            vec![("title", "Better question"), ("content", "")],
        ),
        (format!("/admin/replies/{reply}/"), vec![("content", "Edited answer")], vec![("content", "  ")]),
    ];
    for (path, good, bad) in &cases {
        assert_eq!(app.get(path, Some(&staff)).await.status, StatusCode::OK, "{path}");
        let refused = app.form(path, Some(&staff), bad).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{path}");
        assert!(refused.text.contains("may not be blank"), "{path}");
        let saved = app.form(path, Some(&staff), good).await;
        assert_eq!((saved.status, saved.location()), (StatusCode::FOUND, path.as_str()));
        for (_, value) in good {
            assert!(app.get(path, Some(&staff)).await.text.contains(value), "{path}: {value}");
        }
    }
    let conversation = Conversation::get(app.db(), &conversation.id).await.expect("query").expect("conversation");
    assert_eq!(conversation.title, "Renamed");
    let shown = app.get(&format!("/api/discussion/{topic}/"), Some(&ada)).await.json();
    assert_eq!((shown["title"].as_str(), shown["content"].as_str()), (Some("Better question"), Some("Clearer")));
    for missing in ["/admin/topics/999999/", "/admin/replies/abc/", "/admin/conversations/nope/", "/admin/secrets/1/"] {
        assert_eq!(app.get(missing, Some(&staff)).await.status, StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(app.form(missing, Some(&staff), &[("title", "x")]).await.status, StatusCode::NOT_FOUND, "{missing}");
    }
}

async fn every_admin_form_refuses_members_and_cross_site_posts(app: TestApp) {
    let root = account(&app, "root@example.com", true, true).await;
    let member = app.user("member@example.com").await;
    let (chat, _) = GroupChat::create(app.db(), &member, "Lab", None).await.expect("chat");
    let conversation = Conversation::create(app.db(), Some(member.id), "Talk").await.expect("conversation");
    let topic =
        app.post("/api/discussion/", Some(&member), json!({"title": "Q", "content": "?"})).await.json()["id"].clone();
    let reply = app
        .post(&format!("/api/discussion/{topic}/replies/"), Some(&member), json!({"content": "A"}))
        .await
        .json()["id"]
        .clone();
    let fields = [
        ("title", "Hacked"),
        ("content", "Hacked"),
        ("description", "Hacked"),
        ("owner", "member@example.com"),
        ("email", "evil@example.com"),
        ("password1", "a long evil password"),
        ("password2", "a long evil password"),
        ("role", "2003"),
    ];
    let forms = [
        format!("/admin/users/{}/", member.id),
        "/admin/users/add/".to_owned(),
        "/admin/chats/add/".to_owned(),
        format!("/admin/chats/{}/", chat.id),
        format!("/admin/chats/{}/members/", chat.id),
        format!("/admin/conversations/{}/", conversation.id),
        format!("/admin/topics/{topic}/"),
        format!("/admin/replies/{reply}/"),
        format!("/admin/replies/{reply}/delete/"),
        format!("/admin/topics/{topic}/delete/"),
        "/admin/conversations/add/".to_owned(),
        "/admin/topics/add/".to_owned(),
        "/admin/replies/add/".to_owned(),
    ];
    let before = app.count("SELECT COUNT(*) FROM users").await;
    for path in &forms {
        assert_eq!(app.form(path, Some(&member), &fields).await.status, StatusCode::FORBIDDEN, "member: {path}");
        assert_eq!(app.form(path, None, &fields).await.location(), "/login?next=%2Fadmin%2F", "anonymous: {path}");
        let forged = form_without_origin(&app, path, &root, &fields).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "no origin: {path}");
        let mut foreign = Request::post(path.as_str())
            .header("host", "localhost:8000")
            .header("origin", "https://evil.example")
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", app.cookie_for(&root));
        foreign = foreign.header("referer", "https://evil.example/form");
        let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        let foreign = app.send(foreign.body(Body::from(body)).expect("request")).await;
        assert_eq!(foreign.status, StatusCode::FORBIDDEN, "foreign origin: {path}");
    }
    for path in ["/admin/users/", "/admin/chats/", format!("/admin/chats/{}/", chat.id).as_str()] {
        assert_eq!(app.get(path, Some(&member)).await.status, StatusCode::FORBIDDEN, "{path}");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, before, "nobody was added");
    assert_eq!(app.count("SELECT COUNT(*) FROM group_chats").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM chat_members").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM assistant_conversations").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM discussion_topics").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM discussion_replies").await, 1);
    let chat = GroupChat::get(app.db(), chat.id).await.expect("query").expect("chat");
    assert_eq!(chat.title, "Lab");
    let shown = app.get(&format!("/api/discussion/{topic}/"), Some(&member)).await.json();
    assert_eq!(shown["title"], "Q");
    assert_eq!(app.get("/api/accounts/user", Some(&member)).await.status, StatusCode::OK, "still active");
}

async fn staff_add_conversations_topics_and_replies(app: TestApp) {
    let staff = account(&app, "staff@example.com", true, false).await;
    let ada = app.user("ada@example.com").await;
    for kind in ["conversations", "topics", "replies"] {
        assert_eq!(app.get(&format!("/admin/{kind}/add/"), Some(&staff)).await.status, StatusCode::OK, "{kind}");
    }
    assert_eq!(app.get("/admin/secrets/add/", Some(&staff)).await.status, StatusCode::NOT_FOUND);

    let added = app.form("/admin/conversations/add/", Some(&staff), &[("user", ""), ("title", "Anonymous talk")]).await;
    assert_eq!(added.status, StatusCode::FOUND);
    let id = added.location().trim_start_matches("/admin/conversations/").trim_end_matches('/').to_owned();
    let conversation = Conversation::get(app.db(), &id).await.expect("query").expect("added");
    assert_eq!((conversation.user_id, conversation.title.as_str()), (None, "Anonymous talk"));
    let owned =
        app.form("/admin/conversations/add/", Some(&staff), &[("user", "ada@example.com"), ("title", "")]).await;
    assert_eq!(owned.status, StatusCode::FOUND);
    assert_eq!(app.get("/api/assistants/conversations/", Some(&ada)).await.json()["count"], 1);

    // A new topic is announced to open topic lists, as one asked in the app is.
    let mut list = app.member_socket("/ws/discussion/", &ada).await;
    let topic = app
        .form(
            "/admin/topics/add/",
            Some(&staff),
            &[("user", "ada@example.com"), ("title", "Asked for Ada"), ("content", "?")],
        )
        .await;
    assert_eq!(topic.status, StatusCode::FOUND);
    let topic_id = topic.location().trim_start_matches("/admin/topics/").trim_end_matches('/').to_owned();
    let announced = list.receive_json().await;
    assert_eq!(
        (announced["action"].as_str(), announced["payload"]["title"].as_str()),
        (Some("topic_created"), Some("Asked for Ada"))
    );
    list.disconnect().await;
    let reply = app
        .form(
            "/admin/replies/add/",
            Some(&staff),
            &[("topic", &topic_id), ("user", "ada@example.com"), ("content", " An answer ")],
        )
        .await;
    assert_eq!(reply.status, StatusCode::FOUND);
    let replies = app.get(&format!("/api/discussion/{topic_id}/replies/"), Some(&ada)).await.json();
    assert_eq!(replies["results"][0]["content"], "An answer");
    assert_eq!(replies["results"][0]["author"]["email"], "ada@example.com");

    let long_title = "t".repeat(256);
    for (kind, fields, error) in [
        ("conversations", vec![("user", "nobody@example.com"), ("title", "x")], "No active user"),
        ("conversations", vec![("user", ""), ("title", long_title.as_str())], "no more than 255"),
        ("topics", vec![("user", "ada@example.com"), ("title", " "), ("content", "?")], "may not be blank"),
        ("topics", vec![("user", ""), ("title", "t"), ("content", "?")], "author"),
        ("replies", vec![("topic", "999999"), ("user", "ada@example.com"), ("content", "x")], "No such topic"),
        ("replies", vec![("topic", "abc"), ("user", "ada@example.com"), ("content", "x")], "No such topic"),
        (
            "replies",
            vec![("topic", topic_id.as_str()), ("user", "ada@example.com"), ("content", "")],
            "may not be blank",
        ),
    ] {
        let refused = app.form(&format!("/admin/{kind}/add/"), Some(&staff), &fields).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{kind}: {error}");
        assert!(refused.text.contains(error), "{kind}: {error}: {}", refused.text);
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM assistant_conversations").await, 2);
    assert_eq!(app.count("SELECT COUNT(*) FROM discussion_topics").await, 1);
    assert_eq!(app.count("SELECT COUNT(*) FROM discussion_replies").await, 1);
}

/// A staff member's edit or deletion of a topic or reply goes through the forum's own operations:
/// every open page hears of it with the frame an author's change sends. A chat's new title
/// reaches its members' chat lists as the owner's does.
async fn admin_changes_reach_open_pages_as_the_apps_do(app: TestApp) {
    let staff = account(&app, "staff@example.com", true, false).await;
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let topic = app.post("/api/discussion/", Some(&ada), json!({"title": "Q", "content": "?"})).await.json()["id"]
        .as_i64()
        .expect("id");
    let reply =
        app.post(&format!("/api/discussion/{topic}/replies/"), Some(&ada), json!({"content": "A"})).await.json()["id"]
            .as_i64()
            .expect("id");
    let mut page = app.member_socket(&format!("/ws/discussion/{topic}/"), &bob).await;
    let mut list = app.member_socket("/ws/discussion/", &bob).await;
    let followed = format!("discussion:{topic}");
    assert_eq!(list.subscribe(&followed).await["action"], "subscribed");
    let wait = std::time::Duration::from_secs(3);

    let topic_form = format!("/admin/topics/{topic}/");
    let delete_button = format!("&#x2f;admin&#x2f;topics&#x2f;{topic}&#x2f;delete&#x2f;"); // as HTML-escaped
    assert!(app.get(&topic_form, Some(&staff)).await.text.contains(&delete_button), "the form has a delete button");
    let saved = app.form(&topic_form, Some(&staff), &[("title", "Moderated"), ("content", "Cleaned up")]).await;
    assert_eq!(saved.status, StatusCode::FOUND);
    let expected = json!({"action": "topic_updated", "payload": {"topicId": topic, "title": "Moderated", "content": "Cleaned up"}});
    assert_eq!(page.receive_all_messages("event_complete", wait).await, std::slice::from_ref(&expected));
    assert_eq!(list.receive_all_messages("event_complete", wait).await, [expected]);

    let reply_form = format!("/admin/replies/{reply}/");
    assert_eq!(app.form(&reply_form, Some(&staff), &[("content", "Moderated answer")]).await.status, StatusCode::FOUND);
    let expected =
        json!({"action": "reply_updated", "payload": {"id": reply, "topicId": topic, "content": "Moderated answer"}});
    assert_eq!(page.receive_all_messages("event_complete", wait).await, [expected]);
    assert!(app.form(&reply_form, Some(&staff), &[("content", " ")]).await.status == StatusCode::BAD_REQUEST);
    assert!(page.receive_nothing().await && list.receive_nothing().await, "a refused form sends nothing");

    let deleted = app.form(&format!("/admin/replies/{reply}/delete/"), Some(&staff), &[]).await;
    assert_eq!((deleted.status, deleted.location()), (StatusCode::FOUND, "/admin/"));
    let gone = json!({"id": reply, "topicId": topic, "replyCount": 0, "wasAccepted": false});
    assert_eq!(
        page.receive_all_messages("event_complete", wait).await,
        [json!({"action": "reply_deleted", "payload": gone})]
    );
    assert_eq!(
        list.receive_all_messages("event_complete", wait).await,
        [json!({"action": "reply_deleted", "payload": gone, "version": 1, "topic": followed})]
    );
    assert_eq!(app.get(&reply_form, Some(&staff)).await.status, StatusCode::NOT_FOUND);

    assert_eq!(app.form(&format!("/admin/topics/{topic}/delete/"), Some(&staff), &[]).await.status, StatusCode::FOUND);
    let expected = json!({"action": "topic_deleted", "payload": {"topicId": topic, "topicTitle": "Moderated"}});
    assert_eq!(list.receive_all_messages("event_complete", wait).await, std::slice::from_ref(&expected));
    assert_eq!(page.receive_json().await, expected);
    page.assert_closed(4404).await;
    list.disconnect().await;

    let (chat, _) = GroupChat::create(app.db(), &ada, "Lab", None).await.expect("chat");
    let mut adas_chats = app.member_socket("/ws/chat/group/", &ada).await;
    // A frame is handled only once the list follows its chats (post_authentication).
    adas_chats.send_json(&json!({"action": "ping"})).await;
    adas_chats.receive_all_messages("complete", wait).await;
    let changed = app.form(&format!("/admin/chats/{}/", chat.id), Some(&staff), &[("title", "Physics")]).await;
    assert_eq!(changed.status, StatusCode::FOUND);
    let told = adas_chats.receive_json().await;
    assert_eq!(
        (told["action"].clone(), told["payload"]["groupPk"].clone()),
        (json!("group_chat_updated"), json!(chat.id))
    );
    adas_chats.disconnect().await;

    let conversation = Conversation::create(app.db(), Some(ada.id), "Talk").await.expect("conversation");
    let mut adas_page = app.member_socket(&format!("/ws/assistants/{}/", conversation.id), &ada).await;
    adas_page.send_json(&json!({"action": "ping"})).await;
    adas_page.receive_all_messages("complete", wait).await;
    let renamed =
        app.form(&format!("/admin/conversations/{}/", conversation.id), Some(&staff), &[("title", "Renamed")]).await;
    assert_eq!(renamed.status, StatusCode::FOUND);
    let told = adas_page.receive_json().await;
    assert_eq!(
        told,
        json!({"action": "conversation_title", "payload": {"conversationId": conversation.id, "title": "Renamed"}})
    );
    adas_page.disconnect().await;
}
