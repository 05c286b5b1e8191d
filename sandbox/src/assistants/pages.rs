//! `/assistants/` (conversations, start one) and `/assistants/{id}/` (the live conversation).

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use minijinja::context;

use super::model::Conversation;
use crate::accounts::Viewer;
use crate::app::AppState;
use crate::rest::Page;
use crate::web::{Flash, redirect, redirect_with};

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/assistants", get(|| async { redirect("/assistants/") }))
        .route("/assistants/", get(home))
        .route("/assistants/{id}/", get(conversation))
}

async fn sidebar(state: &AppState, viewer: &Option<crate::accounts::User>) -> Vec<Conversation> {
    match viewer {
        Some(user) => Conversation::list_for(&state.db, user.id, Page { limit: Page::MAX_LIMIT, offset: 0 })
            .await
            .map(|(_, list)| list)
            .unwrap_or_default(),
        None => vec![],
    }
}

async fn home(State(state): State<AppState>, Viewer(viewer): Viewer, flash: Flash) -> Response {
    let conversations = sidebar(&state, &viewer).await;
    let ctx = context! { conversations, offline => state.assistant.model.is_offline() };
    state.pages.render("assistants/home.html", &viewer, &flash, ctx)
}

async fn conversation(
    State(state): State<AppState>,
    Viewer(viewer): Viewer,
    flash: Flash,
    Path(id): Path<String>,
) -> Response {
    if uuid::Uuid::parse_str(&id).is_err() {
        return crate::web::not_found_page();
    }
    let found = match Conversation::get(&state.db, &id).await {
        Ok(found) => found,
        Err(err) => {
            tracing::error!(error = %err, "page failed");
            return crate::web::server_error_page();
        }
    };
    let Some(conversation) = found.filter(|c| c.open_to(viewer.as_ref().map(|u| u.id))) else {
        return redirect_with("/assistants/", "error", "Conversation not found.");
    };
    let conversations = sidebar(&state, &viewer).await;
    let ctx = context! {
        conversation, conversations, is_anonymous => conversation.user_id.is_none(),
        offline => state.assistant.model.is_offline(),
    };
    state.pages.render("assistants/chat.html", &viewer, &flash, ctx)
}
