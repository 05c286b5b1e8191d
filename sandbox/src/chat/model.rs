//! Chats, their members and messages: the rows, their wire shapes, and the queries.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::accounts::User;
use crate::admin::Record;
use crate::db::{Db, is_unique_violation};
use crate::rest::Page;
use crate::timestamp;

/// A member's role; a lower number is more privileged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Created the chat; may edit and delete it; cannot be removed.
    Owner = 2001,
    /// May add and remove members.
    Admin = 2002,
    /// May read and write messages.
    Member = 2003,
}

impl Role {
    /// The role stored as `code`.
    pub fn from_code(code: i64) -> Option<Role> {
        match code {
            2001 => Some(Role::Owner),
            2002 => Some(Role::Admin),
            2003 => Some(Role::Member),
            _ => None,
        }
    }

    /// Its stored number.
    pub fn code(self) -> i64 {
        self as i64
    }

    /// Whether it may add and remove members.
    pub fn can_manage(self) -> bool {
        self <= Role::Admin
    }

    /// Its name, for pages.
    pub fn label(self) -> &'static str {
        match self {
            Role::Owner => "Owner",
            Role::Admin => "Admin",
            Role::Member => "Member",
        }
    }
}

/// A chat as lists and events show it.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, sqlx::FromRow)]
pub struct GroupChat {
    /// The id.
    pub id: i64,
    /// The title (1 to 255 characters).
    pub title: String,
    /// The description, if any.
    pub description: Option<String>,
    /// How many members it has.
    pub member_count: i64,
    /// Its last activity (RFC 3339).
    pub updated_at: String,
}

/// A membership as member lists and events show it.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema, sqlx::FromRow)]
pub struct Member {
    /// The membership's id.
    pub id: i64,
    /// The member's email.
    pub user: String,
    /// 2001 owner, 2002 admin, 2003 member.
    pub chat_role: i64,
    /// The member's user id.
    pub user_id: i64,
}

impl Member {
    /// The role (an unknown code reads as a plain member).
    pub fn role(&self) -> Role {
        Role::from_code(self.chat_role).unwrap_or(Role::Member)
    }
}

/// A message as lists and events show it.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ChatMessage {
    /// The id.
    pub id: i64,
    /// Whether the viewer sent it.
    pub is_mine: bool,
    /// Who sent it.
    pub sender: Option<Member>,
    /// The text, as it was sent.
    pub content: String,
    /// When it was sent (RFC 3339).
    pub created_at: String,
    /// `03:04 PM - Jan 02, 2025` (UTC).
    pub formatted_time: String,
    /// When it was last changed (RFC 3339).
    pub updated_at: String,
    /// Whether it was edited.
    pub is_edited: bool,
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: i64,
    content: String,
    created_at: String,
    updated_at: String,
    #[sqlx(try_from = "crate::db::Flag")]
    is_edited: bool,
    sender_id: Option<i64>,
    sender_email: Option<String>,
    sender_role: Option<i64>,
    sender_user_id: Option<i64>,
}

impl MessageRow {
    fn into_message(self, viewer: Option<i64>) -> ChatMessage {
        let sender = match (self.sender_id, self.sender_email, self.sender_role, self.sender_user_id) {
            (Some(id), Some(user), Some(chat_role), Some(user_id)) => Some(Member { id, user, chat_role, user_id }),
            _ => None,
        };
        ChatMessage {
            id: self.id,
            is_mine: sender.as_ref().is_some_and(|s| Some(s.user_id) == viewer),
            sender,
            formatted_time: timestamp::human(&self.created_at),
            content: self.content,
            created_at: self.created_at,
            updated_at: self.updated_at,
            is_edited: self.is_edited,
        }
    }
}

const CHAT_COLUMNS: &str = "g.id, g.title, g.description, \
    (SELECT COUNT(*) FROM chat_members c WHERE c.group_chat_id = g.id) AS member_count, g.updated_at";
const MEMBER_COLUMNS: &str = "m.id, u.email AS \"user\", m.chat_role, m.user_id";
const MESSAGE_QUERY: &str = "SELECT msg.id, msg.content, msg.created_at, msg.updated_at, msg.is_edited, \
    m.id AS sender_id, u.email AS sender_email, m.chat_role AS sender_role, m.user_id AS sender_user_id \
    FROM chat_messages msg LEFT JOIN chat_members m ON m.id = msg.sender_id LEFT JOIN users u ON u.id = m.user_id";

/// A title that is blank or too long, or a description that is too long.
pub fn validate_chat(title: &str, description: Option<&str>) -> Result<(), (&'static str, &'static str, &'static str)> {
    if title.trim().is_empty() {
        return Err(("title", "blank", "This field may not be blank."));
    }
    if title.chars().count() > 255 {
        return Err(("title", "max_length", "Ensure this field has no more than 255 characters."));
    }
    if description.is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
        return Err(("description", "max_length", "Ensure this field has no more than 2000 characters."));
    }
    Ok(())
}

