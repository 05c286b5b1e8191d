//! Writing an answer in the background: the title, the stream of pieces broadcast to the
//! conversation's group, the answer so far for sockets that connect mid-answer, stopping,
//! failures, and saving the reply.
//!
//! The writer of an answer listens on the conversation's [`writer_group`], in whatever process it
//! runs, for two requests sent through the layer: [`StopRequest`] and [`AnswerSoFarRequest`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chanx::layer::{ChannelReceiver, LayerBody};
use chanx::{Consumer, Layer, Message};
use futures_util::StreamExt;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::consumers::*;
use super::llm::{LlmError, Model, Speaker, Turn};
use super::model::{AssistantMessage, Conversation, MessageType};
use crate::broadcast::broadcast;
use crate::db::Db;
use crate::rest::char_boundary;

/// The longest title, in characters.
pub const TITLE_LENGTH: usize = 50;

/// The longest answer, in bytes of text. A provider that goes on past it is cut off there: what
/// fits is streamed, saved and completed (`complete_streaming`), as a stopped answer is, since the
/// reader has already seen it.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The most messages of a conversation sent to the model: the newest ones.
pub const MAX_HISTORY_MESSAGES: usize = 40;

/// The most bytes of text sent to the model as history: the newest messages that fit, and
/// always the message being answered (at most 10 000 characters).
pub const MAX_HISTORY_BYTES: usize = 128 * 1024;

/// The answers being written, one per conversation, each with the switch that stops it.
#[derive(Debug, Default)]
pub struct Generations {
    running: Mutex<HashMap<String, (u64, oneshot::Sender<()>)>>,
    next: AtomicU64,
    /// Woken whenever a slot is freed, for [`until_free`](Self::until_free).
    freed: tokio::sync::Notify,
}

impl Generations {
    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<String, (u64, oneshot::Sender<()>)>> {
        self.running.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes the conversation's one answer slot, or [`Busy`] if an answer is being written. The
    /// slot is freed when the [`Reservation`] is dropped.
    pub fn reserve(self: &Arc<Self>, conversation: &str) -> Result<Reservation, Busy> {
        let mut running = self.running();
        if running.contains_key(conversation) {
            return Err(Busy);
        }
        let token = self.next.fetch_add(1, Ordering::Relaxed);
        let (stop, stopped) = oneshot::channel();
        running.insert(conversation.to_owned(), (token, stop));
        Ok(Reservation { generations: self.clone(), conversation: conversation.to_owned(), token, stopped })
    }

    /// Whether an answer is being written in `conversation`.
    pub fn is_running(&self, conversation: &str) -> bool {
        self.running().contains_key(conversation)
    }

    /// Stops the answer being written in `conversation`; false if there was none.
    pub fn stop(&self, conversation: &str) -> bool {
        match self.running().remove(conversation) {
            Some((_, stop)) => {
                let _ = stop.send(());
                self.freed.notify_waiters();
                true
            }
            None => false,
        }
    }

    /// Returns once no answer is being written in `conversation` (at once if none is).
    pub async fn until_free(&self, conversation: &str) {
        loop {
            // Registered before checking, so a slot freed in between is not missed.
            let freed = self.freed.notified();
            if !self.is_running(conversation) {
                return;
            }
            freed.await;
        }
    }
}

/// A conversation's answer slot, held while the answer is written.
#[derive(Debug)]
pub struct Reservation {
    generations: Arc<Generations>,
    conversation: String,
    token: u64,
    stopped: oneshot::Receiver<()>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut running = self.generations.running();
        if running.get(&self.conversation).is_some_and(|(token, _)| *token == self.token) {
            running.remove(&self.conversation);
            drop(running);
            self.generations.freed.notify_waiters();
        }
    }
}

/// What an answer needs: where to read and save, where to broadcast, whom to ask.
#[derive(Debug, Clone)]
pub struct Assistant {
    /// The database.
    pub db: Db,
    /// The channel layer of the sockets.
    pub layer: Layer,
    /// The model.
    pub model: Model,
    /// The answers being written.
    pub generations: Arc<Generations>,
}

/// Asks whichever process is writing a conversation's answer to stop (sent through the layer).
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "stop_generation")]
pub struct StopRequest {}

