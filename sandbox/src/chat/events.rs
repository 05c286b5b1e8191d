//! The broadcast matrix: which events each change sends, and to which groups. HTTP handlers call
//! these after the change is committed. A failed send (the channel layer is down) is logged and
//! does not undo the change: the data is saved and pages show it on their next load.

use chanx::{Consumer, Layer};

use super::consumers::*;
use super::model::{ChatMessage, GroupChat, Member};
use crate::broadcast::logged;

/// `member` joined `chat` (also when its owner created it): their chat list gets
/// `added_to_group`; the chat's pages get `member_added`.
pub async fn member_joined(layer: &Layer, chat: &GroupChat, member: &Member) {
    let (group, event) = (user_groups(member.user_id), NotifyAddedToGroup { payload: chat.clone() });
    logged(&group, &event, GroupChatConsumer::broadcast_event_to(layer, &[group.as_str()], &event).await);
    let (group, event) = (chat_room(chat.id), NotifyMemberAdded { payload: member.clone() });
    logged(&group, &event, ChatDetailConsumer::broadcast_event_to(layer, &[group.as_str()], &event).await);
}

/// `member` was removed from `chat`: their chat list gets `removed_from_group`; the chat's pages
/// get `member_removed` (the removed user's own page gets `user_removed_from_group`).
pub async fn member_left(layer: &Layer, chat: &GroupChat, member: &Member) {
    let removed = RemovedFromGroup { group_pk: chat.id, group_title: chat.title.clone() };
    let (group, event) = (user_groups(member.user_id), NotifyRemovedFromGroup { payload: removed });
    logged(&group, &event, GroupChatConsumer::broadcast_event_to(layer, &[group.as_str()], &event).await);
    let who = RemovedMember { user_pk: member.user_id, email: member.user.clone() };
    let (group, event) = (chat_room(chat.id), NotifyMemberRemoved { payload: who });
    logged(&group, &event, ChatDetailConsumer::broadcast_event_to(layer, &[group.as_str()], &event).await);
}

/// `chat` was deleted: each former member's chat list gets `removed_from_group`; the chat's pages
/// get `user_removed_from_group` and are closed.
pub async fn chat_deleted(layer: &Layer, chat: &GroupChat, members: &[Member]) {
    let removed = RemovedFromGroup { group_pk: chat.id, group_title: chat.title.clone() };
    for member in members {
        let (group, event) = (user_groups(member.user_id), NotifyRemovedFromGroup { payload: removed.clone() });
        logged(&group, &event, GroupChatConsumer::broadcast_event_to(layer, &[group.as_str()], &event).await);
    }
    let (group, event) = (chat_room(chat.id), NotifyChatDeleted { payload: removed });
    logged(&group, &event, ChatDetailConsumer::broadcast_event_to(layer, &[group.as_str()], &event).await);
}

/// `message` was posted in chat `chat_id`: the chat's pages get `member_message`, then every
/// member's chat list gets `group_chat_updated`.
pub async fn message_posted(layer: &Layer, chat_id: i64, message: &ChatMessage) {
    let payload = NewChatMessagePayload {
        user_pk: message.sender.as_ref().map(|sender| sender.user_id),
        message_data: message.clone(),
    };
    let (group, event) = (chat_room(chat_id), NewChatMessage { payload });
    logged(&group, &event, ChatDetailConsumer::broadcast_event_to(layer, &[group.as_str()], &event).await);
    chat_updated(layer, chat_id, &message.created_at).await;
}

/// `message` of chat `chat_id` was edited: the chat's pages get `member_message_edited`.
pub async fn message_edited(layer: &Layer, chat_id: i64, message: &ChatMessage) {
    let (group, event) = (chat_room(chat_id), NotifyMessageEdited { payload: message.clone() });
    logged(&group, &event, ChatDetailConsumer::broadcast_event_to(layer, &[group.as_str()], &event).await);
}

/// Message `id` of chat `chat_id` was deleted: the chat's pages get `member_message_deleted`.
pub async fn message_deleted(layer: &Layer, chat_id: i64, id: i64) {
    let (group, event) = (chat_room(chat_id), NotifyMessageDeleted { payload: DeletedMessage { id } });
    logged(&group, &event, ChatDetailConsumer::broadcast_event_to(layer, &[group.as_str()], &event).await);
}

/// Chat `chat_id` changed at `updated_at`: every member's chat list gets `group_chat_updated`.
pub async fn chat_updated(layer: &Layer, chat_id: i64, updated_at: &str) {
    let update = ChatUpdate { group_pk: chat_id, updated_at: updated_at.to_owned() };
    let (group, event) = (chat_updates(chat_id), NotifyGroupChatUpdate { payload: update });
    logged(&group, &event, GroupChatConsumer::broadcast_event_to(layer, &[group.as_str()], &event).await);
}
