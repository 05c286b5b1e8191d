//! The broadcast matrix: which events each change sends, and to which groups. HTTP handlers call
//! these after the change is committed. A failed send (the channel layer is down) is logged and
//! does not undo the change: the data is saved and pages show it on their next load.
//!
//! A chat's message changes go twice: to the chat's group, as the original sends them, and to the
//! chat's topic ([`ChatRoomTopic`], `chat:{gid}`), which numbers and keeps them for pages that
//! recover after a lost connection. A socket gets each change once: one that follows the topic
//! skips the group's copy.

use chanx::{HandlesEvent, Layer, Message, Topic};

use super::consumers::*;
use super::model::{ChatMessage, GroupChat, Member};
use crate::broadcast::broadcast;

/// `member` joined `chat` (also when its owner created it): their chat list gets
/// `added_to_group`; the chat's pages get `member_added`.
pub async fn member_joined(layer: &Layer, chat: &GroupChat, member: &Member) {
    let event = NotifyAddedToGroup { payload: chat.clone() };
    broadcast::<GroupChatConsumer, _>(layer, &user_groups(member.user_id), &event).await;
    let event = NotifyMemberAdded { payload: member.clone() };
    broadcast::<ChatDetailConsumer, _>(layer, &chat_room(chat.id), &event).await;
}

/// `member` was removed from `chat`: their chat list gets `removed_from_group`; the chat's pages
/// get `member_removed` (the removed user's own page gets `user_removed_from_group`); and every
/// subscription to the chat's topic is checked again, so that the removed user's ends (an
/// `unsubscribed` push) on whichever socket it was.
pub async fn member_left(layer: &Layer, chat: &GroupChat, member: &Member) {
    let removed = RemovedFromGroup { group_pk: chat.id, group_title: chat.title.clone() };
    let event = NotifyRemovedFromGroup { payload: removed };
    broadcast::<GroupChatConsumer, _>(layer, &user_groups(member.user_id), &event).await;
    let who = RemovedMember { user_pk: member.user_id, email: member.user.clone() };
    let event = NotifyMemberRemoved { payload: who };
    broadcast::<ChatDetailConsumer, _>(layer, &chat_room(chat.id), &event).await;
    reauthorize_topic(layer, chat.id).await;
}

/// `chat` was deleted: each former member's chat list gets `removed_from_group`; the chat's pages
/// get `user_removed_from_group` and are closed.
pub async fn chat_deleted(layer: &Layer, chat: &GroupChat, members: &[Member]) {
    let removed = RemovedFromGroup { group_pk: chat.id, group_title: chat.title.clone() };
    for member in members {
        let event = NotifyRemovedFromGroup { payload: removed.clone() };
        broadcast::<GroupChatConsumer, _>(layer, &user_groups(member.user_id), &event).await;
    }
    let event = NotifyChatDeleted { payload: removed };
    broadcast::<ChatDetailConsumer, _>(layer, &chat_room(chat.id), &event).await;
    reauthorize_topic(layer, chat.id).await;
}

/// `message` was posted in chat `chat_id`: the chat's pages get `member_message`, then every
/// member's chat list gets `group_chat_updated`.
pub async fn message_posted(layer: &Layer, chat_id: i64, message: &ChatMessage) {
    let payload = NewChatMessagePayload {
        user_pk: message.sender.as_ref().map(|sender| sender.user_id),
        message_data: message.clone(),
    };
    let event = NewChatMessage { payload };
    broadcast::<ChatDetailConsumer, _>(layer, &chat_room(chat_id), &event).await;
    push_to_topic(layer, chat_id, &event).await;
    chat_updated(layer, chat_id, &message.created_at).await;
}

/// `message` of chat `chat_id` was edited: the chat's pages get `member_message_edited`.
pub async fn message_edited(layer: &Layer, chat_id: i64, message: &ChatMessage) {
    let event = NotifyMessageEdited { payload: message.clone() };
    broadcast::<ChatDetailConsumer, _>(layer, &chat_room(chat_id), &event).await;
    push_to_topic(layer, chat_id, &event).await;
}

/// Message `id` of chat `chat_id` was deleted: the chat's pages get `member_message_deleted`.
pub async fn message_deleted(layer: &Layer, chat_id: i64, id: i64) {
    let event = NotifyMessageDeleted { payload: DeletedMessage { id } };
    broadcast::<ChatDetailConsumer, _>(layer, &chat_room(chat_id), &event).await;
    push_to_topic(layer, chat_id, &event).await;
}

/// Pushes `event` to chat `chat_id`'s topic, where its history numbers and keeps it.
async fn push_to_topic<E: Message>(layer: &Layer, chat_id: i64, event: &E)
where
    ChatRoomTopic: HandlesEvent<E>,
{
    if let Err(err) = ChatRoomTopic::broadcast(layer, &chat_topic(chat_id), event, None).await {
        tracing::error!(error = %err, chat = chat_id, action = E::ACTION, "could not push to the chat's topic");
    }
}

/// Every subscriber of chat `chat_id`'s topic checks its membership again; those no longer
/// members are unsubscribed.
async fn reauthorize_topic(layer: &Layer, chat_id: i64) {
    if let Err(err) = ChatRoomTopic::reauthorize(layer, &chat_topic(chat_id)).await {
        tracing::error!(error = %err, chat = chat_id, "could not end the chat topic's revoked subscriptions");
    }
}

/// Chat `chat_id` changed at `updated_at`: every member's chat list gets `group_chat_updated`.
pub async fn chat_updated(layer: &Layer, chat_id: i64, updated_at: &str) {
    let update = ChatUpdate { group_pk: chat_id, updated_at: updated_at.to_owned() };
    let event = NotifyGroupChatUpdate { payload: update };
    broadcast::<GroupChatConsumer, _>(layer, &chat_updates(chat_id), &event).await;
}
