//! `/api/chat/…`: chats, their messages and members, for signed-in users.
//!
//! Rules: a chat someone is not a member of is a 404 on its own routes (its existence is not
//! disclosed) and a 403 on its nested routes; only the owner edits or deletes a chat; owners and
//! admins manage members; only a message's sender edits or deletes it.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chanx::Layer;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::events;
use super::model::{ChatMessage, GroupChat, Member, Role};
use super::service::{self, Refusal};
use crate::accounts::User;
use crate::db::Db;
use crate::rest::{ApiError, ApiResult, BaseUrl, Ids, Json, Page, Paginated, created};
use crate::state::AppState;
use crate::throttle::Throttles;

/// The routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_chats, create_chat))
        .routes(routes!(get_chat, replace_chat, update_chat, delete_chat))
        .routes(routes!(list_messages, post_message))
        .routes(routes!(get_message, edit_message, patch_message, delete_message))
        .routes(routes!(list_members, add_member))
        .routes(routes!(remove_member))
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Invalid(field, code, text) => ApiError::field(field, code, text),
            Refusal::ChatNotFound | Refusal::NotFound(_) => ApiError::NotFound,
            Refusal::NotMember => ApiError::PermissionDenied("You are not a member of this group chat.".into()),
            Refusal::Forbidden(text) => ApiError::PermissionDenied(text.into()),
            Refusal::AlreadyMember(_) => ApiError::field("email", "already_member", refusal.to_string()),
            Refusal::Throttled(wait) => ApiError::Throttled(wait),
            Refusal::Db(err) => err.into(),
        }
    }
}

/// The chat `pk` if `user` is a member (404 otherwise), with the membership.
async fn visible_chat(db: &Db, pk: i64, user: &User) -> ApiResult<(GroupChat, Member)> {
    service::membership(db, pk, user).await.map_err(|refusal| match refusal {
        Refusal::NotMember => ApiError::NotFound,
        other => other.into(),
    })
}

/// The membership of `user` in chat `chat` for nested routes (403 for non-members and missing chats).
async fn nested_member(db: &Db, chat: i64, user: &User) -> ApiResult<Member> {
    Member::of(db, chat, user.id)
        .await?
        .ok_or_else(|| ApiError::PermissionDenied("You are not a member of this group chat.".into()))
}

#[utoipa::path(
    get,
    path = "/api/chat/",
    operation_id = "listChats",
    tag = "chat",
    summary = "The chats the user belongs to",
    params(crate::rest::Page),
    responses((status = 200, description = "A page of chats", body = Paginated<GroupChat>)),
)]
async fn list_chats(
    State(db): State<Db>,
    user: User,
    page: Page,
    base: BaseUrl,
) -> ApiResult<Json<Paginated<GroupChat>>> {
    let (count, chats) = GroupChat::list_for(&db, user.id, page).await?;
    Ok(Json(Paginated::new(&base.0, page, count, chats)))
}

#[derive(utoipa::ToSchema, Debug, Deserialize)]
struct ChatForm {
    title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
}

/// Distinguishes a field sent as null (`Some(None)`) from one left out (`None`).
fn present<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(de).map(Some)
}

#[utoipa::path(
    post,
    path = "/api/chat/",
    operation_id = "createChat",
    tag = "chat",
    summary = "Create a chat; the user becomes its owner",
    request_body = ChatForm,
    responses((status = 201, description = "The new chat", body = GroupChat)),
)]
async fn create_chat(
    State(db): State<Db>,
    State(layer): State<Layer>,
    State(throttles): State<Arc<Throttles>>,
    user: User,
    Json(form): Json<ChatForm>,
) -> ApiResult<Response> {
    let title = form.title.ok_or_else(|| ApiError::field("title", "required", "This field is required."))?;
    let description = form.description.flatten();
    let chat = service::create_chat(&db, &layer, &throttles.chats, &user, &title, description.as_deref()).await?;
    Ok(created(chat))
}

