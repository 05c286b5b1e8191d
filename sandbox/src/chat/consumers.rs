//! The two chat sockets and their messages.
//!
//! * `/ws/chat/group/` ([`GroupChatConsumer`]): the signed-in user's list of chats. It joins
//!   `user_{uid}_groups` and `group_chat_{gid}_updates` for each chat, and follows additions
//!   and removals at runtime.
//! * `/ws/chat/{pk}/` ([`ChatDetailConsumer`]): one chat, members only. It joins `group_chat.{gid}`,
//!   and hosts [`ChatRoomTopic`] (`chat:{gid}`): the chat's messages with history, so that a
//!   page that lost its socket recovers what it missed, and who is online.
//!
//! Both also join the user's group (`user.{uid}`, see [`crate::sessions`]), which closes them
//! when the user's access ends, and check access again once joined.
//!
//! Both are server-push: the only client actions are `ping` and, on the chat socket, following
//! the chat's topic. Changes arrive as channel-layer events sent by the HTTP handlers (see
//! [`super::events`]); each consumer turns an event into the frame its client expects.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use chanx::auth::{AuthError, IsAuthenticated, ObjectLookup, Permission, TokenAuthenticator};
use chanx::messages::{Ping, Pong};
use chanx::{Consumer, Context, Message, Scope, Topic, TopicParams};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::model::{ChatMessage, GroupChat, Member};
use crate::accounts::User;
use crate::accounts::sockets::{UserAuth, UserResolver};
use crate::db::Db;
use crate::sessions;

/// The close code of a member's socket once they are removed from the group chat (4000 + 403).
pub const REMOVED_FROM_CHAT: u16 = 4403;
/// The close reason sent with [`REMOVED_FROM_CHAT`].
pub const REMOVED_FROM_CHAT_REASON: &str = "removed from the group chat";
/// The close code of every socket of a group chat once it is deleted (4000 + 404).
pub const CHAT_DELETED: u16 = 4404;
/// The close reason sent with [`CHAT_DELETED`].
pub const CHAT_DELETED_REASON: &str = "the group chat was deleted";

/// The group of a user's chat-list sockets.
pub fn user_groups(user_id: i64) -> String {
    format!("user_{user_id}_groups")
}

/// The group that hears about a chat's activity, for chat lists.
pub fn chat_updates(chat_id: i64) -> String {
    format!("group_chat_{chat_id}_updates")
}

/// The group of a chat's open chat pages.
pub fn chat_room(chat_id: i64) -> String {
    format!("group_chat.{chat_id}")
}

/// The topic of a chat's messages, [`ChatRoomTopic`].
///
/// ```
/// assert_eq!(sandbox::chat::consumers::chat_topic(7), "chat:7");
/// ```
pub fn chat_topic(chat_id: i64) -> String {
    format!("chat:{chat_id}")
}

// ---- events (server → consumer, through the channel layer) ----

/// You were added to a chat: its list entry.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "notify_added_to_group")]
pub struct NotifyAddedToGroup {
    /// The chat.
    pub payload: GroupChat,
}

/// You were removed from a chat.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "notify_removed_from_group")]
pub struct NotifyRemovedFromGroup {
    /// Which chat.
    pub payload: RemovedFromGroup,
}

/// A chat had activity.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "notify_group_chat_update")]
pub struct NotifyGroupChatUpdate {
    /// Which chat, and when.
    pub payload: ChatUpdate,
}

/// Someone joined the chat.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "notify_member_added")]
pub struct NotifyMemberAdded {
    /// The new membership.
    pub payload: Member,
}

/// Someone left the chat.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "notify_member_removed")]
pub struct NotifyMemberRemoved {
    /// Who.
    pub payload: RemovedMember,
}

/// A message was edited.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "notify_message_edited")]
pub struct NotifyMessageEdited {
    /// The message as it is now; `is_mine` is recomputed for each recipient.
    pub payload: ChatMessage,
}

/// A message was deleted.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "notify_message_deleted")]
pub struct NotifyMessageDeleted {
    /// Which message.
    pub payload: DeletedMessage,
}

/// The chat was deleted.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "notify_chat_deleted")]
pub struct NotifyChatDeleted {
    /// Which chat.
    pub payload: RemovedFromGroup,
}

/// A message was posted.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "new_chat_message")]
pub struct NewChatMessage {
    /// The message, as its sender sees it, and the sender's user id.
    pub payload: NewChatMessagePayload,
}

