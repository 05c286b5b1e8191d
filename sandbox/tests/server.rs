//! The sandbox as a real server: sockets through axum with origin checks, request ids, and the
//! command line.

use std::process::Command;

use axum::http::StatusCode;
use futures_util::StreamExt;
use sandbox::chat::model::Role;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::chat_api::chat_with;
use crate::support::TestApp;

crate::on_both_databases!(
    a_browser_connects_through_axum_and_foreign_origins_are_refused,
    request_ids_from_clients_are_kept_only_when_short_and_plain,
    the_asyncapi_document_is_served_in_three_forms,
);

async fn a_browser_connects_through_axum_and_foreign_origins_are_refused(app: TestApp) {
    let (ada, bob) = (app.user("ada@example.com").await, app.user("bob@example.com").await);
    let chat = chat_with(&app, "Lab", &ada, &[(&bob, Role::Member)]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port");
    let addr = listener.local_addr().expect("addr");
    // The sandbox's own server (header timeout, connection cap, TCP_NODELAY), without its
    // signal handling, which belongs to the test process.
    let serve = app.sandbox.serve(listener).with_graceful_shutdown(std::future::pending());
    tokio::spawn(async move { serve.await });

    let connect = |origin: &str| {
        let mut request = format!("ws://{addr}/ws/chat/{}/", chat.id).into_client_request().expect("request");
        request.headers_mut().insert("origin", origin.parse().expect("header"));
        request.headers_mut().insert("cookie", app.cookie_for(&bob).parse().expect("header"));
        request.headers_mut().insert("x-request-id", "trace-me-42".parse().expect("header"));
        tokio_tungstenite::connect_async(request)
    };
    let (mut socket, response) = connect("http://localhost:8000").await.expect("same-site origin accepted");
    assert_eq!(response.headers().get("x-request-id").and_then(|v| v.to_str().ok()), Some("trace-me-42"));
    let auth = socket.next().await.expect("frame").expect("text");
    assert!(auth.to_text().expect("text").contains("\"statusCode\":200"), "{auth}");

    match connect("https://evil.example").await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::FORBIDDEN)
        }
        other => panic!("a foreign origin must be refused, got {:?}", other.map(|(_, r)| r.status())),
    }
    let page = reqwest_free_get(addr, "/chat/").await;
    assert!(page.starts_with("HTTP/1.1 200") && page.to_lowercase().contains("x-request-id:"), "{page}");
}

async fn request_ids_from_clients_are_kept_only_when_short_and_plain(app: TestApp) {
    let echoed = |sent: Option<&[u8]>| {
        let mut request = axum::http::Request::get("/login");
        if let Some(sent) = sent {
            request = request.header("x-request-id", axum::http::HeaderValue::from_bytes(sent).expect("header"));
        }
        let request = request.body(axum::body::Body::empty()).expect("request");
        async {
            app.send(request).await.headers.get("x-request-id").expect("echoed").to_str().expect("text").to_owned()
        }
    };
    let plain = "4bf92f3577b34da6-a3ce929d0e0e4736_v1.2";
    assert_eq!(echoed(Some(plain.as_bytes())).await, plain, "a proxy's or tracer's id is kept");
    let longest = "a".repeat(128);
    assert_eq!(echoed(Some(longest.as_bytes())).await, longest);
    let hostile: [&[u8]; 6] = [
        b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        b"id with spaces",
        b"\"} {\"level\":\"ERROR\",\"message\":\"forged\"",
        b"a\tb",
        b"\xc3\xa9t\xc3\xa9",
        b"<script>",
    ];
    for sent in hostile {
        let id = echoed(Some(sent)).await;
        assert!(
            uuid::Uuid::parse_str(&id).is_ok(),
            "{:?} was replaced by a new UUID, not {id:?}",
            String::from_utf8_lossy(sent)
        );
    }
    assert!(uuid::Uuid::parse_str(&echoed(None).await).is_ok(), "none sent: a new one");
}

/// A bare HTTP/1.1 GET, to see the real response head.
async fn reqwest_free_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response
}

fn sandbox_command(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sandbox"));
    command.current_dir(dir).env_remove("DATABASE_URL").env_remove("REDIS_URL").env_remove("SANDBOX_ENV");
    command.env_remove("SECRET_KEY").env_remove("SANDBOX_DATA_DIR");
    command
}

