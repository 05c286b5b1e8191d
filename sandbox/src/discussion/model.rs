//! Topics, replies and votes: the rows, their wire shapes, and the queries.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::admin::Record;
use crate::db::Db;
use crate::rest::Page;
use crate::timestamp;

/// A user as discussion payloads show them.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Author {
    /// The user's id.
    pub id: i64,
    /// The user's email.
    pub email: String,
}

/// A topic in lists and in `topic_created`.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TopicSummary {
    /// The id.
    pub id: i64,
    /// The question.
    pub title: String,
    /// Who asked.
    pub author: Author,
    /// Net votes.
    pub vote_count: i64,
    /// How many replies.
    pub reply_count: i64,
    /// Whether an answer was accepted.
    pub has_accepted_answer: bool,
    /// How many times it was opened.
    pub view_count: i64,
    /// When it was asked (RFC 3339).
    pub created_at: String,
    /// `Jan 02, 2025 at 03:04 PM` (UTC).
    pub formatted_created_at: String,
}

/// A topic with its content and replies, as the viewer sees it.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize)]
pub struct TopicDetail {
    /// The id.
    pub id: i64,
    /// The question.
    pub title: String,
    /// The question's body, as written.
    pub content: String,
    /// Who asked.
    pub author: Author,
    /// Net votes.
    pub vote_count: i64,
    /// How many replies.
    pub reply_count: i64,
    /// How many times it was opened.
    pub view_count: i64,
    /// When it was asked (RFC 3339).
    pub created_at: String,
    /// `Jan 02, 2025 at 03:04 PM` (UTC).
    pub formatted_created_at: String,
    /// The accepted reply's id.
    pub accepted_answer: Option<i64>,
    /// The replies, most votes first, then oldest first.
    pub replies: Vec<Reply>,
    /// Whether the viewer wrote it.
    pub can_edit: bool,
    /// The viewer's vote: -1, 0 or 1.
    pub my_vote: i64,
}

/// A reply, as the viewer sees it.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Reply {
    /// The id.
    pub id: i64,
    /// The answer, as written.
    pub content: String,
    /// Who answered.
    pub author: Author,
    /// Net votes.
    pub vote_count: i64,
    /// Whether it is the topic's accepted answer.
    pub is_accepted: bool,
    /// When it was written (RFC 3339).
    pub created_at: String,
    /// `Jan 02, 2025 at 03:04 PM` (UTC).
    pub formatted_created_at: String,
    /// Whether the viewer may accept it: the topic's author, on someone else's reply.
    pub can_accept: bool,
    /// Whether the viewer wrote it.
    pub can_edit: bool,
    /// The viewer's vote: -1, 0 or 1.
    pub my_vote: i64,
}

/// What can be voted on.
#[derive(utoipa::ToSchema, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// A topic.
    Topic,
    /// A reply.
    Reply,
}

impl Target {
    fn as_str(self) -> &'static str {
        match self {
            Target::Topic => "topic",
            Target::Reply => "reply",
        }
    }

    fn table(self) -> &'static str {
        match self {
            Target::Topic => "discussion_topics",
            Target::Reply => "discussion_replies",
        }
    }
}

#[derive(sqlx::FromRow)]
struct TopicRow {
    id: i64,
    title: String,
    content: String,
    author_id: i64,
    author_email: String,
    vote_count: i64,
    view_count: i64,
    accepted_answer_id: Option<i64>,
    created_at: String,
    reply_count: i64,
}

#[derive(sqlx::FromRow)]
struct ReplyRow {
    id: i64,
    topic_id: i64,
    content: String,
    author_id: i64,
    author_email: String,
    vote_count: i64,
    created_at: String,
}

/// A topic's key facts, for permission checks and events.
#[derive(Debug, Clone, PartialEq)]
pub struct TopicRef {
    /// The id.
    pub id: i64,
    /// The question.
    pub title: String,
    /// Who asked.
    pub author_id: i64,
    /// The accepted reply.
    pub accepted_answer: Option<i64>,
}

/// A reply's key facts.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplyRef {
    /// The id.
    pub id: i64,
    /// Its topic.
    pub topic_id: i64,
    /// Who wrote it.
    pub author: Author,
}

/// The displayed form of a stored timestamp: `Jan 02, 2025 at 03:04 PM`.
fn formatted(stored: &str) -> String {
    let human = timestamp::human(stored); // "03:04 PM - Jan 02, 2025"
    match human.split_once(" - ") {
        Some((time, date)) => format!("{date} at {time}"),
        None => human,
    }
}

const TOPIC_QUERY: &str = "SELECT t.id, t.title, t.content, t.author_id, u.email AS author_email, t.vote_count, \
    t.view_count, t.accepted_answer_id, t.created_at, \
    (SELECT COUNT(*) FROM discussion_replies r WHERE r.topic_id = t.id) AS reply_count \
    FROM discussion_topics t JOIN users u ON u.id = t.author_id";
