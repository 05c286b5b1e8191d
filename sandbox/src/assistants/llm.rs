//! The language model: any OpenAI-compatible chat-completions endpoint, streamed as server-sent
//! events, or the built-in offline model when no API key is configured.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use serde::Serialize;
use serde_json::{Value, json};

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
    /// The stream stopped before its `[DONE]` line.
    #[error("the stream was cut before it finished")]
    Truncated,
    /// A line that is not the expected JSON.
    #[error("the provider sent something unreadable: {0}")]
    Malformed(String),
}

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
            Some(key) => Model::OpenAi(Arc::new(OpenAi::new(config, key))),
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
        }
    }

    /// Sends the request and checks the status; `stream` asks for server-sent events.
    async fn send(&self, turns: &[Turn], stream: bool) -> Result<reqwest::Response, LlmError> {
        let mut request = self
            .http
            .post(&self.url)
            .bearer_auth(&self.key)
            .json(&json!({"model": self.model, "messages": turns, "stream": stream}));
        if let Some(org) = &self.org {
            request = request.header("OpenAI-Organization", org);
        }
        let response = tokio::time::timeout(self.idle, request.send())
            .await
            .map_err(|_| LlmError::Timeout(self.idle))?
            .map_err(|err| LlmError::Unreachable(err.to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = tokio::time::timeout(self.idle, response.text()).await.ok().and_then(Result::ok).unwrap_or_default();
        let message = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| body.chars().take(200).collect());
        Err(LlmError::Refused { status: status.as_u16(), message })
    }

    async fn stream(&self, turns: &[Turn]) -> Result<TokenStream, LlmError> {
        let response = self.send(turns, true).await?;
        let events = SseTokens {
            body: Box::pin(response.bytes_stream()),
            buffer: Vec::new(),
            pending: VecDeque::new(),
            finished: false,
            idle: self.idle,
        };
        Ok(Box::pin(futures_util::stream::unfold(events, SseTokens::next)))
    }

    async fn complete(&self, turns: &[Turn]) -> Result<String, LlmError> {
        let response = self.send(turns, false).await?;
        let body: Value = tokio::time::timeout(self.idle, response.json())
            .await
            .map_err(|_| LlmError::Timeout(self.idle))?
            .map_err(|err| LlmError::Malformed(err.to_string()))?;
        body["choices"][0]["message"]["content"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| LlmError::Malformed("no choices[0].message.content".into()))
    }
}

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

/// Reads `data:` lines of a chat-completions event stream into content tokens.
struct SseTokens {
    body: Body,
    buffer: Vec<u8>,
    pending: VecDeque<String>,
    finished: bool,
    idle: Duration,
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
    async fn next(mut self) -> Option<(Result<String, LlmError>, Self)> {
        loop {
            if let Some(token) = self.pending.pop_front() {
                return Some((Ok(token), self));
            }
            if self.finished {
                return None;
            }
            let failure = match tokio::time::timeout(self.idle, self.body.next()).await {
                Err(_) => LlmError::Timeout(self.idle),
                Ok(None) => LlmError::Truncated,
                Ok(Some(Err(err))) => LlmError::Unreachable(err.to_string()),
                Ok(Some(Ok(bytes))) => {
                    self.buffer.extend_from_slice(&bytes);
                    match self.take_lines() {
                        Ok(()) => continue,
                        Err(err) => err,
                    }
                }
            };
            self.finished = true;
            self.pending.clear();
            return Some((Err(failure), self));
        }
    }

    /// Moves every complete line of the buffer into tokens.
    fn take_lines(&mut self) -> Result<(), LlmError> {
        while let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            match read_line(&line[..end])? {
                Line::Token(token) => self.pending.push_back(token),
                Line::Done => {
                    self.finished = true;
                    return Ok(());
                }
                Line::Nothing => {}
            }
        }
        Ok(())
    }
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