/// The body of [`NewChatMessage`].
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct NewChatMessagePayload {
    /// The message; `is_mine` is recomputed for each recipient.
    pub message_data: ChatMessage,
    /// The sender's user id.
    pub user_pk: Option<i64>,
}

// ---- client messages (consumer → browser) ----

/// You were added to a chat (chat list).
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "added_to_group")]
pub struct AddedToGroup {
    /// The chat.
    pub payload: GroupChat,
}

/// You were removed from a chat (chat list).
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "removed_from_group")]
pub struct RemovedFromGroupMessage {
    /// Which chat.
    pub payload: RemovedFromGroup,
}

/// The body of the removal messages.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct RemovedFromGroup {
    /// The chat's id.
    pub group_pk: i64,
    /// The chat's title.
    pub group_title: String,
}

/// A chat in your list had activity.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "group_chat_updated")]
pub struct GroupChatUpdated {
    /// Which chat, and when.
    pub payload: ChatUpdate,
}

/// The body of the update messages.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct ChatUpdate {
    /// The chat's id.
    pub group_pk: i64,
    /// Its new `updated_at` (RFC 3339).
    pub updated_at: String,
}

/// Someone joined this chat.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "member_added")]
pub struct MemberAdded {
    /// The new membership.
    pub payload: Member,
}

/// Someone else left this chat.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "member_removed")]
pub struct MemberRemoved {
    /// Who.
    pub payload: RemovedMember,
}

/// The body of the member-removal messages.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct RemovedMember {
    /// The removed user's id.
    pub user_pk: i64,
    /// The removed user's email.
    pub email: String,
}

/// You were removed from this chat; the socket closes after this frame.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "user_removed_from_group")]
pub struct UserRemovedFromGroup {
    /// Where to go and what to show.
    pub payload: Redirect,
}

/// The body of [`UserRemovedFromGroup`].
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct Redirect {
    /// The page to go to: `/chat/`.
    pub redirect: String,
    /// A notice for the user.
    pub message: String,
}

/// A message of this chat was edited.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "member_message_edited")]
pub struct MemberMessageEdited {
    /// The message as it is now, with `isMine` for this recipient.
    pub payload: ChatMessage,
}

/// A message of this chat was deleted.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "member_message_deleted")]
pub struct MemberMessageDeleted {
    /// Which message.
    pub payload: DeletedMessage,
}

/// The body of the deletion messages.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct DeletedMessage {
    /// The deleted message's id.
    pub id: i64,
}

/// A message in this chat.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "member_message")]
pub struct MemberMessage {
    /// The message, with `isMine` for this recipient.
    pub payload: ChatMessage,
}

// ---- authentication ----

/// Members of the chat in the path only.
pub type ChatAuth = TokenAuthenticator<User, GroupChat>;

/// The authenticator of `/ws/chat/{pk}/`: 401 without a valid token, 404 for a chat that does not
/// exist, 403 for one the user is not a member of.
pub fn chat_auth(resolver: UserResolver, db: Db) -> ChatAuth {
    let (lookup, membership) = (ChatLookup(db.clone()), IsChatMember(db));
    TokenAuthenticator::for_object(UserResolver::sources(), resolver, "pk", lookup)
        .permission(IsAuthenticated)
        .permission(membership)
}

/// Finds the chat of the `{pk}` path parameter; a pk that is not a number names no chat.
#[derive(Debug, Clone)]
pub struct ChatLookup(Db);

#[chanx::async_trait]
impl ObjectLookup<GroupChat> for ChatLookup {
    async fn lookup(&self, key: &str) -> Result<Option<GroupChat>, AuthError> {
        let Ok(id) = key.parse::<i64>() else { return Ok(None) };
        GroupChat::get(&self.0, id).await.map_err(AuthError::new)
    }
}

/// Allows members of the chat only.
#[derive(Debug, Clone)]
pub struct IsChatMember(Db);

#[chanx::async_trait]
impl Permission<User, GroupChat> for IsChatMember {
    async fn has_object_permission(&self, user: Option<&User>, _: &Scope, chat: &GroupChat) -> Result<bool, AuthError> {
        let Some(user) = user else { return Ok(false) };
        Member::of(&self.0, chat.id, user.id).await.map(|m| m.is_some()).map_err(AuthError::new)
    }
}

fn me(ctx: &Context) -> i64 {
    ctx.extension::<User>().map_or(0, |user| user.id)
}

// ---- the chat's topic: history and presence ----

