//! `/api/assistants/…`: conversations and their messages.
//!
//! One access rule everywhere (REST, socket, pages): an anonymous conversation is open to anyone
//! who knows its id; an owned one to its owner only, and is a 404 for anyone else.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::generation::{Assistant, ClaimError};
use super::model::{AssistantMessage, Conversation, MessageType};
use crate::accounts::{User, Viewer};
use crate::db::Db;
use crate::rest::{ApiError, ApiResult, BaseUrl, Ids, Json, Page, Paginated, created};
use crate::state::AppState;
use crate::throttle::AssistantRequest;

/// The longest message, in characters.
pub const MAX_CONTENT: usize = 10_000;
/// The longest title, in characters.
pub const MAX_TITLE: usize = 200;

/// The routes.
pub fn routes() -> Router<AppState> {
    let messages = get(list_messages).post(post_message);
    Router::new()
        .route("/api/assistants/conversations/", get(list_conversations).post(create_conversation))
        .route(
            "/api/assistants/conversations/{id}/",
            get(get_conversation).put(rename_conversation).patch(rename_conversation).delete(delete_conversation),
        )
        .route("/api/assistants/conversations/{id}/messages/", messages.clone())
        .route("/api/assistants/conversations/{id}/messages/{message}/", get(get_message))
        .route("/api/assistants/conversations/{id}/stop/", post(stop))
        .route("/api/assistants/anonymous/", post(create_anonymous))
        .route("/api/assistants/anonymous/{id}/messages/", messages)
        .route("/api/assistants/anonymous/{id}/messages/{message}/", get(get_message))
        .route("/api/assistants/anonymous/{id}/stop/", post(stop))
}

/// A conversation `viewer` may use, else 404.
async fn open_conversation(db: &Db, id: &str, viewer: Option<&User>) -> ApiResult<Conversation> {
    Conversation::get(db, id).await?.filter(|c| c.open_to(viewer.map(|u| u.id))).ok_or(ApiError::NotFound)
}

/// A conversation `user` owns, else 404.
async fn own_conversation(db: &Db, id: &str, user: &User) -> ApiResult<Conversation> {
    Conversation::get(db, id).await?.filter(|c| c.user_id == Some(user.id)).ok_or(ApiError::NotFound)
}

async fn list_conversations(
    State(db): State<Db>,
    user: User,
    page: Page,
    base: BaseUrl,
) -> ApiResult<Json<Paginated<Conversation>>> {
    let (count, list) = Conversation::list_for(&db, user.id, page).await?;
    Ok(Json(Paginated::new(&base.0, page, count, list)))
}

#[derive(Debug, Default, Deserialize)]
struct TitleForm {
    title: Option<String>,
}

fn checked_title(title: Option<String>) -> ApiResult<String> {
    let title = title.unwrap_or_default().trim().to_owned();
    if title.chars().count() > MAX_TITLE {
        return Err(ApiError::field(
            "title",
            "max_length",
            format!("Ensure this field has no more than {MAX_TITLE} characters."),
        ));
    }
    Ok(title)
}

async fn create_conversation(State(db): State<Db>, user: User, body: axum::body::Bytes) -> ApiResult<Response> {
    let form: TitleForm = crate::rest::optional_json(&body)?.unwrap_or_default();
    let conversation = Conversation::create(&db, Some(user.id), &checked_title(form.title)?).await?;
    Ok(created(conversation))
}

async fn get_conversation(State(db): State<Db>, user: User, Ids(id): Ids<String>) -> ApiResult<Json<Conversation>> {
    Ok(Json(own_conversation(&db, &id, &user).await?))
}

async fn rename_conversation(
    State(db): State<Db>,
    user: User,
    Ids(id): Ids<String>,
    Json(form): Json<TitleForm>,
) -> ApiResult<Json<Conversation>> {
    let conversation = own_conversation(&db, &id, &user).await?;
    let title = checked_title(form.title)?;
    Conversation::set_title(&db, &conversation.id, &title).await?;
    Ok(Json(Conversation { title, ..conversation }))
}

