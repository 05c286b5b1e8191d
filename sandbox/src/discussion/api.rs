//! `/api/discussion/…`: topics, replies, votes and accepted answers, for signed-in users.
//!
//! Rules: only the author edits or deletes a topic or reply; one vote per user per topic or reply
//! (`1`, `-1`, or `0` to withdraw); only the topic's author accepts an answer, never their own.
//!
//! Each handler reads the request, finds what it names and checks who may act on it; the change
//! itself, with its broadcast (edits and deletions included), is in [`super::service`].

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chanx::Layer;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::{self, MAX_CONTENT, MAX_TITLE, Reply, ReplyRef, Target, TopicDetail, TopicRef, TopicSummary};
use super::service::{self, Refusal};
use crate::accounts::User;
use crate::db::Db;
use crate::rest::{ApiError, ApiResult, BaseUrl, Ids, Json, Page, Paginated, created};
use crate::state::AppState;

/// The routes.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_topics, create_topic))
        .routes(routes!(get_topic, edit_topic, patch_topic, delete_topic))
        .routes(routes!(vote_topic))
        .routes(routes!(accept_answer))
        .routes(routes!(unaccept_answer))
        .routes(routes!(list_replies, create_reply))
        .routes(routes!(get_reply, edit_reply, patch_reply, delete_reply))
        .routes(routes!(vote_reply))
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Invalid(field, code, text) => ApiError::field(field, code, text),
            Refusal::NotFound => ApiError::NotFound,
            Refusal::Db(err) => err.into(),
        }
    }
}

/// A field the body must have, not blank and at most `max` characters.
fn checked(field: &'static str, text: Option<&str>, max: usize) -> ApiResult<()> {
    let text = text.ok_or_else(|| ApiError::field(field, "required", "This field is required."))?;
    model::validate(field, text, max).map_err(|(field, code, detail)| ApiError::field(field, code, detail))
}

async fn topic(db: &Db, pk: i64) -> ApiResult<TopicRef> {
    TopicRef::get(db, pk).await?.ok_or(ApiError::NotFound)
}

#[utoipa::path(
    get,
    path = "/api/discussion/",
    operation_id = "listTopics",
    tag = "discussion",
    summary = "The forum's topics, newest first",
    params(crate::rest::Page),
    responses((status = 200, description = "A page of topics", body = Paginated<TopicSummary>)),
)]
async fn list_topics(
    State(db): State<Db>,
    _user: User,
    page: Page,
    base: BaseUrl,
) -> ApiResult<Json<Paginated<TopicSummary>>> {
    let (count, topics) = TopicSummary::list(&db, page).await?;
    Ok(Json(Paginated::new(&base.0, page, count, topics)))
}

#[derive(utoipa::ToSchema, Debug, Deserialize)]
struct TopicForm {
    title: Option<String>,
    content: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/discussion/",
    operation_id = "createTopic",
    tag = "discussion",
    summary = "Ask a question",
    request_body = TopicForm,
    responses((status = 201, description = "The new topic", body = TopicDetail)),
)]
async fn create_topic(
    State(db): State<Db>,
    State(layer): State<Layer>,
    user: User,
    Json(form): Json<TopicForm>,
) -> ApiResult<Response> {
    checked("title", form.title.as_deref(), MAX_TITLE)?;
    checked("content", form.content.as_deref(), MAX_CONTENT)?;
    let id = service::ask(
        &db,
        &layer,
        &user,
        form.title.as_deref().unwrap_or_default(),
        form.content.as_deref().unwrap_or_default(),
    )
    .await?;
    let detail = TopicDetail::get(&db, id, user.id).await?.ok_or(ApiError::NotFound)?;
    Ok(created(detail))
}

/// Opening a topic counts a view.
#[utoipa::path(
    get,
    path = "/api/discussion/{pk}/",
    operation_id = "getTopic",
    tag = "discussion",
    summary = "One topic with its replies (counts a view)",
    params(("pk" = i64, Path, description = "The topic's id")),
    responses((status = 200, description = "The topic", body = TopicDetail)),
)]
async fn get_topic(State(db): State<Db>, user: User, Ids(pk): Ids<i64>) -> ApiResult<Json<TopicDetail>> {
    topic(&db, pk).await?;
    TopicRef::viewed(&db, pk).await?;
    Ok(Json(TopicDetail::get(&db, pk, user.id).await?.ok_or(ApiError::NotFound)?))
}