const REPLY_QUERY: &str = "SELECT r.id, r.topic_id, r.content, r.author_id, u.email AS author_email, r.vote_count, r.created_at \
    FROM discussion_replies r JOIN users u ON u.id = r.author_id";

impl TopicRow {
    fn summary(self) -> TopicSummary {
        TopicSummary {
            id: self.id,
            title: self.title,
            author: Author { id: self.author_id, email: self.author_email },
            vote_count: self.vote_count,
            reply_count: self.reply_count,
            has_accepted_answer: self.accepted_answer_id.is_some(),
            view_count: self.view_count,
            formatted_created_at: formatted(&self.created_at),
            created_at: self.created_at,
        }
    }
}

async fn my_votes(db: &Db, viewer: i64, target: Target, ids: &[i64]) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    // Ids are numbers from our own rows, so inlining them is safe.
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let sql = format!(
        "SELECT target_id, value FROM discussion_votes WHERE user_id = $1 AND target_type = $2 AND target_id IN ({list})"
    );
    sqlx::query_as(&sql).bind(viewer).bind(target.as_str()).fetch_all(db.pool()).await
}

impl ReplyRow {
    fn reference(self) -> ReplyRef {
        ReplyRef {
            id: self.id,
            topic_id: self.topic_id,
            author: Author { id: self.author_id, email: self.author_email },
        }
    }

    fn reply(self, topic: &TopicRef, viewer: i64, my_vote: i64) -> Reply {
        Reply {
            is_accepted: topic.accepted_answer == Some(self.id),
            can_accept: topic.author_id == viewer && self.author_id != viewer,
            can_edit: self.author_id == viewer,
            my_vote,
            id: self.id,
            content: self.content,
            author: Author { id: self.author_id, email: self.author_email },
            vote_count: self.vote_count,
            formatted_created_at: formatted(&self.created_at),
            created_at: self.created_at,
        }
    }
}

/// A new topic or reply's text that is blank or too long.
pub fn validate(field: &'static str, text: &str, max: usize) -> Result<(), (&'static str, &'static str, String)> {
    if text.trim().is_empty() {
        return Err((field, "blank", "This field may not be blank.".into()));
    }
    if text.chars().count() > max {
        return Err((field, "max_length", format!("Ensure this field has no more than {max} characters.")));
    }
    Ok(())
}

/// The longest title.
pub const MAX_TITLE: usize = 200;
/// The longest topic or reply body.
pub const MAX_CONTENT: usize = 20_000;

impl TopicSummary {
    /// The `limit` newest topics, as the admin lists them.
    pub async fn admin_rows(db: &Db, limit: i64) -> Result<Vec<Record>, sqlx::Error> {
        sqlx::query_as(
            "SELECT CAST(t.id AS TEXT) AS id, t.title AS label, u.email AS owner, \
             (SELECT COUNT(*) FROM discussion_replies r WHERE r.topic_id = t.id) AS count, t.updated_at \
             FROM discussion_topics t JOIN users u ON u.id = t.author_id ORDER BY t.created_at DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(db.pool())
        .await
    }

    /// A page of topics, newest first, and how many there are.
    pub async fn list(db: &Db, page: Page) -> Result<(i64, Vec<TopicSummary>), sqlx::Error> {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM discussion_topics").fetch_one(db.pool()).await?;
        let sql = format!("{TOPIC_QUERY} ORDER BY t.created_at DESC, t.id DESC LIMIT $1 OFFSET $2");
        let rows: Vec<TopicRow> = sqlx::query_as(&sql).bind(page.limit).bind(page.offset).fetch_all(db.pool()).await?;
        Ok((count, rows.into_iter().map(TopicRow::summary).collect()))
    }

    /// Topic `id`'s summary.
    pub async fn get(db: &Db, id: i64) -> Result<Option<TopicSummary>, sqlx::Error> {
        let sql = format!("{TOPIC_QUERY} WHERE t.id = $1");
        let row: Option<TopicRow> = sqlx::query_as(&sql).bind(id).fetch_optional(db.pool()).await?;
        Ok(row.map(TopicRow::summary))
    }
}

impl TopicRef {
    /// Topic `id`'s key facts.
    pub async fn get(db: &Db, id: i64) -> Result<Option<TopicRef>, sqlx::Error> {
        let row: Option<(i64, String, i64, Option<i64>)> =
            sqlx::query_as("SELECT id, title, author_id, accepted_answer_id FROM discussion_topics WHERE id = $1")
                .bind(id)
                .fetch_optional(db.pool())
                .await?;
        Ok(row.map(|(id, title, author_id, accepted_answer)| TopicRef { id, title, author_id, accepted_answer }))
    }

