//! `/discussion/` (newest topics), `/discussion/new/` (ask) and `/discussion/{pk}/` (a topic with
//! its answers). Signed-in users only see content; visitors are invited to log in.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chanx::Layer;
use minijinja::context;

use super::model::{TopicDetail, TopicRef, TopicSummary};
use super::service::{self, Refusal};
use crate::accounts::Viewer;
use crate::db::Db;
use crate::rest::{ApiError, Page};
use crate::state::AppState;
use crate::web::{Flash, Pages, login_url, redirect, redirect_with};

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/discussion", get(|| async { redirect("/discussion/") }))
        .route("/discussion/", get(home))
        .route("/discussion/new/", get(new_topic).post(create_topic))
        .route("/discussion/{pk}/", get(topic))
}

async fn home(State(db): State<Db>, State(pages): State<Arc<Pages>>, Viewer(viewer): Viewer, flash: Flash) -> Response {
    let topics = match &viewer {
        Some(_) => match TopicSummary::list(&db, Page { limit: 20, offset: 0 }).await {
            Ok((count, topics)) => Some((count, topics)),
            Err(err) => return failed(&err),
        },
        None => None,
    };
    let (count, recent_topics) = topics.unwrap_or_default();
    pages.render("discussion/home.html", &viewer, &flash, context! { recent_topics, count })
}

async fn new_topic(State(pages): State<Arc<Pages>>, Viewer(viewer): Viewer, flash: Flash) -> Response {
    pages.render("discussion/new_topic.html", &viewer, &flash, context! {})
}

async fn create_topic(
    State(db): State<Db>,
    State(layer): State<Layer>,
    State(pages): State<Arc<Pages>>,
    Viewer(viewer): Viewer,
    body: Bytes,
) -> Response {
    let Some(user) = viewer.clone() else { return redirect(&login_url("/discussion/new/")) };
    let fields: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let title = fields.get("title").map(String::as_str).unwrap_or_default();
    let content = fields.get("content").map(String::as_str).unwrap_or_default();
    match service::ask(&db, &layer, &user, title, content).await {
        Ok(id) => redirect(&format!("/discussion/{id}/")),
        Err(Refusal::Invalid(field, _, sentence)) => {
            let errors = HashMap::from([(field, sentence)]);
            let ctx = context! { errors, title, content };
            pages.render_status(StatusCode::BAD_REQUEST, "discussion/new_topic.html", &viewer, &Flash::default(), ctx)
        }
        // Only the database can fail otherwise: the API's answer to that.
        Err(err) => ApiError::from(err).into_response(),
    }
}

const NOT_FOUND: &str =
    "Discussion not found. The discussion you're looking for doesn't exist or may have been removed.";

async fn topic(
    State(db): State<Db>,
    State(pages): State<Arc<Pages>>,
    Viewer(viewer): Viewer,
    flash: Flash,
    Path(pk): Path<String>,
) -> Response {
    let Ok(pk) = pk.parse::<i64>() else { return redirect_with("/discussion/", "error", NOT_FOUND) };
    let found = match TopicRef::get(&db, pk).await {
        Ok(found) => found,
        Err(err) => return failed(&err),
    };
    let Some(summary) = found else { return redirect_with("/discussion/", "error", NOT_FOUND) };
    let Some(user) = &viewer else {
        return pages.render("discussion/topic_detail.html", &viewer, &flash, context! { title => summary.title, pk });
    };
    if let Err(err) = TopicRef::viewed(&db, pk).await {
        return failed(&err);
    }
    match TopicDetail::get(&db, pk, user.id).await {
        Ok(Some(topic)) => pages.render("discussion/topic_detail.html", &viewer, &flash, context! { topic, pk }),
        Ok(None) => redirect_with("/discussion/", "error", NOT_FOUND),
        Err(err) => failed(&err),
    }
}

fn failed(err: &sqlx::Error) -> Response {
    tracing::error!(error = %err, "page failed");
    crate::web::server_error_page()
}