async fn delete_conversation(
    State(db): State<Db>,
    State(assistant): State<Assistant>,
    user: User,
    Ids(id): Ids<String>,
) -> ApiResult<StatusCode> {
    let conversation = own_conversation(&db, &id, &user).await?;
    assistant.stop(&conversation.id).await;
    Conversation::delete(&db, &conversation.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What `POST /api/assistants/anonymous/` answers.
#[derive(Debug, Serialize)]
struct AnonymousConversation {
    id: String,
    title: &'static str,
    is_anonymous: bool,
    created_at: String,
}

async fn create_anonymous(State(db): State<Db>, _: AssistantRequest) -> ApiResult<Response> {
    let conversation = Conversation::create(&db, None, "").await?;
    let body = AnonymousConversation {
        id: conversation.id,
        title: "New Anonymous Chat",
        is_anonymous: true,
        created_at: conversation.created_at,
    };
    Ok(created(body))
}

async fn list_messages(
    State(db): State<Db>,
    Viewer(viewer): Viewer,
    Ids(id): Ids<String>,
    page: Page,
    base: BaseUrl,
) -> ApiResult<Json<Paginated<AssistantMessage>>> {
    let conversation = open_conversation(&db, &id, viewer.as_ref()).await?;
    let (count, messages) = AssistantMessage::list(&db, &conversation.id, page).await?;
    Ok(Json(Paginated::new(&base.0, page, count, messages)))
}

async fn get_message(
    State(db): State<Db>,
    Viewer(viewer): Viewer,
    Ids((id, message)): Ids<(String, i64)>,
) -> ApiResult<Json<AssistantMessage>> {
    let conversation = open_conversation(&db, &id, viewer.as_ref()).await?;
    AssistantMessage::get(&db, &conversation.id, message).await?.map(Json).ok_or(ApiError::NotFound)
}

#[derive(Debug, Deserialize)]
struct MessageForm {
    content: Option<String>,
}

/// Saves the user's message and answers at once; the reply streams over the conversation's socket.
async fn post_message(
    State(db): State<Db>,
    State(assistant): State<Assistant>,
    _: AssistantRequest,
    Viewer(viewer): Viewer,
    Ids(id): Ids<String>,
    Json(form): Json<MessageForm>,
) -> ApiResult<Response> {
    let conversation = open_conversation(&db, &id, viewer.as_ref()).await?;
    let content = form.content.ok_or_else(|| ApiError::field("content", "required", "This field is required."))?;
    if content.trim().is_empty() {
        return Err(ApiError::field("content", "blank", "This field may not be blank."));
    }
    if content.chars().count() > MAX_CONTENT {
        return Err(ApiError::field(
            "content",
            "max_length",
            format!("Ensure this field has no more than {MAX_CONTENT} characters."),
        ));
    }
    // The slot is taken before the message is saved: a message sent while an answer is being
    // written is refused whole, not saved unanswered.
    let reservation = assistant.claim(&conversation.id).await.map_err(|err| match err {
        ClaimError::Busy(busy) => ApiError::Conflict(busy.to_string()),
        ClaimError::Db(err) => err.into(),
    })?;
    let message = AssistantMessage::create(&db, &conversation.id, MessageType::User, &content).await?;
    // The title comes from the first message; the count is one query, not the whole history.
    let first = conversation.title.is_empty() && AssistantMessage::count(&db, &conversation.id).await? == 1;
    assistant.answer(reservation, conversation, message.clone(), first);
    Ok(created(message))
}

async fn stop(
    State(db): State<Db>,
    State(assistant): State<Assistant>,
    Viewer(viewer): Viewer,
    Ids(id): Ids<String>,
) -> ApiResult<Response> {
    let conversation = open_conversation(&db, &id, viewer.as_ref()).await?;
    let stopped = assistant.stop(&conversation.id).await;
    Ok(Json(json!({"stopped": stopped})).into_response())
}