/// Who is online in a chat: the presence entry of each page that follows its topic.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct OnlineMember {
    /// The user's id (a user with two pages open is listed twice, once per connection).
    pub user_id: i64,
    /// Their first and last names, or their email when they set none.
    pub name: String,
}

impl OnlineMember {
    /// The entry of `user`.
    ///
    /// ```
    /// # use sandbox::accounts::User;
    /// # use sandbox::chat::consumers::OnlineMember;
    /// let mut ada = User { id: 1, email: "ada@example.com".into(), first_name: String::new(),
    ///     last_name: String::new(), is_staff: false, is_superuser: false, token_issued_us: 0 };
    /// assert_eq!(OnlineMember::of(&ada).name, "ada@example.com");
    /// ada.first_name = "Ada".into();
    /// ada.last_name = "Lovelace".into();
    /// assert_eq!(OnlineMember::of(&ada), OnlineMember { user_id: 1, name: "Ada Lovelace".into() });
    /// ```
    pub fn of(user: &User) -> Self {
        let name = format!("{} {}", user.first_name.trim(), user.last_name.trim());
        let name = name.trim();
        OnlineMember { user_id: user.id, name: if name.is_empty() { user.email.clone() } else { name.to_owned() } }
    }
}

/// The chats whose [`ChatRoomTopic`] a connection follows. Its own chat's messages then reach it
/// through the topic only (numbered, recoverable), not also as plain group frames.
#[derive(Debug, Default)]
pub struct FollowedChats(Mutex<HashSet<i64>>);

impl FollowedChats {
    fn set(&self, chat_id: i64, following: bool) {
        let mut chats = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if following {
            chats.insert(chat_id);
        } else {
            chats.remove(&chat_id);
        }
    }

    /// Whether the connection of `ctx` follows chat `chat_id`'s topic.
    pub fn follows(ctx: &Context, chat_id: i64) -> bool {
        ctx.extension::<FollowedChats>()
            .is_some_and(|chats| chats.0.lock().unwrap_or_else(PoisonError::into_inner).contains(&chat_id))
    }
}

/// The message as recipient `ctx` sees it: `isMine` says whether they sent it.
fn for_recipient(ctx: &Context, mut message: ChatMessage) -> ChatMessage {
    message.is_mine = message.sender.as_ref().is_some_and(|sender| sender.user_id == me(ctx));
    message
}

/// A chat's messages as a topic, `chat:{pk}`, for its members: `member_message`,
/// `member_message_edited` and `member_message_deleted` pushes, numbered and kept (the last 200
/// for 10 minutes), so that a page that lost its socket subscribes with `since` and gets exactly
/// what it missed; and presence, so that the page shows who is online.
#[derive(Debug, Default)]
pub struct ChatRoomTopic {
    /// The chat of the topic; `None` when the topic's `pk` is not a chat id written plainly.
    chat_id: Option<i64>,
}

/// A chat's messages, recoverable after a lost connection, and who is online in it.
#[chanx::topic(pattern = "chat:{pk}", history(size = 200, ttl = "10m"), presence = OnlineMember)]
impl Topic for ChatRoomTopic {
    fn new(_ctx: &Context, params: &TopicParams) -> Self {
        // Only the plain spelling: `chat:007` would be a group that no push reaches.
        let pk = params.get("pk").unwrap_or_default();
        let chat_id = pk.parse::<i64>().ok().filter(|id| id.to_string() == pk);
        ChatRoomTopic { chat_id }
    }

    /// Members of the chat only, as for the chat's socket; the host put the database in the
    /// connection's extensions. A database failure refuses.
    async fn authorize(&self, ctx: &Context, _params: &TopicParams) -> bool {
        let (Some(chat_id), Some(db), Some(user)) = (self.chat_id, ctx.extension::<Db>(), ctx.extension::<User>())
        else {
            return false;
        };
        match Member::of(&db, chat_id, user.id).await {
            Ok(member) => member.is_some(),
            Err(err) => {
                tracing::warn!(error = %err, topic = ctx.topic(), "could not check a chat topic's membership");
                false
            }
        }
    }

    /// Listed by user id and display name.
    fn presence(&self, ctx: &Context) -> Option<OnlineMember> {
        ctx.extension::<User>().map(|user| OnlineMember::of(&user))
    }

    async fn on_subscribe(&self, ctx: &Context) {
        if let (Some(chat_id), Some(followed)) = (self.chat_id, ctx.extension::<FollowedChats>()) {
            followed.set(chat_id, true);
        }
    }

