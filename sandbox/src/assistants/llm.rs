//! The language model: any OpenAI-compatible chat-completions endpoint, streamed as server-sent
//! events, or the built-in offline model when no API key is configured.
//!
//! The provider is a peer like any other, and may misbehave: whatever it sends is read in bounded
//! pieces. One line of the event stream holds at most [`MAX_LINE_BYTES`], an error body or a
//! title's answer is read up to [`MAX_BODY_BYTES`] and no further, and a whole answer must end
//! within `OPENAI_ANSWER_SECONDS` however steadily its pieces come (the answer's length is capped
//! by its writer, [`super::generation`]).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::config::OpenAiConfig;

/// Who said a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    /// Instructions.
    System,
    /// The person.
    User,
    /// The model.
    Assistant,
}

/// One turn of a conversation, as the model sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Turn {
    /// Who.
    pub role: Speaker,
    /// What.
    pub content: String,
}

impl Turn {
    /// A turn of `role`.
    pub fn new(role: Speaker, content: impl Into<String>) -> Self {
        Turn { role, content: content.into() }
    }
}

/// Why the model did not answer (in full).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmError {
    /// The request failed before an answer (DNS, refused connection, TLS…).
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    /// The provider refused: bad key (401), quota (429), server error…
    #[error("the provider answered {status}: {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The provider's error message.
        message: String,
    },
    /// Nothing arrived for this long.
    #[error("the provider sent nothing for {0:?}")]
    Timeout(Duration),
    /// The whole answer took longer than this (`OPENAI_ANSWER_SECONDS`), however steadily it came.
    #[error("the answer was not over after {0:?}")]
    Deadline(Duration),
    /// The stream stopped before its `[DONE]` line.
    #[error("the stream was cut before it finished")]
    Truncated,
    /// A line that is not the expected JSON.
    #[error("the provider sent something unreadable: {0}")]
    Malformed(String),
}

/// The longest line of the event stream, in bytes: a chunk of a few words is far smaller. A
/// longer line is refused as soon as the buffered part of it exceeds this ([`LlmError::Malformed`]).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// The most of a body read whole, in bytes: an error body (the rest is never read) and a
/// non-streamed answer (a title; longer is [`LlmError::Malformed`]).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// The answer's text, piece by piece.
pub type TokenStream = Pin<Box<dyn Stream<Item = Result<String, LlmError>> + Send>>;

/// A model to talk to; cheap to clone.
#[derive(Debug, Clone)]
pub enum Model {
    /// An OpenAI-compatible endpoint.
    OpenAi(Arc<OpenAi>),
    /// The built-in deterministic model.
    Offline(Offline),
}

impl Model {
    /// The configured provider, or the offline model without an API key.
    pub fn from_config(config: &OpenAiConfig) -> Model {
        match &config.api_key {
            Some(key) => Model::OpenAi(Arc::new(OpenAi::new(config, key.expose()))),
            None => Model::Offline(Offline::default()),
        }
    }

    /// Whether this is the offline model.
    pub fn is_offline(&self) -> bool {
        matches!(self, Model::Offline(_))
    }

    /// Streams the answer to `turns`.
    pub async fn stream(&self, turns: &[Turn]) -> Result<TokenStream, LlmError> {
        match self {
            Model::OpenAi(client) => client.stream(turns).await,
            Model::Offline(offline) => Ok(offline.stream(turns)),
        }
    }

    /// The whole answer to `turns` at once (titles).
    pub async fn complete(&self, turns: &[Turn]) -> Result<String, LlmError> {
        match self {
            Model::OpenAi(client) => client.complete(turns).await,
            Model::Offline(offline) => Ok(offline.answer(turns)),
        }
    }
}

/// A client of `POST {base_url}/chat/completions`.
#[derive(Debug)]
pub struct OpenAi {
    http: reqwest::Client,
    url: String,
    key: String,
    org: Option<String>,
    model: String,
    idle: Duration,
    deadline: Duration,
}

