//! The forum's sockets: `/ws/discussion/` (the topic list) and `/ws/discussion/{pk}/` (one
//! topic). Both are for signed-in users and server-push: the only client action is `ping`. Both
//! join the user's group too (see [`crate::sessions`]), which closes them when the access ends.
//!
//! The list's socket also hosts [`DiscussionTopic`], chanx's topic `discussion:{pk}`: the list
//! page subscribes to each question it shows and hears of its new answers over that one socket,
//! rather than opening a socket per question.

use chanx::auth::{AuthError, IsAuthenticated, ObjectLookup, TokenAuthenticator};
use chanx::messages::{Ping, Pong};
use chanx::{Consumer, Context, Message, Topic, TopicParams};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::model::{Author, Target, TopicRef, TopicSummary};
use crate::accounts::User;
use crate::accounts::sockets::{UserAuth, UserResolver};
use crate::db::Db;
use crate::sessions;

/// The group of every topic-list socket.
pub const LIST_GROUP: &str = "discussion_updates";

/// The group of a topic's sockets.
pub fn topic_group(topic: i64) -> String {
    format!("discussion_topic_{topic}")
}

/// The chanx topic that follows forum topic `topic` ([`DiscussionTopic`]).
pub fn followed_topic(topic: i64) -> String {
    format!("discussion:{topic}")
}

// ---- events ----

/// A topic was asked.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "handle_new_topic")]
pub struct NewTopicEvent {
    /// The topic as lists show it.
    pub payload: TopicSummary,
}

/// A reply was posted.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "handle_new_reply")]
pub struct NewReplyEvent {
    /// The reply.
    pub payload: NewReply,
}

/// A vote changed a count.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "update_vote")]
pub struct VoteEvent {
    /// What and how much.
    pub payload: VoteUpdate,
}

/// An answer was accepted.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "handle_answer_accepted")]
pub struct AnswerAcceptedEvent {
    /// Which topic and reply.
    pub payload: AnswerChange,
}

/// An answer was unaccepted.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "handle_answer_unaccepted")]
pub struct AnswerUnacceptedEvent {
    /// Which topic and reply.
    pub payload: AnswerChange,
}

/// A topic's title or content was edited.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "handle_topic_updated")]
pub struct TopicEditedEvent {
    /// The topic's new text.
    pub payload: TopicEdit,
}

/// A topic was deleted, with its replies.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "handle_topic_deleted")]
pub struct TopicDeletedEvent {
    /// Which topic.
    pub payload: DeletedTopic,
}

/// A reply's content was edited.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "handle_reply_updated")]
pub struct ReplyEditedEvent {
    /// The reply's new text.
    pub payload: ReplyEdit,
}

/// A reply was deleted.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "handle_reply_deleted")]
pub struct ReplyDeletedEvent {
    /// Which reply, and what its topic is left with.
    pub payload: DeletedReply,
}

// ---- client messages ----

/// A topic was asked (topic list).
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "topic_created")]
pub struct TopicCreated {
    /// The topic as lists show it.
    pub payload: TopicSummary,
}

/// A reply was posted (topic page).
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "reply_created")]
pub struct ReplyCreated {
    /// The reply and its topic.
    pub payload: NewReply,
}

/// The body of the reply messages: the reply as everyone sees it.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct NewReply {
    /// The id.
    pub id: i64,
    /// The answer, as written.
    pub content: String,
    /// Who answered.
    pub author: Author,
    /// Net votes (0).
    pub vote_count: i64,
    /// Whether it is accepted (false).
    pub is_accepted: bool,
    /// When (RFC 3339).
    pub created_at: String,
    /// `Jan 02, 2025 at 03:04 PM` (UTC).
    pub formatted_created_at: String,
    /// The topic's id.
    pub topic_id: i64,
    /// The topic's title.
    pub topic_title: String,
}

/// A vote count changed.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "vote_updated")]
pub struct VoteUpdated {
    /// What and how much.
    pub payload: VoteUpdate,
}

/// The body of the vote messages.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct VoteUpdate {
    /// `topic` or `reply`.
    pub target_type: Target,
    /// Its id.
    pub target_id: i64,
    /// Its new net count.
    pub vote_count: i64,
}

/// An answer was accepted.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "answer_accepted")]
pub struct AnswerAccepted {
    /// Which topic and reply.
    pub payload: AnswerChange,
}

/// An answer was unaccepted.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "answer_unaccepted")]
pub struct AnswerUnaccepted {
    /// Which topic and reply.
    pub payload: AnswerChange,
}

/// The body of the accept messages.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct AnswerChange {
    /// The topic's id.
    pub topic_id: i64,
    /// The topic's title.
    pub topic_title: String,
    /// The reply's id.
    pub reply_id: i64,
    /// The reply author's email.
    pub reply_author: String,
}

