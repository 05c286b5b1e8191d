//! `/api/assistants/…`: conversations and their messages.
//!
//! One access rule everywhere (REST, socket, pages): an anonymous conversation is open to anyone
//! who knows its id; an owned one to its owner only, and is a 404 for anyone else.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_conversations, create_conversation))
        .routes(routes!(get_conversation, rename_conversation, patch_conversation, delete_conversation))
        .routes(routes!(list_messages, post_message))
        .routes(routes!(get_message))
        .routes(routes!(stop))
        .routes(routes!(create_anonymous))
        .routes(routes!(anonymous_list_messages, anonymous_post_message))
        .routes(routes!(anonymous_get_message))
        .routes(routes!(anonymous_stop))
}

/// A conversation `viewer` may use, else 404.
async fn open_conversation(db: &Db, id: &str, viewer: Option<&User>) -> ApiResult<Conversation> {
    Conversation::get(db, id).await?.filter(|c| c.open_to(viewer.map(|u| u.id))).ok_or(ApiError::NotFound)
}

/// A conversation `user` owns, else 404.
async fn own_conversation(db: &Db, id: &str, user: &User) -> ApiResult<Conversation> {
    Conversation::get(db, id).await?.filter(|c| c.user_id == Some(user.id)).ok_or(ApiError::NotFound)
}

#[utoipa::path(
    get,
    path = "/api/assistants/conversations/",
    operation_id = "listConversations",
    tag = "assistants",
    summary = "The user's conversations, most recent first",
    params(crate::rest::Page),
    responses((status = 200, description = "A page of conversations", body = Paginated<Conversation>)),
)]
async fn list_conversations(
    State(db): State<Db>,
    user: User,
    page: Page,
    base: BaseUrl,
) -> ApiResult<Json<Paginated<Conversation>>> {
    let (count, list) = Conversation::list_for(&db, user.id, page).await?;
    Ok(Json(Paginated::new(&base.0, page, count, list)))
}

#[derive(utoipa::ToSchema, Debug, Default, Deserialize)]
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

#[utoipa::path(
    post,
    path = "/api/assistants/conversations/",
    operation_id = "createConversation",
    tag = "assistants",
    summary = "Start a conversation (the body and its title are optional)",
    request_body = inline(Option<TitleForm>),
    responses((status = 201, description = "The conversation", body = Conversation)),
)]
async fn create_conversation(State(db): State<Db>, user: User, body: axum::body::Bytes) -> ApiResult<Response> {
    let form: TitleForm = crate::rest::optional_json(&body)?.unwrap_or_default();
    let conversation = Conversation::create(&db, Some(user.id), &checked_title(form.title)?).await?;
    Ok(created(conversation))
}

#[utoipa::path(
    get,
    path = "/api/assistants/conversations/{id}/",
    operation_id = "getConversation",
    tag = "assistants",
    summary = "One of the user's conversations",
    params(("id" = String, Path, description = "The conversation's UUID")),
    responses((status = 200, description = "The conversation", body = Conversation)),
)]
async fn get_conversation(State(db): State<Db>, user: User, Ids(id): Ids<String>) -> ApiResult<Json<Conversation>> {
    Ok(Json(own_conversation(&db, &id, &user).await?))
}

#[utoipa::path(
    put,
    path = "/api/assistants/conversations/{id}/",
    operation_id = "renameConversation",
    tag = "assistants",
    summary = "Rename a conversation (PUT)",
    params(("id" = String, Path, description = "The conversation's UUID")),
    request_body = TitleForm,
    responses((status = 200, description = "The conversation", body = Conversation)),
)]
async fn rename_conversation(
    State(db): State<Db>,
    State(assistant): State<Assistant>,
    user: User,
    Ids(id): Ids<String>,
    Json(form): Json<TitleForm>,
) -> ApiResult<Json<Conversation>> {
    let conversation = own_conversation(&db, &id, &user).await?;
    let title = checked_title(form.title)?;
    // Saved, then sent to the open pages of the conversation and of its owner's list.
    assistant.retitle(&conversation, &title).await?;
    Ok(Json(Conversation { title, ..conversation }))
}

#[utoipa::path(
    delete,
    path = "/api/assistants/conversations/{id}/",
    operation_id = "deleteConversation",
    tag = "assistants",
    summary = "Delete a conversation, stopping its answer",
    params(("id" = String, Path, description = "The conversation's UUID")),
    responses((status = 204, description = "Deleted")),
)]
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
#[derive(utoipa::ToSchema, Debug, Serialize)]
struct AnonymousConversation {
    id: String,
    title: &'static str,
    is_anonymous: bool,
    created_at: String,
}

#[utoipa::path(
    post,
    path = "/api/assistants/anonymous/",
    operation_id = "createAnonymousConversation",
    tag = "assistants",
    summary = "Start an anonymous conversation, open to whoever knows its id",
    responses((status = 201, description = "The conversation", body = AnonymousConversation)),
    security((), ("jwtCookieAuth" = []), ("jwtBearerAuth" = [])),
)]
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

#[utoipa::path(
    get,
    path = "/api/assistants/conversations/{id}/messages/",
    operation_id = "listAssistantMessages",
    tag = "assistants",
    summary = "A conversation's messages, oldest first",
    params(("id" = String, Path, description = "The conversation's UUID"), crate::rest::Page),
    responses((status = 200, description = "A page of messages", body = Paginated<AssistantMessage>)),
)]
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