#[test]
fn production_refuses_to_start_without_a_long_unpublished_secret_key() {
    let dir = std::env::temp_dir().join(format!("chanx-sandbox-prod-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let cases = [
        (None, "SECRET_KEY must be set when SANDBOX_ENV=production"),
        (Some("sandbox-development-secret: never use in production"), "published in the sandbox's source"),
        (Some("only-twenty-six-bytes-long"), "SECRET_KEY has 26 bytes; production needs at least 32"),
    ];
    for (key, message) in cases {
        let mut command = sandbox_command(&dir);
        command.args(["serve", "--addr", "127.0.0.1:0"]).env("SANDBOX_ENV", "production");
        match key {
            Some(key) => command.env("SECRET_KEY", key),
            None => command.env_remove("SECRET_KEY"),
        };
        let output = command.output().expect("runs");
        let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(!output.status.success(), "{key:?} must be refused: {said}");
        assert!(said.contains(message), "{key:?}: {said}");
    }
    let files: Vec<_> = std::fs::read_dir(&dir).expect("dir").collect();
    assert!(files.is_empty(), "nothing was created, no key file either: {files:?}");
    std::fs::remove_dir_all(&dir).expect("cleaned");
}

#[test]
fn the_command_line_migrates_creates_a_superuser_and_exports_asyncapi() {
    let dir = std::env::temp_dir().join(format!("chanx-sandbox-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let run = |args: &[&str], password: Option<&str>| {
        let mut command = sandbox_command(&dir);
        command.args(args);
        match password {
            Some(password) => command.env("SANDBOX_SUPERUSER_PASSWORD", password),
            None => command.env_remove("SANDBOX_SUPERUSER_PASSWORD"),
        };
        command.output().expect("runs")
    };
    let migrate = run(&["migrate"], None);
    assert!(migrate.status.success(), "{}", String::from_utf8_lossy(&migrate.stderr));
    assert!(dir.join("sandbox.sqlite3").exists(), "the default database is created");

    let created =
        run(&["createsuperuser", "--email", "root@example.com", "--no-input"], Some("a strong root password"));
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    assert!(String::from_utf8_lossy(&created.stdout).contains("Superuser root@example.com created."));
    let again = run(&["createsuperuser", "--email", "root@example.com", "--no-input"], Some("a strong root password"));
    assert!(!again.status.success(), "a duplicate email fails");
    let no_password = run(&["createsuperuser", "--email", "x@example.com", "--no-input"], None);
    assert!(!no_password.status.success());

    let yaml = run(&["asyncapi", "--format", "yaml"], None);
    let text = String::from_utf8_lossy(&yaml.stdout);
    assert!(yaml.status.success() && text.starts_with("asyncapi: 3.0.0\n") && text.contains("chatDetail"), "{text}");
    let file = dir.join("spec.json");
    let exported = run(&["asyncapi", "--file", file.to_str().unwrap_or_default()], None);
    assert!(exported.status.success());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).expect("written")).expect("json");
    assert_eq!(json["channels"]["groupChat"]["address"], "/ws/chat/group/");
    assert!(!run(&["asyncapi", "--format", "xml"], None).status.success());
    assert!(!run(&["frobnicate"], None).status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

async fn the_asyncapi_document_is_served_in_three_forms(app: TestApp) {
    let json = app.get("/api/asyncapi/schema/", None).await;
    assert_eq!(json.status, StatusCode::OK);
    assert_eq!(json.json()["info"]["title"], "CHANX AsyncAPI Documentation");
    let channels =
        json.json()["channels"].as_object().map(|c| c.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    assert_eq!(
        channels,
        [
            "groupChat",
            "chatDetail",
            "chatDetailChatRoomTopic",
            "discussionList",
            "discussionListDiscussionTopic",
            "discussionTopic",
            "assistants"
        ]
    );
    assert!(app.get("/api/asyncapi/schema/?format=yaml", None).await.text.starts_with("asyncapi: 3.0.0\n"));
    let bad = app.get("/api/asyncapi/schema/?format=xml", None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(app.get("/api/asyncapi/docs/", None).await.text.contains("CHANX AsyncAPI Documentation"));
    assert_eq!(app.get("/asyncapi/", None).await.status, StatusCode::OK);
    assert_eq!(app.get("/asyncapi/asyncapi.json", None).await.json(), json.json());
}

/// The machine's Redis, or `None` with the reason printed (a failure under
/// `CHANX_REQUIRE_SERVICES=1`).
pub(crate) async fn redis_url() -> Option<String> {
    let url = std::env::var("CHANX_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let ping = async {
        let client = redis::Client::open(url.as_str())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match tokio::time::timeout(std::time::Duration::from_secs(2), ping).await {
        Ok(Ok(_)) => Some(url),
        outcome if std::env::var("CHANX_REQUIRE_SERVICES").is_ok_and(|v| v == "1") => {
            panic!("Redis at {url} is required (CHANX_REQUIRE_SERVICES=1): {outcome:?}")
        }
        outcome => {
            eprintln!("skipped: Redis at {url} is unreachable: {outcome:?}");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_chat_events_through_redis() {
    let Some(url) = redis_url().await else { return };
    let prefix = format!("sandbox-test.{}.", uuid::Uuid::new_v4().simple());
    let layer = || {
        let redis = chanx::layer::RedisLayer::builder([url.clone()]).prefix(prefix.clone()).build().expect("layer");
        chanx::Layer::new(redis)
    };
    let first = TestApp::sqlite_with(layer()).await;
    let second = first.another_process(layer());
    let (ada, bob) = (first.user("ada@example.com").await, first.user("bob@example.com").await);
    let chat = chat_with(&first, "Lab", &ada, &[(&bob, Role::Member)]).await;

    // Bob's page is served by the second process; Ada posts through the first.
    let access = second.state.tokens.access(bob.id).expect("token").token;
    let mut bobs_room =
        chanx::testing::WebsocketCommunicator::builder(&second.sockets, &format!("/ws/chat/{}/", chat.id))
            .header("cookie", &format!("my-jwt-auth={access}"))
            .connect()
            .await;
    bobs_room.assert_authenticated_status_ok().await;
    let posted = first
        .post(
            &format!("/api/chat/{}/messages/", chat.id),
            Some(&ada),
            serde_json::json!({"content": "across processes"}),
        )
        .await;
    assert_eq!(posted.status, StatusCode::CREATED);
    let mut expected = posted.json();
    expected["isMine"] = serde_json::json!(false);
    let frames =
        bobs_room.receive_all_messages(chanx::messages::EVENT_COMPLETE, std::time::Duration::from_secs(5)).await;
    assert_eq!(frames, [serde_json::json!({"action": "member_message", "payload": expected})]);
    bobs_room.disconnect().await;
}

/// Deactivating a user through one process closes their sockets held by another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deactivation_closes_sockets_in_every_process() {
    let Some(url) = redis_url().await else { return };
    let prefix = format!("sandbox-test.{}.", uuid::Uuid::new_v4().simple());
    let layer = || {
        let redis = chanx::layer::RedisLayer::builder([url.clone()]).prefix(prefix.clone()).build().expect("layer");
        chanx::Layer::new(redis)
    };
    let first = TestApp::sqlite_with(layer()).await;
    let second = first.another_process(layer());
    let bob = first.user("bob@example.com").await;
    let new = sandbox::accounts::NewUser {
        email: "root@example.com".into(),
        password: crate::support::PASSWORD.into(),
        is_staff: true,
        is_superuser: true,
    };
    let root = sandbox::accounts::User::create(first.db(), &first.sandbox.state.hasher, new).await.expect("superuser");
    let access = second.state.tokens.access(bob.id).expect("token").token;
    let mut bobs_list = chanx::testing::WebsocketCommunicator::builder(&second.sockets, "/ws/chat/group/")
        .header("cookie", &format!("my-jwt-auth={access}"))
        .timeout(std::time::Duration::from_secs(5))
        .connect()
        .await;
    bobs_list.assert_authenticated_status_ok().await;
    let toggled = first.form(&format!("/admin/users/{}/active/", bob.id), Some(&root), &[]).await;
    assert_eq!(toggled.status, StatusCode::FOUND);
    bobs_list.assert_closed(sandbox::sessions::SESSION_ENDED).await;
}

/// The document chanx's client generator and the AsyncAPI parser check in CI
/// (`tests/golden/sandbox.asyncapi.*`); `CHANX_BLESS=1` rewrites it after a deliberate change.
#[tokio::test]
async fn the_asyncapi_document_matches_the_committed_one() {
    let app = TestApp::sqlite().await;
    let golden = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden");
    for (file, actual) in [
        ("sandbox.asyncapi.json", &app.sandbox.state.asyncapi.json),
        ("sandbox.asyncapi.yaml", &app.sandbox.state.asyncapi.yaml),
    ] {
        let path = golden.join(file);
        if std::env::var("CHANX_BLESS").is_ok_and(|v| v == "1") {
            std::fs::write(&path, actual).expect("written");
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            &expected == actual,
            "{file} differs from the generated document; run with CHANX_BLESS=1 and review the diff"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_reaches_the_process_writing_the_answer() {
    let Some(url) = redis_url().await else { return };
    let prefix = format!("sandbox-test.{}.", uuid::Uuid::new_v4().simple());
    let layer = || {
        let redis = chanx::layer::RedisLayer::builder([url.clone()]).prefix(prefix.clone()).build().expect("layer");
        chanx::Layer::new(redis)
    };
    let fake = crate::fake_openai::FakeOpenAi::start().await;
    let writer = TestApp::sqlite().await.configured_with(&fake.env(), layer());
    let other = writer.another_process(layer());
    let conversation =
        sandbox::assistants::model::Conversation::create(writer.db(), None, "").await.expect("conversation");
    let path = format!("/ws/assistants/{}/", conversation.id);
    let mut watching = writer.socket(&path, None).await;
    watching.assert_authenticated_status_ok().await;
    let mut stopping = chanx::testing::WebsocketCommunicator::builder(&other.sockets, &path).connect().await;
    stopping.assert_authenticated_status_ok().await;

    let posted = writer
        .post(
            &format!("/api/assistants/anonymous/{}/messages/", conversation.id),
            None,
            serde_json::json!({"content": "a long story"}),
        )
        .await;
    assert_eq!(posted.status, StatusCode::CREATED);
    let mut streamed = String::new();
    while !streamed.contains("word2") {
        let frame = watching.receive_json().await;
        if frame["action"] == "streaming" {
            streamed.push_str(frame["payload"]["content"].as_str().unwrap_or_default());
        }
    }
    stopping.send_json(&serde_json::json!({"action": "stop_generation"})).await;
    let reply = stopping.receive_all_messages("generation_stopped", std::time::Duration::from_secs(3)).await;
    assert_eq!(
        reply.last().map(|f| f["payload"].clone()),
        Some(serde_json::json!({"stopped": false})),
        "not written here"
    );
    let rest = watching.receive_all_messages("complete_streaming", std::time::Duration::from_secs(3)).await;
    for frame in rest.iter().filter(|f| f["action"] == "streaming") {
        streamed.push_str(frame["payload"]["content"].as_str().unwrap_or_default());
    }
    assert!(!streamed.contains("word39"), "the writer stopped early: {streamed}");
    watching.disconnect().await;
    stopping.disconnect().await;
}

/// Two processes sharing a database write one answer at a time in a conversation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_answer_at_a_time_across_processes() {
    let fake = crate::fake_openai::FakeOpenAi::start().await;
    let first = TestApp::sqlite().await.configured(&fake.env());
    let second = first.another_process(chanx::Layer::memory());
    let conversation =
        sandbox::assistants::model::Conversation::create(first.db(), None, "").await.expect("conversation");
    let path = format!("/api/assistants/anonymous/{}/messages/", conversation.id);
    assert_eq!(
        first.post(&path, None, serde_json::json!({"content": "a long story"})).await.status,
        StatusCode::CREATED
    );
    let request = |content: &str| {
        axum::http::Request::post(&path)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(serde_json::json!({"content": content}).to_string()))
            .expect("request")
    };
    use tower::ServiceExt;
    let busy = second.router().oneshot(request("me too")).await.expect("response");
    assert_eq!(busy.status(), StatusCode::CONFLICT, "the other process sees the answer being written");
    assert!(first.sandbox.state.assistant.stop(&conversation.id).await);
    let mut free = StatusCode::CONFLICT;
    for _ in 0..100 {
        free = second.router().oneshot(request("now me")).await.expect("response").status();
        if free == StatusCode::CREATED {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(free, StatusCode::CREATED, "the lease is released when the answer ends");
}