async fn own_topic(db: &Db, pk: i64, user: &User) -> ApiResult<TopicRef> {
    let topic = topic(db, pk).await?;
    if topic.author_id != user.id {
        return Err(ApiError::PermissionDenied("Only the author can change a topic.".into()));
    }
    Ok(topic)
}

#[utoipa::path(
    put,
    path = "/api/discussion/{pk}/",
    operation_id = "editTopic",
    tag = "discussion",
    summary = "Edit one's own topic (PUT)",
    params(("pk" = i64, Path, description = "The topic's id")),
    request_body = TopicForm,
    responses((status = 200, description = "The topic", body = TopicDetail)),
)]
async fn edit_topic(
    State(db): State<Db>,
    State(layer): State<Layer>,
    user: User,
    Ids(pk): Ids<i64>,
    Json(form): Json<TopicForm>,
) -> ApiResult<Json<TopicDetail>> {
    let topic = own_topic(&db, pk, &user).await?;
    Ok(Json(service::edit_topic(&db, &layer, &topic, &user, form.title, form.content).await?))
}

#[utoipa::path(
    delete,
    path = "/api/discussion/{pk}/",
    operation_id = "deleteTopic",
    tag = "discussion",
    summary = "Delete one's own topic",
    params(("pk" = i64, Path, description = "The topic's id")),
    responses((status = 204, description = "Deleted")),
)]
async fn delete_topic(
    State(db): State<Db>,
    State(layer): State<Layer>,
    user: User,
    Ids(pk): Ids<i64>,
) -> ApiResult<StatusCode> {
    let topic = own_topic(&db, pk, &user).await?;
    service::delete_topic(&db, &layer, &topic).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(utoipa::ToSchema, Debug, Deserialize)]
struct VoteForm {
    vote: Option<Value>,
}

/// The vote of a body: `1`, `-1` or `0` (withdraw).
fn vote_value(form: VoteForm) -> ApiResult<i64> {
    let vote = form.vote.ok_or_else(|| ApiError::field("vote", "required", "This field is required."))?;
    match vote.as_i64() {
        Some(v @ -1..=1) => Ok(v),
        Some(_) => Err(ApiError::field("vote", "invalid", "A vote is 1, -1, or 0 to withdraw it.")),
        None => Err(ApiError::field("vote", "invalid", "A valid integer is required.")),
    }
}

#[utoipa::path(
    post,
    path = "/api/discussion/{pk}/vote/",
    operation_id = "voteOnTopic",
    tag = "discussion",
    summary = "Vote on a topic",
    params(("pk" = i64, Path, description = "The topic's id")),
    request_body = VoteForm,
    responses((status = 200, description = "The vote and the new count", body = crate::openapi::VoteResult)),
)]
async fn vote_topic(
    State(db): State<Db>,
    State(layer): State<Layer>,
    user: User,
    Ids(pk): Ids<i64>,
    Json(form): Json<VoteForm>,
) -> ApiResult<Json<Value>> {
    topic(&db, pk).await?;
    let vote = vote_value(form)?;
    let count = service::vote(&db, &layer, &user, pk, Target::Topic, pk, vote).await?;
    Ok(Json(json!({"vote": vote, "vote_count": count})))
}

#[utoipa::path(
    post,
    path = "/api/discussion/{pk}/replies/{reply}/vote/",
    operation_id = "voteOnReply",
    tag = "discussion",
    summary = "Vote on a reply",
    params(("pk" = i64, Path, description = "The topic's id"), ("reply" = i64, Path, description = "The reply's id")),
    request_body = VoteForm,
    responses((status = 200, description = "The vote and the new count", body = crate::openapi::VoteResult)),
)]
async fn vote_reply(
    State(db): State<Db>,
    State(layer): State<Layer>,
    user: User,
    Ids((pk, reply)): Ids<(i64, i64)>,
    Json(form): Json<VoteForm>,
) -> ApiResult<Json<Value>> {
    ReplyRef::get(&db, pk, reply).await?.ok_or(ApiError::NotFound)?;
    let vote = vote_value(form)?;
    let count = service::vote(&db, &layer, &user, pk, Target::Reply, reply, vote).await?;
    Ok(Json(json!({"vote": vote, "vote_count": count})))
}