#[utoipa::path(
    get,
    path = "/api/chat/{pk}/",
    operation_id = "getChat",
    tag = "chat",
    summary = "One chat the user belongs to",
    params(("pk" = i64, Path, description = "The chat's id")),
    responses((status = 200, description = "The chat", body = GroupChat)),
)]
async fn get_chat(State(db): State<Db>, user: User, Ids(pk): Ids<i64>) -> ApiResult<Json<GroupChat>> {
    Ok(Json(visible_chat(&db, pk, &user).await?.0))
}

async fn change_chat(
    db: &Db,
    layer: &Layer,
    user: User,
    pk: i64,
    form: ChatForm,
    partial: bool,
) -> ApiResult<Json<GroupChat>> {
    let (chat, me) = visible_chat(db, pk, &user).await?;
    if me.role() != Role::Owner {
        return Err(ApiError::PermissionDenied("Only group owner can modify state, or a member to fetch".into()));
    }
    let title = match (form.title, partial) {
        (Some(title), _) => title,
        (None, true) => chat.title,
        (None, false) => return Err(ApiError::field("title", "required", "This field is required.")),
    };
    let description = match form.description {
        Some(description) => description,
        None if partial => chat.description,
        None => None,
    };
    Ok(Json(service::update_chat(db, layer, pk, &title, description.as_deref()).await?))
}

#[utoipa::path(
    put,
    path = "/api/chat/{pk}/",
    operation_id = "replaceChat",
    tag = "chat",
    summary = "Replace a chat's title and description (owner)",
    params(("pk" = i64, Path, description = "The chat's id")),
    request_body = ChatForm,
    responses((status = 200, description = "The chat", body = GroupChat)),
)]
async fn replace_chat(
    State(db): State<Db>,
    State(layer): State<Layer>,
    user: User,
    Ids(pk): Ids<i64>,
    Json(form): Json<ChatForm>,
) -> ApiResult<Json<GroupChat>> {
    change_chat(&db, &layer, user, pk, form, false).await
}

#[utoipa::path(
    patch,
    path = "/api/chat/{pk}/",
    operation_id = "updateChat",
    tag = "chat",
    summary = "Change some of a chat's fields (owner)",
    params(("pk" = i64, Path, description = "The chat's id")),
    request_body = ChatForm,
    responses((status = 200, description = "The chat", body = GroupChat)),
)]
async fn update_chat(
    State(db): State<Db>,
    State(layer): State<Layer>,
    user: User,
    Ids(pk): Ids<i64>,
    Json(form): Json<ChatForm>,
) -> ApiResult<Json<GroupChat>> {
    change_chat(&db, &layer, user, pk, form, true).await
}

#[utoipa::path(
    delete,
    path = "/api/chat/{pk}/",
    operation_id = "deleteChat",
    tag = "chat",
    summary = "Delete a chat (owner)",
    params(("pk" = i64, Path, description = "The chat's id")),
    responses((status = 204, description = "Deleted")),
)]
async fn delete_chat(
    State(db): State<Db>,
    State(layer): State<Layer>,
    user: User,
    Ids(pk): Ids<i64>,
) -> ApiResult<StatusCode> {
    let (chat, me) = visible_chat(&db, pk, &user).await?;
    if me.role() != Role::Owner {
        return Err(ApiError::PermissionDenied("Only group owner can modify state, or a member to fetch".into()));
    }
    service::delete_chat(&db, &layer, &chat).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/chat/{chat}/messages/",
    operation_id = "listChatMessages",
    tag = "chat",
    summary = "A chat's messages, newest first",
    params(("chat" = i64, Path, description = "The chat's id"), crate::rest::Page),
    responses((status = 200, description = "A page of messages", body = Paginated<ChatMessage>)),
)]
async fn list_messages(
    State(db): State<Db>,
    user: User,
    Ids(chat): Ids<i64>,
    page: Page,
    base: BaseUrl,
) -> ApiResult<Json<Paginated<ChatMessage>>> {
    nested_member(&db, chat, &user).await?;
    let (count, messages) = ChatMessage::list(&db, chat, user.id, page).await?;
    Ok(Json(Paginated::new(&base.0, page, count, messages)))
}