impl OpenAi {
    fn new(config: &OpenAiConfig, key: &str) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        OpenAi {
            http,
            url: format!("{}/chat/completions", config.base_url.trim_end_matches('/')),
            key: key.to_owned(),
            org: config.org.clone(),
            model: config.model.clone(),
            idle: config.timeout,
            deadline: config.answer_deadline,
        }
    }

    /// Waits for `step` at most `idle`, and never past `until` (the whole answer's deadline).
    async fn bounded<T>(&self, until: Instant, step: impl Future<Output = T>) -> Result<T, LlmError> {
        bounded(self.idle, self.deadline, until, step).await
    }

    /// Sends the request and checks the status; `stream` asks for server-sent events. An error
    /// body is read up to [`MAX_BODY_BYTES`].
    async fn send(&self, turns: &[Turn], stream: bool, until: Instant) -> Result<reqwest::Response, LlmError> {
        let mut request = self
            .http
            .post(&self.url)
            .bearer_auth(&self.key)
            .json(&json!({"model": self.model, "messages": turns, "stream": stream}));
        if let Some(org) = &self.org {
            request = request.header("OpenAI-Organization", org);
        }
        let response =
            self.bounded(until, request.send()).await?.map_err(|err| LlmError::Unreachable(err.to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = match self.bounded(until, read_capped(response.bytes_stream(), MAX_BODY_BYTES)).await {
            Ok(Ok((body, _))) => String::from_utf8_lossy(&body).into_owned(),
            _ => String::new(),
        };
        let message = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| body.chars().take(200).collect());
        Err(LlmError::Refused { status: status.as_u16(), message })
    }

    async fn stream(&self, turns: &[Turn]) -> Result<TokenStream, LlmError> {
        let until = Instant::now() + self.deadline;
        let response = self.send(turns, true, until).await?;
        let body: Body = Box::pin(response.bytes_stream().map(|piece| piece.map_err(|err| err.to_string())));
        Ok(SseTokens::new(body, self.idle, self.deadline, until).into_stream())
    }

    async fn complete(&self, turns: &[Turn]) -> Result<String, LlmError> {
        let until = Instant::now() + self.deadline;
        let response = self.send(turns, false, until).await?;
        let (body, cut) = self
            .bounded(until, read_capped(response.bytes_stream(), MAX_BODY_BYTES))
            .await?
            .map_err(LlmError::Unreachable)?;
        if cut {
            return Err(LlmError::Malformed(format!("an answer longer than {MAX_BODY_BYTES} bytes")));
        }
        let body: Value = serde_json::from_slice(&body).map_err(|err| LlmError::Malformed(err.to_string()))?;
        body["choices"][0]["message"]["content"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| LlmError::Malformed("no choices[0].message.content".into()))
    }
}

/// Waits for `step` at most `idle`, and never past `until`, the deadline of an answer that may
/// take `deadline` in all.
async fn bounded<T>(
    idle: Duration,
    deadline: Duration,
    until: Instant,
    step: impl Future<Output = T>,
) -> Result<T, LlmError> {
    let idle_until = Instant::now() + idle;
    match tokio::time::timeout_at(idle_until.min(until), step).await {
        Ok(done) => Ok(done),
        Err(_) if until <= idle_until => Err(LlmError::Deadline(deadline)),
        Err(_) => Err(LlmError::Timeout(idle)),
    }
}

/// Reads `body` until it ends or `cap` bytes have come, whichever is first; the rest is never
/// read. Returns the bytes (at most `cap`) and whether there were more.
pub async fn read_capped<E: std::fmt::Display>(
    body: impl Stream<Item = Result<bytes::Bytes, E>>,
    cap: usize,
) -> Result<(Vec<u8>, bool), String> {
    let mut body = std::pin::pin!(body);
    let mut read = Vec::new();
    while let Some(piece) = body.next().await {
        let piece = piece.map_err(|err| err.to_string())?;
        let room = cap - read.len();
        if piece.len() > room {
            read.extend_from_slice(&piece[..room]);
            return Ok((read, true));
        }
        read.extend_from_slice(&piece);
    }
    Ok((read, false))
}

