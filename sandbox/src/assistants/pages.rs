//! `/assistants/` (conversations, start one) and `/assistants/{id}/` (the live conversation).

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use minijinja::context;

use super::generation::Assistant;
use super::model::Conversation;
use crate::accounts::Viewer;
use crate::db::Db;
use crate::rest::Page;
use crate::state::AppState;
use crate::web::{Flash, Pages, redirect, redirect_with};

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/assistants", get(|| async { redirect("/assistants/") }))
        .route("/assistants/", get(home))
        .route("/assistants/{id}/", get(conversation))
}

async fn sidebar(db: &Db, viewer: &Option<crate::accounts::User>) -> Vec<Conversation> {
    match viewer {
        Some(user) => Conversation::list_for(db, user.id, Page { limit: Page::MAX_LIMIT, offset: 0 })
            .await
            .map(|(_, list)| list)
            .unwrap_or_default(),
        None => vec![],
    }
}

async fn home(
    State(db): State<Db>,
    State(pages): State<Arc<Pages>>,
    State(assistant): State<Assistant>,
    Viewer(viewer): Viewer,
    flash: Flash,
) -> Response {
    let conversations = sidebar(&db, &viewer).await;
    let ctx = context! { conversations, offline => assistant.model.is_offline() };
    pages.render("assistants/home.html", &viewer, &flash, ctx)
}

async fn conversation(
    State(db): State<Db>,
    State(pages): State<Arc<Pages>>,
    State(assistant): State<Assistant>,
    Viewer(viewer): Viewer,
    flash: Flash,
    Path(id): Path<String>,
) -> Response {
    if uuid::Uuid::parse_str(&id).is_err() {
        return crate::web::not_found_page();
    }
    let found = match Conversation::get(&db, &id).await {
        Ok(found) => found,
        Err(err) => {
            tracing::error!(error = %err, "page failed");
            return crate::web::server_error_page();
        }
    };
    let Some(conversation) = found.filter(|c| c.open_to(viewer.as_ref().map(|u| u.id))) else {
        return redirect_with("/assistants/", "error", "Conversation not found.");
    };
    let conversations = sidebar(&db, &viewer).await;
    let ctx = context! {
        conversation, conversations, is_anonymous => conversation.user_id.is_none(),
        offline => assistant.model.is_offline(),
    };
    pages.render("assistants/chat.html", &viewer, &flash, ctx)
}