#[utoipa::path(
    get,
    path = "/api/assistants/conversations/{id}/messages/{message}/",
    operation_id = "getAssistantMessage",
    tag = "assistants",
    summary = "One message of a conversation",
    params(("id" = String, Path, description = "The conversation's UUID"), ("message" = i64, Path, description = "The message's id")),
    responses((status = 200, description = "The message", body = AssistantMessage)),
)]
async fn get_message(
    State(db): State<Db>,
    Viewer(viewer): Viewer,
    Ids((id, message)): Ids<(String, i64)>,
) -> ApiResult<Json<AssistantMessage>> {
    let conversation = open_conversation(&db, &id, viewer.as_ref()).await?;
    AssistantMessage::get(&db, &conversation.id, message).await?.map(Json).ok_or(ApiError::NotFound)
}

#[derive(utoipa::ToSchema, Debug, Deserialize)]
struct MessageForm {
    content: Option<String>,
}

/// Saves the user's message and answers at once; the reply streams over the conversation's socket.
#[utoipa::path(
    post,
    path = "/api/assistants/conversations/{id}/messages/",
    operation_id = "postAssistantMessage",
    tag = "assistants",
    summary = "Send a message; the answer streams over the conversation's socket",
    params(("id" = String, Path, description = "The conversation's UUID")),
    request_body = MessageForm,
    responses((status = 201, description = "The saved message", body = AssistantMessage)),
)]
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

#[utoipa::path(
    post,
    path = "/api/assistants/conversations/{id}/stop/",
    operation_id = "stopAnswer",
    tag = "assistants",
    summary = "Stop the answer being written",
    params(("id" = String, Path, description = "The conversation's UUID")),
    responses((status = 200, description = "Whether an answer was stopped", body = crate::openapi::Stopped)),
)]
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

// The anonymous routes run the same handlers; each gets its own operation in the document.

#[utoipa::path(
    get,
    path = "/api/assistants/anonymous/{id}/messages/",
    operation_id = "listAnonymousMessages",
    tag = "assistants",
    summary = "An anonymous conversation's messages",
    params(("id" = String, Path, description = "The conversation's UUID"), crate::rest::Page),
    responses((status = 200, description = "A page of messages", body = Paginated<AssistantMessage>)),
    security((), ("jwtCookieAuth" = []), ("jwtBearerAuth" = [])),
)]
async fn anonymous_list_messages(
    db: State<Db>,
    viewer: Viewer,
    id: Ids<String>,
    page: Page,
    base: BaseUrl,
) -> ApiResult<Json<Paginated<AssistantMessage>>> {
    list_messages(db, viewer, id, page, base).await
}

#[utoipa::path(
    get,
    path = "/api/assistants/anonymous/{id}/messages/{message}/",
    operation_id = "getAnonymousMessage",
    tag = "assistants",
    summary = "One message of an anonymous conversation",
    params(("id" = String, Path, description = "The conversation's UUID"), ("message" = i64, Path, description = "The message's id")),
    responses((status = 200, description = "The message", body = AssistantMessage)),
    security((), ("jwtCookieAuth" = []), ("jwtBearerAuth" = [])),
)]
async fn anonymous_get_message(
    db: State<Db>,
    viewer: Viewer,
    ids: Ids<(String, i64)>,
) -> ApiResult<Json<AssistantMessage>> {
    get_message(db, viewer, ids).await
}

#[utoipa::path(
    post,
    path = "/api/assistants/anonymous/{id}/messages/",
    operation_id = "postAnonymousMessage",
    tag = "assistants",
    summary = "Send a message to an anonymous conversation",
    params(("id" = String, Path, description = "The conversation's UUID")),
    request_body = MessageForm,
    responses((status = 201, description = "The saved message", body = AssistantMessage)),
    security((), ("jwtCookieAuth" = []), ("jwtBearerAuth" = [])),
)]
async fn anonymous_post_message(
    db: State<Db>,
    assistant: State<Assistant>,
    budget: AssistantRequest,
    viewer: Viewer,
    id: Ids<String>,
    form: Json<MessageForm>,
) -> ApiResult<Response> {
    post_message(db, assistant, budget, viewer, id, form).await
}

#[utoipa::path(
    post,
    path = "/api/assistants/anonymous/{id}/stop/",
    operation_id = "stopAnonymousAnswer",
    tag = "assistants",
    summary = "Stop an anonymous conversation's answer",
    params(("id" = String, Path, description = "The conversation's UUID")),
    responses((status = 200, description = "Whether an answer was stopped", body = crate::openapi::Stopped)),
    security((), ("jwtCookieAuth" = []), ("jwtBearerAuth" = [])),
)]
async fn anonymous_stop(
    db: State<Db>,
    assistant: State<Assistant>,
    viewer: Viewer,
    id: Ids<String>,
) -> ApiResult<Response> {
    stop(db, assistant, viewer, id).await
}

#[utoipa::path(
    patch,
    path = "/api/assistants/conversations/{id}/",
    operation_id = "patchConversation",
    tag = "assistants",
    summary = "Rename a conversation (PATCH)",
    params(("id" = String, Path, description = "The conversation's UUID")),
    request_body = TitleForm,
    responses((status = 200, description = "The conversation", body = Conversation)),
)]
async fn patch_conversation(
    db: State<Db>,
    assistant: State<Assistant>,
    user: User,
    id: Ids<String>,
    form: Json<TitleForm>,
) -> ApiResult<Json<Conversation>> {
    rename_conversation(db, assistant, user, id, form).await
}