/// The bytes of a response body, piece by piece.
type Body = Pin<Box<dyn Stream<Item = Result<bytes::Bytes, String>> + Send>>;

/// Reads `data:` lines of a chat-completions event stream into content tokens.
struct SseTokens {
    body: Body,
    /// The start of a line whose end has not come yet (at most [`MAX_LINE_BYTES`]).
    buffer: Vec<u8>,
    pending: VecDeque<String>,
    finished: bool,
    /// How many bytes the parser has looked at, counting each look: linear time means a small
    /// multiple of the bytes read, whatever the pieces they came in (a unit test checks it).
    scanned: usize,
    idle: Duration,
    deadline: Duration,
    until: Instant,
}

/// What one line of the event stream means.
enum Line {
    Token(String),
    Done,
    Nothing,
}

fn read_line(line: &[u8]) -> Result<Line, LlmError> {
    let line = std::str::from_utf8(line).map_err(|_| LlmError::Malformed("not UTF-8".into()))?.trim_end_matches('\r');
    let Some(data) = line.strip_prefix("data:") else { return Ok(Line::Nothing) };
    let data = data.trim_start();
    if data == "[DONE]" {
        return Ok(Line::Done);
    }
    let chunk: Value = serde_json::from_str(data).map_err(|_| LlmError::Malformed(data.chars().take(100).collect()))?;
    if let Some(message) = chunk["error"]["message"].as_str() {
        return Err(LlmError::Refused { status: 200, message: message.to_owned() });
    }
    if !chunk["choices"].is_array() {
        return Err(LlmError::Malformed(data.chars().take(100).collect()));
    }
    match chunk["choices"][0]["delta"]["content"].as_str() {
        // The role-only first chunk and the finish chunk carry no text: nothing to show.
        Some(text) if !text.is_empty() => Ok(Line::Token(text.to_owned())),
        _ => Ok(Line::Nothing),
    }
}

impl SseTokens {
    /// Reads `body`, an event stream that must end by `until` (`deadline` after the request).
    fn new(body: Body, idle: Duration, deadline: Duration, until: Instant) -> Self {
        SseTokens {
            body,
            buffer: Vec::new(),
            pending: VecDeque::new(),
            finished: false,
            scanned: 0,
            idle,
            deadline,
            until,
        }
    }

    fn into_stream(self) -> TokenStream {
        Box::pin(futures_util::stream::unfold(self, SseTokens::next))
    }

    async fn next(mut self) -> Option<(Result<String, LlmError>, Self)> {
        loop {
            if let Some(token) = self.pending.pop_front() {
                return Some((Ok(token), self));
            }
            if self.finished {
                return None;
            }
            let failure = match bounded(self.idle, self.deadline, self.until, self.body.next()).await {
                Err(err) => err,
                Ok(None) => LlmError::Truncated,
                Ok(Some(Err(err))) => LlmError::Unreachable(err),
                Ok(Some(Ok(bytes))) => match self.take_lines(&bytes) {
                    Ok(()) => continue,
                    Err(err) => err,
                },
            };
            self.finished = true;
            self.pending.clear();
            return Some((Err(failure), self));
        }
    }

    /// Reads the complete lines of the buffer followed by `bytes` into tokens, and keeps the
    /// unfinished last line, refused once it is longer than [`MAX_LINE_BYTES`]. Each byte is
    /// looked at once: the buffer never holds a newline.
    fn take_lines(&mut self, mut bytes: &[u8]) -> Result<(), LlmError> {
        while let Some(end) = bytes.iter().position(|&b| b == b'\n') {
            // The search, then the line read whole (buffered start included).
            self.scanned += end + 1 + self.buffer.len() + end;
            if self.buffer.len() + end > MAX_LINE_BYTES {
                return Err(line_too_long());
            }
            let line = if self.buffer.is_empty() {
                read_line(&bytes[..end])?
            } else {
                self.buffer.extend_from_slice(&bytes[..end]);
                let line = read_line(&self.buffer);
                self.buffer.clear();
                line?
            };
            bytes = &bytes[end + 1..];
            match line {
                Line::Token(token) => self.pending.push_back(token),
                Line::Done => {
                    self.finished = true;
                    return Ok(());
                }
                Line::Nothing => {}
            }
        }
        // The search that found no newline; the bytes are copied once into the buffer.
        self.scanned += bytes.len();
        if self.buffer.len() + bytes.len() > MAX_LINE_BYTES {
            return Err(line_too_long());
        }
        self.buffer.extend_from_slice(bytes);
        Ok(())
    }
}

