//! Behaviours of the original's test suite (§9 of the reference) that the other modules do not
//! already show: list orders and pages, and what the home pages cap and mark.

use axum::http::StatusCode;
use sandbox::accounts::User;
use sandbox::assistants::model::Conversation;
use sandbox::chat::model::GroupChat;
use serde_json::{Value, json};

use crate::support::TestApp;

crate::on_both_databases!(
    replies_page_by_twenty_most_votes_first_then_oldest,
    topics_stay_newest_first_whatever_their_votes,
    the_forum_home_shows_twenty_topics_and_marks_the_answered,
    conversations_list_the_most_recently_active_first,
    the_chat_list_still_answers_after_an_event,
);

async fn post(app: &TestApp, path: &str, user: &User, body: Value) -> Value {
    let response = app.post(path, Some(user), body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{path}: {}", response.text);
    response.json()
}

fn ids(page: &Value) -> Vec<i64> {
    page["results"].as_array().map(|r| r.iter().filter_map(|item| item["id"].as_i64()).collect()).unwrap_or_default()
}

/// `test_reply_views`: 26 replies give 20 per page and `count` 26; most votes first, then oldest.
async fn replies_page_by_twenty_most_votes_first_then_oldest(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let topic = post(&app, "/api/discussion/", &ada, json!({"title": "Many answers", "content": "?"})).await["id"]
        .as_i64()
        .expect("id");
    let mut replies = Vec::new();
    for n in 0..26 {
        let path = format!("/api/discussion/{topic}/replies/");
        replies
            .push(post(&app, &path, &bob, json!({"content": format!("Answer {n}")})).await["id"].as_i64().expect("id"));
    }
    let liked = replies[25];
    let voted =
        app.post(&format!("/api/discussion/{topic}/replies/{liked}/vote/"), Some(&ada), json!({"vote": 1})).await;
    assert_eq!(voted.status, StatusCode::OK);
    let first = app.get(&format!("/api/discussion/{topic}/replies/"), Some(&ada)).await.json();
    assert_eq!(first["count"], 26);
    let next = first["next"].as_str().expect("a next page").trim_start_matches("http://localhost:8000").to_owned();
    let second = app.get(&next, Some(&ada)).await.json();
    assert_eq!((ids(&first).len(), ids(&second).len()), (20, 6));
    let mut expected = vec![liked];
    expected.extend(&replies[..25]);
    assert_eq!([ids(&first), ids(&second)].concat(), expected, "the liked one, then the rest oldest first");
}

/// `test_topic_views`: the newest-first order of the topic list holds regardless of votes.
async fn topics_stay_newest_first_whatever_their_votes(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let mut topics = Vec::new();
    for n in 0..3 {
        let body = json!({"title": format!("Question {n}"), "content": "?"});
        topics.push(post(&app, "/api/discussion/", &ada, body).await["id"].as_i64().expect("id"));
    }
    let voted = app.post(&format!("/api/discussion/{}/vote/", topics[0]), Some(&bob), json!({"vote": 1})).await;
    assert_eq!(voted.json()["voteCount"], 1);
    let listed = app.get("/api/discussion/", Some(&bob)).await.json();
    assert_eq!(ids(&listed), [topics[2], topics[1], topics[0]]);
}

/// `test_web_views`: the forum home shows at most 20 topics and marks those with an accepted answer.
async fn the_forum_home_shows_twenty_topics_and_marks_the_answered(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let mut first = 0;
    for n in 0..21 {
        let body = json!({"title": format!("Question number {n:02}"), "content": "?"});
        let id = post(&app, "/api/discussion/", &ada, body).await["id"].as_i64().expect("id");
        if n == 1 {
            first = id;
        }
    }
    let reply = post(&app, &format!("/api/discussion/{first}/replies/"), &bob, json!({"content": "This"})).await;
    let accept = format!("/api/discussion/{first}/accept-answer/");
    let accepted = app.post(&accept, Some(&ada), json!({"replyId": reply["id"]})).await;
    assert_eq!(accepted.status, StatusCode::OK);
    let home = app.get("/discussion/", Some(&bob)).await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(!home.text.contains("Question number 00"), "the oldest of 21 is not shown");
    for n in 1..21 {
        assert!(home.text.contains(&format!("Question number {n:02}")), "{n}");
    }
    let marked = home.text.matches("class=\"badge answered\">Answered").count();
    assert_eq!(marked, 1, "only the answered topic shows its badge");
    assert!(home.text.contains("Load More Topics"));
}

/// `test_assistant_chat_view` and `test_assistant_conversation`: the most recently active
/// conversation comes first, in the API and in the sidebar, and an untitled one still renders.
async fn conversations_list_the_most_recently_active_first(app: TestApp) {
    let ada = app.user("ada@example.com").await;
    let old = Conversation::create(app.db(), Some(ada.id), "Old talk").await.expect("conversation");
    let new = Conversation::create(app.db(), Some(ada.id), "").await.expect("conversation");
    sqlx::query("UPDATE assistant_conversations SET updated_at = $1 WHERE id = $2")
        .bind("2999-01-01T00:00:00.000000Z")
        .bind(&old.id)
        .execute(app.db().pool())
        .await
        .expect("touched");
    let listed = app.get("/api/assistants/conversations/", Some(&ada)).await.json();
    let order: Vec<&str> =
        listed["results"].as_array().expect("list").iter().filter_map(|c| c["id"].as_str()).collect();
    assert_eq!(order, [old.id.as_str(), new.id.as_str()]);
    let page = app.get(&format!("/assistants/{}/", new.id), Some(&ada)).await;
    assert_eq!(page.status, StatusCode::OK);
    let (old_at, new_at) = (page.text.find("Old talk").expect("old"), page.text.find("New Conversation").expect("new"));
    assert!(old_at < new_at, "the sidebar follows the same order");
}

/// `test_group_consumer`: the chat list socket is still usable after an event reached it.
async fn the_chat_list_still_answers_after_an_event(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let (chat, _) = GroupChat::create(app.db(), &ada, "Lab", None).await.expect("chat");
    let mut list = app.member_socket("/ws/chat/group/", &bob).await;
    let added =
        app.post(&format!("/api/chat/{}/members/", chat.id), Some(&ada), json!({"email": "bob@example.com"})).await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    let event = list.receive_json().await;
    assert_eq!((event["action"].as_str(), event["payload"]["id"].as_i64()), (Some("added_to_group"), Some(chat.id)));
    list.send_json(&json!({"action": "ping"})).await;
    let wait = std::time::Duration::from_secs(3);
    assert_eq!(list.receive_all_messages("complete", wait).await, [json!({"action": "pong", "payload": null})]);
    list.disconnect().await;
}