/// The longest description.
pub const MAX_DESCRIPTION: usize = 2000;
/// The longest message.
pub const MAX_MESSAGE: usize = 5000;

impl GroupChat {
    /// The `limit` most recently active chats, as the admin lists them (no owner: a chat has
    /// members in roles).
    pub async fn admin_rows(db: &Db, limit: i64) -> Result<Vec<Record>, sqlx::Error> {
        sqlx::query_as(
            "SELECT CAST(g.id AS TEXT) AS id, g.title AS label, NULL AS owner, \
             (SELECT COUNT(*) FROM chat_members m WHERE m.group_chat_id = g.id) AS count, g.updated_at \
             FROM group_chats g ORDER BY g.updated_at DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(db.pool())
        .await
    }

    /// Chat `id`, whoever asks.
    pub async fn get(db: &Db, id: i64) -> Result<Option<GroupChat>, sqlx::Error> {
        let sql = format!("SELECT {CHAT_COLUMNS} FROM group_chats g WHERE g.id = $1");
        sqlx::query_as(&sql).bind(id).fetch_optional(db.pool()).await
    }

    /// A page of `user`'s chats, latest activity first, and how many there are.
    pub async fn list_for(db: &Db, user_id: i64, page: Page) -> Result<(i64, Vec<GroupChat>), sqlx::Error> {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM chat_members WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(db.pool())
            .await?;
        let sql = format!(
            "SELECT {CHAT_COLUMNS} FROM group_chats g JOIN chat_members me ON me.group_chat_id = g.id \
             WHERE me.user_id = $1 ORDER BY g.updated_at DESC, g.id DESC LIMIT $2 OFFSET $3"
        );
        let chats = sqlx::query_as(&sql).bind(user_id).bind(page.limit).bind(page.offset).fetch_all(db.pool()).await?;
        Ok((count, chats))
    }

    /// All of `user`'s chats by title, for sidebars.
    pub async fn all_for(db: &Db, user_id: i64) -> Result<Vec<GroupChat>, sqlx::Error> {
        let sql = format!(
            "SELECT {CHAT_COLUMNS} FROM group_chats g JOIN chat_members me ON me.group_chat_id = g.id \
             WHERE me.user_id = $1 ORDER BY g.title, g.id"
        );
        sqlx::query_as(&sql).bind(user_id).fetch_all(db.pool()).await
    }

    /// The ids of `user`'s chats.
    pub async fn ids_for(db: &Db, user_id: i64) -> Result<Vec<i64>, sqlx::Error> {
        let rows: Vec<(i64,)> = sqlx::query_as("SELECT group_chat_id FROM chat_members WHERE user_id = $1")
            .bind(user_id)
            .fetch_all(db.pool())
            .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// Creates a chat owned by `owner`; returns it and the owner's membership.
    pub async fn create(
        db: &Db,
        owner: &User,
        title: &str,
        description: Option<&str>,
    ) -> Result<(GroupChat, Member), sqlx::Error> {
        let now = timestamp::now();
        let mut tx = db.pool().begin().await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO group_chats (title, description, created_at, updated_at) VALUES ($1, $2, $3, $3) RETURNING id",
        )
        .bind(title)
        .bind(description)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        let (member_id,): (i64,) = sqlx::query_as(
            "INSERT INTO chat_members (chat_role, group_chat_id, user_id, nick_name) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(Role::Owner.code())
        .bind(id)
        .bind(owner.id)
        .bind(&owner.email)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        let chat = GroupChat {
            id,
            title: title.to_owned(),
            description: description.map(str::to_owned),
            member_count: 1,
            updated_at: now,
        };
        let member =
            Member { id: member_id, user: owner.email.clone(), chat_role: Role::Owner.code(), user_id: owner.id };
        Ok((chat, member))
    }

    /// Sets the title and description and bumps `updated_at`.
    pub async fn update(
        db: &Db,
        id: i64,
        title: &str,
        description: Option<&str>,
    ) -> Result<Option<GroupChat>, sqlx::Error> {
        sqlx::query("UPDATE group_chats SET title = $1, description = $2, updated_at = $3 WHERE id = $4")
            .bind(title)
            .bind(description)
            .bind(timestamp::now())
            .bind(id)
            .execute(db.pool())
            .await?;
        GroupChat::get(db, id).await
    }

    /// Deletes a chat with its members and messages.
    pub async fn delete(db: &Db, id: i64) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM group_chats WHERE id = $1").bind(id).execute(db.pool()).await?;
        Ok(())
    }
}

/// Why a member could not be added.
#[derive(Debug, thiserror::Error)]
pub enum AddMemberError {
    /// Already in the chat.
    #[error("already a member")]
    AlreadyMember,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl Member {
    /// `user`'s membership of chat `chat_id`.
    pub async fn of(db: &Db, chat_id: i64, user_id: i64) -> Result<Option<Member>, sqlx::Error> {
        let sql = format!(
            "SELECT {MEMBER_COLUMNS} FROM chat_members m JOIN users u ON u.id = m.user_id \
             WHERE m.group_chat_id = $1 AND m.user_id = $2"
        );
        sqlx::query_as(&sql).bind(chat_id).bind(user_id).fetch_optional(db.pool()).await
    }

    /// Membership `id` of chat `chat_id`.
    pub async fn get(db: &Db, chat_id: i64, id: i64) -> Result<Option<Member>, sqlx::Error> {
        let sql = format!(
            "SELECT {MEMBER_COLUMNS} FROM chat_members m JOIN users u ON u.id = m.user_id \
             WHERE m.group_chat_id = $1 AND m.id = $2"
        );
        sqlx::query_as(&sql).bind(chat_id).bind(id).fetch_optional(db.pool()).await
    }

    /// Every member of chat `chat_id`, by role then email.
    pub async fn list(db: &Db, chat_id: i64) -> Result<Vec<Member>, sqlx::Error> {
        let sql = format!(
            "SELECT {MEMBER_COLUMNS} FROM chat_members m JOIN users u ON u.id = m.user_id \
             WHERE m.group_chat_id = $1 ORDER BY m.chat_role, u.email"
        );
        sqlx::query_as(&sql).bind(chat_id).fetch_all(db.pool()).await
    }

    /// Adds `user` to chat `chat_id` with `role`.
    pub async fn add(db: &Db, chat_id: i64, user: &User, role: Role) -> Result<Member, AddMemberError> {
        let inserted: Result<(i64,), sqlx::Error> = sqlx::query_as(
            "INSERT INTO chat_members (chat_role, group_chat_id, user_id, nick_name) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(role.code())
        .bind(chat_id)
        .bind(user.id)
        .bind(&user.email)
        .fetch_one(db.pool())
        .await;
        match inserted {
            Ok((id,)) => Ok(Member { id, user: user.email.clone(), chat_role: role.code(), user_id: user.id }),
            Err(err) if is_unique_violation(&err) => Err(AddMemberError::AlreadyMember),
            Err(err) => Err(err.into()),
        }
    }

    /// Removes a membership and, with it, the member's messages.
    pub async fn remove(db: &Db, id: i64) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM chat_members WHERE id = $1").bind(id).execute(db.pool()).await?;
        Ok(())
    }
}

impl ChatMessage {
    /// A page of chat `chat_id`'s messages, newest first, as `viewer` sees them.
    pub async fn list(db: &Db, chat_id: i64, viewer: i64, page: Page) -> Result<(i64, Vec<ChatMessage>), sqlx::Error> {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM chat_messages WHERE group_chat_id = $1")
            .bind(chat_id)
            .fetch_one(db.pool())
            .await?;
        let sql = format!("{MESSAGE_QUERY} WHERE msg.group_chat_id = $1 ORDER BY msg.id DESC LIMIT $2 OFFSET $3");
        let rows: Vec<MessageRow> =
            sqlx::query_as(&sql).bind(chat_id).bind(page.limit).bind(page.offset).fetch_all(db.pool()).await?;
        Ok((count, rows.into_iter().map(|row| row.into_message(Some(viewer))).collect()))
    }