#[derive(utoipa::ToSchema, Debug, Deserialize)]
struct AcceptForm {
    reply_id: Option<Value>,
}

#[utoipa::path(
    post,
    path = "/api/discussion/{pk}/accept-answer/",
    operation_id = "acceptAnswer",
    tag = "discussion",
    summary = "Accept a reply as the answer (the topic's author)",
    params(("pk" = i64, Path, description = "The topic's id")),
    request_body = AcceptForm,
    responses((status = 200, description = "Accepted", body = crate::openapi::Detail)),
)]
async fn accept_answer(
    State(db): State<Db>,
    State(layer): State<Layer>,
    user: User,
    Ids(pk): Ids<i64>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let topic = topic(&db, pk).await?;
    if topic.author_id != user.id {
        return Err(ApiError::PermissionDenied("Only the topic author can accept answers.".into()));
    }
    let form: Option<AcceptForm> = crate::rest::optional_json(&body)?;
    let reply_id = match form.and_then(|f| f.reply_id) {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) if !s.trim().is_empty() => {
            Some(s.trim().parse::<i64>().map_err(|_| ApiError::NotFound)?)
        }
        _ => None,
    }
    .ok_or_else(|| ApiError::field("replyId", "required", "reply_id is required."))?;
    service::accept_answer(&db, &layer, topic, &user, reply_id).await?;
    Ok(Json(json!({"detail": "Answer accepted successfully."})))
}

#[utoipa::path(
    post,
    path = "/api/discussion/{pk}/unaccept-answer/",
    operation_id = "unacceptAnswer",
    tag = "discussion",
    summary = "Withdraw the accepted answer",
    params(("pk" = i64, Path, description = "The topic's id")),
    responses((status = 200, description = "Withdrawn", body = crate::openapi::Detail)),
)]
async fn unaccept_answer(
    State(db): State<Db>,
    State(layer): State<Layer>,
    user: User,
    Ids(pk): Ids<i64>,
) -> ApiResult<Json<Value>> {
    let topic = topic(&db, pk).await?;
    if topic.author_id != user.id {
        return Err(ApiError::PermissionDenied("Only the topic author can unaccept answers.".into()));
    }
    service::unaccept_answer(&db, &layer, topic).await?;
    Ok(Json(json!({"detail": "Answer unaccepted successfully."})))
}

#[utoipa::path(
    get,
    path = "/api/discussion/{pk}/replies/",
    operation_id = "listReplies",
    tag = "discussion",
    summary = "A topic's replies",
    params(("pk" = i64, Path, description = "The topic's id"), crate::rest::Page),
    responses((status = 200, description = "A page of replies", body = Paginated<Reply>)),
)]
async fn list_replies(
    State(db): State<Db>,
    user: User,
    Ids(pk): Ids<i64>,
    page: Page,
    base: BaseUrl,
) -> ApiResult<Json<Paginated<Reply>>> {
    let topic = topic(&db, pk).await?;
    let (count, replies) = Reply::list(&db, &topic, user.id, page).await?;
    Ok(Json(Paginated::new(&base.0, page, count, replies)))
}

#[derive(utoipa::ToSchema, Debug, Deserialize)]
struct ReplyForm {
    content: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/discussion/{pk}/replies/",
    operation_id = "createReply",
    tag = "discussion",
    summary = "Reply to a topic",
    params(("pk" = i64, Path, description = "The topic's id")),
    request_body = ReplyForm,
    responses((status = 201, description = "The reply", body = Reply)),
)]
async fn create_reply(
    State(db): State<Db>,
    State(layer): State<Layer>,
    user: User,
    Ids(pk): Ids<i64>,
    Json(form): Json<ReplyForm>,
) -> ApiResult<Response> {
    let topic = topic(&db, pk).await?;
    checked("content", form.content.as_deref(), MAX_CONTENT)?;
    let reply = service::reply(&db, &layer, &topic, &user, &form.content.unwrap_or_default()).await?;
    Ok(created(reply))
}

