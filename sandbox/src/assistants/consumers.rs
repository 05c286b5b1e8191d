//! `/ws/assistants/{id}/`: one conversation's live answer.
//!
//! The socket joins the conversation's group (see [`Conversation::group`]), whoever is looking, so
//! a signed-in visitor of an anonymous conversation sees its stream too, and a signed-in visitor's
//! conversation list group ([`Conversation::list_group`]), so the list beside the conversation
//! follows renames. The answer arrives as `new_assistant_message` (the user's message),
//! `streaming` pieces, then `complete_streaming`, or `assistant_error`; a socket that connects
//! while an answer is being written gets `answer_so_far` first (see [`super::resume`]). A title
//! set by the first answer or by a rename arrives as `conversation_title`. The client may send
//! `ping` and `stop_generation`.

use chanx::auth::{AuthError, ObjectLookup, Permission, TokenAuthenticator};
use chanx::messages::{Ping, Pong};
use std::sync::{Mutex, MutexGuard, PoisonError};

use chanx::{Consumer, Context, Message, Scope};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::generation::Assistant;
use super::model::{AssistantMessage, Conversation};
use super::resume::{AnswerFollower, Delivery};
use crate::accounts::User;
use crate::accounts::sockets::UserResolver;
use crate::db::Db;

// ---- events (background task → consumer) ----

/// The user's message that is being answered.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "handle_new_assistant_message")]
pub struct NewAssistantMessageEvent {
    /// The message.
    pub payload: AssistantMessage,
}

/// A piece of the answer.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "handle_streaming")]
pub struct StreamingEvent {
    /// The piece.
    pub payload: StreamingPayload,
    /// Where the piece starts in the answer, in bytes: how a socket that connected mid-answer
    /// puts it after the answer so far (see [`super::resume`]).
    #[serde(default)]
    pub offset: usize,
}

/// The answer is complete (or was stopped).
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "handle_complete_streaming")]
pub struct CompleteStreamingEvent {
    /// Empty content, `is_complete: true`.
    pub payload: StreamingPayload,
    /// The whole answer's length in bytes (what was saved).
    #[serde(default)]
    pub length: usize,
}

/// The answer so far, from its writer to one socket that just connected.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "handle_answer_so_far")]
pub struct AnswerSoFarEvent {
    /// The text written so far.
    pub payload: AnswerSoFarPayload,
}

/// The conversation's title was set.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "handle_conversation_title")]
pub struct ConversationTitleEvent {
    /// The conversation and its title.
    pub payload: TitlePayload,
}

/// The answer failed.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "handle_error")]
pub struct ErrorEvent {
    /// What to tell the user.
    pub payload: ErrorPayload,
}

// ---- client messages ----

/// The user's message being answered, to every open page of the conversation.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "new_assistant_message")]
pub struct NewAssistantMessage {
    /// The message.
    pub payload: AssistantMessage,
}

/// A piece of the answer.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "streaming")]
pub struct Streaming {
    /// The piece.
    pub payload: StreamingPayload,
}

/// The answer is complete; it is saved.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "complete_streaming")]
pub struct CompleteStreaming {
    /// Empty content, `isComplete: true`.
    pub payload: StreamingPayload,
}

/// The answer being written, as written so far: sent once to a socket that connects while an
/// answer is being written (a page that reconnected, or was opened mid-answer). The page shows
/// `content` in place of what it had of that answer; the `streaming` pieces that follow continue
/// it, with nothing missing and nothing twice.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "answer_so_far")]
pub struct AnswerSoFar {
    /// The text so far.
    pub payload: AnswerSoFarPayload,
}

/// The body of [`AnswerSoFar`].
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct AnswerSoFarPayload {
    /// The answer from its start (may be empty: the answer has just begun).
    pub content: String,
    /// The id of the user message being answered.
    pub message_id: i64,
}

/// A conversation's title, generated from its first message or renamed: to the pages showing
/// the conversation and to its owner's pages listing it.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "conversation_title")]
pub struct ConversationTitle {
    /// The conversation and its title.
    pub payload: TitlePayload,
}