    /// Message `id` of chat `chat_id`, as `viewer` sees it.
    pub async fn get(db: &Db, chat_id: i64, id: i64, viewer: Option<i64>) -> Result<Option<ChatMessage>, sqlx::Error> {
        let sql = format!("{MESSAGE_QUERY} WHERE msg.group_chat_id = $1 AND msg.id = $2");
        let row: Option<MessageRow> = sqlx::query_as(&sql).bind(chat_id).bind(id).fetch_optional(db.pool()).await?;
        Ok(row.map(|row| row.into_message(viewer)))
    }

    /// Saves a message from `sender` and bumps the chat's `updated_at`, in one transaction.
    pub async fn create(db: &Db, chat_id: i64, sender: &Member, content: &str) -> Result<ChatMessage, sqlx::Error> {
        let now = timestamp::now();
        let mut tx = db.pool().begin().await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO chat_messages (group_chat_id, sender_id, content, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) RETURNING id",
        )
        .bind(chat_id)
        .bind(sender.id)
        .bind(content)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("UPDATE group_chats SET updated_at = $1 WHERE id = $2")
            .bind(&now)
            .bind(chat_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(ChatMessage {
            id,
            is_mine: true,
            sender: Some(sender.clone()),
            content: content.to_owned(),
            formatted_time: timestamp::human(&now),
            created_at: now.clone(),
            updated_at: now,
            is_edited: false,
        })
    }

    /// Replaces the text and marks the message edited; the chat's `updated_at` is left alone.
    pub async fn edit(db: &Db, id: i64, content: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE chat_messages SET content = $1, is_edited = 1, updated_at = $2 WHERE id = $3")
            .bind(content)
            .bind(timestamp::now())
            .bind(id)
            .execute(db.pool())
            .await?;
        Ok(())
    }

    /// Deletes a message.
    pub async fn delete(db: &Db, id: i64) -> Result<(), sqlx::Error> {
        sqlx::query("DELETE FROM chat_messages WHERE id = $1").bind(id).execute(db.pool()).await?;
        Ok(())
    }
}
