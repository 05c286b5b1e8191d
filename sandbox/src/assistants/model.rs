//! Conversations with the assistant and their messages.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::admin::Record;
use crate::db::Db;
use crate::rest::Page;
use crate::timestamp;

/// A conversation; without a user it is anonymous, open to anyone who knows its id.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct Conversation {
    /// A UUID.
    pub id: String,
    /// The owner, if any (not sent).
    #[serde(skip)]
    pub user_id: Option<i64>,
    /// Generated from the first message; empty until then.
    pub title: String,
    /// When it started (RFC 3339).
    pub created_at: String,
    /// Its last activity (RFC 3339).
    pub updated_at: String,
}

impl Conversation {
    /// The `limit` most recently active conversations, as the admin lists them.
    pub async fn admin_rows(db: &Db, limit: i64) -> Result<Vec<Record>, sqlx::Error> {
        sqlx::query_as(
            "SELECT c.id, c.title AS label, u.email AS owner, \
             (SELECT COUNT(*) FROM assistant_messages m WHERE m.conversation_id = c.id) AS count, c.updated_at \
             FROM assistant_conversations c LEFT JOIN users u ON u.id = c.user_id ORDER BY c.updated_at DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(db.pool())
        .await
    }

    /// Whether `viewer` may read and write it: its owner, or anyone when it is anonymous.
    pub fn open_to(&self, viewer: Option<i64>) -> bool {
        self.user_id.is_none() || self.user_id == viewer
    }

    /// The group its sockets join: `user_{uid}_conversation_{id}` or `anonymous_{id}`.
    pub fn group(&self) -> String {
        match self.user_id {
            Some(user) => format!("user_{user}_conversation_{}", self.id),
            None => format!("anonymous_{}", self.id),
        }
    }

    /// The group of the sockets of user `user_id` that show their conversation list:
    /// `user_{uid}_conversations`.
    ///
    /// ```
    /// use sandbox::assistants::model::Conversation;
    /// assert_eq!(Conversation::list_group(7), "user_7_conversations");
    /// ```
    pub fn list_group(user_id: i64) -> String {
        format!("user_{user_id}_conversations")
    }

    /// The group a change of its title goes to: every page that shows the title gets it once.
    /// An owned conversation is shown only to its owner, whose sockets are all in their list's
    /// group, the conversation's own page included (sending to its group as well would give
    /// that page the change twice); an anonymous one is in nobody's list.
    pub fn title_group(&self) -> String {
        match self.user_id {
            Some(user) => Conversation::list_group(user),
            None => self.group(),
        }
    }
}

/// Who wrote a message.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageType {
    /// The person.
    User,
    /// The model.
    Assistant,
}

impl MessageType {
    fn as_str(self) -> &'static str {
        match self {
            MessageType::User => "user",
            MessageType::Assistant => "assistant",
        }
    }
}

/// A message as the API and the events show it.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AssistantMessage {
    /// The id.
    pub id: i64,
    /// The text.
    pub content: String,
    /// `user` or `assistant`.
    pub message_type: MessageType,
    /// When it was written (RFC 3339).
    pub created_at: String,
    /// `03:04 PM - Jan 02, 2025` (UTC).
    pub formatted_created_at: String,
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: i64,
    content: String,
    message_type: String,
    created_at: String,
}

impl From<MessageRow> for AssistantMessage {
    fn from(row: MessageRow) -> Self {
        AssistantMessage {
            id: row.id,
            message_type: if row.message_type == "assistant" { MessageType::Assistant } else { MessageType::User },
            formatted_created_at: timestamp::human(&row.created_at),
            content: row.content,
            created_at: row.created_at,
        }
    }
}

const CONVERSATION_COLUMNS: &str = "id, user_id, title, created_at, updated_at";

impl Conversation {
    /// Conversation `id`, whoever asks; an id that is not a UUID names none.
    pub async fn get(db: &Db, id: &str) -> Result<Option<Conversation>, sqlx::Error> {
        let Ok(id) = uuid::Uuid::parse_str(id) else { return Ok(None) };
        let sql = format!("SELECT {CONVERSATION_COLUMNS} FROM assistant_conversations WHERE id = $1");
        sqlx::query_as(&sql).bind(id.to_string()).fetch_optional(db.pool()).await
    }

    /// Starts a conversation, owned by `user` or anonymous.
    pub async fn create(db: &Db, user: Option<i64>, title: &str) -> Result<Conversation, sqlx::Error> {
        let (id, now) = (uuid::Uuid::new_v4().to_string(), timestamp::now());
        sqlx::query(
            "INSERT INTO assistant_conversations (id, user_id, title, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)",
        )
        .bind(&id)
        .bind(user)
        .bind(title)
        .bind(&now)
        .execute(db.pool())
        .await?;
        Ok(Conversation { id, user_id: user, title: title.to_owned(), created_at: now.clone(), updated_at: now })
    }

    /// A page of `user`'s conversations, latest activity first, and how many there are.
    pub async fn list_for(db: &Db, user: i64, page: Page) -> Result<(i64, Vec<Conversation>), sqlx::Error> {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM assistant_conversations WHERE user_id = $1")
            .bind(user)
            .fetch_one(db.pool())
            .await?;
        let sql = format!(
            "SELECT {CONVERSATION_COLUMNS} FROM assistant_conversations WHERE user_id = $1 \
             ORDER BY updated_at DESC, id LIMIT $2 OFFSET $3"
        );
        let rows = sqlx::query_as(&sql).bind(user).bind(page.limit).bind(page.offset).fetch_all(db.pool()).await?;
        Ok((count, rows))
    }

