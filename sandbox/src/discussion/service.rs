//! The forum's operations, shared by the REST API, the pages and the admin: each checks what only
//! the data can tell (a field's length, whose reply it is), changes the database, then sends the
//! events of the broadcast matrix ([`super::events`]), so that every change, an edit or a
//! deletion included, reaches open pages whoever made it. Who may call them (the author of a
//! topic, a staff member) the handlers decide first, from the topic they looked up.

use chanx::Layer;

use super::consumers::{AnswerChange, DeletedReply, DeletedTopic, NewReply, ReplyEdit, TopicEdit};
use super::events;
use super::model::{self, MAX_CONTENT, MAX_TITLE, Reply, ReplyRef, Target, TopicDetail, TopicRef, TopicSummary};
use crate::accounts::User;
use crate::db::Db;

/// Why an operation was refused; each has a status for the API and a sentence for pages.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// A field is wrong: (field, code, sentence).
    #[error("{2}")]
    Invalid(&'static str, &'static str, String),
    /// The topic or reply does not exist (any more).
    #[error("not found")]
    NotFound,
    /// The database failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// A title or body that is blank or longer than `max` characters.
fn validate(field: &'static str, text: &str, max: usize) -> Result<(), Refusal> {
    model::validate(field, text, max).map_err(|(field, code, text)| Refusal::Invalid(field, code, text))
}

/// Asks a question by `author`, and announces it to every topic list; returns the topic's id.
pub async fn ask(db: &Db, layer: &Layer, author: &User, title: &str, content: &str) -> Result<i64, Refusal> {
    validate("title", title, MAX_TITLE)?;
    validate("content", content, MAX_CONTENT)?;
    let id = TopicRef::create(db, author.id, title.trim(), content).await?;
    if let Some(summary) = TopicSummary::get(db, id).await? {
        events::topic_created(layer, &summary).await;
    }
    Ok(id)
}

/// Replaces the title and content of `topic` (each one given; the other kept), tells the topic's
/// pages and every topic list the new text, and returns the topic as `viewer` now sees it.
pub async fn edit_topic(
    db: &Db,
    layer: &Layer,
    topic: &TopicRef,
    viewer: &User,
    title: Option<String>,
    content: Option<String>,
) -> Result<TopicDetail, Refusal> {
    let current = TopicDetail::get(db, topic.id, viewer.id).await?.ok_or(Refusal::NotFound)?;
    let title = title.unwrap_or(current.title);
    let content = content.unwrap_or(current.content);
    validate("title", &title, MAX_TITLE)?;
    validate("content", &content, MAX_CONTENT)?;
    TopicRef::edit(db, topic.id, title.trim(), &content).await?;
    let edited = TopicDetail::get(db, topic.id, viewer.id).await?.ok_or(Refusal::NotFound)?;
    let edit = TopicEdit { topic_id: edited.id, title: edited.title.clone(), content: edited.content.clone() };
    events::topic_edited(layer, edit).await;
    Ok(edited)
}

/// Deletes `topic` with its replies and votes, tells every topic list, and tells and closes the
/// topic's pages.
pub async fn delete_topic(db: &Db, layer: &Layer, topic: &TopicRef) -> Result<(), Refusal> {
    if !TopicRef::delete(db, topic.id).await? {
        return Err(Refusal::NotFound);
    }
    events::topic_deleted(layer, DeletedTopic { topic_id: topic.id, topic_title: topic.title.clone() }).await;
    Ok(())
}

/// Records `voter`'s `value` (-1, 0 to withdraw, or 1) on `target` `id` of topic `topic_id`, and
/// tells the topic's pages and every topic list the new count, which it returns.
pub async fn vote(
    db: &Db,
    layer: &Layer,
    voter: &User,
    topic_id: i64,
    target: Target,
    id: i64,
    value: i64,
) -> Result<i64, Refusal> {
    let count = model::vote(db, voter.id, target, id, value).await?;
    events::vote_updated(layer, topic_id, target, id, count).await;
    Ok(count)
}

