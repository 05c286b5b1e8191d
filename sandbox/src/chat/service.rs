//! The chat's operations, shared by the REST API, the pages and the admin: each checks the rules,
//! changes the database, then sends the events of the broadcast matrix. The admin, whose staff
//! act on any chat, calls the ones that take no actor ([`open_chat`], [`update_chat`], [`join`],
//! [`leave`]) after its own check.

use chanx::Layer;

use super::events;
use super::model::{AddMemberError, ChatMessage, GroupChat, MAX_MESSAGE, Member, Role, validate_chat};
use crate::accounts::User;
use crate::db::Db;
use crate::throttle::Throttle;

/// Why an operation was refused; each has a status for the API and a sentence for pages.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// A field is wrong: (field, code, sentence).
    #[error("{2}")]
    Invalid(&'static str, &'static str, String),
    /// The chat does not exist, or the user may not know it does.
    #[error("Chat not found. The chat you're looking for doesn't exist or may have been removed.")]
    ChatNotFound,
    /// The actor is not a member.
    #[error("You are not a member of this group chat")]
    NotMember,
    /// The actor's role is not enough.
    #[error("{0}")]
    Forbidden(&'static str),
    /// No such user or member.
    #[error("{0}")]
    NotFound(String),
    /// The user is already a member.
    #[error("User {0} is already a member of this group chat")]
    AlreadyMember(String),
    /// The actor's budget for this operation is spent; try again after this long.
    #[error("Too many requests; try again in {} seconds", .0.as_secs().max(1))]
    Throttled(std::time::Duration),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// The chat and the actor's membership, or why not.
pub async fn membership(db: &Db, chat_id: i64, user: &User) -> Result<(GroupChat, Member), Refusal> {
    let chat = GroupChat::get(db, chat_id).await?.ok_or(Refusal::ChatNotFound)?;
    let member = Member::of(db, chat_id, user.id).await?.ok_or(Refusal::NotMember)?;
    Ok((chat, member))
}

/// Creates a chat owned by `owner`, spending one of their `budget` (`CHATS_PER_HOUR`) once the
/// form is valid.
pub async fn create_chat(
    db: &Db,
    layer: &Layer,
    budget: &Throttle<i64>,
    owner: &User,
    title: &str,
    description: Option<&str>,
) -> Result<GroupChat, Refusal> {
    checked_chat(title, description)?;
    budget.spend(owner.id).map_err(Refusal::Throttled)?;
    open_chat(db, layer, owner, title, description).await
}

/// A chat's title and description, or why not.
fn checked_chat(title: &str, description: Option<&str>) -> Result<(), Refusal> {
    validate_chat(title, description).map_err(|(field, code, text)| Refusal::Invalid(field, code, text.into()))
}

/// Creates a chat owned by `owner`, with no budget spent (the admin's add form), and tells the
/// owner's chat list.
pub async fn open_chat(
    db: &Db,
    layer: &Layer,
    owner: &User,
    title: &str,
    description: Option<&str>,
) -> Result<GroupChat, Refusal> {
    checked_chat(title, description)?;
    let (chat, member) = GroupChat::create(db, owner, title.trim(), description).await?;
    events::member_joined(layer, &chat, &member).await;
    Ok(chat)
}

/// Replaces the title and description of chat `chat_id` (who may, the caller decided), and
/// tells its members' chat lists.
pub async fn update_chat(
    db: &Db,
    layer: &Layer,
    chat_id: i64,
    title: &str,
    description: Option<&str>,
) -> Result<GroupChat, Refusal> {
    checked_chat(title, description)?;
    let chat = GroupChat::update(db, chat_id, title.trim(), description).await?.ok_or(Refusal::ChatNotFound)?;
    events::chat_updated(layer, chat.id, &chat.updated_at).await;
    Ok(chat)
}

/// Posts `content` to chat `chat_id` as `sender`.
pub async fn post_message(
    db: &Db,
    layer: &Layer,
    chat_id: i64,
    sender: &Member,
    content: &str,
) -> Result<ChatMessage, Refusal> {
    validate_message(content)?;
    let message = ChatMessage::create(db, chat_id, sender, content).await?;
    events::message_posted(layer, chat_id, &message).await;
    Ok(message)
}

/// A message must have visible text and at most [`MAX_MESSAGE`] characters.
pub fn validate_message(content: &str) -> Result<(), Refusal> {
    if content.trim().is_empty() {
        return Err(Refusal::Invalid("content", "blank", "This field may not be blank.".into()));
    }
    if content.chars().count() > MAX_MESSAGE {
        return Err(Refusal::Invalid(
            "content",
            "max_length",
            format!("Ensure this field has no more than {MAX_MESSAGE} characters."),
        ));
    }
    Ok(())
}

/// Deletes chat `chat`, with its members and messages, and tells everyone who had it open.
pub async fn delete_chat(db: &Db, layer: &Layer, chat: &GroupChat) -> Result<(), Refusal> {
    let members = Member::list(db, chat.id).await?;
    GroupChat::delete(db, chat.id).await?;
    events::chat_deleted(layer, chat, &members).await;
    Ok(())
}

/// Adds the user with `email` to chat `chat_id` as `role`, on behalf of `actor` (an owner or
/// admin). Nobody can be added as owner. Each attempt by someone allowed to add members spends
/// one of the actor's `budget` (`CHAT_INVITATIONS_PER_HOUR`), found or not: the answer says whether
/// an email has an account, so the budget also bounds probing for accounts.
pub async fn add_member(
    db: &Db,
    layer: &Layer,
    budget: &Throttle<i64>,
    chat_id: i64,
    actor: &User,
    email: &str,
    role: Role,
) -> Result<Member, Refusal> {
    let (chat, me) = membership(db, chat_id, actor).await?;
    if !me.role().can_manage() {
        return Err(Refusal::Forbidden("You don't have permission to add members"));
    }
    if role == Role::Owner {
        return Err(Refusal::Forbidden("Cannot add new owners"));
    }
    budget.spend(actor.id).map_err(Refusal::Throttled)?;
    let email = email.trim();
    let user = User::find_by_email(db, email)
        .await?
        .ok_or_else(|| Refusal::NotFound(format!("User with email {email} not found")))?;
    join(db, layer, &chat, &user, role).await
}

/// Makes `user` a member of `chat` as `role` (who may, the caller decided), and tells their chat
/// list and the chat's pages.
pub async fn join(db: &Db, layer: &Layer, chat: &GroupChat, user: &User, role: Role) -> Result<Member, Refusal> {
    let member = Member::add(db, chat.id, user, role).await.map_err(|err| match err {
        AddMemberError::AlreadyMember => Refusal::AlreadyMember(user.email.clone()),
        AddMemberError::Db(err) => Refusal::Db(err),
    })?;
    // The chat again: the new member changed its member count.
    let chat = GroupChat::get(db, chat.id).await?.unwrap_or_else(|| chat.clone());
    events::member_joined(layer, &chat, &member).await;
    Ok(member)
}

/// Removes membership `member_id` of chat `chat_id`, on behalf of `actor` (an owner or admin).
/// The owner cannot be removed; the removed member's messages go with them.
pub async fn remove_member(
    db: &Db,
    layer: &Layer,
    chat_id: i64,
    actor: &User,
    member_id: i64,
) -> Result<Member, Refusal> {
    let chat = GroupChat::get(db, chat_id).await?.ok_or(Refusal::ChatNotFound)?;
    let target =
        Member::get(db, chat_id, member_id).await?.ok_or_else(|| Refusal::NotFound("Member not found".into()))?;
    let me = Member::of(db, chat_id, actor.id).await?.ok_or(Refusal::NotMember)?;
    if !me.role().can_manage() {
        return Err(Refusal::Forbidden("You don't have permission to remove members"));
    }
    leave(db, layer, &chat, &target).await?;
    Ok(target)
}

/// Removes `member` from `chat` (who may, the caller decided; never the owner), and tells their
/// chat list and the chat's pages, which close theirs.
pub async fn leave(db: &Db, layer: &Layer, chat: &GroupChat, member: &Member) -> Result<(), Refusal> {
    if member.role() == Role::Owner {
        return Err(Refusal::Forbidden("Cannot remove the group owner"));
    }
    Member::remove(db, member.id).await?;
    events::member_left(layer, chat, member).await;
    Ok(())
}