fn line_too_long() -> LlmError {
    LlmError::Malformed(format!("a line longer than {MAX_LINE_BYTES} bytes"))
}

/// The model used without an API key: a fixed, honest answer, streamed word by word.
#[derive(Debug, Clone)]
pub struct Offline {
    /// The pause between tokens, so the answer visibly streams.
    pub delay: Duration,
}

impl Default for Offline {
    fn default() -> Self {
        Offline { delay: Duration::from_millis(25) }
    }
}

impl Offline {
    /// The answer to `turns`: it says it is offline and repeats the last user turn.
    pub fn answer(&self, turns: &[Turn]) -> String {
        let last = turns.iter().rev().find(|t| t.role == Speaker::User).map(|t| t.content.trim()).unwrap_or_default();
        let quoted: String = last.chars().take(200).collect();
        let ellipsis = if last.chars().count() > 200 { "…" } else { "" };
        let earlier = turns.iter().filter(|t| t.role == Speaker::User).count().saturating_sub(1);
        format!(
            "I am the **offline demo model**: no `OPENAI_API_KEY` is set, so I cannot think for real. \
             You said: \"{quoted}{ellipsis}\" ({earlier} earlier message(s) in this conversation). \
             Set `OPENAI_API_KEY` (and optionally `OPENAI_BASE_URL` and `OPENAI_MODEL`) to talk to a real model."
        )
    }

    fn stream(&self, turns: &[Turn]) -> TokenStream {
        let tokens: VecDeque<String> = tokenize(&self.answer(turns)).into();
        let delay = self.delay;
        Box::pin(futures_util::stream::unfold(tokens, move |mut tokens| async move {
            let token = tokens.pop_front()?;
            tokio::time::sleep(delay).await;
            Some((Ok(token), tokens))
        }))
    }
}

