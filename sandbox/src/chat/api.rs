//! `/api/chat/…`: chats, their messages and members, for signed-in users.
//!
//! Rules: a chat someone is not a member of is a 404 on its own routes (its existence is not
//! disclosed) and a 403 on its nested routes; only the owner edits or deletes a chat; owners and
//! admins manage members; only a message's sender edits or deletes it.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use chanx::Layer;
use serde::Deserialize;

use super::events;
use super::model::{ChatMessage, GroupChat, Member, Role, validate_chat};
use super::service::{self, Refusal};
use crate::accounts::User;
use crate::db::Db;
use crate::rest::{ApiError, ApiResult, BaseUrl, Ids, Json, Page, Paginated, created};
use crate::state::AppState;
use crate::throttle::Throttles;

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/chat/", get(list_chats).post(create_chat))
        .route("/api/chat/{pk}/", get(get_chat).put(replace_chat).patch(update_chat).delete(delete_chat))
        .route("/api/chat/{chat}/messages/", get(list_messages).post(post_message))
        .route(
            "/api/chat/{chat}/messages/{pk}/",
            get(get_message).put(edit_message).patch(edit_message).delete(delete_message),
        )
        .route("/api/chat/{chat}/members/", get(list_members).post(add_member))
        .route("/api/chat/{chat}/members/{pk}/", delete(remove_member))
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

async fn list_chats(
    State(db): State<Db>,
    user: User,
    page: Page,
    base: BaseUrl,
) -> ApiResult<Json<Paginated<GroupChat>>> {
    let (count, chats) = GroupChat::list_for(&db, user.id, page).await?;
    Ok(Json(Paginated::new(&base.0, page, count, chats)))
}

#[derive(Debug, Deserialize)]
struct ChatForm {
    title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
}

/// Distinguishes a field sent as null (`Some(None)`) from one left out (`None`).
fn present<'de, D: serde::Deserializer<'de>>(de: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(de).map(Some)
}

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
    validate_chat(&title, description.as_deref()).map_err(|(field, code, text)| ApiError::field(field, code, text))?;
    let chat = GroupChat::update(db, pk, title.trim(), description.as_deref()).await?.ok_or(ApiError::NotFound)?;
    events::chat_updated(layer, chat.id, &chat.updated_at).await;
    Ok(Json(chat))
}

async fn replace_chat(
    State(db): State<Db>,
    State(layer): State<Layer>,
    user: User,
    Ids(pk): Ids<i64>,
    Json(form): Json<ChatForm>,
) -> ApiResult<Json<GroupChat>> {
    change_chat(&db, &layer, user, pk, form, false).await
}

async fn update_chat(
    State(db): State<Db>,
    State(layer): State<Layer>,
    user: User,
    Ids(pk): Ids<i64>,
    Json(form): Json<ChatForm>,
) -> ApiResult<Json<GroupChat>> {
    change_chat(&db, &layer, user, pk, form, true).await
}

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

#[derive(Debug, Deserialize)]
struct MessageForm {
    content: Option<String>,
}

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

async fn list_members(State(db): State<Db>, user: User, Ids(chat): Ids<i64>) -> ApiResult<Json<Vec<Member>>> {
    nested_member(&db, chat, &user).await?;
    Ok(Json(Member::list(&db, chat).await?))
}

#[derive(Debug, Deserialize)]
struct MemberForm {
    email: Option<String>,
    chat_role: Option<i64>,
}

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
