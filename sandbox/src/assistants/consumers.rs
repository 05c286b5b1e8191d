//! `/ws/assistants/{id}/`: one conversation's live answer.
//!
//! The socket joins the conversation's group (see [`Conversation::group`]), whoever is looking, so
//! a signed-in visitor of an anonymous conversation sees its stream too. The answer arrives as
//! `new_assistant_message` (the user's message), `streaming` pieces, then `complete_streaming`, or
//! `assistant_error`. The client may send `ping` and `stop_generation`.

use chanx::auth::{AuthError, ObjectLookup, Permission, TokenAuthenticator};
use chanx::messages::{Ping, Pong};
use chanx::{Consumer, Context, Message, Scope};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::generation::Assistant;
use super::model::{AssistantMessage, Conversation};
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
}

/// The answer is complete (or was stopped).
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "handle_complete_streaming")]
pub struct CompleteStreamingEvent {
    /// Empty content, `is_complete: true`.
    pub payload: StreamingPayload,
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
    /// The assistant, to stop an answer.
    pub assistant: Assistant,
}

/// The AI assistant: a conversation's answers, streamed as they are written.
#[chanx::consumer(name = "assistants", tags = ["ai", "chat"], log_ignored = ["streaming"])]
impl Consumer for ConversationConsumer {
    type Authenticator = ConversationAuth;

    /// The conversation's group, and for a signed-in visitor their own group (see
    /// [`crate::sessions`]), which closes the socket when their access ends.
    fn groups(&self, ctx: &Context) -> Vec<String> {
        let conversation = ctx.extension::<Conversation>().map(|c| c.group());
        conversation.into_iter().chain(crate::sessions::group_of(ctx)).collect()
    }

    async fn post_authentication(&self, ctx: &Context) {
        crate::sessions::still_signed_in(ctx, &self.assistant.db).await;
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

    /// A piece of the answer.
    #[event_handler]
    async fn handle_streaming(&self, event: StreamingEvent) -> Streaming {
        Streaming { payload: event.payload }
    }

    /// The end of the answer.
    #[event_handler]
    async fn handle_complete_streaming(&self, event: CompleteStreamingEvent) -> CompleteStreaming {
        CompleteStreaming { payload: event.payload }
    }

    /// The answer failed.
    #[event_handler]
    async fn handle_error(&self, event: ErrorEvent) -> AssistantError {
        AssistantError { payload: event.payload }
    }
}
