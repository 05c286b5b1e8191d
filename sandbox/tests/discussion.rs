//! The forum: statuses and bodies of every endpoint, the vote and accept rules, each socket's
//! events with their exact payloads, and the pages.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use chanx::messages::EVENT_COMPLETE;
use chanx::testing::WebsocketCommunicator;
use sandbox::accounts::User;
use sandbox::discussion::consumers::followed_topic;
use serde_json::{Value, json};

use crate::support::TestApp;

crate::on_both_databases!(
    topics_need_a_user_and_list_newest_first,
    bad_topics_are_refused_and_nothing_is_broadcast,
    a_new_topic_reaches_every_list,
    opening_a_topic_counts_a_view,
    only_authors_change_their_posts,
    one_vote_per_user_per_post,
    accepting_an_answer_follows_the_rules,
    replies_reach_their_topic_only,
    the_list_follows_the_topics_it_shows,
    edits_and_deletions_reach_every_open_page,
    the_sockets_refuse_strangers,
    the_pages_show_members_everything_and_visitors_nothing,
);

const WAIT: Duration = Duration::from_secs(3);

async fn events(comm: &mut WebsocketCommunicator) -> Vec<Value> {
    comm.receive_all_messages(EVENT_COMPLETE, WAIT).await
}

async fn topic(app: &TestApp, author: &User, title: &str) -> Value {
    let response =
        app.post("/api/discussion/", Some(author), json!({"title": title, "content": format!("About {title}.")})).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
    response.json()
}

async fn reply(app: &TestApp, topic: i64, author: &User, content: &str) -> Value {
    let response =
        app.post(&format!("/api/discussion/{topic}/replies/"), Some(author), json!({"content": content})).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
    response.json()
}

async fn topics_need_a_user_and_list_newest_first(app: TestApp) {
    let ada = app.user("ada@example.com").await;
    assert_eq!(app.get("/api/discussion/", None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.post("/api/discussion/", None, json!({"title": "t", "content": "c"})).await.status,
        StatusCode::UNAUTHORIZED
    );
    let created = topic(&app, &ada, "First question").await;
    assert!(created["id"].as_i64().is_some(), "the new id is in the answer");
    assert_eq!(created["content"], "About First question.");
    assert_eq!(
        (created["canEdit"].clone(), created["replies"].clone(), created["myVote"].clone()),
        (json!(true), json!([]), json!(0))
    );
    for n in 0..25 {
        topic(&app, &ada, &format!("Question {n}")).await;
    }
    let page = app.get("/api/discussion/", Some(&ada)).await.json();
    assert_eq!(page["count"], 26);
    let first = &page["results"][0];
    assert_eq!(first["title"], "Question 24", "newest first");
    assert!(first.get("content").is_none() && first.get("replies").is_none());
    assert_eq!(first["author"], json!({"id": ada.id, "email": "ada@example.com"}));
    assert!(first["formattedCreatedAt"].as_str().is_some_and(|t| t.contains(" at ")));
    assert_eq!(page["results"].as_array().map(Vec::len), Some(20));
    let next = page["next"].as_str().expect("next").trim_start_matches("http://localhost:8000").to_owned();
    assert_eq!(app.get(&next, Some(&ada)).await.json()["results"].as_array().map(Vec::len), Some(6));
}

async fn bad_topics_are_refused_and_nothing_is_broadcast(app: TestApp) {
    let ada = app.user("ada@example.com").await;
    let mut list = app.member_socket("/ws/discussion/", &ada).await;
    for (body, attr, code) in [
        (json!({"title": "", "content": "c"}), "title", "blank"),
        (json!({"title": "t", "content": "   "}), "content", "blank"),
        (json!({"title": "t".repeat(201), "content": "c"}), "title", "max_length"),
        (json!({"title": "t", "content": "c".repeat(20_001)}), "content", "max_length"),
        (json!({"content": "c"}), "title", "required"),
    ] {
        let response = app.post("/api/discussion/", Some(&ada), body).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST);
        assert_eq!(
            (response.json()["errors"][0]["attr"].clone(), response.json()["errors"][0]["code"].clone()),
            (json!(attr), json!(code))
        );
    }
    assert!(list.receive_nothing().await);
    assert_eq!(app.count("SELECT COUNT(*) FROM discussion_topics").await, 0);
    // Hostile text is stored and sent back exactly as written.
    let hostile = "<script>alert(1)</script> '; DROP TABLE discussion_topics; -- $1 ?";
    let created = app.post("/api/discussion/", Some(&ada), json!({"title": hostile, "content": hostile})).await.json();
    assert_eq!((created["title"].clone(), created["content"].clone()), (json!(hostile), json!(hostile)));
    list.disconnect().await;
}