#[derive(utoipa::ToSchema, Debug, Deserialize)]
struct MessageForm {
    content: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/chat/{chat}/messages/",
    operation_id = "postChatMessage",
    tag = "chat",
    summary = "Send a message to a chat",
    params(("chat" = i64, Path, description = "The chat's id")),
    request_body = MessageForm,
    responses((status = 201, description = "The message", body = ChatMessage)),
)]
async fn post_message(
    State(db): State<Db>,
    State(layer): State<Layer>,
    user: User,
    Ids(chat): Ids<i64>,
    Json(form): Json<MessageForm>,
) -> ApiResult<Response> {
    let me = nested_member(&db, chat, &user).await?;
    let content = form.content.ok_or_else(|| ApiError::field("content", "required", "This field is required."))?;
    let message = service::post_message(&db, &layer, chat, &me, &content).await?;
    Ok(created(message))
}

#[utoipa::path(
    get,
    path = "/api/chat/{chat}/messages/{pk}/",
    operation_id = "getChatMessage",
    tag = "chat",
    summary = "One message of a chat",
    params(("chat" = i64, Path, description = "The chat's id"), ("pk" = i64, Path, description = "The message's id")),
    responses((status = 200, description = "The message", body = ChatMessage)),
)]
async fn get_message(
    State(db): State<Db>,
    user: User,
    Ids((chat, pk)): Ids<(i64, i64)>,
) -> ApiResult<Json<ChatMessage>> {
    nested_member(&db, chat, &user).await?;
    ChatMessage::get(&db, chat, pk, Some(user.id)).await?.map(Json).ok_or(ApiError::NotFound)
}

/// The message `pk` of `chat` if `user` sent it: 404 if missing, 403 if someone else's.
async fn own_message(db: &Db, user: &User, chat: i64, pk: i64) -> ApiResult<ChatMessage> {
    nested_member(db, chat, user).await?;
    let message = ChatMessage::get(db, chat, pk, Some(user.id)).await?.ok_or(ApiError::NotFound)?;
    if !message.is_mine {
        return Err(ApiError::PermissionDenied("Only the sender can change a message.".into()));
    }
    Ok(message)
}

#[utoipa::path(
    put,
    path = "/api/chat/{chat}/messages/{pk}/",
    operation_id = "editChatMessage",
    tag = "chat",
    summary = "Edit one's own message (PUT)",
    params(("chat" = i64, Path, description = "The chat's id"), ("pk" = i64, Path, description = "The message's id")),
    request_body = MessageForm,
    responses((status = 200, description = "The message", body = ChatMessage)),
)]
async fn edit_message(
    State(db): State<Db>,
    State(layer): State<Layer>,
    user: User,
    Ids((chat, pk)): Ids<(i64, i64)>,
    Json(form): Json<MessageForm>,
) -> ApiResult<Json<ChatMessage>> {
    own_message(&db, &user, chat, pk).await?;
    let content = form.content.ok_or_else(|| ApiError::field("content", "required", "This field is required."))?;
    service::validate_message(&content)?;
    ChatMessage::edit(&db, pk, &content).await?;
    let edited = ChatMessage::get(&db, chat, pk, Some(user.id)).await?.ok_or(ApiError::NotFound)?;
    events::message_edited(&layer, chat, &edited).await;
    Ok(Json(edited))
}