/// A topic's title or content changed (topic list and topic page).
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "topic_updated")]
pub struct TopicUpdated {
    /// The topic's new text.
    pub payload: TopicEdit,
}

/// The body of the topic edit messages: the whole new text, not a diff.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct TopicEdit {
    /// The topic's id.
    pub topic_id: i64,
    /// The question, as now written.
    pub title: String,
    /// The question's body, as now written.
    pub content: String,
}

/// A topic was deleted (topic list and topic page; the page's socket then closes with
/// [`TOPIC_DELETED`]).
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "topic_deleted")]
pub struct TopicDeleted {
    /// Which topic.
    pub payload: DeletedTopic,
}

/// The body of the topic deletion messages.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct DeletedTopic {
    /// The topic's id.
    pub topic_id: i64,
    /// Its title, for the notice.
    pub topic_title: String,
}

/// A reply's content changed (topic page).
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "reply_updated")]
pub struct ReplyUpdated {
    /// The reply's new text.
    pub payload: ReplyEdit,
}

/// The body of the reply edit messages.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct ReplyEdit {
    /// The reply's id.
    pub id: i64,
    /// Its topic's id.
    pub topic_id: i64,
    /// The answer, as now written.
    pub content: String,
}

/// A reply was deleted (topic page, and lists following its topic).
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "reply_deleted")]
pub struct ReplyDeleted {
    /// Which reply, and what its topic is left with.
    pub payload: DeletedReply,
}

/// The body of the reply deletion messages.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct DeletedReply {
    /// The reply's id.
    pub id: i64,
    /// Its topic's id.
    pub topic_id: i64,
    /// How many replies the topic has now: a count to show, not a difference to apply.
    pub reply_count: i64,
    /// Whether it was the accepted answer, which the topic then no longer has.
    pub was_accepted: bool,
}

/// The close code of a topic page's socket once its topic is deleted.
pub const TOPIC_DELETED: u16 = 4404;
/// The close reason sent with [`TOPIC_DELETED`].
pub const TOPIC_DELETED_REASON: &str = "the topic was deleted";

// ---- authentication ----

/// Signed-in users; for a topic socket, the topic must exist.
pub type TopicAuth = TokenAuthenticator<User, TopicRef>;

/// 401 without a valid token, 404 for a topic that does not exist.
pub fn topic_auth(resolver: UserResolver, db: Db) -> TopicAuth {
    TokenAuthenticator::for_object(UserResolver::sources(), resolver, "pk", TopicLookup(db)).permission(IsAuthenticated)
}

/// Finds the topic of the `{pk}` path parameter.
#[derive(Debug, Clone)]
pub struct TopicLookup(Db);

#[chanx::async_trait]
impl ObjectLookup<TopicRef> for TopicLookup {
    async fn lookup(&self, key: &str) -> Result<Option<TopicRef>, AuthError> {
        let Ok(id) = key.parse::<i64>() else { return Ok(None) };
        TopicRef::get(&self.0, id).await.map_err(AuthError::new)
    }
}

// ---- consumers ----

/// One forum topic followed from the list's socket: `discussion:{pk}`, for a topic that exists.
/// Its subscribers get `reply_created` for each new answer, with `topic` in the frame.
#[derive(Default)]
pub struct DiscussionTopic;

#[chanx::topic(pattern = "discussion:{pk}")]
impl Topic for DiscussionTopic {
    /// The socket's user is signed in (the list's authenticator); the topic must exist. The host
    /// put the database in the connection's extensions.
    async fn authorize(&self, ctx: &Context, params: &TopicParams) -> bool {
        let (Some(db), Some(id)) = (ctx.extension::<Db>(), params.get("pk").and_then(|pk| pk.parse::<i64>().ok()))
        else {
            return false;
        };
        match TopicRef::get(&db, id).await {
            Ok(found) => found.is_some(),
            Err(err) => {
                tracing::warn!(error = %err, topic = params.topic(), "could not check a followed topic");
                false
            }
        }
    }

    /// A reply was posted.
    #[event_handler]
    async fn handle_new_reply(&self, event: NewReplyEvent) -> ReplyCreated {
        ReplyCreated { payload: event.payload }
    }

    /// A reply was deleted: the topic's new count, and whether it lost its accepted answer.
    #[event_handler]
    async fn handle_reply_deleted(&self, event: ReplyDeletedEvent) -> ReplyDeleted {
        ReplyDeleted { payload: event.payload }
    }
}

/// The topic list, live.
pub struct DiscussionListConsumer {
    /// Where users are, to check the user again once the socket is in its groups.
    pub db: Db,
}