/// Splits text into streaming tokens: each word with the whitespace before it.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut tokens: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    for c in text.chars() {
        if c.is_whitespace() && in_word {
            tokens.push(std::mem::take(&mut current));
            in_word = false;
        } else if !c.is_whitespace() {
            in_word = true;
        }
        current.push(c);
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_keep_the_whitespace_before_each_word() {
        assert_eq!(tokenize("Hello! How can I help?"), ["Hello!", " How", " can", " I", " help?"]);
        assert_eq!(tokenize("  a\n\nb "), ["  a", "\n\nb", " "]);
        assert_eq!(tokenize("Hello! How can I help?").concat(), "Hello! How can I help?");
    }

    #[test]
    fn event_lines() {
        let token = |line: &str| match read_line(line.as_bytes()) {
            Ok(Line::Token(t)) => Some(t),
            _ => None,
        };
        assert_eq!(token(r#"data: {"choices":[{"delta":{"content":"Hi"}}]}"#).as_deref(), Some("Hi"));
        assert_eq!(token(r#"data: {"choices":[{"delta":{"role":"assistant"}}]}"#), None);
        assert!(matches!(read_line(b"data: [DONE]"), Ok(Line::Done)));
        assert!(matches!(read_line(b": keep-alive"), Ok(Line::Nothing)));
        assert!(matches!(read_line(b"data: {oops"), Err(LlmError::Malformed(_))));
        assert!(matches!(read_line(br#"data: {"error":{"message":"quota"}}"#), Err(LlmError::Refused { .. })));
    }

    /// A body of `pieces`, counting in `pulled` the bytes read from it.
    fn counted(
        pieces: impl Stream<Item = bytes::Bytes> + Send + 'static,
        pulled: &Arc<std::sync::atomic::AtomicUsize>,
    ) -> Body {
        let pulled = pulled.clone();
        Box::pin(pieces.map(move |piece| {
            pulled.fetch_add(piece.len(), std::sync::atomic::Ordering::SeqCst);
            Ok(piece)
        }))
    }

    fn chunk(text: &str) -> String {
        format!("data: {}\n\n", json!({"choices": [{"delta": {"content": text}}]}))
    }

    fn tokens_of(body: Body) -> TokenStream {
        let (idle, deadline) = (Duration::from_secs(30), Duration::from_secs(120));
        SseTokens::new(body, idle, deadline, Instant::now() + deadline).into_stream()
    }

    #[tokio::test]
    async fn lines_split_across_pieces_are_read_whole() {
        let stream = format!("{}: keep-alive\r\n{}data: [DONE]\n", chunk("Hel"), chunk("lo"));
        let pieces: Vec<bytes::Bytes> = stream.as_bytes().chunks(3).map(bytes::Bytes::copy_from_slice).collect();
        let pulled = Arc::default();
        let tokens: Vec<_> = tokens_of(counted(futures_util::stream::iter(pieces), &pulled)).collect().await;
        assert_eq!(tokens, [Ok("Hel".to_owned()), Ok("lo".to_owned())]);
    }

    #[tokio::test]
    async fn a_huge_line_is_refused_without_reading_it_all() {
        // 10 MB of one line, 64 KiB at a time.
        let piece = bytes::Bytes::from(vec![b'x'; 64 * 1024]);
        let start = futures_util::stream::iter([bytes::Bytes::from_static(b"data: {\"choices\": \"")]);
        let body = start.chain(futures_util::stream::iter(std::iter::repeat_n(piece, 160)));
        let pulled = Arc::default();
        let mut tokens = tokens_of(counted(body, &pulled));
        assert!(matches!(tokens.next().await, Some(Err(LlmError::Malformed(why))) if why.contains("longer than")));
        assert!(tokens.next().await.is_none(), "the stream ends with the error");
        let pulled = pulled.load(std::sync::atomic::Ordering::SeqCst);
        assert!(pulled <= MAX_LINE_BYTES + 64 * 1024, "read {pulled} bytes of 10 MB");
    }

    #[tokio::test]
    async fn an_endless_line_is_refused_without_reading_it_all() {
        // A provider that sends one line forever, never a newline.
        let start = futures_util::stream::iter([bytes::Bytes::from_static(b"data: {\"choices\": \"")]);
        let body = start.chain(futures_util::stream::repeat(bytes::Bytes::from(vec![b'x'; 1000])));
        let pulled = Arc::default();
        let mut tokens = tokens_of(counted(body, &pulled));
        assert!(matches!(tokens.next().await, Some(Err(LlmError::Malformed(why))) if why.contains("longer than")));
        assert!(tokens.next().await.is_none(), "the stream ends with the error");
        let pulled = pulled.load(std::sync::atomic::Ordering::SeqCst);
        assert!(pulled <= MAX_LINE_BYTES + 1000, "read {pulled} bytes of an endless line");
    }

    /// The parser of `pieces` fed in order (no body, no clock): its tokens, or its error, and how
    /// many bytes it looked at.
    fn parse(pieces: impl Iterator<Item = Vec<u8>>) -> (Result<usize, LlmError>, usize, usize) {
        let body: Body = Box::pin(futures_util::stream::empty());
        let deadline = Duration::from_secs(1);
        let mut parser = SseTokens::new(body, deadline, deadline, Instant::now() + deadline);
        let mut read = 0;
        for piece in pieces {
            read += piece.len();
            if let Err(err) = parser.take_lines(&piece) {
                return (Err(err), read, parser.scanned);
            }
        }
        (Ok(parser.pending.len()), read, parser.scanned)
    }

    #[test]
    fn parsing_takes_linear_time_however_the_stream_is_cut() {
        // 1 MB of tiny events, in pieces of 1, 3 and 7 bytes and of 64 KiB: each byte is looked
        // at a bounded number of times (a parser that rescanned its buffer for each piece, or
        // copied what follows each line, would look at some bytes thousands of times).
        let event = chunk("a");
        let events = 1024 * 1024 / event.len();
        let stream = event.repeat(events).into_bytes();
        for size in [1, 3, 7, 64 * 1024] {
            let (tokens, read, scanned) = parse(stream.chunks(size).map(<[u8]>::to_vec));
            assert_eq!(tokens, Ok(events), "pieces of {size}");
            assert!(scanned <= 2 * read, "pieces of {size}: {scanned} bytes looked at for {read}");
        }
        // The longest line allowed, a byte at a time: still linear, not quadratic in its length.
        let long = chunk(&"b".repeat(MAX_LINE_BYTES - 100)).into_bytes();
        let (tokens, read, scanned) = parse(long.iter().map(|&b| vec![b]));
        assert_eq!(tokens, Ok(1));
        assert!(scanned <= 3 * read, "{scanned} bytes looked at for {read}");
        // An endless line is refused once past the cap, having looked at each byte once.
        let endless = std::iter::repeat_n(vec![b'x'; 7], 100 * 1024 * 1024 / 7);
        let (refused, read, scanned) = parse(endless);
        assert!(matches!(refused, Err(LlmError::Malformed(_))));
        assert!(read <= MAX_LINE_BYTES + 7 && scanned <= read, "read {read}, looked at {scanned}");
    }

    #[tokio::test]
    async fn an_endless_body_is_read_up_to_the_cap() {
        let piece = bytes::Bytes::from(vec![b'e'; 1000]);
        let pulled = Arc::default();
        let body = counted(futures_util::stream::repeat(piece), &pulled);
        let (read, cut) = read_capped(body, MAX_BODY_BYTES).await.expect("read");
        assert_eq!((read.len(), cut), (MAX_BODY_BYTES, true));
        assert!(pulled.load(std::sync::atomic::Ordering::SeqCst) <= MAX_BODY_BYTES + 1000);
        let short = futures_util::stream::iter([Ok::<_, String>(bytes::Bytes::from_static(b"short"))]);
        assert_eq!(read_capped(short, MAX_BODY_BYTES).await, Ok((b"short".to_vec(), false)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_steady_stream_still_ends_at_its_deadline() {
        // A piece every 100 ms, forever: never silent for the 1-second idle timeout.
        let pieces = futures_util::stream::unfold((), |()| async {
            tokio::time::sleep(Duration::from_millis(100)).await;
            Some((bytes::Bytes::from(chunk(" more")), ()))
        });
        let (idle, deadline) = (Duration::from_secs(1), Duration::from_secs(3));
        let pulled = Arc::default();
        let tokens = SseTokens::new(counted(pieces, &pulled), idle, deadline, Instant::now() + deadline).into_stream();
        let started = Instant::now();
        let read: Vec<_> = tokens.collect().await;
        assert_eq!(read.last(), Some(&Err(LlmError::Deadline(deadline))));
        assert!((25..=30).contains(&(read.len() - 1)), "{} pieces in 3 s", read.len() - 1);
        assert_eq!(started.elapsed(), deadline, "cut at the deadline exactly (paused clock)");
    }

    #[tokio::test]
    async fn the_offline_model_says_so_and_streams() {
        let offline = Offline { delay: Duration::ZERO };
        let turns = [
            Turn::new(Speaker::User, "first"),
            Turn::new(Speaker::Assistant, "..."),
            Turn::new(Speaker::User, "second"),
        ];
        let tokens: Vec<String> = offline.stream(&turns).map(|t| t.unwrap_or_default()).collect().await;
        let text = tokens.concat();
        assert!(tokens.len() > 10);
        assert!(
            text.contains("offline") && text.contains("\"second\"") && text.contains("1 earlier message"),
            "{text}"
        );
    }
}