#[utoipa::path(
    get,
    path = "/api/discussion/{pk}/replies/{reply}/",
    operation_id = "getReply",
    tag = "discussion",
    summary = "One reply",
    params(("pk" = i64, Path, description = "The topic's id"), ("reply" = i64, Path, description = "The reply's id")),
    responses((status = 200, description = "The reply", body = Reply)),
)]
async fn get_reply(State(db): State<Db>, user: User, Ids((pk, reply)): Ids<(i64, i64)>) -> ApiResult<Json<Reply>> {
    let topic = topic(&db, pk).await?;
    Reply::get(&db, &topic, reply, user.id).await?.map(Json).ok_or(ApiError::NotFound)
}

async fn own_reply(db: &Db, pk: i64, reply: i64, user: &User) -> ApiResult<TopicRef> {
    let topic = topic(db, pk).await?;
    let found = ReplyRef::get(db, pk, reply).await?.ok_or(ApiError::NotFound)?;
    if found.author.id != user.id {
        return Err(ApiError::PermissionDenied("Only the author can change a reply.".into()));
    }
    Ok(topic)
}

#[utoipa::path(
    put,
    path = "/api/discussion/{pk}/replies/{reply}/",
    operation_id = "editReply",
    tag = "discussion",
    summary = "Edit one's own reply (PUT)",
    params(("pk" = i64, Path, description = "The topic's id"), ("reply" = i64, Path, description = "The reply's id")),
    request_body = ReplyForm,
    responses((status = 200, description = "The reply", body = Reply)),
)]
async fn edit_reply(
    State(db): State<Db>,
    State(layer): State<Layer>,
    user: User,
    Ids((pk, reply)): Ids<(i64, i64)>,
    Json(form): Json<ReplyForm>,
) -> ApiResult<Json<Reply>> {
    let topic = own_reply(&db, pk, reply, &user).await?;
    checked("content", form.content.as_deref(), MAX_CONTENT)?;
    Ok(Json(service::edit_reply(&db, &layer, &topic, reply, &user, &form.content.unwrap_or_default()).await?))
}

#[utoipa::path(
    delete,
    path = "/api/discussion/{pk}/replies/{reply}/",
    operation_id = "deleteReply",
    tag = "discussion",
    summary = "Delete one's own reply",
    params(("pk" = i64, Path, description = "The topic's id"), ("reply" = i64, Path, description = "The reply's id")),
    responses((status = 204, description = "Deleted")),
)]
async fn delete_reply(
    State(db): State<Db>,
    State(layer): State<Layer>,
    user: User,
    Ids((pk, reply)): Ids<(i64, i64)>,
) -> ApiResult<Response> {
    let topic = own_reply(&db, pk, reply, &user).await?;
    service::delete_reply(&db, &layer, &topic, reply).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// PATCH is PUT here: every field is optional.
#[utoipa::path(
    patch,
    path = "/api/discussion/{pk}/",
    operation_id = "patchTopic",
    tag = "discussion",
    summary = "Edit one's own topic (PATCH)",
    params(("pk" = i64, Path, description = "The topic's id")),
    request_body = TopicForm,
    responses((status = 200, description = "The topic", body = TopicDetail)),
)]
async fn patch_topic(
    db: State<Db>,
    layer: State<Layer>,
    user: User,
    pk: Ids<i64>,
    form: Json<TopicForm>,
) -> ApiResult<Json<TopicDetail>> {
    edit_topic(db, layer, user, pk, form).await
}

/// PATCH is PUT here: every field is optional.
#[utoipa::path(
    patch,
    path = "/api/discussion/{pk}/replies/{reply}/",
    operation_id = "patchReply",
    tag = "discussion",
    summary = "Edit one's own reply (PATCH)",
    params(("pk" = i64, Path, description = "The topic's id"), ("reply" = i64, Path, description = "The reply's id")),
    request_body = ReplyForm,
    responses((status = 200, description = "The reply", body = Reply)),
)]
async fn patch_reply(
    db: State<Db>,
    layer: State<Layer>,
    user: User,
    ids: Ids<(i64, i64)>,
    form: Json<ReplyForm>,
) -> ApiResult<Json<Reply>> {
    edit_reply(db, layer, user, ids, form).await
}
