//! The account pages: `/account/` (names and password, signed in), `/account/password/reset/`
//! (ask for a reset link) and `/account/password/reset/{uid}/{token}/` (the link: choose a new
//! password). Their forms post JSON to the accounts API with the page's script, as the login page
//! does, so the CSRF guard sees the page's `Origin`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use minijinja::context;

use super::Viewer;
use super::reset::ResetTokens;
use crate::db::Db;
use crate::state::AppState;
use crate::web::{Flash, Pages, login_url, redirect};

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/account", get(|| async { redirect("/account/") }))
        .route("/account/", get(account))
        .route("/account/password/reset/", get(reset_request))
        .route("/account/password/reset/{uid}/{token}/", get(reset_confirm))
}

async fn account(State(pages): State<Arc<Pages>>, Viewer(viewer): Viewer, flash: Flash) -> Response {
    if viewer.is_none() {
        return redirect(&login_url("/account/"));
    }
    pages.render("accounts/account.html", &viewer, &flash, context! {})
}

async fn reset_request(State(pages): State<Arc<Pages>>, Viewer(viewer): Viewer, flash: Flash) -> Response {
    pages.render("accounts/password_reset.html", &viewer, &flash, context! {})
}

async fn reset_confirm(
    State(db): State<Db>,
    State(pages): State<Arc<Pages>>,
    State(resets): State<Arc<ResetTokens>>,
    Viewer(viewer): Viewer,
    flash: Flash,
    Path((uid, token)): Path<(String, String)>,
) -> Response {
    let valid = match super::manage::live_link(&db, &resets, &uid, &token).await {
        Ok(state) => state.is_some(),
        Err(err) => {
            tracing::error!(error = %err, "checking a reset link failed");
            return crate::web::server_error_page();
        }
    };
    // Only a live link's parts go into the page; a dead one's are not echoed back.
    let (uid, token) = if valid { (uid, token) } else { (String::new(), String::new()) };
    let mut response =
        pages.render("accounts/password_reset_confirm.html", &viewer, &flash, context! { valid, uid, token });
    // The address holds the token: never send it to another site as a `Referer`.
    response.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response.into_response()
}