#[utoipa::path(
    delete,
    path = "/api/chat/{chat}/messages/{pk}/",
    operation_id = "deleteChatMessage",
    tag = "chat",
    summary = "Delete one's own message",
    params(("chat" = i64, Path, description = "The chat's id"), ("pk" = i64, Path, description = "The message's id")),
    responses((status = 204, description = "Deleted")),
)]
async fn delete_message(
    State(db): State<Db>,
    State(layer): State<Layer>,
    user: User,
    Ids((chat, pk)): Ids<(i64, i64)>,
) -> ApiResult<StatusCode> {
    own_message(&db, &user, chat, pk).await?;
    ChatMessage::delete(&db, pk).await?;
    events::message_deleted(&layer, chat, pk).await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/chat/{chat}/members/",
    operation_id = "listChatMembers",
    tag = "chat",
    summary = "A chat's members",
    params(("chat" = i64, Path, description = "The chat's id")),
    responses((status = 200, description = "The members", body = Vec<Member>)),
)]
async fn list_members(State(db): State<Db>, user: User, Ids(chat): Ids<i64>) -> ApiResult<Json<Vec<Member>>> {
    nested_member(&db, chat, &user).await?;
    Ok(Json(Member::list(&db, chat).await?))
}

#[derive(utoipa::ToSchema, Debug, Deserialize)]
struct MemberForm {
    email: Option<String>,
    chat_role: Option<i64>,
}

#[utoipa::path(
    post,
    path = "/api/chat/{chat}/members/",
    operation_id = "addChatMember",
    tag = "chat",
    summary = "Add a user by email (owners and admins)",
    params(("chat" = i64, Path, description = "The chat's id")),
    request_body = MemberForm,
    responses((status = 201, description = "The new member", body = Member)),
)]
async fn add_member(
    State(db): State<Db>,
    State(layer): State<Layer>,
    State(throttles): State<Arc<Throttles>>,
    user: User,
    Ids(chat): Ids<i64>,
    Json(form): Json<MemberForm>,
) -> ApiResult<Response> {
    nested_member(&db, chat, &user).await?;
    let email = form.email.ok_or_else(|| ApiError::field("email", "required", "This field is required."))?;
    let role = match form.chat_role {
        None => Role::Member,
        Some(code) => Role::from_code(code).ok_or_else(|| {
            ApiError::field("chatRole", "invalid_choice", format!("\"{code}\" is not a valid choice."))
        })?,
    };
    let member = service::add_member(&db, &layer, &throttles.invitations, chat, &user, &email, role).await.map_err(
        |refusal| match refusal {
            Refusal::NotFound(text) => ApiError::field("email", "does_not_exist", text),
            other => other.into(),
        },
    )?;
    Ok(created(member))
}

#[utoipa::path(
    delete,
    path = "/api/chat/{chat}/members/{pk}/",
    operation_id = "removeChatMember",
    tag = "chat",
    summary = "Remove a member (owners and admins)",
    params(("chat" = i64, Path, description = "The chat's id"), ("pk" = i64, Path, description = "The member's id")),
    responses((status = 204, description = "Removed")),
)]
async fn remove_member(
    State(db): State<Db>,
    State(layer): State<Layer>,
    user: User,
    Ids((chat, pk)): Ids<(i64, i64)>,
) -> ApiResult<Response> {
    nested_member(&db, chat, &user).await?;
    service::remove_member(&db, &layer, chat, &user, pk).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// PATCH is PUT here: every field is optional.
#[utoipa::path(
    patch,
    path = "/api/chat/{chat}/messages/{pk}/",
    operation_id = "patchChatMessage",
    tag = "chat",
    summary = "Edit one's own message (PATCH)",
    params(("chat" = i64, Path, description = "The chat's id"), ("pk" = i64, Path, description = "The message's id")),
    request_body = MessageForm,
    responses((status = 200, description = "The message", body = ChatMessage)),
)]
async fn patch_message(
    db: State<Db>,
    layer: State<Layer>,
    user: User,
    ids: Ids<(i64, i64)>,
    form: Json<MessageForm>,
) -> ApiResult<Json<ChatMessage>> {
    edit_message(db, layer, user, ids, form).await
}