    /// Creates a topic by `author`.
    pub async fn create(db: &Db, author: i64, title: &str, content: &str) -> Result<i64, sqlx::Error> {
        let now = timestamp::now();
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO discussion_topics (title, content, author_id, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id",
        )
        .bind(title)
        .bind(content)
        .bind(author)
        .bind(now)
        .fetch_one(db.pool())
        .await?;
        Ok(id)
    }

    /// Replaces the title and content.
    pub async fn edit(db: &Db, id: i64, title: &str, content: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE discussion_topics SET title = $1, content = $2, updated_at = $3 WHERE id = $4")
            .bind(title)
            .bind(content)
            .bind(timestamp::now())
            .bind(id)
            .execute(db.pool())
            .await?;
        Ok(())
    }

    /// Deletes the topic with its replies and votes; `false` when it was gone already.
    pub async fn delete(db: &Db, id: i64) -> Result<bool, sqlx::Error> {
        let mut tx = db.pool().begin().await?;
        sqlx::query(
            "DELETE FROM discussion_votes WHERE target_type = 'reply' AND target_id IN (SELECT id FROM discussion_replies WHERE topic_id = $1)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM discussion_votes WHERE target_type = 'topic' AND target_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE discussion_topics SET accepted_answer_id = NULL WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM discussion_topics WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(deleted.rows_affected() > 0)
    }

    /// Counts a view.
    pub async fn viewed(db: &Db, id: i64) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE discussion_topics SET view_count = view_count + 1 WHERE id = $1")
            .bind(id)
            .execute(db.pool())
            .await?;
        Ok(())
    }

    /// Sets (or clears) the accepted answer.
    pub async fn accept(db: &Db, id: i64, reply: Option<i64>) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE discussion_topics SET accepted_answer_id = $1 WHERE id = $2")
            .bind(reply)
            .bind(id)
            .execute(db.pool())
            .await?;
        Ok(())
    }
}

impl TopicDetail {
    /// Topic `id` as `viewer` sees it.
    pub async fn get(db: &Db, id: i64, viewer: i64) -> Result<Option<TopicDetail>, sqlx::Error> {
        let sql = format!("{TOPIC_QUERY} WHERE t.id = $1");
        let Some(row): Option<TopicRow> = sqlx::query_as(&sql).bind(id).fetch_optional(db.pool()).await? else {
            return Ok(None);
        };
        let topic = TopicRef {
            id: row.id,
            title: row.title.clone(),
            author_id: row.author_id,
            accepted_answer: row.accepted_answer_id,
        };
        let replies = Reply::list(db, &topic, viewer, Page { limit: 1000, offset: 0 }).await?.1;
        let my_vote = my_votes(db, viewer, Target::Topic, &[row.id]).await?.first().map_or(0, |(_, v)| *v);
        Ok(Some(TopicDetail {
            id: row.id,
            can_edit: row.author_id == viewer,
            author: Author { id: row.author_id, email: row.author_email },
            vote_count: row.vote_count,
            reply_count: row.reply_count,
            view_count: row.view_count,
            formatted_created_at: formatted(&row.created_at),
            created_at: row.created_at,
            accepted_answer: row.accepted_answer_id,
            title: row.title,
            content: row.content,
            replies,
            my_vote,
        }))
    }
}

impl Reply {
    /// A page of the topic's replies, most votes first, then oldest first.
    pub async fn list(db: &Db, topic: &TopicRef, viewer: i64, page: Page) -> Result<(i64, Vec<Reply>), sqlx::Error> {
        let count = Reply::count(db, topic.id).await?;
        let sql = format!(
            "{REPLY_QUERY} WHERE r.topic_id = $1 ORDER BY r.vote_count DESC, r.created_at, r.id LIMIT $2 OFFSET $3"
        );
        let rows: Vec<ReplyRow> =
            sqlx::query_as(&sql).bind(topic.id).bind(page.limit).bind(page.offset).fetch_all(db.pool()).await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let votes = my_votes(db, viewer, Target::Reply, &ids).await?;
        let vote_of = |id: i64| votes.iter().find(|(target, _)| *target == id).map_or(0, |(_, v)| *v);
        Ok((
            count,
            rows.into_iter()
                .map(|row| {
                    let v = vote_of(row.id);
                    row.reply(topic, viewer, v)
                })
                .collect(),
        ))
    }

