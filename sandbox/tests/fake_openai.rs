//! A local stand-in for an OpenAI-compatible chat-completions server, speaking its streaming
//! format (server-sent events), so the sandbox's real client code is what the tests run.
//!
//! The last user message picks the behaviour: it contains `unauthorized` (401), `cut` (the
//! stream stops before `[DONE]`), `slow` (one token, then silence), `malformed` (a line that is
//! not JSON), `long` (40 tokens, 100 ms apart) or `paced` ([`PACED`] tokens, each sent when the
//! test lets it go with [`FakeOpenAi::release`], so a test knows exactly how far the answer is
//! without any clock); a hostile provider: `endless` (1000-byte
//! tokens without end), `trickle` (a token every 100 ms without end), `hugeline` (one valid
//! line of 10 MB), `hugeerror` (a 401 whose body never ends, counted in
//! [`FakeOpenAi::error_bytes_sent`]); anything else gets a normal answer, the first or the second
//! below by the number of user turns. A request without `stream` asks for a title.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde_json::{Value, json};

/// The first answer.
pub(crate) const FIRST: &str = "Hello! How can I help you today?";
/// The second answer.
pub(crate) const SECOND: &str = "Here is **more**: `code` and a list.";
/// The title the fake names conversations with (quoted, as models like to).
pub(crate) const TITLE: &str = "\"Greetings and help.\"";

/// The tokens of a `paced` answer: ` p0`, ` p1`, …
pub(crate) const PACED: usize = 12;

/// The whole `paced` answer.
pub(crate) fn paced_answer() -> String {
    (0..PACED).map(|n| format!(" p{n}")).collect()
}

/// The running fake and the requests it received.
pub(crate) struct FakeOpenAi {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Value>>>,
    error_bytes: Arc<AtomicUsize>,
    gate: Arc<tokio::sync::Semaphore>,
}

/// What the fake records.
#[derive(Clone)]
struct Log {
    requests: Arc<Mutex<Vec<Value>>>,
    error_bytes: Arc<AtomicUsize>,
    /// One permit per `paced` token allowed out.
    gate: Arc<tokio::sync::Semaphore>,
}

impl FakeOpenAi {
    pub(crate) async fn start() -> FakeOpenAi {
        let log = Log {
            requests: Arc::default(),
            error_bytes: Arc::default(),
            gate: Arc::new(tokio::sync::Semaphore::new(0)),
        };
        let app =
            axum::Router::new().route("/v1/chat/completions", axum::routing::post(completions)).with_state(log.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeOpenAi { addr, requests: log.requests, error_bytes: log.error_bytes, gate: log.gate }
    }

    /// Lets `n` more tokens of a `paced` answer go out.
    pub(crate) fn release(&self, n: usize) {
        self.gate.add_permits(n);
    }

    /// How many bytes of the endless `hugeerror` body were handed to the connection so far.
    pub(crate) fn error_bytes_sent(&self) -> usize {
        self.error_bytes.load(Ordering::SeqCst)
    }

    /// The sandbox's environment for this provider, with a 1-second timeout.
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("OPENAI_API_KEY", "sk-test".into()),
            ("OPENAI_BASE_URL", format!("http://{}/v1", self.addr)),
            ("OPENAI_MODEL", "fake-model".into()),
            ("OPENAI_TIMEOUT_SECONDS", "1".into()),
        ]
    }

    /// The JSON bodies received so far.
    pub(crate) fn requests(&self) -> Vec<Value> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// The streaming requests received so far.
    pub(crate) fn streams(&self) -> Vec<Value> {
        self.requests().into_iter().filter(|r| r["stream"] == json!(true)).collect()
    }
}

/// The pieces a text is streamed in: each word with the whitespace before it.
pub(crate) fn tokens(text: &str) -> Vec<String> {
    sandbox::assistants::llm::tokenize(text)
}

fn chunk(delta: Value) -> Bytes {
    Bytes::from(format!(
        "data: {}\n\n",
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": delta}]})
    ))
}

fn event_stream(parts: Vec<(Duration, Bytes)>) -> Response {
    let body = futures_util::stream::unfold(parts.into_iter(), |mut parts| async move {
        let (pause, bytes) = parts.next()?;
        tokio::time::sleep(pause).await;
        Some((Ok::<_, Infallible>(bytes), parts))
    });
    ([("content-type", "text/event-stream")], Body::from_stream(body)).into_response()
}