    async fn on_unsubscribe(&self, ctx: &Context) {
        if let (Some(chat_id), Some(followed)) = (self.chat_id, ctx.extension::<FollowedChats>()) {
            followed.set(chat_id, false);
        }
    }

    /// A message was posted; `isMine` says whether this recipient sent it.
    #[event_handler]
    async fn new_chat_message(&self, ctx: &Context, event: NewChatMessage) -> MemberMessage {
        MemberMessage { payload: for_recipient(ctx, event.payload.message_data) }
    }

    /// A message was edited.
    #[event_handler]
    async fn notify_message_edited(&self, ctx: &Context, event: NotifyMessageEdited) -> MemberMessageEdited {
        MemberMessageEdited { payload: for_recipient(ctx, event.payload) }
    }

    /// A message was deleted.
    #[event_handler]
    async fn notify_message_deleted(&self, event: NotifyMessageDeleted) -> MemberMessageDeleted {
        MemberMessageDeleted { payload: event.payload }
    }
}

// ---- consumers ----

/// The signed-in user's chat list, live: additions, removals and activity.
pub struct GroupChatConsumer {
    /// Where the user's chats are.
    pub db: Db,
}

/// Live updates of the signed-in user's chat list.
#[chanx::consumer(name = "groupChat", tags = ["chat"])]
impl Consumer for GroupChatConsumer {
    type Authenticator = UserAuth;

    fn groups(&self, ctx: &Context) -> Vec<String> {
        // Joined before the chats are read, so that no addition or removal between the read and
        // the joins is missed: it arrives as an event once the socket runs.
        let user = me(ctx);
        [sessions::user_group(user), user_groups(user)].into()
    }

    async fn post_authentication(&self, ctx: &Context) {
        if !sessions::still_signed_in(ctx, &self.db).await {
            return;
        }
        let chats = match GroupChat::ids_for(&self.db, me(ctx)).await {
            Ok(chats) => chats,
            Err(err) => {
                tracing::error!(error = %err, "could not load the user's chats");
                ctx.close(chanx::close_code::INTERNAL_ERROR, sessions::DATABASE_UNAVAILABLE);
                return;
            }
        };
        for group in chats.into_iter().map(chat_updates) {
            if let Err(err) = ctx.join_group(&group).await {
                tracing::error!(error = %err, group, "could not join");
            }
        }
    }

    /// Health check.
    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }

    /// You were added to a chat: its updates are followed from now on.
    #[event_handler]
    async fn notify_added_to_group(&self, ctx: &Context, event: NotifyAddedToGroup) -> AddedToGroup {
        if let Err(err) = ctx.join_group(&chat_updates(event.payload.id)).await {
            tracing::warn!(error = %err, "could not follow the new chat");
        }
        AddedToGroup { payload: event.payload }
    }

    /// You were removed from a chat: its updates stop.
    #[event_handler]
    async fn notify_removed_from_group(&self, ctx: &Context, event: NotifyRemovedFromGroup) -> RemovedFromGroupMessage {
        if let Err(err) = ctx.leave_group(&chat_updates(event.payload.group_pk)).await {
            tracing::warn!(error = %err, "could not unfollow the chat");
        }
        RemovedFromGroupMessage { payload: event.payload }
    }

    /// A chat of yours had activity.
    #[event_handler]
    async fn notify_group_chat_update(&self, event: NotifyGroupChatUpdate) -> GroupChatUpdated {
        GroupChatUpdated { payload: event.payload }
    }
}

/// One chat, live: its messages and membership changes.
pub struct ChatDetailConsumer {
    /// Where memberships are, to check them again once the socket is in the chat's group.
    pub db: Db,
}

/// Live messages and member changes of one chat, for its members. A page that follows the chat's
/// topic, `chat:{pk}`, gets its messages from it instead: numbered, recoverable after a lost
/// connection, with who is online.
#[chanx::consumer(name = "chatDetail", tags = ["chat"], topics = [ChatRoomTopic])]
impl Consumer for ChatDetailConsumer {
    type Authenticator = ChatAuth;

    fn groups(&self, ctx: &Context) -> Vec<String> {
        let room = ctx.extension::<GroupChat>().map(|chat| chat_room(chat.id));
        room.into_iter().chain(sessions::group_of(ctx)).collect()
    }

