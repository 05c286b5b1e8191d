//! The AI assistant: the exact frames of streamed answers against a fake OpenAI-compatible
//! server, history, titles, stopping, every failure, and the access rules of REST, socket and pages.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use chanx::testing::WebsocketCommunicator;
use sandbox::accounts::User;
use sandbox::assistants::generation::{MAX_ANSWER_BYTES, MAX_HISTORY_BYTES, MAX_HISTORY_MESSAGES};
use sandbox::assistants::model::{AssistantMessage, Conversation, MessageType};
use serde_json::{Value, json};

use crate::fake_openai::{FIRST, FakeOpenAi, PACED, SECOND, paced_answer, tokens};
use crate::support::TestApp;

crate::on_both_databases!(
    a_signed_in_conversation_streams_two_turns_with_history_and_a_title,
    an_anonymous_conversation_streams_to_anyone_with_its_id,
    every_failure_ends_in_assistant_error_and_the_next_message_works,
    stopping_keeps_what_was_written,
    one_answer_at_a_time,
    the_offline_model_answers_without_a_key,
    conversations_belong_to_their_owner,
    messages_follow_the_access_rule,
    the_socket_follows_the_access_rule,
    the_pages_follow_the_access_rule,
    the_assistant_is_throttled_per_client,
    a_visitor_who_leaves_mid_answer_still_finds_it_saved,
    an_endless_answer_is_cut_at_the_cap_and_kept,
    a_hostile_provider_is_cut_off_with_assistant_error,
    the_history_sent_to_the_model_is_capped,
    titles_reach_the_open_pages_live,
    a_page_that_reconnects_mid_answer_gets_the_whole_answer_once,
    a_page_that_missed_the_answer_so_far_gets_the_saved_answer_at_the_end,
);

const WAIT: Duration = Duration::from_secs(5);

async fn socket(app: &TestApp, id: &str, user: Option<&User>) -> WebsocketCommunicator {
    let mut comm = app.socket(&format!("/ws/assistants/{id}/"), user).await;
    comm.assert_authenticated_status_ok().await;
    comm
}

/// The frames of one answer, up to and including `end` (`complete_streaming` or
/// `assistant_error`), without the `conversation_title` of a first answer, which its own task
/// sends whenever the title is ready ([`titles_reach_the_open_pages_live`] checks those).
async fn answer(comm: &mut WebsocketCommunicator, end: &str) -> Vec<Value> {
    let frames = comm.receive_all_messages(end, WAIT).await;
    assert_eq!(frames.last().map(|f| f["action"].clone()), Some(json!(end)), "{frames:?}");
    frames.into_iter().filter(|f| f["action"] != "conversation_title").collect()
}

/// How long a socket must stay silent for a test to conclude nothing more is coming.
const QUIET: Duration = Duration::from_millis(300);

fn is_completion(frame: &Value) -> bool {
    matches!(frame["action"].as_str(), Some("complete" | "event_complete" | "group_complete"))
}

/// The next frame that is not a completion frame.
async fn next_frame(comm: &mut WebsocketCommunicator) -> Value {
    loop {
        let frame = comm.receive_json().await;
        if !is_completion(&frame) {
            return frame;
        }
    }
}

/// The next frame and every one after it until the socket is quiet, without completion frames.
async fn frames_until_quiet(comm: &mut WebsocketCommunicator) -> Vec<Value> {
    let mut frames = vec![next_frame(comm).await];
    frames.extend(comm.receive_all_json(QUIET).await.into_iter().filter(|f| !is_completion(f)));
    frames
}

/// Whether nothing but completion frames arrives until the socket is quiet.
async fn nothing_more(comm: &mut WebsocketCommunicator) -> bool {
    let frames = comm.receive_all_json(QUIET).await;
    frames.iter().all(is_completion)
}

/// Frames until both `first` and `second` have come, in whichever order, and then until the
/// socket is quiet (no completion frames).
async fn until_both(comm: &mut WebsocketCommunicator, first: &str, second: &str) -> Vec<Value> {
    let mut frames: Vec<Value> = Vec::new();
    while ![first, second].iter().all(|action| frames.iter().any(|f| f["action"] == *action)) {
        frames.push(next_frame(comm).await);
    }
    frames.extend(comm.receive_all_json(QUIET).await.into_iter().filter(|f| !is_completion(f)));
    frames
}

/// The text a page shows from `frames` of one answer: an `answer_so_far` replaces what it had,
/// a `streaming` piece is added; every frame is of message `message_id`.
fn shown_text(frames: &[Value], message_id: &Value) -> String {
    let mut text = String::new();
    for frame in frames {
        let payload = &frame["payload"];
        match frame["action"].as_str() {
            Some("answer_so_far") => text = payload["content"].as_str().unwrap_or_default().to_owned(),
            Some("streaming") => text.push_str(payload["content"].as_str().unwrap_or_default()),
            _ => continue,
        }
        assert_eq!(&payload["messageId"], message_id, "{frame}");
    }
    text
}

/// The sandbox's environment for `fake`, patient enough for a test that paces the answer by
/// hand (the default is a 1-second idle timeout).
fn patient(fake: &FakeOpenAi) -> Vec<(&'static str, String)> {
    let mut env: Vec<_> = fake.env().into_iter().filter(|(name, _)| *name != "OPENAI_TIMEOUT_SECONDS").collect();
    env.push(("OPENAI_TIMEOUT_SECONDS", "60".into()));
    env
}