/// An endless body of `piece`, produced as fast as the connection takes it.
fn endless(piece: Bytes, sent: Option<Arc<AtomicUsize>>) -> Body {
    Body::from_stream(futures_util::stream::repeat(piece).map(move |piece| {
        if let Some(sent) = &sent {
            sent.fetch_add(piece.len(), Ordering::SeqCst);
        }
        Ok::<_, Infallible>(piece)
    }))
}

async fn completions(State(log): State<Log>, axum::Json(body): axum::Json<Value>) -> Response {
    if let Ok(mut requests) = log.requests.lock() {
        requests.push(body.clone());
    }
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let user_turns: Vec<&str> =
        messages.iter().filter(|m| m["role"] == "user").filter_map(|m| m["content"].as_str()).collect();
    let last = user_turns.last().copied().unwrap_or_default();
    if last.contains("hugeerror") {
        let body = endless(Bytes::from(vec![b' '; 64 * 1024]), Some(log.error_bytes.clone()));
        return (StatusCode::UNAUTHORIZED, [("content-type", "application/json")], body).into_response();
    }
    if last.contains("unauthorized") {
        let error = json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}});
        return (StatusCode::UNAUTHORIZED, axum::Json(error)).into_response();
    }
    if body["stream"] != json!(true) {
        return axum::Json(json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": TITLE}}]}))
            .into_response();
    }
    let now = Duration::ZERO;
    let mut parts = vec![(now, chunk(json!({"role": "assistant", "content": ""})))];
    if last.contains("cut") {
        parts.extend(["Partial", " answer"].map(|t| (now, chunk(json!({"content": t})))));
        return event_stream(parts);
    }
    if last.contains("slow") {
        parts.push((now, chunk(json!({"content": "Thinking"}))));
        parts.push((Duration::from_secs(30), chunk(json!({"content": " too late"}))));
        return event_stream(parts);
    }
    if last.contains("endless") {
        let piece = chunk(json!({"content": "e".repeat(1000)}));
        return ([("content-type", "text/event-stream")], endless(piece, None)).into_response();
    }
    if last.contains("trickle") {
        let body = futures_util::stream::unfold((), |()| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Some((Ok::<_, Infallible>(chunk(json!({"content": " more"}))), ()))
        });
        return ([("content-type", "text/event-stream")], Body::from_stream(body)).into_response();
    }
    if last.contains("hugeline") {
        // One valid chunk of 10 MB, produced as it is sent.
        let start = Bytes::from_static(br#"data: {"choices": [{"index": 0, "delta": {"content": ""#);
        let text = std::iter::repeat_n(Bytes::from(vec![b'h'; 64 * 1024]), 160);
        let end = [Bytes::from_static(b"\"}}]}\n\n"), Bytes::from_static(b"data: [DONE]\n\n")];
        let pieces = std::iter::once(start).chain(text).chain(end).map(Ok::<_, Infallible>);
        return ([("content-type", "text/event-stream")], Body::from_stream(futures_util::stream::iter(pieces)))
            .into_response();
    }
    if last.contains("paced") {
        let gate = log.gate.clone();
        let tokens = futures_util::stream::iter(tokens(&paced_answer())).then(move |token| {
            let gate = gate.clone();
            async move {
                if let Ok(permit) = gate.acquire().await {
                    permit.forget();
                }
                Ok::<_, Infallible>(chunk(json!({"content": token})))
            }
        });
        let end = futures_util::stream::iter([
            Ok::<_, Infallible>(chunk(json!({}))),
            Ok(Bytes::from_static(b"data: [DONE]\n\n")),
        ]);
        let body = Body::from_stream(tokens.chain(end));
        return ([("content-type", "text/event-stream")], body).into_response();
    }
    if last.contains("malformed") {
        parts.push((now, Bytes::from_static(b"data: {this is not json\n\n")));
        return event_stream(parts);
    }
    let (answer, pause) = if last.contains("long") {
        ((0..40).map(|n| format!(" word{n}")).collect::<String>(), Duration::from_millis(100))
    } else if user_turns.len() >= 2 {
        (SECOND.to_owned(), now)
    } else {
        (FIRST.to_owned(), now)
    };
    parts.extend(tokens(&answer).into_iter().map(|t| (pause, chunk(json!({"content": t})))));
    parts.push((now, chunk(json!({}))));
    parts.push((now, Bytes::from_static(b"data: [DONE]\n\n")));
    event_stream(parts)
}