    /// Sets the title.
    pub async fn set_title(db: &Db, id: &str, title: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE assistant_conversations SET title = $1 WHERE id = $2")
            .bind(title)
            .bind(id)
            .execute(db.pool())
            .await?;
        Ok(())
    }

    /// Takes the conversation's answer lease until `ttl` from now, unless another writer holds an
    /// unexpired one; true if taken. The lease is what keeps processes sharing the database to
    /// one answer at a time.
    pub async fn take_lease(db: &Db, id: &str, ttl: std::time::Duration) -> Result<bool, sqlx::Error> {
        let now = time::OffsetDateTime::now_utc();
        let taken = sqlx::query(
            "UPDATE assistant_conversations SET answer_lease = $1 WHERE id = $2 AND (answer_lease IS NULL OR answer_lease < $3)",
        )
        .bind(timestamp::format(now + ttl))
        .bind(id)
        .bind(timestamp::format(now))
        .execute(db.pool())
        .await?;
        Ok(taken.rows_affected() == 1)
    }

    /// Extends a held lease to `ttl` from now.
    pub async fn renew_lease(db: &Db, id: &str, ttl: std::time::Duration) -> Result<(), sqlx::Error> {
        let until = timestamp::format(time::OffsetDateTime::now_utc() + ttl);
        sqlx::query("UPDATE assistant_conversations SET answer_lease = $1 WHERE id = $2")
            .bind(until)
            .bind(id)
            .execute(db.pool())
            .await?;
        Ok(())
    }

    /// Gives the lease back.
    pub async fn release_lease(db: &Db, id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE assistant_conversations SET answer_lease = NULL WHERE id = $1")
            .bind(id)
            .execute(db.pool())
            .await?;
        Ok(())
    }

    /// Deletes a conversation and its messages.
    pub async fn delete(db: &Db, id: &str) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM assistant_conversations WHERE id = $1").bind(id).execute(db.pool()).await?;
        Ok(())
    }
}

impl AssistantMessage {
    /// Saves a message and bumps the conversation's `updated_at`, in one transaction.
    pub async fn create(
        db: &Db,
        conversation: &str,
        kind: MessageType,
        content: &str,
    ) -> Result<AssistantMessage, sqlx::Error> {
        let now = timestamp::now();
        let mut tx = db.pool().begin().await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO assistant_messages (conversation_id, content, message_type, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(conversation)
        .bind(content)
        .bind(kind.as_str())
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("UPDATE assistant_conversations SET updated_at = $1 WHERE id = $2")
            .bind(&now)
            .bind(conversation)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(AssistantMessage {
            id,
            content: content.to_owned(),
            message_type: kind,
            formatted_created_at: timestamp::human(&now),
            created_at: now,
        })
    }

    /// How many messages the conversation has.
    pub async fn count(db: &Db, conversation: &str) -> Result<i64, sqlx::Error> {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM assistant_messages WHERE conversation_id = $1")
            .bind(conversation)
            .fetch_one(db.pool())
            .await?;
        Ok(count)
    }

    /// A page of the conversation's messages, oldest first, and how many there are.
    pub async fn list(db: &Db, conversation: &str, page: Page) -> Result<(i64, Vec<AssistantMessage>), sqlx::Error> {
        let count = AssistantMessage::count(db, conversation).await?;
        let rows: Vec<MessageRow> = sqlx::query_as(
            "SELECT id, content, message_type, created_at FROM assistant_messages WHERE conversation_id = $1 \
             ORDER BY id LIMIT $2 OFFSET $3",
        )
        .bind(conversation)
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(db.pool())
        .await?;
        Ok((count, rows.into_iter().map(Into::into).collect()))
    }

    /// Every message of the conversation, oldest first: the history the model gets.
    pub async fn history(db: &Db, conversation: &str) -> Result<Vec<AssistantMessage>, sqlx::Error> {
        let rows: Vec<MessageRow> = sqlx::query_as(
            "SELECT id, content, message_type, created_at FROM assistant_messages WHERE conversation_id = $1 ORDER BY id",
        )
        .bind(conversation)
        .fetch_all(db.pool())
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    /// The newest `limit` messages of the conversation, oldest first: what the model may get.
    pub async fn recent(db: &Db, conversation: &str, limit: usize) -> Result<Vec<AssistantMessage>, sqlx::Error> {
        let rows: Vec<MessageRow> = sqlx::query_as(
            "SELECT id, content, message_type, created_at FROM assistant_messages WHERE conversation_id = $1 \
             ORDER BY id DESC LIMIT $2",
        )
        .bind(conversation)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(db.pool())
        .await?;
        Ok(rows.into_iter().rev().map(Into::into).collect())
    }

    /// The answer to user message `message_id`: the first assistant message after it.
    pub async fn reply_to(
        db: &Db,
        conversation: &str,
        message_id: i64,
    ) -> Result<Option<AssistantMessage>, sqlx::Error> {
        let row: Option<MessageRow> = sqlx::query_as(
            "SELECT id, content, message_type, created_at FROM assistant_messages \
             WHERE conversation_id = $1 AND id > $2 AND message_type = 'assistant' ORDER BY id LIMIT 1",
        )
        .bind(conversation)
        .bind(message_id)
        .fetch_optional(db.pool())
        .await?;
        Ok(row.map(Into::into))
    }

    /// Message `id` of the conversation.
    pub async fn get(db: &Db, conversation: &str, id: i64) -> Result<Option<AssistantMessage>, sqlx::Error> {
        let row: Option<MessageRow> = sqlx::query_as(
            "SELECT id, content, message_type, created_at FROM assistant_messages WHERE conversation_id = $1 AND id = $2",
        )
        .bind(conversation)
        .bind(id)
        .fetch_optional(db.pool())
        .await?;
        Ok(row.map(Into::into))
    }
}
