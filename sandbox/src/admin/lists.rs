//! The admin's lists: one per model, each with a search box, yes/no filters and pages.
//!
//! A query string is hostile: the search text is cut to [`MAX_SEARCH`] characters and bound as a
//! `LIKE` pattern with its wildcards escaped; a filter only picks one of the model's fixed SQL
//! conditions; the page number is clamped, and a page holds [`PAGE_SIZE`] rows. No SQL is built
//! from the input.

use axum::extract::{Path, Query};
use axum::response::Response;
use minijinja::context;
use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::{Admin, failed};

/// Rows per page.
pub const PAGE_SIZE: i64 = 25;
/// The longest search text considered, in characters; the rest is ignored.
pub const MAX_SEARCH: usize = 100;
/// The last page anyone can ask for (an offset past it would only make the database count).
pub const MAX_PAGE: i64 = 10_000;

/// A yes/no filter: the SQL condition each answer selects.
#[derive(Debug)]
struct Filter {
    name: &'static str,
    label: &'static str,
    yes: &'static str,
    no: &'static str,
}

/// What a model's list shows and how it is searched.
#[derive(Debug)]
struct Model {
    kind: &'static str,
    title: &'static str,
    /// Selects the id then one text per column, from `from`.
    select: &'static str,
    from: &'static str,
    /// What the search text is matched against (lowercased).
    searched: &'static str,
    order: &'static str,
    columns: &'static [&'static str],
    filters: &'static [Filter],
}

static MODELS: &[Model] = &[
    Model {
        kind: "users",
        title: "Users",
        select: "CAST(u.id AS TEXT), u.email, u.first_name || ' ' || u.last_name, \
                 CASE WHEN u.is_active = 1 THEN 'yes' ELSE 'no' END, \
                 CASE WHEN u.is_staff = 1 THEN 'yes' ELSE 'no' END, \
                 CASE WHEN u.is_superuser = 1 THEN 'yes' ELSE 'no' END, u.date_joined",
        from: "users u",
        searched: "LOWER(u.email || ' ' || u.first_name || ' ' || u.last_name)",
        order: "u.id DESC",
        columns: &["Email", "Name", "Active", "Staff", "Superuser", "Joined"],
        filters: &[
            Filter { name: "active", label: "Active", yes: "u.is_active = 1", no: "u.is_active = 0" },
            Filter { name: "staff", label: "Staff", yes: "u.is_staff = 1", no: "u.is_staff = 0" },
            Filter { name: "superuser", label: "Superuser", yes: "u.is_superuser = 1", no: "u.is_superuser = 0" },
        ],
    },
    Model {
        kind: "chats",
        title: "Group chats",
        select: "CAST(g.id AS TEXT), g.title, COALESCE(g.description, ''), \
                 CAST((SELECT COUNT(*) FROM chat_members m WHERE m.group_chat_id = g.id) AS TEXT), g.updated_at",
        from: "group_chats g",
        searched: "LOWER(g.title || ' ' || COALESCE(g.description, ''))",
        order: "g.updated_at DESC, g.id DESC",
        columns: &["Title", "Description", "Members", "Last activity"],
        filters: &[Filter {
            name: "described",
            label: "Has a description",
            yes: "COALESCE(g.description, '') <> ''",
            no: "COALESCE(g.description, '') = ''",
        }],
    },
    Model {
        kind: "conversations",
        title: "Assistant conversations",
        select: "c.id, c.title, COALESCE(u.email, ''), \
                 CAST((SELECT COUNT(*) FROM assistant_messages m WHERE m.conversation_id = c.id) AS TEXT), c.updated_at",
        from: "assistant_conversations c LEFT JOIN users u ON u.id = c.user_id",
        searched: "LOWER(c.title || ' ' || COALESCE(u.email, ''))",
        order: "c.updated_at DESC, c.id",
        columns: &["Title", "Owner", "Messages", "Last activity"],
        filters: &[Filter {
            name: "anonymous",
            label: "Anonymous",
            yes: "c.user_id IS NULL",
            no: "c.user_id IS NOT NULL",
        }],
    },
    Model {
        kind: "topics",
        title: "Discussion topics",
        select: "CAST(t.id AS TEXT), t.title, u.email, \
                 CAST((SELECT COUNT(*) FROM discussion_replies r WHERE r.topic_id = t.id) AS TEXT), t.updated_at",
        from: "discussion_topics t JOIN users u ON u.id = t.author_id",
        searched: "LOWER(t.title || ' ' || t.content || ' ' || u.email)",
        order: "t.id DESC",
        columns: &["Title", "Author", "Replies", "Last change"],
        filters: &[Filter {
            name: "answered",
            label: "Answered",
            yes: "t.accepted_answer_id IS NOT NULL",
            no: "t.accepted_answer_id IS NULL",
        }],
    },
    Model {
        kind: "replies",
        title: "Discussion replies",
        select: "CAST(r.id AS TEXT), SUBSTR(r.content, 1, 80), t.title, u.email, r.updated_at",
        from: "discussion_replies r JOIN discussion_topics t ON t.id = r.topic_id JOIN users u ON u.id = r.author_id",
        searched: "LOWER(r.content || ' ' || u.email)",
        order: "r.id DESC",
        columns: &["Reply", "Topic", "Author", "Last change"],
        filters: &[Filter {
            name: "accepted",
            label: "Accepted answer",
            yes: "t.accepted_answer_id = r.id",
            no: "(t.accepted_answer_id IS NULL OR t.accepted_answer_id <> r.id)",
        }],
    },
];