/// The body of [`ConversationTitle`].
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct TitlePayload {
    /// The conversation's id.
    pub conversation_id: String,
    /// Its new title.
    pub title: String,
}

/// The body of the streaming messages.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct StreamingPayload {
    /// The new text.
    pub content: String,
    /// Whether the answer is over.
    #[serde(default)]
    pub is_complete: bool,
    /// The id of the user message being answered.
    pub message_id: i64,
}

/// The answer failed; the conversation can go on.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "assistant_error")]
pub struct AssistantError {
    /// What went wrong.
    pub payload: ErrorPayload,
}

/// The body of [`AssistantError`].
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct ErrorPayload {
    /// A sentence for the user.
    pub content: String,
    /// The id of the user message that was not answered, as text.
    pub message_id: String,
}

/// Stops the answer being written; what was written so far is kept.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "stop_generation")]
pub struct StopGeneration {}

/// Whether an answer was being written (and is now stopping).
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "generation_stopped")]
pub struct GenerationStopped {
    /// `{"stopped": bool}`.
    pub payload: Stopped,
}

/// The body of [`GenerationStopped`].
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct Stopped {
    /// False when nothing was running.
    pub stopped: bool,
}

// ---- authentication ----

/// Signed-in or not; the conversation from the path.
pub type ConversationAuth = TokenAuthenticator<User, Conversation>;

/// 404 for a conversation that does not exist (or an id that is not a UUID); 401 for someone
/// else's conversation without credentials, 403 with them.
pub fn conversation_auth(resolver: UserResolver, db: Db) -> ConversationAuth {
    TokenAuthenticator::for_object(UserResolver::sources(), resolver, "id", ConversationLookup(db))
        .permission(ConversationOwner)
}

/// Finds the conversation of the `{id}` path parameter.
#[derive(Debug, Clone)]
pub struct ConversationLookup(Db);

#[chanx::async_trait]
impl ObjectLookup<Conversation> for ConversationLookup {
    async fn lookup(&self, key: &str) -> Result<Option<Conversation>, AuthError> {
        Conversation::get(&self.0, key).await.map_err(AuthError::new)
    }
}

/// Anonymous conversations are open to anyone; owned ones to their owner only.
#[derive(Debug, Clone, Copy)]
pub struct ConversationOwner;

#[chanx::async_trait]
impl Permission<User, Conversation> for ConversationOwner {
    async fn has_object_permission(
        &self,
        user: Option<&User>,
        _: &Scope,
        conversation: &Conversation,
    ) -> Result<bool, AuthError> {
        Ok(conversation.open_to(user.map(|u| u.id)))
    }
}

// ---- the consumer ----

/// One conversation's socket.
pub struct ConversationConsumer {
    /// The assistant, to stop an answer and ask for the answer so far.
    assistant: Assistant,
    /// This socket's place in the answer being written.
    follower: Mutex<AnswerFollower>,
}

impl ConversationConsumer {
    /// The consumer of one socket.
    pub fn new(assistant: Assistant) -> Self {
        ConversationConsumer { assistant, follower: Mutex::default() }
    }

    fn follower(&self) -> MutexGuard<'_, AnswerFollower> {
        self.follower.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends what the follower says the client needs next.
    fn deliver(ctx: &Context, message_id: i64, deliveries: Vec<Delivery>) {
        for delivery in deliveries {
            let sent = match delivery {
                Delivery::SoFar(content) => {
                    ctx.send(&AnswerSoFar { payload: AnswerSoFarPayload { content, message_id } })
                }
                Delivery::Piece(content) => {
                    ctx.send(&Streaming { payload: StreamingPayload { content, is_complete: false, message_id } })
                }
            };
            if sent.is_err() {
                // The socket is closing: nothing more to deliver.
                return;
            }
        }
    }
}