/// Live updates of the forum's topic list: new, edited and deleted topics, votes, accepted
/// answers; and, for each topic the list follows (`discussion:{pk}`), its new and deleted answers.
#[chanx::consumer(name = "discussionList", tags = ["discussion"], topics = [DiscussionTopic])]
impl Consumer for DiscussionListConsumer {
    type Authenticator = UserAuth;

    fn groups(&self, ctx: &Context) -> Vec<String> {
        std::iter::once(LIST_GROUP.to_owned()).chain(sessions::group_of(ctx)).collect()
    }

    async fn post_authentication(&self, ctx: &Context) {
        // For DiscussionTopic::authorize, which sees the connection, not this consumer.
        ctx.insert_extension(self.db.clone());
        sessions::still_signed_in(ctx, &self.db).await;
    }

    /// Health check.
    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }

    /// A topic was asked.
    #[event_handler]
    async fn handle_new_topic(&self, event: NewTopicEvent) -> TopicCreated {
        TopicCreated { payload: event.payload }
    }

    /// A vote count changed.
    #[event_handler]
    async fn update_vote(&self, event: VoteEvent) -> VoteUpdated {
        VoteUpdated { payload: event.payload }
    }

    /// An answer was accepted.
    #[event_handler]
    async fn handle_answer_accepted(&self, event: AnswerAcceptedEvent) -> AnswerAccepted {
        AnswerAccepted { payload: event.payload }
    }

    /// An answer was unaccepted.
    #[event_handler]
    async fn handle_answer_unaccepted(&self, event: AnswerUnacceptedEvent) -> AnswerUnaccepted {
        AnswerUnaccepted { payload: event.payload }
    }

    /// A topic was edited.
    #[event_handler]
    async fn handle_topic_updated(&self, event: TopicEditedEvent) -> TopicUpdated {
        TopicUpdated { payload: event.payload }
    }

    /// A topic was deleted.
    #[event_handler]
    async fn handle_topic_deleted(&self, event: TopicDeletedEvent) -> TopicDeleted {
        TopicDeleted { payload: event.payload }
    }
}

/// One topic, live.
pub struct DiscussionTopicConsumer {
    /// Where users are, to check the user again once the socket is in its groups.
    pub db: Db,
}

/// Live replies, votes and accepted answers of one topic, and its edits and deletions (a deleted
/// topic's sockets are told, then closed with 4404).
#[chanx::consumer(name = "discussionTopic", tags = ["discussion"])]
impl Consumer for DiscussionTopicConsumer {
    type Authenticator = TopicAuth;

    fn groups(&self, ctx: &Context) -> Vec<String> {
        let topic = ctx.extension::<TopicRef>().map(|topic| topic_group(topic.id));
        topic.into_iter().chain(sessions::group_of(ctx)).collect()
    }

    async fn post_authentication(&self, ctx: &Context) {
        sessions::still_signed_in(ctx, &self.db).await;
    }

    /// Health check.
    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }

    /// A reply was posted.
    #[event_handler]
    async fn handle_new_reply(&self, event: NewReplyEvent) -> ReplyCreated {
        ReplyCreated { payload: event.payload }
    }

    /// A vote count changed.
    #[event_handler]
    async fn update_vote(&self, event: VoteEvent) -> VoteUpdated {
        VoteUpdated { payload: event.payload }
    }

    /// An answer was accepted.
    #[event_handler]
    async fn handle_answer_accepted(&self, event: AnswerAcceptedEvent) -> AnswerAccepted {
        AnswerAccepted { payload: event.payload }
    }

    /// An answer was unaccepted.
    #[event_handler]
    async fn handle_answer_unaccepted(&self, event: AnswerUnacceptedEvent) -> AnswerUnaccepted {
        AnswerUnaccepted { payload: event.payload }
    }

    /// The topic was edited.
    #[event_handler]
    async fn handle_topic_updated(&self, event: TopicEditedEvent) -> TopicUpdated {
        TopicUpdated { payload: event.payload }
    }

    /// The topic was deleted: the page is told, leaves its groups, and is closed, since there is
    /// nothing left to follow (a reconnection would be refused with 4404 anyway).
    #[event_handler(output = [TopicDeleted])]
    async fn handle_topic_deleted(&self, ctx: &Context, event: TopicDeletedEvent) {
        let _ = ctx.send(&TopicDeleted { payload: event.payload });
        for group in ctx.groups() {
            let _ = ctx.leave_group(&group).await;
        }
        ctx.close(TOPIC_DELETED, TOPIC_DELETED_REASON);
    }

    /// A reply was edited.
    #[event_handler]
    async fn handle_reply_updated(&self, event: ReplyEditedEvent) -> ReplyUpdated {
        ReplyUpdated { payload: event.payload }
    }

    /// A reply was deleted.
    #[event_handler]
    async fn handle_reply_deleted(&self, event: ReplyDeletedEvent) -> ReplyDeleted {
        ReplyDeleted { payload: event.payload }
    }
}