/// A list's query string; anything else in it is ignored.
#[derive(Debug, Default, Deserialize)]
pub(super) struct ListQuery {
    q: Option<String>,
    page: Option<String>,
    active: Option<String>,
    staff: Option<String>,
    superuser: Option<String>,
    described: Option<String>,
    anonymous: Option<String>,
    answered: Option<String>,
    accepted: Option<String>,
}

impl ListQuery {
    fn filter(&self, name: &str) -> Option<bool> {
        let value = match name {
            "active" => &self.active,
            "staff" => &self.staff,
            "superuser" => &self.superuser,
            "described" => &self.described,
            "anonymous" => &self.anonymous,
            "answered" => &self.answered,
            "accepted" => &self.accepted,
            _ => &None,
        };
        match value.as_deref() {
            Some("yes") => Some(true),
            Some("no") => Some(false),
            _ => None,
        }
    }
}

/// The search text as the list uses it: trimmed and at most [`MAX_SEARCH`] characters (it is
/// matched case-insensitively).
///
/// ```
/// use sandbox::admin::lists::search_text;
///
/// assert_eq!(search_text(Some("  Ada ")), "Ada");
/// assert_eq!(search_text(Some(&"x".repeat(500))).len(), 100);
/// ```
pub fn search_text(q: Option<&str>) -> String {
    q.unwrap_or("").trim().chars().take(MAX_SEARCH).collect()
}

/// A `LIKE … ESCAPE '\'` pattern matching any text that contains `text` literally.
///
/// ```
/// use sandbox::admin::lists::contains_pattern;
///
/// assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
/// ```
pub fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The page asked for: 1 when missing or not a number, at most [`MAX_PAGE`].
///
/// ```
/// use sandbox::admin::lists::page_number;
///
/// assert_eq!(page_number(Some("3")), 3);
/// assert_eq!(page_number(Some("-1")), 1);
/// assert_eq!(page_number(Some("99999999999999999999")), 1);
/// assert_eq!(page_number(Some("20000")), 10_000);
/// ```
pub fn page_number(page: Option<&str>) -> i64 {
    page.and_then(|p| p.trim().parse::<i64>().ok()).filter(|p| *p >= 1).map_or(1, |p| p.min(MAX_PAGE))
}

/// One filter as the page shows it.
#[derive(Debug, Serialize)]
struct ShownFilter {
    name: &'static str,
    label: &'static str,
    value: &'static str,
}

/// One row: its id and its cells.
#[derive(Debug, Serialize)]
struct ShownRow {
    id: String,
    cells: Vec<String>,
}

/// `GET /admin/{kind}/`.
pub(super) async fn list(
    Admin { db, pages, staff, flash, .. }: Admin,
    Path(kind): Path<String>,
    Query(query): Query<ListQuery>,
) -> Response {
    let Some(model) = MODELS.iter().find(|m| m.kind == kind) else { return crate::web::not_found_page() };
    let q = search_text(query.q.as_deref());
    let mut conditions = vec![format!("($1 = '' OR {} LIKE $2 ESCAPE '\\')", model.searched)];
    let mut shown = Vec::new();
    for filter in model.filters {
        let chosen = query.filter(filter.name);
        if let Some(yes) = chosen {
            conditions.push((if yes { filter.yes } else { filter.no }).to_owned());
        }
        let value = match chosen {
            Some(true) => "yes",
            Some(false) => "no",
            None => "",
        };
        shown.push(ShownFilter { name: filter.name, label: filter.label, value });
    }
    let filter_sql = conditions.join(" AND ");
    let count_sql = format!("SELECT COUNT(*) FROM {} WHERE {filter_sql}", model.from);
    let rows_sql = format!(
        "SELECT {} FROM {} WHERE {filter_sql} ORDER BY {} LIMIT $3 OFFSET $4",
        model.select, model.from, model.order
    );
    let pattern = contains_pattern(&q.to_lowercase());
    let total: Result<(i64,), _> = sqlx::query_as(&count_sql).bind(&q).bind(&pattern).fetch_one(db.pool()).await;
    let total = match total {
        Ok((total,)) => total,
        Err(err) => return failed(&err),
    };
    let last_page = ((total + PAGE_SIZE - 1) / PAGE_SIZE).max(1);
    let page = page_number(query.page.as_deref()).min(last_page);
    let fetched = sqlx::query(&rows_sql)
        .bind(&q)
        .bind(&pattern)
        .bind(PAGE_SIZE)
        .bind((page - 1) * PAGE_SIZE)
        .fetch_all(db.pool())
        .await;
    let rows = match fetched {
        Ok(rows) => rows,
        Err(err) => return failed(&err),
    };
    let rows: Vec<ShownRow> = rows
        .iter()
        .map(|row| ShownRow {
            id: row.try_get::<String, _>(0).unwrap_or_default(),
            cells: (1..=model.columns.len())
                .map(|i| row.try_get::<Option<String>, _>(i).ok().flatten().unwrap_or_default())
                .collect(),
        })
        .collect();
    // The links to other pages keep the search and filters.
    let mut keep = form_urlencoded::Serializer::new(String::new());
    if !q.is_empty() {
        keep.append_pair("q", &q);
    }
    for filter in &shown {
        if !filter.value.is_empty() {
            keep.append_pair(filter.name, filter.value);
        }
    }
    let keep = keep.finish();
    let ctx = context! {
        kind => model.kind, title => model.title, columns => model.columns, rows, filters => shown, q,
        page, last_page, total, keep
    };
    pages.render("admin/list.html", &staff.viewer, &flash, ctx)
}