/// The AI assistant: a conversation's answers, streamed as they are written.
#[chanx::consumer(name = "assistants", tags = ["ai", "chat"], log_ignored = ["streaming"])]
impl Consumer for ConversationConsumer {
    type Authenticator = ConversationAuth;

    /// The conversation's group; for a signed-in visitor their conversation list's group, and
    /// their own group (see [`crate::sessions`]), which closes the socket when their access ends.
    fn groups(&self, ctx: &Context) -> Vec<String> {
        let conversation = ctx.extension::<Conversation>().map(|c| c.group());
        let list = ctx.extension::<User>().map(|user| Conversation::list_group(user.id));
        conversation.into_iter().chain(list).chain(crate::sessions::group_of(ctx)).collect()
    }

    /// Once in the conversation's group, asks whoever is writing an answer for it so far: the
    /// live pieces from now on are already coming.
    async fn post_authentication(&self, ctx: &Context) {
        if !crate::sessions::still_signed_in(ctx, &self.assistant.db).await {
            return;
        }
        if let Some(conversation) = ctx.extension::<Conversation>() {
            self.assistant.ask_answer_so_far(&conversation.id, ctx.channel_name()).await;
        }
    }

    /// Health check.
    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }

    /// Stops the answer being written in this conversation.
    #[ws_handler]
    async fn stop_generation(&self, ctx: &Context, _msg: StopGeneration) -> GenerationStopped {
        let stopped = match ctx.extension::<Conversation>() {
            Some(conversation) => self.assistant.stop(&conversation.id).await,
            None => false,
        };
        GenerationStopped { payload: Stopped { stopped } }
    }

    /// The message being answered.
    #[event_handler]
    async fn handle_new_assistant_message(&self, event: NewAssistantMessageEvent) -> NewAssistantMessage {
        NewAssistantMessage { payload: event.payload }
    }

    /// A piece of the answer: sent unless the client has it, held after a gap.
    #[event_handler(output = [Streaming])]
    async fn handle_streaming(&self, ctx: &Context, event: StreamingEvent) {
        let StreamingEvent { payload: StreamingPayload { content, message_id, .. }, offset } = event;
        let deliveries = self.follower().piece(message_id, offset, content);
        Self::deliver(ctx, message_id, deliveries);
    }

    /// The answer so far, for this socket: then the pieces held after it.
    #[event_handler(output = [AnswerSoFar, Streaming])]
    async fn handle_answer_so_far(&self, ctx: &Context, event: AnswerSoFarEvent) {
        let AnswerSoFarPayload { content, message_id } = event.payload;
        let deliveries = self.follower().so_far(message_id, content);
        Self::deliver(ctx, message_id, deliveries);
    }

    /// The end of the answer. A socket that connected mid-answer and never got the answer so
    /// far (its writer had just finished) gets the saved answer first.
    #[event_handler(output = [AnswerSoFar])]
    async fn handle_complete_streaming(&self, ctx: &Context, event: CompleteStreamingEvent) -> CompleteStreaming {
        let message_id = event.payload.message_id;
        let missing = self.follower().end(message_id, event.length);
        if missing && let Some(conversation) = ctx.extension::<Conversation>() {
            match AssistantMessage::reply_to(&self.assistant.db, &conversation.id, message_id).await {
                Ok(Some(reply)) => Self::deliver(ctx, message_id, vec![Delivery::SoFar(reply.content)]),
                Ok(None) => {}
                Err(err) => tracing::warn!(error = %err, "the saved answer could not be read"),
            }
        }
        CompleteStreaming { payload: event.payload }
    }

    /// The answer failed.
    #[event_handler]
    async fn handle_error(&self, event: ErrorEvent) -> AssistantError {
        if let Ok(message_id) = event.payload.message_id.parse() {
            self.follower().end(message_id, 0);
        }
        AssistantError { payload: event.payload }
    }

    /// The conversation's title, or the title of another conversation of this visitor's.
    #[event_handler]
    async fn handle_conversation_title(&self, event: ConversationTitleEvent) -> ConversationTitle {
        ConversationTitle { payload: event.payload }
    }
}