    /// Reply `id` of `topic` as `viewer` sees it.
    pub async fn get(db: &Db, topic: &TopicRef, id: i64, viewer: i64) -> Result<Option<Reply>, sqlx::Error> {
        let sql = format!("{REPLY_QUERY} WHERE r.topic_id = $1 AND r.id = $2");
        let Some(row): Option<ReplyRow> =
            sqlx::query_as(&sql).bind(topic.id).bind(id).fetch_optional(db.pool()).await?
        else {
            return Ok(None);
        };
        let vote = my_votes(db, viewer, Target::Reply, &[id]).await?.first().map_or(0, |(_, v)| *v);
        Ok(Some(row.reply(topic, viewer, vote)))
    }

    /// Creates a reply by `author` and bumps the topic's activity.
    pub async fn create(db: &Db, topic: i64, author: i64, content: &str) -> Result<i64, sqlx::Error> {
        let now = timestamp::now();
        let mut tx = db.pool().begin().await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO discussion_replies (topic_id, author_id, content, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id",
        )
        .bind(topic)
        .bind(author)
        .bind(content)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("UPDATE discussion_topics SET updated_at = $1 WHERE id = $2")
            .bind(&now)
            .bind(topic)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Replaces the text.
    pub async fn edit(db: &Db, id: i64, content: &str) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE discussion_replies SET content = $1, updated_at = $2 WHERE id = $3")
            .bind(content)
            .bind(timestamp::now())
            .bind(id)
            .execute(db.pool())
            .await?;
        Ok(())
    }

    /// Deletes the reply and its votes (an accepted reply stops being accepted). `None` when it
    /// was gone already, else whether it was its topic's accepted answer.
    pub async fn delete(db: &Db, id: i64) -> Result<Option<bool>, sqlx::Error> {
        let mut tx = db.pool().begin().await?;
        sqlx::query("DELETE FROM discussion_votes WHERE target_type = 'reply' AND target_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let unaccepted =
            sqlx::query("UPDATE discussion_topics SET accepted_answer_id = NULL WHERE accepted_answer_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        let deleted = sqlx::query("DELETE FROM discussion_replies WHERE id = $1").bind(id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok((deleted.rows_affected() > 0).then_some(unaccepted.rows_affected() > 0))
    }

    /// How many replies topic `topic` has.
    pub async fn count(db: &Db, topic: i64) -> Result<i64, sqlx::Error> {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM discussion_replies WHERE topic_id = $1")
            .bind(topic)
            .fetch_one(db.pool())
            .await?;
        Ok(count)
    }
}

impl ReplyRef {
    /// Reply `id`, whichever its topic (the admin knows replies by id alone).
    pub async fn find(db: &Db, id: i64) -> Result<Option<ReplyRef>, sqlx::Error> {
        let sql = format!("{REPLY_QUERY} WHERE r.id = $1");
        let row: Option<ReplyRow> = sqlx::query_as(&sql).bind(id).fetch_optional(db.pool()).await?;
        Ok(row.map(ReplyRow::reference))
    }

    /// Reply `id` of topic `topic`.
    pub async fn get(db: &Db, topic: i64, id: i64) -> Result<Option<ReplyRef>, sqlx::Error> {
        let sql = format!("{REPLY_QUERY} WHERE r.topic_id = $1 AND r.id = $2");
        let row: Option<ReplyRow> = sqlx::query_as(&sql).bind(topic).bind(id).fetch_optional(db.pool()).await?;
        Ok(row.map(ReplyRow::reference))
    }
}

/// Records `user`'s vote (-1, 0 to withdraw, or 1) on a topic or reply, replacing any earlier
/// one, and returns the new net count. The count is recomputed from the votes, so it stays right
/// whatever the order of concurrent votes.
pub async fn vote(db: &Db, user: i64, target: Target, id: i64, value: i64) -> Result<i64, sqlx::Error> {
    let mut tx = db.pool().begin().await?;
    if value == 0 {
        sqlx::query("DELETE FROM discussion_votes WHERE user_id = $1 AND target_type = $2 AND target_id = $3")
            .bind(user)
            .bind(target.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?;
    } else {
        sqlx::query(
            "INSERT INTO discussion_votes (user_id, target_type, target_id, value) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, target_type, target_id) DO UPDATE SET value = excluded.value",
        )
        .bind(user)
        .bind(target.as_str())
        .bind(id)
        .bind(value)
        .execute(&mut *tx)
        .await?;
    }
    let update = format!(
        "UPDATE {} SET vote_count = (SELECT COALESCE(SUM(value), 0) FROM discussion_votes \
         WHERE target_type = $1 AND target_id = $2) WHERE id = $2 RETURNING vote_count",
        target.table()
    );
    let (count,): (i64,) = sqlx::query_as(&update).bind(target.as_str()).bind(id).fetch_one(&mut *tx).await?;
    tx.commit().await?;
    Ok(count)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_displayed_date_reads_like_the_original() {
        assert_eq!(super::formatted("2025-01-02T15:04:05.000000Z"), "Jan 02, 2025 at 03:04 PM");
    }
}