async fn a_new_topic_reaches_every_list(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let mut lists = Vec::new();
    for user in [&ada, &bob, &bob] {
        lists.push(app.member_socket("/ws/discussion/", user).await);
    }
    let created = topic(&app, &ada, "Live?").await;
    let expected = json!({
        "action": "topic_created",
        "payload": {
            "id": created["id"], "title": "Live?", "author": {"id": ada.id, "email": "ada@example.com"},
            "voteCount": 0, "replyCount": 0, "hasAcceptedAnswer": false, "viewCount": 0,
            "createdAt": created["createdAt"], "formattedCreatedAt": created["formattedCreatedAt"],
        }
    });
    for list in &mut lists {
        assert_eq!(events(list).await, std::slice::from_ref(&expected));
    }
    for list in lists {
        list.disconnect().await;
    }
}

async fn opening_a_topic_counts_a_view(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let id = topic(&app, &ada, "Views").await["id"].as_i64().expect("id");
    let path = format!("/api/discussion/{id}/");
    assert_eq!(app.get(&path, Some(&ada)).await.json()["viewCount"], 1);
    let as_bob = app.get(&path, Some(&bob)).await.json();
    assert_eq!((as_bob["viewCount"].clone(), as_bob["canEdit"].clone()), (json!(2), json!(false)));
    assert_eq!(app.get("/api/discussion/999999/", Some(&ada)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.get("/api/discussion/abc/", Some(&ada)).await.status, StatusCode::NOT_FOUND);
}

async fn only_authors_change_their_posts(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let id = topic(&app, &ada, "Mine").await["id"].as_i64().expect("id");
    let answer = reply(&app, id, &bob, "Bob's answer").await["id"].as_i64().expect("id");
    let topic_path = format!("/api/discussion/{id}/");
    let reply_path = format!("/api/discussion/{id}/replies/{answer}/");
    assert_eq!(
        app.call(Method::PATCH, &topic_path, Some(&bob), Some(json!({"title": "Hijacked"}))).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.call(Method::DELETE, &topic_path, Some(&bob), None).await.status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.call(Method::PUT, &reply_path, Some(&ada), Some(json!({"content": "forged"}))).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.call(Method::DELETE, &reply_path, Some(&ada), None).await.status, StatusCode::FORBIDDEN);
    let edited = app.call(Method::PATCH, &topic_path, Some(&ada), Some(json!({"title": "Mine, edited"}))).await;
    assert_eq!(
        (edited.status, edited.json()["title"].clone(), edited.json()["content"].clone()),
        (StatusCode::OK, json!("Mine, edited"), json!("About Mine."))
    );
    assert_eq!(
        app.call(Method::PATCH, &topic_path, Some(&ada), Some(json!({"title": " "}))).await.status,
        StatusCode::BAD_REQUEST
    );
    let fixed = app.call(Method::PATCH, &reply_path, Some(&bob), Some(json!({"content": "Better answer"}))).await;
    assert_eq!(fixed.json()["content"], "Better answer");
    assert_eq!(app.call(Method::DELETE, &reply_path, Some(&bob), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.call(Method::DELETE, &topic_path, Some(&ada), None).await.status, StatusCode::NO_CONTENT);
    assert_eq!(app.count("SELECT COUNT(*) FROM discussion_topics").await, 0);
}

async fn one_vote_per_user_per_post(app: TestApp) {
    let (ada, bob, cat) =
        (app.user("ada@example.com").await, app.user("bob@example.com").await, app.user("cat@example.com").await);
    let id = topic(&app, &ada, "Votes").await["id"].as_i64().expect("id");
    let answer = reply(&app, id, &bob, "An answer").await["id"].as_i64().expect("id");
    let mut list = app.member_socket("/ws/discussion/", &cat).await;
    let mut page = app.member_socket(&format!("/ws/discussion/{id}/"), &cat).await;
    let path = format!("/api/discussion/{id}/vote/");
    let steps = [(&bob, 1, 1), (&bob, 1, 1), (&cat, 1, 2), (&bob, -1, 0), (&bob, 0, 1), (&cat, 0, 0)];
    for (user, vote, count) in steps {
        let response = app.post(&path, Some(user), json!({"vote": vote})).await;
        assert_eq!(response.json(), json!({"vote": vote, "voteCount": count}), "{} votes {vote}", user.email);
        let expected =
            json!({"action": "vote_updated", "payload": {"targetType": "topic", "targetId": id, "voteCount": count}});
        assert_eq!(events(&mut page).await, std::slice::from_ref(&expected));
        assert_eq!(events(&mut list).await, [expected]);
    }
    for vote in [json!(5), json!(-2), json!("up"), json!(null)] {
        let response = app.post(&path, Some(&bob), json!({"vote": vote})).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{vote}");
        assert_eq!(response.json()["errors"][0]["attr"], "vote");
    }
    assert!(page.receive_nothing().await, "a refused vote is not broadcast");
    assert_eq!(
        app.get(&format!("/api/discussion/{id}/"), Some(&ada)).await.json()["voteCount"],
        0,
        "and changes nothing"
    );
    assert_eq!(
        app.post("/api/discussion/999999/vote/", Some(&bob), json!({"vote": 1})).await.status,
        StatusCode::NOT_FOUND
    );

    let reply_vote = format!("/api/discussion/{id}/replies/{answer}/vote/");
    for (user, count) in [(&ada, 1), (&ada, 1), (&cat, 2)] {
        assert_eq!(app.post(&reply_vote, Some(user), json!({"vote": 1})).await.json()["voteCount"], count);
        let expected = json!({"action": "vote_updated", "payload": {"targetType": "reply", "targetId": answer, "voteCount": count}});
        assert_eq!(events(&mut page).await, [expected]);
        events(&mut list).await;
    }
    let detail = app.get(&format!("/api/discussion/{id}/"), Some(&ada)).await.json();
    assert_eq!(
        (detail["replies"][0]["voteCount"].clone(), detail["replies"][0]["myVote"].clone()),
        (json!(2), json!(1))
    );
    assert_eq!(
        app.post(&format!("/api/discussion/{id}/replies/999999/vote/"), Some(&ada), json!({"vote": 1})).await.status,
        StatusCode::NOT_FOUND
    );
    list.disconnect().await;
    page.disconnect().await;
}

async fn accepting_an_answer_follows_the_rules(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let id = topic(&app, &ada, "Accept me").await["id"].as_i64().expect("id");
    let other = topic(&app, &ada, "Other").await["id"].as_i64().expect("id");
    let bobs = reply(&app, id, &bob, "Bob's answer").await["id"].as_i64().expect("id");
    let adas = reply(&app, id, &ada, "Ada's own").await["id"].as_i64().expect("id");
    let elsewhere = reply(&app, other, &bob, "Elsewhere").await["id"].as_i64().expect("id");
    let mut list = app.member_socket("/ws/discussion/", &bob).await;
    let mut page = app.member_socket(&format!("/ws/discussion/{id}/"), &bob).await;
    let accept = format!("/api/discussion/{id}/accept-answer/");
    let refusals = [
        (&bob, json!({"replyId": bobs}), StatusCode::FORBIDDEN, "Only the topic author can accept answers."),
        (&ada, json!({}), StatusCode::BAD_REQUEST, "reply_id is required."),
        (&ada, json!({"replyId": null}), StatusCode::BAD_REQUEST, "reply_id is required."),
        (&ada, json!({"replyId": ""}), StatusCode::BAD_REQUEST, "reply_id is required."),
        (&ada, json!({"replyId": adas}), StatusCode::BAD_REQUEST, "You cannot accept your own answer."),
        (&ada, json!({"replyId": elsewhere}), StatusCode::NOT_FOUND, "Not found."),
        (&ada, json!({"replyId": 999_999}), StatusCode::NOT_FOUND, "Not found."),
    ];
    for (user, body, status, detail) in refusals {
        let response = app.post(&accept, Some(user), body.clone()).await;
        assert_eq!(
            (response.status, response.json()["errors"][0]["detail"].clone()),
            (status, json!(detail)),
            "{body}"
        );
    }
    let unaccept = format!("/api/discussion/{id}/unaccept-answer/");
    let none = app.call(Method::POST, &unaccept, Some(&ada), None).await;
    assert_eq!(
        (none.status, none.json()["errors"][0]["detail"].clone()),
        (StatusCode::BAD_REQUEST, json!("No answer is currently accepted for this topic."))
    );
    assert!(page.receive_nothing().await && list.receive_nothing().await, "refusals broadcast nothing");

    // The snake_case key works too, as chanx's clients send it.
    let accepted = app.post(&accept, Some(&ada), json!({"reply_id": bobs})).await;
    assert_eq!(
        (accepted.status, accepted.json()),
        (StatusCode::OK, json!({"detail": "Answer accepted successfully."}))
    );
    let change = json!({"topicId": id, "topicTitle": "Accept me", "replyId": bobs, "replyAuthor": "bob@example.com"});
    let expected = json!({"action": "answer_accepted", "payload": change});
    assert_eq!(events(&mut page).await, std::slice::from_ref(&expected));
    assert_eq!(events(&mut list).await, [expected]);
    let detail = app.get(&format!("/api/discussion/{id}/"), Some(&ada)).await.json();
    assert_eq!(detail["acceptedAnswer"], bobs);
    let bobs_reply =
        detail["replies"].as_array().expect("replies").iter().find(|r| r["id"] == bobs).cloned().expect("reply");
    assert_eq!((bobs_reply["isAccepted"].clone(), bobs_reply["canAccept"].clone()), (json!(true), json!(true)));
    let as_bob = app.get(&format!("/api/discussion/{id}/replies/{bobs}/"), Some(&bob)).await.json();
    assert_eq!(as_bob["canAccept"], false, "only the topic's author may accept");
    assert_eq!(app.get(&format!("/api/discussion/{id}/replies/{adas}/"), Some(&ada)).await.json()["canAccept"], false);
    let summary = &app.get("/api/discussion/", Some(&bob)).await.json()["results"][1];
    assert_eq!((summary["id"].clone(), summary["hasAcceptedAnswer"].clone()), (json!(id), json!(true)));

    assert_eq!(app.call(Method::POST, &unaccept, Some(&bob), None).await.status, StatusCode::FORBIDDEN);
    let undone = app.call(Method::POST, &unaccept, Some(&ada), None).await;
    assert_eq!(undone.json(), json!({"detail": "Answer unaccepted successfully."}));
    let expected = json!({"action": "answer_unaccepted", "payload": change});
    assert_eq!(events(&mut page).await, std::slice::from_ref(&expected));
    assert_eq!(events(&mut list).await, [expected]);
    list.disconnect().await;
    page.disconnect().await;
}

async fn replies_reach_their_topic_only(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let id = topic(&app, &ada, "Replies").await["id"].as_i64().expect("id");
    let other = topic(&app, &ada, "Other").await["id"].as_i64().expect("id");
    let mut viewers = Vec::new();
    for user in [&ada, &bob, &bob] {
        viewers.push(app.member_socket(&format!("/ws/discussion/{id}/"), user).await);
    }
    let mut elsewhere = app.member_socket(&format!("/ws/discussion/{other}/"), &ada).await;
    let mut list = app.member_socket("/ws/discussion/", &ada).await;
    let created = reply(&app, id, &bob, "  An answer, trimmed.  ").await;
    assert_eq!(created["content"], "An answer, trimmed.");
    let expected = json!({
        "action": "reply_created",
        "payload": {
            "id": created["id"], "content": "An answer, trimmed.", "author": {"id": bob.id, "email": "bob@example.com"},
            "voteCount": 0, "isAccepted": false, "createdAt": created["createdAt"],
            "formattedCreatedAt": created["formattedCreatedAt"], "topicId": id, "topicTitle": "Replies",
        }
    });
    for viewer in &mut viewers {
        assert_eq!(events(viewer).await, std::slice::from_ref(&expected));
    }
    assert!(elsewhere.receive_nothing().await && list.receive_nothing().await);
    for body in [json!({"content": ""}), json!({"content": "  "}), json!({})] {
        assert_eq!(
            app.post(&format!("/api/discussion/{id}/replies/"), Some(&bob), body).await.status,
            StatusCode::BAD_REQUEST
        );
    }
    assert!(viewers[0].receive_nothing().await, "a refused reply is not broadcast");
    assert_eq!(
        app.post("/api/discussion/999999/replies/", Some(&bob), json!({"content": "x"})).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get("/api/discussion/999999/replies/", Some(&bob)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&format!("/api/discussion/{other}/replies/{}/", created["id"]), Some(&bob)).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get(&format!("/api/discussion/{id}/replies/"), None).await.status, StatusCode::UNAUTHORIZED);

    // Most votes first, then oldest first.
    let second = reply(&app, id, &ada, "Second").await["id"].as_i64().expect("id");
    let third = reply(&app, id, &ada, "Third").await["id"].as_i64().expect("id");
    app.post(&format!("/api/discussion/{id}/replies/{third}/vote/"), Some(&bob), json!({"vote": 1})).await;
    let listed = app.get(&format!("/api/discussion/{id}/replies/"), Some(&bob)).await.json();
    let order: Vec<i64> = listed["results"].as_array().expect("list").iter().filter_map(|r| r["id"].as_i64()).collect();
    assert_eq!(order, [third, created["id"].as_i64().expect("id"), second]);
    for viewer in viewers {
        viewer.disconnect().await;
    }
    elsewhere.disconnect().await;
    list.disconnect().await;
}

/// The list page follows each topic it shows over its one socket: chanx's topic
/// `discussion:{pk}` brings that topic's new answers, and only those.
async fn the_list_follows_the_topics_it_shows(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let id = topic(&app, &ada, "Followed").await["id"].as_i64().expect("id");
    let other = topic(&app, &ada, "Not followed").await["id"].as_i64().expect("id");
    let mut list = app.member_socket("/ws/discussion/", &ada).await;
    let followed = format!("discussion:{id}");
    assert_eq!(
        list.subscribe(&followed).await,
        json!({"action": "subscribed", "payload": null, "version": 1, "topic": followed, "ref": "1"})
    );
    for (missing, reference) in [("discussion:999999", "2"), ("discussion:abc", "3")] {
        let detail = format!("Not allowed to subscribe to '{missing}'");
        assert_eq!(
            list.subscribe(missing).await,
            json!({
                "action": "error", "payload": {"reason": "unauthorized", "detail": detail},
                "version": 1, "topic": missing, "ref": reference
            })
        );
    }

    let created = reply(&app, id, &bob, "An answer to follow").await;
    reply(&app, other, &bob, "An answer elsewhere").await;
    let expected = json!({
        "action": "reply_created",
        "payload": {
            "id": created["id"], "content": "An answer to follow", "author": {"id": bob.id, "email": "bob@example.com"},
            "voteCount": 0, "isAccepted": false, "createdAt": created["createdAt"],
            "formattedCreatedAt": created["formattedCreatedAt"], "topicId": id, "topicTitle": "Followed",
        },
        "version": 1,
        "topic": followed,
    });
    assert_eq!(events(&mut list).await, [expected]);
    assert!(list.receive_nothing().await, "nothing of a topic the list does not follow");

    assert_eq!(
        list.unsubscribe(&followed).await,
        json!({"action": "unsubscribed", "payload": null, "version": 1, "topic": followed, "ref": "4"})
    );
    reply(&app, id, &bob, "An answer after").await;
    assert!(list.receive_nothing().await, "nothing once unfollowed");
    list.disconnect().await;
}

async fn the_sockets_refuse_strangers(app: TestApp) {
    let ada = app.user("ada@example.com").await;
    let id = topic(&app, &ada, "Sockets").await["id"].as_i64().expect("id");
    for (path, user, status) in [
        ("/ws/discussion/".to_owned(), None, 401),
        (format!("/ws/discussion/{id}/"), None, 401),
        ("/ws/discussion/999999/".to_owned(), Some(&ada), 404),
        ("/ws/discussion/abc/".to_owned(), Some(&ada), 404),
    ] {
        let mut comm = app.socket(&path, user).await;
        assert_eq!(comm.wait_for_auth().await.status_code, status, "{path}");
        comm.assert_closed(4000 + status).await;
    }
    for path in ["/ws/discussion/".to_owned(), format!("/ws/discussion/{id}/")] {
        let mut comm = app.member_socket(&path, &ada).await;
        comm.send_json(&json!({"action": "ping"})).await;
        assert_eq!(comm.receive_all_messages("complete", WAIT).await, [json!({"action": "pong", "payload": null})]);
        comm.disconnect().await;
    }
}

async fn the_pages_show_members_everything_and_visitors_nothing(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let created = topic(&app, &ada, "<b>Bold</b> question").await;
    let id = created["id"].as_i64().expect("id");
    reply(&app, id, &bob, "<script>alert(1)</script>").await;

    let visitor = app.get("/discussion/", None).await;
    assert!(visitor.text.contains("Welcome to Chanx Discussion!") && visitor.text.contains("/login?next=/discussion/"));
    assert!(!visitor.text.contains("Bold"));
    let home = app.get("/discussion/", Some(&bob)).await;
    assert!(
        home.text.contains("Ask Question")
            && home.text.contains("&lt;b&gt;Bold&lt;&#x2f;b&gt; question")
            && !home.text.contains("<b>Bold")
    );
    assert!(home.text.contains("/static/discussion.js") && home.text.contains("topicList"));

    let new_visitor = app.get("/discussion/new/", None).await;
    assert!(new_visitor.text.contains("Join the Discussion!") && new_visitor.text.contains("disabled"));
    let new_member = app.get("/discussion/new/", Some(&ada)).await;
    assert!(
        new_member.text.contains("Ask a Question")
            && new_member.text.contains("id_title")
            && new_member.text.contains("Post Question")
    );
    let anonymous_post = app.form("/discussion/new/", None, &[("title", "t"), ("content", "c")]).await;
    assert_eq!(anonymous_post.location(), "/login?next=%2Fdiscussion%2Fnew%2F");
    let blank = app.form("/discussion/new/", Some(&ada), &[("title", ""), ("content", "kept text")]).await;
    assert_eq!(blank.status, StatusCode::BAD_REQUEST);
    assert!(blank.text.contains("This field may not be blank.") && blank.text.contains("kept text"));
    let posted = app.form("/discussion/new/", Some(&ada), &[("title", "From the form"), ("content", "Details")]).await;
    assert_eq!(posted.status, StatusCode::FOUND);
    assert!(posted.location().starts_with("/discussion/") && posted.location() != "/discussion/");
    assert_eq!(app.count("SELECT COUNT(*) FROM discussion_topics").await, 2);

    let path = format!("/discussion/{id}/");
    let private = app.get(&path, None).await;
    assert!(
        private.text.contains("Private Discussion")
            && private.text.contains("All content is private")
            && !private.text.contains("alert(1)")
    );
    let page = app.get(&path, Some(&bob)).await;
    for text in [
        "vote-btn",
        "vote-score-display",
        "Your Answer",
        "newAnswerContent",
        "Post Your Answer",
        "/static/discussion.js",
        "&lt;script&gt;alert(1)&lt;&#x2f;script&gt;",
    ] {
        assert!(page.text.contains(text), "{text}");
    }
    assert!(!page.text.contains("<script>alert(1)"));
    assert!(!page.text.contains("accept-btn"), "only the topic's author may accept");
    assert!(app.get(&path, Some(&ada)).await.text.contains("accept-btn"));
    let cat = app.user("cat@example.com").await;
    let others = app.get(&path, Some(&cat)).await.text;
    assert!(!others.contains("edit-btn") && !others.contains("delete-btn"), "only authors edit and delete");
    assert_eq!(page.text.matches("edit-btn").count(), 1, "bob edits his answer, not the question");
    let views = app.get(&format!("/api/discussion/{id}/"), Some(&ada)).await.json()["viewCount"].clone();
    assert_eq!(views, 4, "three page views and this one; the visitor's did not count");
    let missing = app.get("/discussion/999999/", Some(&ada)).await;
    assert_eq!((missing.status, missing.location()), (StatusCode::FOUND, "/discussion/"));
    let script = app.get("/static/discussion.js", None).await;
    assert!(script.status == StatusCode::OK && !script.text.contains("innerHTML"));
}

/// An edit or a deletion through the REST API reaches the open pages as it happens: the topic
/// page hears of every one, the lists of a topic's new text and deletion, and the lists following
/// a topic of its deleted answers; a deleted topic's page is then closed. A refused change sends
/// nothing.
async fn edits_and_deletions_reach_every_open_page(app: TestApp) {
    let (ada, bob, cat) =
        (app.user("ada@example.com").await, app.user("bob@example.com").await, app.user("cat@example.com").await);
    let id = topic(&app, &ada, "Edit me").await["id"].as_i64().expect("id");
    let answer = reply(&app, id, &bob, "First take").await["id"].as_i64().expect("id");
    let mut page = app.member_socket(&format!("/ws/discussion/{id}/"), &cat).await;
    let mut list = app.member_socket("/ws/discussion/", &cat).await;
    let followed = followed_topic(id);
    assert_eq!(list.subscribe(&followed).await["action"], "subscribed");
    let topic_path = format!("/api/discussion/{id}/");
    let reply_path = format!("/api/discussion/{id}/replies/{answer}/");

    for (method, path, user, body) in [
        (Method::PATCH, &topic_path, &bob, Some(json!({"title": "Hijacked"}))),
        (Method::PATCH, &topic_path, &ada, Some(json!({"title": "  "}))),
        (Method::PUT, &reply_path, &ada, Some(json!({"content": "forged"}))),
        (Method::PUT, &reply_path, &bob, Some(json!({"content": ""}))),
        (Method::DELETE, &reply_path, &ada, None),
        (Method::DELETE, &topic_path, &bob, None),
    ] {
        let refused = app.call(method.clone(), path, Some(user), body).await;
        assert!(refused.status.is_client_error(), "{method} {path} by {}", user.email);
    }
    assert!(page.receive_nothing().await && list.receive_nothing().await, "refusals broadcast nothing");

    let edited = app.call(Method::PATCH, &topic_path, Some(&ada), Some(json!({"title": " Edited title "}))).await;
    assert_eq!(edited.status, StatusCode::OK);
    let expected = json!({"action": "topic_updated", "payload": {"topicId": id, "title": "Edited title", "content": "About Edit me."}});
    assert_eq!(events(&mut page).await, std::slice::from_ref(&expected));
    assert_eq!(events(&mut list).await, [expected]);

    let fixed = app.call(Method::PUT, &reply_path, Some(&bob), Some(json!({"content": " Second take "}))).await;
    assert_eq!(fixed.json()["content"], "Second take");
    let expected =
        json!({"action": "reply_updated", "payload": {"id": answer, "topicId": id, "content": "Second take"}});
    assert_eq!(events(&mut page).await, [expected]);
    assert!(list.receive_nothing().await, "lists show no reply text");

    app.post(&format!("/api/discussion/{id}/accept-answer/"), Some(&ada), json!({"replyId": answer})).await;
    events(&mut page).await;
    events(&mut list).await;
    assert_eq!(app.call(Method::DELETE, &reply_path, Some(&bob), None).await.status, StatusCode::NO_CONTENT);
    let deleted = json!({"id": answer, "topicId": id, "replyCount": 0, "wasAccepted": true});
    assert_eq!(events(&mut page).await, [json!({"action": "reply_deleted", "payload": deleted})]);
    assert_eq!(
        events(&mut list).await,
        [json!({"action": "reply_deleted", "payload": deleted, "version": 1, "topic": followed})],
        "a list following the topic counts one answer less, and shows it unanswered"
    );
    assert_eq!(app.call(Method::DELETE, &reply_path, Some(&bob), None).await.status, StatusCode::NOT_FOUND);

    assert_eq!(app.call(Method::DELETE, &topic_path, Some(&ada), None).await.status, StatusCode::NO_CONTENT);
    let expected = json!({"action": "topic_deleted", "payload": {"topicId": id, "topicTitle": "Edited title"}});
    assert_eq!(events(&mut list).await, std::slice::from_ref(&expected));
    assert_eq!(page.receive_json().await, expected);
    page.assert_closed(4404).await;
    let mut again = app.socket(&format!("/ws/discussion/{id}/"), Some(&cat)).await;
    assert_eq!(again.wait_for_auth().await.status_code, 404, "nothing left to follow");
    list.send_json(&json!({"action": "ping"})).await;
    assert_eq!(
        list.receive_all_messages("complete", WAIT).await,
        [json!({"action": "pong", "payload": null})],
        "the list stays open"
    );
    list.disconnect().await;
}