/// Asks whichever process is writing a conversation's answer to send the answer so far to one
/// socket (sent through the layer by a socket that just joined the conversation's group).
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "answer_so_far")]
pub struct AnswerSoFarRequest {
    /// The channel of the socket that asks.
    pub reply_to: String,
}

/// What the writer of an answer is asked through the layer.
#[derive(Debug, PartialEq)]
enum WriterRequest {
    /// [`StopRequest`].
    Stop,
    /// [`AnswerSoFarRequest`]: the channel to send it to.
    AnswerSoFar(String),
}

/// The group the writer of a conversation's answer listens on, in whatever process it runs.
pub fn writer_group(conversation: &str) -> String {
    format!("assistant_writer.{conversation}")
}

/// Another answer is being written in this conversation.
#[derive(Debug, thiserror::Error)]
#[error("an answer is still being written in this conversation; stop it or wait")]
pub struct Busy;

/// The last frame of an answer.
#[derive(Debug)]
enum Ending {
    /// `complete_streaming`.
    Complete(CompleteStreamingEvent),
    /// `assistant_error`.
    Failed(ErrorEvent),
}

/// Why an answer cannot start now.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// Another answer is being written, in this process or another.
    #[error(transparent)]
    Busy(#[from] Busy),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// How long an answer's lease lasts without renewal; a crashed writer blocks its conversation
/// this long at most. The writer renews it every third of that.
const LEASE: Duration = Duration::from_secs(90);

impl Assistant {
    /// Takes the conversation's one answer slot: in this process (so it can be stopped here) and
    /// in the database (so other processes wait too).
    pub async fn claim(&self, conversation: &str) -> Result<Reservation, ClaimError> {
        let reservation = self.generations.reserve(conversation)?;
        if Conversation::take_lease(&self.db, conversation, LEASE).await? { Ok(reservation) } else { Err(Busy.into()) }
    }

    /// Answers `message`, the newest user message of `conversation`, in the background, in the
    /// slot taken by `reservation`. `first` asks for a title too.
    pub fn answer(
        &self,
        mut reservation: Reservation,
        conversation: Conversation,
        message: AssistantMessage,
        first: bool,
    ) {
        let this = self.clone();
        tokio::spawn(async move {
            if first {
                let (this, conversation, text) = (this.clone(), conversation.clone(), message.content.clone());
                tokio::spawn(async move { this.name(&conversation, &text).await });
            }
            // Stops and requests for the answer so far arrive through the layer.
            let group = writer_group(&conversation.id);
            let mut inbox = match this.layer.new_channel().await {
                Ok(inbox) => this.layer.group_add(&group, inbox.name()).await.map(|()| inbox).ok(),
                Err(err) => {
                    tracing::warn!(error = %err, "stops from other processes will not be heard");
                    None
                }
            };
            let keeper = {
                let (db, id) = (this.db.clone(), conversation.id.clone());
                tokio::spawn(async move {
                    loop {
                        tokio::time::sleep(LEASE / 3).await;
                        if let Err(err) = Conversation::renew_lease(&db, &id, LEASE).await {
                            tracing::warn!(error = %err, "the answer lease could not be renewed");
                        }
                    }
                })
            };
            let ending = this.write(&conversation, &message, &mut reservation.stopped, inbox.as_mut()).await;
            // The slot is free before the last frame goes out, so a client may send its next
            // message as soon as it sees the answer end.
            keeper.abort();
            if let Err(err) = Conversation::release_lease(&this.db, &conversation.id).await {
                tracing::warn!(error = %err, "the answer lease could not be released; it expires by itself");
            }
            drop(reservation);
            this.finish(&conversation, ending).await;
            if let Some(inbox) = inbox {
                let _ = this.layer.group_discard(&group, inbox.name()).await;
                let _ = this.layer.close_channel(inbox.name()).await;
            }
        });
    }

    /// Stops the answer being written in `conversation`, here or in another process sharing the
    /// layer; true if this process was writing it.
    pub async fn stop(&self, conversation: &str) -> bool {
        let here = self.generations.stop(conversation);
        if let Err(err) = self.layer.broadcast_event([writer_group(conversation)], &StopRequest {}).await {
            tracing::warn!(error = %err, "the stop could not reach other processes");
        }
        here
    }

    /// Asks the writer of `conversation`'s answer, if there is one, in any process, to send
    /// channel `reply_to` the answer so far ([`AnswerSoFarEvent`]). Nobody answers when no
    /// answer is being written.
    pub async fn ask_answer_so_far(&self, conversation: &str, reply_to: &str) {
        let request = AnswerSoFarRequest { reply_to: reply_to.to_owned() };
        if let Err(err) = self.layer.broadcast_event([writer_group(conversation)], &request).await {
            tracing::warn!(error = %err, "the answer so far could not be asked for");
        }
    }

    /// Saves `conversation`'s new title and sends it to the pages that show it
    /// ([`Conversation::title_group`]).
    pub async fn retitle(&self, conversation: &Conversation, title: &str) -> Result<(), sqlx::Error> {
        Conversation::set_title(&self.db, &conversation.id, title).await?;
        let event = ConversationTitleEvent {
            payload: TitlePayload { conversation_id: conversation.id.clone(), title: title.to_owned() },
        };
        broadcast::<ConversationConsumer, _>(&self.layer, &conversation.title_group(), &event).await;
        Ok(())
    }

    /// Sends `reply_to` the answer to `message_id` as written so far.
    async fn send_answer_so_far(&self, reply_to: &str, message_id: i64, answer: &str) {
        let event = AnswerSoFarEvent { payload: AnswerSoFarPayload { content: answer.to_owned(), message_id } };
        if let Err(err) = ConversationConsumer::send_event(&self.layer, reply_to, &event).await {
            tracing::warn!(error = %err, "the answer so far could not be sent");
        }
    }

    /// Streams the answer and saves it; returns the last frame to send (`complete_streaming`, or
    /// `assistant_error` on failure).
    async fn write(
        &self,
        conversation: &Conversation,
        message: &AssistantMessage,
        stopped: &mut oneshot::Receiver<()>,
        mut inbox: Option<&mut ChannelReceiver>,
    ) -> Ending {
        let group = conversation.group();
        let event = NewAssistantMessageEvent { payload: message.clone() };
        broadcast::<ConversationConsumer, _>(&self.layer, &group, &event).await;

        let mut answer = String::new();
        let outcome: Result<(), LlmError> = async {
            let recent = AssistantMessage::recent(&self.db, &conversation.id, MAX_HISTORY_MESSAGES)
                .await
                .map_err(|err| LlmError::Unreachable(format!("history: {err}")))?;
            let turns = history(recent);
            // Polled to the end, not dropped, while requests are answered: dropping it would
            // send the request to the provider again.
            let opening = self.model.stream(&turns);
            tokio::pin!(opening);
            let mut tokens = loop {
                tokio::select! {
                    tokens = &mut opening => break tokens?,
                    _ = &mut *stopped => return Ok(()),
                    request = writer_request(inbox.as_deref_mut()) => match request {
                        WriterRequest::Stop => return Ok(()),
                        WriterRequest::AnswerSoFar(reply_to) => self.send_answer_so_far(&reply_to, message.id, "").await,
                    },
                }
            };
            loop {
                // `next()` is cancel-safe: a request answered meanwhile loses no piece.
                let token = tokio::select! {
                    token = tokens.next() => token,
                    _ = &mut *stopped => return Ok(()),
                    request = writer_request(inbox.as_deref_mut()) => match request {
                        WriterRequest::Stop => return Ok(()),
                        WriterRequest::AnswerSoFar(reply_to) => {
                            // Every piece of `answer` is broadcast already, and the next one
                            // starts where it ends: the asker puts the two together.
                            self.send_answer_so_far(&reply_to, message.id, &answer).await;
                            continue;
                        }
                    },
                };
                let Some(token) = token else { return Ok(()) };
                let mut token = token?;
                let full = answer.len() + token.len() > MAX_ANSWER_BYTES;
                if full {
                    token.truncate(char_boundary(&token, MAX_ANSWER_BYTES - answer.len()));
                }
                let offset = answer.len();
                answer.push_str(&token);
                let piece = StreamingEvent {
                    payload: StreamingPayload { content: token, is_complete: false, message_id: message.id },
                    offset,
                };
                if !piece.payload.content.is_empty() {
                    broadcast::<ConversationConsumer, _>(&self.layer, &group, &piece).await;
                }
                if full {
                    tracing::warn!(conversation = conversation.id, "the answer reached {MAX_ANSWER_BYTES} bytes; cut");
                    return Ok(());
                }
            }
        }
        .await;

        match outcome {
            Ok(()) => {
                // A stopped answer keeps what was written; an empty one saves nothing.
                if !answer.is_empty()
                    && let Err(err) =
                        AssistantMessage::create(&self.db, &conversation.id, MessageType::Assistant, &answer).await
                {
                    tracing::error!(error = %err, "the answer could not be saved");
                }
                Ending::Complete(CompleteStreamingEvent {
                    payload: StreamingPayload { content: String::new(), is_complete: true, message_id: message.id },
                    length: answer.len(),
                })
            }
            Err(err) => {
                tracing::warn!(error = %err, conversation = conversation.id, "the assistant could not answer");
                let content = match &err {
                    LlmError::Refused { status: 401 | 403, .. } => {
                        "The assistant is not available: its API key was refused.".to_owned()
                    }
                    LlmError::Timeout(_) | LlmError::Deadline(_) => {
                        "The assistant took too long to answer. Please try again.".to_owned()
                    }
                    _ => "The assistant could not answer. Please try again.".to_owned(),
                };
                Ending::Failed(ErrorEvent { payload: ErrorPayload { content, message_id: message.id.to_string() } })
            }
        }
    }

    /// Sends the last frame of an answer.
    async fn finish(&self, conversation: &Conversation, ending: Ending) {
        let group = conversation.group();
        match ending {
            Ending::Complete(done) => broadcast::<ConversationConsumer, _>(&self.layer, &group, &done).await,
            Ending::Failed(failed) => broadcast::<ConversationConsumer, _>(&self.layer, &group, &failed).await,
        }
    }

    /// Names the conversation after its first message; falls back to the message itself.
    async fn name(&self, conversation: &Conversation, first: &str) {
        let title = match tokio::time::timeout(Duration::from_secs(30), self.model.complete(&title_prompt(first))).await
        {
            Ok(Ok(answer)) if !self.model.is_offline() => clean_title(&answer).unwrap_or_else(|| fallback_title(first)),
            Ok(Ok(_)) => fallback_title(first),
            Ok(Err(err)) => {
                tracing::warn!(error = %err, "no title from the model; using the message");
                fallback_title(first)
            }
            Err(_) => fallback_title(first),
        };
        if let Err(err) = self.retitle(conversation, &title).await {
            tracing::error!(error = %err, "the title could not be saved");
        }
    }
}

/// The turns the model gets from `recent`, the newest messages oldest first: as many of the
/// newest as fit in [`MAX_HISTORY_BYTES`], and the newest (the message being answered) always.
fn history(recent: Vec<AssistantMessage>) -> Vec<Turn> {
    let mut bytes = 0;
    let mut kept: Vec<Turn> = recent
        .into_iter()
        .rev()
        .enumerate()
        .take_while(|(n, message)| {
            bytes += message.content.len();
            *n == 0 || bytes <= MAX_HISTORY_BYTES
        })
        .map(|(_, m)| {
            let speaker = if m.message_type == MessageType::User { Speaker::User } else { Speaker::Assistant };
            Turn::new(speaker, m.content)
        })
        .collect();
    kept.reverse();
    kept
}

/// The next request that arrives through the layer; never without an inbox. Anything else
/// arriving there is skipped.
async fn writer_request(inbox: Option<&mut ChannelReceiver>) -> WriterRequest {
    let Some(inbox) = inbox else { return std::future::pending().await };
    while let Some(message) = inbox.recv().await {
        if let LayerBody::ChannelEvent { event_data } = message.body()
            && let Some(request) = read_request(event_data)
        {
            return request;
        }
    }
    // The layer dropped the channel: no request can come any more.
    std::future::pending().await
}

/// What the event `event_data` asks the writer, if it is one of its requests.
fn read_request(event_data: &serde_json::Value) -> Option<WriterRequest> {
    match event_data["action"].as_str()? {
        StopRequest::ACTION => Some(WriterRequest::Stop),
        AnswerSoFarRequest::ACTION => {
            let request: AnswerSoFarRequest = serde_json::from_value(event_data.clone()).ok()?;
            Some(WriterRequest::AnswerSoFar(request.reply_to))
        }
        _ => None,
    }
}

/// The request for a title: instructions, then the user's message itself.
pub fn title_prompt(message: &str) -> Vec<Turn> {
    vec![
        Turn::new(
            Speaker::System,
            format!(
                "You name conversations. Reply with a short, descriptive title of at most {TITLE_LENGTH} characters \
                 for a conversation that starts with the user's message. Reply with the title only, without quotes."
            ),
        ),
        Turn::new(Speaker::User, message),
    ]
}

/// The model's title, without quotes or a trailing period, at most [`TITLE_LENGTH`] characters.
fn clean_title(answer: &str) -> Option<String> {
    let title = answer
        .lines()
        .find(|l| !l.trim().is_empty())?
        .trim()
        .trim_matches(['"', '\'', '“', '”'])
        .trim_end_matches('.')
        .trim();
    (!title.is_empty()).then(|| truncate(title))
}

/// The first message as a title: its first [`TITLE_LENGTH`] characters, with `...` when cut.
pub fn fallback_title(message: &str) -> String {
    truncate(&message.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn truncate(text: &str) -> String {
    if text.chars().count() > TITLE_LENGTH {
        format!("{}...", text.chars().take(TITLE_LENGTH).collect::<String>())
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles() {
        assert_eq!(fallback_title("short one"), "short one");
        assert_eq!(fallback_title(&"A".repeat(60)), format!("{}...", "A".repeat(50)));
        assert_eq!(fallback_title("  many\n\nlines  here "), "many lines here");
        assert_eq!(clean_title("\"Rust lifetimes explained.\"\n").as_deref(), Some("Rust lifetimes explained"));
        assert_eq!(clean_title("  \n "), None);
        assert!(
            title_prompt("How do lifetimes work?")[1].content.contains("How do lifetimes work?"),
            "the user's text is in the prompt"
        );
    }

    fn message(id: i64, content: String) -> AssistantMessage {
        let message_type = if id % 2 == 0 { MessageType::User } else { MessageType::Assistant };
        AssistantMessage { id, content, message_type, created_at: String::new(), formatted_created_at: String::new() }
    }

    #[test]
    fn the_history_is_the_newest_messages_that_fit() {
        let recent: Vec<AssistantMessage> = (0..10).map(|n| message(n, format!("{n}").repeat(20 * 1024))).collect();
        let turns = history(recent);
        assert_eq!(turns.len(), MAX_HISTORY_BYTES / (20 * 1024), "as many as fit");
        assert!(turns.last().is_some_and(|t| t.content.starts_with('9')), "the newest last");
        assert!(turns.iter().map(|t| t.content.len()).sum::<usize>() <= MAX_HISTORY_BYTES);
        let huge = history(vec![message(0, "a".repeat(10)), message(2, "b".repeat(MAX_HISTORY_BYTES + 1))]);
        assert_eq!(huge.len(), 1, "the message being answered goes, whatever its size");
        assert_eq!(char_boundary("né", 2), 1);
    }

    #[test]
    fn the_writer_reads_its_two_requests_and_nothing_else() {
        let stop = chanx::to_frame(&StopRequest {}).expect("frame");
        assert_eq!(read_request(&stop), Some(WriterRequest::Stop));
        let so_far = chanx::to_frame(&AnswerSoFarRequest { reply_to: "specific.abc!1".into() }).expect("frame");
        assert_eq!(read_request(&so_far), Some(WriterRequest::AnswerSoFar("specific.abc!1".into())));
        assert_eq!(read_request(&serde_json::json!({"action": "answer_so_far"})), None, "no reply_to");
        assert_eq!(read_request(&serde_json::json!({"action": "other"})), None);
        assert_eq!(read_request(&serde_json::json!([1])), None);
    }

    #[test]
    fn one_answer_at_a_time_per_conversation() {
        let generations = Arc::new(Generations::default());
        let mut first = generations.reserve("c").expect("free");
        assert!(generations.reserve("c").is_err());
        let other = generations.reserve("other").expect("another conversation is free");
        assert!(generations.stop("c"));
        assert!(first.stopped.try_recv().is_ok(), "the writer is told to stop");
        assert!(!generations.stop("c"));
        drop(other);
        assert!(!generations.is_running("other"), "a dropped reservation frees its slot");
        let again = generations.reserve("c").expect("free again");
        drop(first);
        assert!(generations.is_running("c"), "an old reservation does not free a newer one");
        drop(again);
    }
}