    /// Membership was checked before the socket joined the chat's group: a removal (or the
    /// chat's deletion) in between was broadcast before the socket could hear it. So both are
    /// checked again now that it is in, and answered as the broadcast would have been.
    async fn post_authentication(&self, ctx: &Context) {
        // For ChatRoomTopic, which sees the connection, not this consumer.
        ctx.insert_extension(self.db.clone());
        ctx.insert_extension(FollowedChats::default());
        if !sessions::still_signed_in(ctx, &self.db).await {
            return;
        }
        let Some(chat) = ctx.extension::<GroupChat>() else { return };
        let still = async {
            let exists = GroupChat::get(&self.db, chat.id).await?.is_some();
            Ok::<_, sqlx::Error>((exists, exists && Member::of(&self.db, chat.id, me(ctx)).await?.is_some()))
        };
        match still.await {
            Ok((_, true)) => {}
            Ok((false, _)) => ctx.close(CHAT_DELETED, CHAT_DELETED_REASON),
            Ok((true, false)) => ctx.close(REMOVED_FROM_CHAT, REMOVED_FROM_CHAT_REASON),
            Err(err) => {
                tracing::error!(error = %err, "could not check the membership again");
                ctx.close(chanx::close_code::INTERNAL_ERROR, sessions::DATABASE_UNAVAILABLE);
            }
        }
    }

    /// Health check.
    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }

    /// Someone joined.
    #[event_handler]
    async fn notify_member_added(&self, event: NotifyMemberAdded) -> MemberAdded {
        MemberAdded { payload: event.payload }
    }

    /// Someone left. The removed user is told, leaves the chat's group and is disconnected, so
    /// nothing more of the chat reaches them.
    #[event_handler(output = [MemberRemoved, UserRemovedFromGroup])]
    async fn notify_member_removed(&self, ctx: &Context, event: NotifyMemberRemoved) {
        if event.payload.user_pk != me(ctx) {
            let _ = ctx.send(&MemberRemoved { payload: event.payload });
            return;
        }
        let notice =
            Redirect { redirect: "/chat/".into(), message: "You have been removed from this group chat".into() };
        let _ = ctx.send(&UserRemovedFromGroup { payload: notice });
        for group in ctx.groups() {
            let _ = ctx.leave_group(&group).await;
        }
        ctx.close(REMOVED_FROM_CHAT, REMOVED_FROM_CHAT_REASON);
    }

    /// A message was edited; `isMine` says whether this recipient sent it. Not sent to a page
    /// that follows the chat's topic: it gets the edit from there.
    #[event_handler(output = [MemberMessageEdited])]
    async fn notify_message_edited(&self, ctx: &Context, event: NotifyMessageEdited) {
        if !follows_own_chat(ctx) {
            let _ = ctx.send(&MemberMessageEdited { payload: for_recipient(ctx, event.payload) });
        }
    }

    /// A message was deleted (not sent to a page that follows the chat's topic).
    #[event_handler(output = [MemberMessageDeleted])]
    async fn notify_message_deleted(&self, ctx: &Context, event: NotifyMessageDeleted) {
        if !follows_own_chat(ctx) {
            let _ = ctx.send(&MemberMessageDeleted { payload: event.payload });
        }
    }

    /// The chat was deleted: every member is told, leaves, and is disconnected.
    #[event_handler(output = [UserRemovedFromGroup])]
    async fn notify_chat_deleted(&self, ctx: &Context, event: NotifyChatDeleted) {
        let notice = Redirect {
            redirect: "/chat/".into(),
            message: format!("The group chat {} was deleted", event.payload.group_title),
        };
        let _ = ctx.send(&UserRemovedFromGroup { payload: notice });
        for group in ctx.groups() {
            let _ = ctx.leave_group(&group).await;
        }
        ctx.close(CHAT_DELETED, CHAT_DELETED_REASON);
    }

    /// A message was posted; `isMine` says whether this recipient sent it. Not sent to a page
    /// that follows the chat's topic: it gets the message from there, numbered.
    #[event_handler(output = [MemberMessage])]
    async fn new_chat_message(&self, ctx: &Context, event: NewChatMessage) {
        if !follows_own_chat(ctx) {
            let _ = ctx.send(&MemberMessage { payload: for_recipient(ctx, event.payload.message_data) });
        }
    }
}

/// Whether the chat socket of `ctx` follows its own chat's topic.
fn follows_own_chat(ctx: &Context) -> bool {
    ctx.extension::<GroupChat>().is_some_and(|chat| FollowedChats::follows(ctx, chat.id))
}