/// The frames a streamed `text` answering `user_message` arrives as.
fn expected_stream(user_message: &Value, text: &str) -> Vec<Value> {
    let id = user_message["id"].clone();
    let mut frames = vec![json!({"action": "new_assistant_message", "payload": user_message})];
    for token in tokens(text) {
        frames
            .push(json!({"action": "streaming", "payload": {"content": token, "isComplete": false, "messageId": id}}));
    }
    frames
        .push(json!({"action": "complete_streaming", "payload": {"content": "", "isComplete": true, "messageId": id}}));
    frames
}

/// Waits until the background task has saved `n` messages.
async fn messages_saved(app: &TestApp, id: &str, n: usize) -> Vec<AssistantMessage> {
    for _ in 0..100 {
        let history = AssistantMessage::history(app.db(), id).await.expect("query");
        if history.len() >= n {
            return history;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{n} messages were never saved")
}

async fn title_of(app: &TestApp, id: &str) -> String {
    for _ in 0..100 {
        let title = Conversation::get(app.db(), id).await.expect("query").expect("conversation").title;
        if !title.is_empty() {
            return title;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    String::new()
}

async fn a_signed_in_conversation_streams_two_turns_with_history_and_a_title(app: TestApp) {
    let fake = FakeOpenAi::start().await;
    let app = app.configured(&fake.env());
    let ada = app.user("ada@example.com").await;
    let created = app.post("/api/assistants/conversations/", Some(&ada), json!({})).await;
    assert_eq!(created.status, StatusCode::CREATED);
    assert_eq!(created.json()["title"], "");
    let id = created.json()["id"].as_str().expect("id").to_owned();
    let mut comm = socket(&app, &id, Some(&ada)).await;

    let first = app
        .post(&format!("/api/assistants/conversations/{id}/messages/"), Some(&ada), json!({"content": "Hello there"}))
        .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    assert_eq!(first.json()["messageType"], "user");
    assert_eq!(answer(&mut comm, "complete_streaming").await, expected_stream(&first.json(), FIRST));
    assert_eq!(title_of(&app, &id).await, "Greetings and help");
    let title_request =
        fake.requests().into_iter().find(|r| r["stream"] != json!(true)).expect("a title was asked for");
    assert!(title_request.to_string().contains("Hello there"), "the user's text is in the title prompt");

    messages_saved(&app, &id, 2).await;
    let second = app
        .post(&format!("/api/assistants/conversations/{id}/messages/"), Some(&ada), json!({"content": "Tell me more"}))
        .await;
    assert_eq!(answer(&mut comm, "complete_streaming").await, expected_stream(&second.json(), SECOND));
    let history = fake.streams().last().expect("a stream")["messages"].clone();
    assert_eq!(
        history,
        json!([
            {"role": "user", "content": "Hello there"},
            {"role": "assistant", "content": FIRST},
            {"role": "user", "content": "Tell me more"},
        ]),
        "the whole history goes to the model"
    );
    let saved = messages_saved(&app, &id, 4).await;
    assert_eq!(saved[3].content, SECOND);
    assert_eq!(fake.streams()[0]["model"], "fake-model");
    let listed = app.get(&format!("/api/assistants/conversations/{id}/messages/"), Some(&ada)).await.json();
    let types: Vec<&str> =
        listed["results"].as_array().expect("list").iter().filter_map(|m| m["messageType"].as_str()).collect();
    assert_eq!(types, ["user", "assistant", "user", "assistant"], "oldest first");
    comm.disconnect().await;
}

async fn an_anonymous_conversation_streams_to_anyone_with_its_id(app: TestApp) {
    let fake = FakeOpenAi::start().await;
    let app = app.configured(&fake.env());
    let created = app.call(Method::POST, "/api/assistants/anonymous/", None, None).await;
    assert_eq!(created.status, StatusCode::CREATED);
    let body = created.json();
    assert_eq!((body["title"].clone(), body["isAnonymous"].clone()), (json!("New Anonymous Chat"), json!(true)));
    assert!(body["createdAt"].as_str().is_some_and(|t| t.ends_with('Z')));
    let id = body["id"].as_str().expect("id").to_owned();
    let row = Conversation::get(app.db(), &id).await.expect("query").expect("saved");
    assert_eq!((row.user_id, row.title.as_str()), (None, ""));

    let mut visitor = socket(&app, &id, None).await;
    let bob = app.user("bob@example.com").await;
    let mut signed_in = socket(&app, &id, Some(&bob)).await;
    let first = app.post(&format!("/api/assistants/anonymous/{id}/messages/"), None, json!({"content": "Hi"})).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let expected = expected_stream(&first.json(), FIRST);
    assert_eq!(answer(&mut visitor, "complete_streaming").await, expected);
    assert_eq!(answer(&mut signed_in, "complete_streaming").await, expected, "a signed-in visitor sees the stream too");
    messages_saved(&app, &id, 2).await;
    let second =
        app.post(&format!("/api/assistants/conversations/{id}/messages/"), None, json!({"content": "Again"})).await;
    assert_eq!(second.status, StatusCode::CREATED, "both routes reach an anonymous conversation");
    assert_eq!(answer(&mut visitor, "complete_streaming").await, expected_stream(&second.json(), SECOND));
    let other = app.call(Method::POST, "/api/assistants/anonymous/", None, None).await.json();
    assert_ne!(other["id"], body["id"]);
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        assert_eq!(
            app.call(method, "/api/assistants/anonymous/", None, None).await.status,
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
    visitor.disconnect().await;
    signed_in.disconnect().await;
}

async fn every_failure_ends_in_assistant_error_and_the_next_message_works(app: TestApp) {
    let fake = FakeOpenAi::start().await;
    let app = app.configured(&fake.env());
    let ada = app.user("ada@example.com").await;
    let conversation = Conversation::create(app.db(), Some(ada.id), "Failures").await.expect("conversation");
    let path = format!("/api/assistants/conversations/{}/messages/", conversation.id);
    let mut comm = socket(&app, &conversation.id, Some(&ada)).await;
    let cases = [
        ("unauthorized please", "The assistant is not available: its API key was refused.", vec![]),
        ("cut me off", "The assistant could not answer. Please try again.", vec!["Partial", " answer"]),
        ("be slow", "The assistant took too long to answer. Please try again.", vec!["Thinking"]),
        ("malformed stream", "The assistant could not answer. Please try again.", vec![]),
    ];
    let mut saved = 0;
    for (content, error, streamed) in cases {
        let posted = app.post(&path, Some(&ada), json!({"content": content})).await;
        assert_eq!(posted.status, StatusCode::CREATED, "answered at once, whatever follows");
        saved += 1;
        let id = posted.json()["id"].clone();
        let frames = answer(&mut comm, "assistant_error").await;
        let mut expected = vec![json!({"action": "new_assistant_message", "payload": posted.json()})];
        expected.extend(
            streamed.iter().map(
                |t| json!({"action": "streaming", "payload": {"content": t, "isComplete": false, "messageId": id}}),
            ),
        );
        expected.push(json!({"action": "assistant_error", "payload": {"content": error, "messageId": id.to_string()}}));
        assert_eq!(frames, expected, "{content}");
        // The slot is free again once the error is out.
        slot_freed(&app, &conversation.id).await;
        assert_eq!(
            AssistantMessage::history(app.db(), &conversation.id).await.expect("query").len(),
            saved,
            "no reply saved"
        );
    }
    let next = app.post(&path, Some(&ada), json!({"content": "Hello again"})).await;
    assert_eq!(next.status, StatusCode::CREATED);
    let frames = answer(&mut comm, "complete_streaming").await;
    assert_eq!(frames.len(), tokens(SECOND).len() + 2, "a later message is answered in full");
    comm.disconnect().await;
}

async fn stopping_keeps_what_was_written(app: TestApp) {
    let fake = FakeOpenAi::start().await;
    let app = app.configured(&fake.env());
    let conversation = Conversation::create(app.db(), None, "Stop").await.expect("conversation");
    let mut comm = socket(&app, &conversation.id, None).await;
    let posted = app
        .post(
            &format!("/api/assistants/anonymous/{}/messages/", conversation.id),
            None,
            json!({"content": "a long story"}),
        )
        .await;
    assert_eq!(posted.status, StatusCode::CREATED);
    let mut streamed = String::new();
    while !streamed.contains("word2") {
        let frame = comm.receive_json().await;
        if frame["action"] == "streaming" {
            streamed.push_str(frame["payload"]["content"].as_str().unwrap_or_default());
        }
    }
    comm.send_json(&json!({"action": "stop_generation"})).await;
    let frames = comm.receive_all_messages("complete_streaming", WAIT).await;
    assert!(frames.contains(&json!({"action": "generation_stopped", "payload": {"stopped": true}})), "{frames:?}");
    for frame in frames.iter().filter(|f| f["action"] == "streaming") {
        streamed.push_str(frame["payload"]["content"].as_str().unwrap_or_default());
    }
    assert!(!streamed.contains("word39"), "the answer was cut short: {streamed}");
    let saved = messages_saved(&app, &conversation.id, 2).await;
    assert_eq!(saved[1].content, streamed, "what was written so far is kept");

    comm.send_json(&json!({"action": "stop_generation"})).await;
    let reply = comm.receive_all_messages("complete", WAIT).await;
    assert_eq!(reply, [json!({"action": "generation_stopped", "payload": {"stopped": false}})]);
    let over_rest =
        app.call(Method::POST, &format!("/api/assistants/anonymous/{}/stop/", conversation.id), None, None).await;
    assert_eq!((over_rest.status, over_rest.json()), (StatusCode::OK, json!({"stopped": false})));
    comm.disconnect().await;
}

async fn one_answer_at_a_time(app: TestApp) {
    let fake = FakeOpenAi::start().await;
    let app = app.configured(&fake.env());
    let conversation = Conversation::create(app.db(), None, "Busy").await.expect("conversation");
    let path = format!("/api/assistants/anonymous/{}/messages/", conversation.id);
    assert_eq!(app.post(&path, None, json!({"content": "a long one"})).await.status, StatusCode::CREATED);
    let busy = app.post(&path, None, json!({"content": "me too"})).await;
    assert_eq!(busy.status, StatusCode::CONFLICT);
    assert_eq!(busy.json()["errors"][0]["code"], "conflict");
    assert_eq!(
        AssistantMessage::history(app.db(), &conversation.id).await.expect("query").len(),
        1,
        "the refused message is not saved"
    );
    let stop =
        app.call(Method::POST, &format!("/api/assistants/anonymous/{}/stop/", conversation.id), None, None).await;
    assert_eq!(stop.json(), json!({"stopped": true}));
}

async fn the_offline_model_answers_without_a_key(app: TestApp) {
    let conversation = Conversation::create(app.db(), None, "").await.expect("conversation");
    let mut comm = socket(&app, &conversation.id, None).await;
    let posted = app
        .post(
            &format!("/api/assistants/anonymous/{}/messages/", conversation.id),
            None,
            json!({"content": "What is chanx?"}),
        )
        .await;
    let frames = answer(&mut comm, "complete_streaming").await;
    let text: String =
        frames.iter().filter(|f| f["action"] == "streaming").filter_map(|f| f["payload"]["content"].as_str()).collect();
    assert!(frames.len() > 20, "streamed token by token");
    assert!(text.contains("offline demo model") && text.contains("\"What is chanx?\""), "{text}");
    assert_eq!(frames[0]["payload"], posted.json());
    assert_eq!(title_of(&app, &conversation.id).await, "What is chanx?", "offline, the title is the message");
    let saved = messages_saved(&app, &conversation.id, 2).await;
    assert_eq!(saved[1].content, text);
    comm.disconnect().await;
}

async fn conversations_belong_to_their_owner(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let mine = Conversation::create(app.db(), Some(ada.id), "mine").await.expect("conversation");
    Conversation::create(app.db(), Some(ada.id), "also mine").await.expect("conversation");
    Conversation::create(app.db(), Some(bob.id), "bob's").await.expect("conversation");
    Conversation::create(app.db(), None, "anonymous").await.expect("conversation");
    let list = app.get("/api/assistants/conversations/", Some(&ada)).await.json();
    assert_eq!(list["count"], 2);
    assert_eq!(app.get("/api/assistants/conversations/", None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.post("/api/assistants/conversations/", None, json!({})).await.status, StatusCode::UNAUTHORIZED);
    let path = format!("/api/assistants/conversations/{}/", mine.id);
    let got = app.get(&path, Some(&ada)).await.json();
    assert_eq!(got["id"], mine.id.as_str());
    assert!(got.get("userId").is_none());
    for (method, body) in [(Method::GET, None), (Method::PATCH, Some(json!({"title": "x"}))), (Method::DELETE, None)] {
        assert_eq!(app.call(method, &path, Some(&bob), body).await.status, StatusCode::NOT_FOUND);
    }
    let renamed = app.call(Method::PATCH, &path, Some(&ada), Some(json!({"title": "Renamed"}))).await;
    assert_eq!((renamed.status, renamed.json()["title"].clone()), (StatusCode::OK, json!("Renamed")));
    let too_long = app.call(Method::PATCH, &path, Some(&ada), Some(json!({"title": "t".repeat(201)}))).await;
    assert_eq!(too_long.status, StatusCode::BAD_REQUEST);
    assert_eq!(app.get("/api/assistants/conversations/not-a-uuid/", Some(&ada)).await.status, StatusCode::NOT_FOUND);
    assert_eq!(app.call(Method::DELETE, &path, Some(&ada), None).await.status, StatusCode::NO_CONTENT);
    assert!(Conversation::get(app.db(), &mine.id).await.expect("query").is_none());
}

async fn messages_follow_the_access_rule(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let owned = Conversation::create(app.db(), Some(ada.id), "owned").await.expect("conversation");
    let open = Conversation::create(app.db(), None, "open").await.expect("conversation");
    AssistantMessage::create(app.db(), &owned.id, sandbox::assistants::model::MessageType::User, "first")
        .await
        .expect("message");
    let message =
        AssistantMessage::create(app.db(), &owned.id, sandbox::assistants::model::MessageType::Assistant, "second")
            .await
            .expect("message");

    let list = app.get(&format!("/api/assistants/conversations/{}/messages/", owned.id), Some(&ada)).await.json();
    let contents: Vec<&str> =
        list["results"].as_array().expect("list").iter().filter_map(|m| m["content"].as_str()).collect();
    assert_eq!(contents, ["first", "second"]);
    let retrieved =
        app.get(&format!("/api/assistants/conversations/{}/messages/{}/", owned.id, message.id), Some(&ada)).await;
    assert_eq!(retrieved.json()["messageType"], "assistant");
    for (user, route) in [(Some(&bob), "conversations"), (None, "conversations"), (None, "anonymous")] {
        let path = format!("/api/assistants/{route}/{}/messages/", owned.id);
        assert_eq!(app.get(&path, user).await.status, StatusCode::NOT_FOUND, "{route} {user:?}");
        assert_eq!(app.post(&path, user, json!({"content": "let me in"})).await.status, StatusCode::NOT_FOUND);
    }
    assert_eq!(app.get(&format!("/api/assistants/anonymous/{}/messages/", open.id), None).await.status, StatusCode::OK);
    assert_eq!(
        app.get(&format!("/api/assistants/anonymous/{}/messages/", open.id), Some(&bob)).await.status,
        StatusCode::OK
    );
    let path = format!("/api/assistants/anonymous/{}/messages/", open.id);
    for (body, code) in [
        (json!({"content": ""}), "blank"),
        (json!({"content": "  "}), "blank"),
        (json!({}), "required"),
        (json!({"content": "x".repeat(10_001)}), "max_length"),
    ] {
        let response = app.post(&path, None, body).await;
        assert_eq!(
            (response.status, response.json()["errors"][0]["code"].clone()),
            (StatusCode::BAD_REQUEST, json!(code))
        );
    }
    let item = format!("/api/assistants/conversations/{}/messages/{}/", owned.id, message.id);
    for method in [Method::PATCH, Method::PUT, Method::DELETE] {
        assert_eq!(
            app.call(method, &item, Some(&ada), Some(json!({"content": "x"}))).await.status,
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
    assert_eq!(
        AssistantMessage::history(app.db(), &open.id).await.expect("query").len(),
        0,
        "nothing refused was saved"
    );
    assert_eq!(AssistantMessage::history(app.db(), &owned.id).await.expect("query").len(), 2);
}

async fn the_socket_follows_the_access_rule(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let owned = Conversation::create(app.db(), Some(ada.id), "owned").await.expect("conversation");
    let open = Conversation::create(app.db(), None, "open").await.expect("conversation");
    let mut owner = socket(&app, &owned.id, Some(&ada)).await;
    owner.send_json(&json!({"action": "ping"})).await;
    assert_eq!(owner.receive_all_messages("complete", WAIT).await, [json!({"action": "pong", "payload": null})]);
    let missing = uuid::Uuid::new_v4().to_string();
    for (id, user, status) in [
        (owned.id.as_str(), Some(&bob), 403),
        (owned.id.as_str(), None, 401),
        (missing.as_str(), Some(&ada), 404),
        ("99999", None, 404),
    ] {
        let mut comm = app.socket(&format!("/ws/assistants/{id}/"), user).await;
        assert_eq!(comm.wait_for_auth().await.status_code, status, "{id} {user:?}");
        comm.assert_closed(4000 + status).await;
    }
    let mut visitor = socket(&app, &open.id, None).await;
    visitor.send_json(&json!({"action": "ping"})).await;
    assert_eq!(visitor.receive_all_messages("complete", WAIT).await[0]["action"], "pong");
    // Events of another conversation never arrive.
    let event = sandbox::assistants::consumers::StreamingEvent {
        payload: sandbox::assistants::consumers::StreamingPayload {
            content: "x".into(),
            is_complete: false,
            message_id: 1,
        },
        offset: 0,
    };
    use chanx::Consumer;
    sandbox::assistants::consumers::ConversationConsumer::broadcast_event_to(
        &app.sandbox.state.layer,
        &[owned.group().as_str()],
        &event,
    )
    .await
    .expect("sent");
    assert_eq!(owner.receive_all_messages("event_complete", WAIT).await[0]["action"], "streaming");
    assert!(visitor.receive_nothing().await);
    owner.disconnect().await;
    visitor.disconnect().await;
}

async fn the_pages_follow_the_access_rule(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let owned = Conversation::create(app.db(), Some(ada.id), "Ada's <b>talk</b>").await.expect("conversation");
    let open = Conversation::create(app.db(), None, "").await.expect("conversation");
    let home = app.get("/assistants/", Some(&ada)).await;
    assert!(home.text.contains("Conversations") && home.text.contains("Start New Conversation"));
    assert!(home.text.contains("Ada&#x27;s &lt;b&gt;talk&lt;&#x2f;b&gt;"), "titles are text");
    assert!(home.text.contains("offlineNotice"), "without a key the page says the model is offline");
    let visitor = app.get("/assistants/", None).await;
    assert!(visitor.text.contains("Start Anonymous Chat") && visitor.text.contains("Login to Save Chats"));
    assert!(!visitor.text.contains("Ada&#x27;s"));

    let page = app.get(&format!("/assistants/{}/", owned.id), Some(&ada)).await;
    assert_eq!(page.status, StatusCode::OK);
    for text in [
        "chatInput",
        "sendButton",
        "stopButton",
        "connectionStatus",
        "/static/assistant.js",
        &format!("data-conversation-id=\"{}\"", owned.id),
    ] {
        assert!(page.text.contains(text), "{text}");
    }
    for user in [Some(&bob), None] {
        let refused = app.get(&format!("/assistants/{}/", owned.id), user).await;
        assert_eq!((refused.status, refused.location()), (StatusCode::FOUND, "/assistants/"));
    }
    for user in [Some(&bob), None] {
        let anonymous = app.get(&format!("/assistants/{}/", open.id), user).await;
        assert_eq!(anonymous.status, StatusCode::OK);
        assert!(anonymous.text.contains("(Anonymous)") && anonymous.text.contains("data-anonymous=\"true\""));
    }
    assert_eq!(app.get("/assistants/not-a-uuid/", None).await.status, StatusCode::NOT_FOUND);
    let missing = app.get(&format!("/assistants/{}/", uuid::Uuid::new_v4()), None).await;
    assert_eq!((missing.status, missing.location()), (StatusCode::FOUND, "/assistants/"));
    let script = app.get("/static/assistant.js", None).await;
    assert!(
        script.status == StatusCode::OK && !script.text.contains("innerHTML") && script.text.contains("textContent")
    );
}

async fn the_assistant_is_throttled_per_client(app: TestApp) {
    let app = app.configured(&[("ASSISTANT_REQUESTS_PER_MINUTE", "2".into())]);
    for _ in 0..2 {
        assert_eq!(app.call(Method::POST, "/api/assistants/anonymous/", None, None).await.status, StatusCode::CREATED);
    }
    let throttled = app.call(Method::POST, "/api/assistants/anonymous/", None, None).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(throttled.headers.contains_key("retry-after"));
    assert_eq!(app.count("SELECT COUNT(*) FROM assistant_conversations").await, 2);
    let conversation = Conversation::create(app.db(), None, "").await.expect("conversation");
    let message = app
        .post(&format!("/api/assistants/anonymous/{}/messages/", conversation.id), None, json!({"content": "hi"}))
        .await;
    assert_eq!(message.status, StatusCode::TOO_MANY_REQUESTS, "messages share the budget");
    assert_eq!(
        app.get(&format!("/api/assistants/anonymous/{}/messages/", conversation.id), None).await.status,
        StatusCode::OK,
        "reading is not throttled"
    );
}

async fn a_visitor_who_leaves_mid_answer_still_finds_it_saved(app: TestApp) {
    let fake = FakeOpenAi::start().await;
    let app = app.configured(&fake.env());
    let conversation = Conversation::create(app.db(), None, "").await.expect("conversation");
    let mut comm = socket(&app, &conversation.id, None).await;
    let path = format!("/api/assistants/anonymous/{}/messages/", conversation.id);
    assert_eq!(app.post(&path, None, json!({"content": "Hello"})).await.status, StatusCode::CREATED);
    let mut first = next_frame(&mut comm).await;
    if first["action"] == "conversation_title" {
        first = next_frame(&mut comm).await;
    }
    assert_eq!(first["action"], "new_assistant_message");
    comm.disconnect().await;
    let saved = messages_saved(&app, &conversation.id, 2).await;
    assert_eq!(saved[1].content, FIRST, "the answer is written and saved with nobody watching");
    slot_freed(&app, &conversation.id).await;
    assert_eq!(
        app.post(&path, None, json!({"content": "Back again"})).await.status,
        StatusCode::CREATED,
        "and the slot is free"
    );
}

/// Waits (bounded) until no answer is being written in `conversation`.
async fn slot_freed(app: &TestApp, conversation: &str) {
    let freed = app.sandbox.state.assistant.generations.until_free(conversation);
    assert!(tokio::time::timeout(WAIT, freed).await.is_ok(), "the answer slot was never freed");
}

/// A provider that never stops talking is cut off at `MAX_ANSWER_BYTES`: what fits was streamed,
/// and is saved and completed as a stopped answer is.
async fn an_endless_answer_is_cut_at_the_cap_and_kept(app: TestApp) {
    let fake = FakeOpenAi::start().await;
    let app = app.configured(&fake.env());
    let conversation = Conversation::create(app.db(), None, "Endless").await.expect("conversation");
    let mut comm = socket(&app, &conversation.id, None).await;
    let path = format!("/api/assistants/anonymous/{}/messages/", conversation.id);
    assert_eq!(app.post(&path, None, json!({"content": "endless please"})).await.status, StatusCode::CREATED);
    let frames = answer(&mut comm, "complete_streaming").await;
    let streamed: String =
        frames.iter().filter(|f| f["action"] == "streaming").filter_map(|f| f["payload"]["content"].as_str()).collect();
    assert_eq!(streamed.len(), MAX_ANSWER_BYTES, "streamed up to the cap, not a byte more");
    let saved = messages_saved(&app, &conversation.id, 2).await;
    assert_eq!((saved[1].message_type, saved[1].content.len()), (MessageType::Assistant, MAX_ANSWER_BYTES));
    assert_eq!(saved[1].content, streamed, "what was shown is what is kept");
    comm.disconnect().await;
}

/// A 10 MB line, a 401 whose body never ends, and an answer that trickles on past
/// `OPENAI_ANSWER_SECONDS`: each ends in `assistant_error`, nothing is saved, and the endless
/// body was not read beyond a few of its bytes.
async fn a_hostile_provider_is_cut_off_with_assistant_error(app: TestApp) {
    let fake = FakeOpenAi::start().await;
    let app = app.configured(&fake.env());
    let ada = app.user("ada@example.com").await;
    let conversation = Conversation::create(app.db(), Some(ada.id), "Hostile").await.expect("conversation");
    let cases = [
        ("a hugeline please", "The assistant could not answer. Please try again."),
        ("a hugeerror please", "The assistant is not available: its API key was refused."),
    ];
    let mut saved = hostile_answers(&app, &ada, &conversation, cases, 0).await;
    // Well below what a reader of the whole body would have taken in by its timeout; the slack
    // is what the sockets' buffers hold.
    let sent = fake.error_bytes_sent();
    assert!(sent < 32 * 1024 * 1024, "the endless error body was read on: {sent} bytes sent");
    let mut env = fake.env();
    env.push(("OPENAI_ANSWER_SECONDS", "1".into()));
    let app = app.configured(&env);
    let cases = [("a trickle please", "The assistant took too long to answer. Please try again.")];
    saved = hostile_answers(&app, &ada, &conversation, cases, saved).await;
    assert_eq!(saved, 3);
}

/// Posts each message of `cases` and checks that its answer ends in its `assistant_error` with no
/// huge frame and nothing saved; returns how many messages the conversation then has.
async fn hostile_answers<const N: usize>(
    app: &TestApp,
    ada: &User,
    conversation: &Conversation,
    cases: [(&str, &str); N],
    mut saved: usize,
) -> usize {
    let path = format!("/api/assistants/conversations/{}/messages/", conversation.id);
    let mut comm = socket(app, &conversation.id, Some(ada)).await;
    for (content, error) in cases {
        let posted = app.post(&path, Some(ada), json!({"content": content})).await;
        assert_eq!(posted.status, StatusCode::CREATED, "{content}");
        saved += 1;
        let frames = answer(&mut comm, "assistant_error").await;
        let id = posted.json()["id"].to_string();
        assert_eq!(
            frames.last(),
            Some(&json!({"action": "assistant_error", "payload": {"content": error, "messageId": id}})),
            "{content}"
        );
        assert!(frames.iter().all(|f| f.to_string().len() < 64 * 1024), "{content}: no huge frame went out");
        slot_freed(app, &conversation.id).await;
        let history = AssistantMessage::history(app.db(), &conversation.id).await.expect("query");
        assert_eq!(history.len(), saved, "{content}: no reply saved");
    }
    comm.disconnect().await;
    saved
}

/// The model gets the newest `MAX_HISTORY_MESSAGES` messages at most, and `MAX_HISTORY_BYTES` of
/// them at most, always ending with the message being answered.
async fn the_history_sent_to_the_model_is_capped(app: TestApp) {
    let fake = FakeOpenAi::start().await;
    let app = app.configured(&fake.env());
    for (count, size) in [(100, 10), (10, 30 * 1024)] {
        let conversation = Conversation::create(app.db(), None, "Long").await.expect("conversation");
        for n in 0..count {
            let kind = if n % 2 == 0 { MessageType::User } else { MessageType::Assistant };
            let content = format!("{n:0size$}");
            AssistantMessage::create(app.db(), &conversation.id, kind, &content).await.expect("message");
        }
        let mut comm = socket(&app, &conversation.id, None).await;
        let path = format!("/api/assistants/anonymous/{}/messages/", conversation.id);
        assert_eq!(app.post(&path, None, json!({"content": "Hello"})).await.status, StatusCode::CREATED);
        answer(&mut comm, "complete_streaming").await;
        let sent: Vec<String> = fake.streams().last().expect("a stream")["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .filter_map(|m| m["content"].as_str().map(str::to_owned))
            .collect();
        assert!(sent.len() <= MAX_HISTORY_MESSAGES, "{count} × {size}: {} messages sent", sent.len());
        assert!(sent.iter().map(String::len).sum::<usize>() <= MAX_HISTORY_BYTES, "{count} × {size}");
        let stored: Vec<String> = AssistantMessage::history(app.db(), &conversation.id)
            .await
            .expect("query")
            .into_iter()
            .map(|m| m.content)
            .take(count + 1)
            .collect();
        assert_eq!(sent.last().map(String::as_str), Some("Hello"), "the message being answered goes last");
        assert!(stored.ends_with(&sent), "{count} × {size}: the newest messages, in order");
        comm.disconnect().await;
    }
    let long = fake.streams();
    assert_eq!(long[0]["messages"].as_array().map(Vec::len), Some(MAX_HISTORY_MESSAGES));
    assert_eq!(long[1]["messages"].as_array().map(Vec::len), Some(1 + MAX_HISTORY_BYTES / (30 * 1024)));
}

/// A generated title and a rename reach, once each, the pages showing the conversation and the
/// owner's pages whose list shows it, and nobody else.
async fn titles_reach_the_open_pages_live(app: TestApp) {
    let fake = FakeOpenAi::start().await;
    let app = app.configured(&fake.env());
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let new = Conversation::create(app.db(), Some(ada.id), "").await.expect("conversation");
    let other = Conversation::create(app.db(), Some(ada.id), "Other").await.expect("conversation");
    let open = Conversation::create(app.db(), None, "").await.expect("conversation");
    let mut on_new = socket(&app, &new.id, Some(&ada)).await;
    let mut on_other = socket(&app, &other.id, Some(&ada)).await;
    let mut bob_on_open = socket(&app, &open.id, Some(&bob)).await;
    let title = |id: &str, title: &str| json!({"action": "conversation_title", "payload": {"conversationId": id, "title": title}});

    let path = format!("/api/assistants/conversations/{}/messages/", new.id);
    assert_eq!(app.post(&path, Some(&ada), json!({"content": "Hello there"})).await.status, StatusCode::CREATED);
    let frames = until_both(&mut on_new, "complete_streaming", "conversation_title").await;
    let generated = title(&new.id, "Greetings and help");
    assert_eq!(frames.iter().filter(|f| f["action"] == "conversation_title").collect::<Vec<_>>(), [&generated]);
    assert_eq!(
        frames_until_quiet(&mut on_other).await,
        [generated],
        "the list beside another of Ada's conversations follows"
    );

    let renamed = app
        .call(
            Method::PUT,
            &format!("/api/assistants/conversations/{}/", other.id),
            Some(&ada),
            Some(json!({"title": "Renamed"})),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK);
    let rename = title(&other.id, "Renamed");
    assert_eq!(frames_until_quiet(&mut on_other).await, vec![rename.clone()], "once, though the page is in two groups");
    assert_eq!(frames_until_quiet(&mut on_new).await, vec![rename]);
    assert!(nothing_more(&mut bob_on_open).await, "Ada's titles reach only Ada");

    let path = format!("/api/assistants/anonymous/{}/messages/", open.id);
    assert_eq!(app.post(&path, None, json!({"content": "Hi"})).await.status, StatusCode::CREATED);
    let frames = until_both(&mut bob_on_open, "complete_streaming", "conversation_title").await;
    let titles: Vec<&Value> = frames.iter().filter(|f| f["action"] == "conversation_title").collect();
    assert_eq!(titles, [&title(&open.id, "Greetings and help")], "an anonymous conversation's visitors");
    assert!(nothing_more(&mut on_new).await, "an anonymous conversation is in nobody's list");
    for comm in [on_new, on_other, bob_on_open] {
        comm.disconnect().await;
    }
}

/// A page drops its socket mid-answer and comes back: it gets the answer so far, then the live
/// rest, and shows the whole answer with no piece missing and none twice. The provider sends
/// each token when the test lets it, so the test knows how far the answer is without a clock.
async fn a_page_that_reconnects_mid_answer_gets_the_whole_answer_once(app: TestApp) {
    let fake = FakeOpenAi::start().await;
    let app = app.configured(&patient(&fake));
    let conversation = Conversation::create(app.db(), None, "Paced").await.expect("conversation");
    let mut page = socket(&app, &conversation.id, None).await;
    let mut watcher = socket(&app, &conversation.id, None).await;
    let path = format!("/api/assistants/anonymous/{}/messages/", conversation.id);
    let posted = app.post(&path, None, json!({"content": "paced please"})).await;
    assert_eq!(posted.status, StatusCode::CREATED);
    let message_id = posted.json()["id"].clone();
    let expected = expected_stream(&posted.json(), &paced_answer());

    fake.release(3);
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(next_frame(&mut page).await);
    }
    assert_eq!(seen, expected[..4], "the start, live");
    // Two more pieces go out; the page never reads them: they are lost with its socket.
    fake.release(2);
    for frame in &expected[..6] {
        assert_eq!(&next_frame(&mut watcher).await, frame);
    }
    page.reconnect().await;
    page.assert_authenticated_status_ok().await;
    // One piece crosses the reconnect: it may be broadcast before or after the answer so far.
    fake.release(1);
    let first = next_frame(&mut page).await;
    assert_eq!(first["action"], "answer_so_far", "the answer so far comes first: {first}");
    let so_far = first["payload"]["content"].as_str().unwrap_or_default().to_owned();
    assert!(
        [5, 6].map(|n| tokens(&paced_answer())[..n].concat()).contains(&so_far),
        "the five pieces sent, or six: {so_far:?}"
    );
    // A page opened now, mid-answer, gets it too.
    let mut opened = socket(&app, &conversation.id, None).await;
    let opened_first = next_frame(&mut opened).await;
    assert_eq!(opened_first["action"], "answer_so_far", "{opened_first}");

    fake.release(PACED - 6);
    let mut rest = vec![first];
    rest.extend(page.receive_all_messages("complete_streaming", WAIT).await);
    assert_eq!(shown_text(&rest, &message_id), paced_answer(), "{rest:?}");
    let pieces: String = rest[1..]
        .iter()
        .filter(|f| f["action"] == "streaming")
        .filter_map(|f| f["payload"]["content"].as_str())
        .collect();
    assert_eq!(so_far.len() + pieces.len(), paced_answer().len(), "no piece twice: {rest:?}");
    assert_eq!(rest.last(), expected.last());
    let mut opened_rest = vec![opened_first];
    opened_rest.extend(opened.receive_all_messages("complete_streaming", WAIT).await);
    assert_eq!(shown_text(&opened_rest, &message_id), paced_answer(), "{opened_rest:?}");
    let watched = watcher.receive_all_messages("complete_streaming", WAIT).await;
    assert_eq!(watched, expected[6..], "a socket there all along sees the plain stream");
    let saved = messages_saved(&app, &conversation.id, 2).await;
    assert_eq!(saved[1].content, paced_answer());

    let mut after = socket(&app, &conversation.id, None).await;
    assert!(nothing_more(&mut after).await, "no answer is being written: nothing to resume");
    for comm in [page, watcher, opened, after] {
        comm.disconnect().await;
    }
}

/// A socket that joined mid-answer and whose answer so far never came (its writer had just
/// finished) gets the saved answer before `complete_streaming`, not a hole.
async fn a_page_that_missed_the_answer_so_far_gets_the_saved_answer_at_the_end(app: TestApp) {
    use chanx::Consumer;
    use sandbox::assistants::consumers::{
        CompleteStreamingEvent, ConversationConsumer, StreamingEvent, StreamingPayload,
    };
    let conversation = Conversation::create(app.db(), None, "Gap").await.expect("conversation");
    let asked =
        AssistantMessage::create(app.db(), &conversation.id, MessageType::User, "question").await.expect("saved");
    let reply = "the whole answer";
    AssistantMessage::create(app.db(), &conversation.id, MessageType::Assistant, reply).await.expect("saved");
    let mut page = socket(&app, &conversation.id, None).await;
    let layer = &app.sandbox.state.layer;
    let group = conversation.group();
    let piece = StreamingEvent {
        payload: StreamingPayload { content: "answer".into(), is_complete: false, message_id: asked.id },
        offset: "the whole ".len(),
    };
    ConversationConsumer::broadcast_event_to(layer, &[group.as_str()], &piece).await.expect("sent");
    let done = CompleteStreamingEvent {
        payload: StreamingPayload { content: String::new(), is_complete: true, message_id: asked.id },
        length: reply.len(),
    };
    ConversationConsumer::broadcast_event_to(layer, &[group.as_str()], &done).await.expect("sent");
    assert_eq!(
        page.receive_all_messages("complete_streaming", WAIT).await,
        [
            json!({"action": "answer_so_far", "payload": {"content": reply, "messageId": asked.id}}),
            json!({"action": "complete_streaming", "payload": {"content": "", "isComplete": true, "messageId": asked.id}}),
        ]
    );
    page.disconnect().await;
}