/// Accepts reply `reply_id` of `topic` as its answer, on behalf of `accepter` (its author), who
/// cannot accept their own reply.
pub async fn accept_answer(
    db: &Db,
    layer: &Layer,
    topic: TopicRef,
    accepter: &User,
    reply_id: i64,
) -> Result<(), Refusal> {
    let reply = ReplyRef::get(db, topic.id, reply_id).await?.ok_or(Refusal::NotFound)?;
    if reply.author.id == accepter.id {
        return Err(Refusal::Invalid("replyId", "invalid", "You cannot accept your own answer.".into()));
    }
    TopicRef::accept(db, topic.id, Some(reply.id)).await?;
    let change = AnswerChange {
        topic_id: topic.id,
        topic_title: topic.title,
        reply_id: reply.id,
        reply_author: reply.author.email,
    };
    events::answer_changed(layer, change, true).await;
    Ok(())
}

/// Withdraws the accepted answer of `topic`, which must have one.
pub async fn unaccept_answer(db: &Db, layer: &Layer, topic: TopicRef) -> Result<(), Refusal> {
    let accepted = topic.accepted_answer.ok_or_else(|| {
        Refusal::Invalid("replyId", "invalid", "No answer is currently accepted for this topic.".into())
    })?;
    TopicRef::accept(db, topic.id, None).await?;
    let author = ReplyRef::get(db, topic.id, accepted).await?.map(|r| r.author.email).unwrap_or_default();
    let change =
        AnswerChange { topic_id: topic.id, topic_title: topic.title, reply_id: accepted, reply_author: author };
    events::answer_changed(layer, change, false).await;
    Ok(())
}

/// Answers `topic` with `content` by `author`, tells the topic's pages, and returns the reply as
/// its author sees it.
pub async fn reply(db: &Db, layer: &Layer, topic: &TopicRef, author: &User, content: &str) -> Result<Reply, Refusal> {
    validate("content", content, MAX_CONTENT)?;
    let id = Reply::create(db, topic.id, author.id, content.trim()).await?;
    let reply = Reply::get(db, topic, id, author.id).await?.ok_or(Refusal::NotFound)?;
    let announced = NewReply {
        id,
        content: reply.content.clone(),
        author: reply.author.clone(),
        vote_count: reply.vote_count,
        is_accepted: reply.is_accepted,
        created_at: reply.created_at.clone(),
        formatted_created_at: reply.formatted_created_at.clone(),
        topic_id: topic.id,
        topic_title: topic.title.clone(),
    };
    events::reply_created(layer, announced).await;
    Ok(reply)
}

/// Replaces the text of reply `reply_id` of `topic`, tells the topic's pages, and returns the
/// reply as `viewer` now sees it.
pub async fn edit_reply(
    db: &Db,
    layer: &Layer,
    topic: &TopicRef,
    reply_id: i64,
    viewer: &User,
    content: &str,
) -> Result<Reply, Refusal> {
    validate("content", content, MAX_CONTENT)?;
    Reply::edit(db, reply_id, content.trim()).await?;
    let edited = Reply::get(db, topic, reply_id, viewer.id).await?.ok_or(Refusal::NotFound)?;
    events::reply_edited(layer, ReplyEdit { id: edited.id, topic_id: topic.id, content: edited.content.clone() }).await;
    Ok(edited)
}

/// Deletes reply `reply_id` of `topic` and its votes (an accepted reply stops being accepted),
/// and tells the topic's pages and the lists following it.
pub async fn delete_reply(db: &Db, layer: &Layer, topic: &TopicRef, reply_id: i64) -> Result<(), Refusal> {
    let was_accepted = Reply::delete(db, reply_id).await?.ok_or(Refusal::NotFound)?;
    let reply_count = Reply::count(db, topic.id).await?;
    events::reply_deleted(layer, DeletedReply { id: reply_id, topic_id: topic.id, reply_count, was_accepted }).await;
    Ok(())
}
