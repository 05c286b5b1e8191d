//! `/admin/`: staff-only pages to manage users and to browse or delete the apps' records.
//!
//! Staff may browse everything, search and filter each model's list ([`lists`]), and add and
//! change chats, conversations, topics and replies (`forms.rs`) or delete them; only superusers
//! add and change accounts (active, staff, password; deactivate, reactivate, delete), and nobody
//! can lock themselves out. Every form is a POST, which the CSRF guard ([`crate::csrf`]) checks.

mod forms;
pub mod lists;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use chanx::Layer;
use minijinja::context;
use serde::Serialize;

use crate::accounts::tokens::Tokens;
use crate::accounts::{Account, User, Viewer};
use crate::assistants::generation::Assistant;
use crate::assistants::model::Conversation;
use crate::chat::model::GroupChat;
use crate::db::Db;
use crate::discussion::model::{TopicRef, TopicSummary};
use crate::state::AppState;
use crate::web::{Flash, Pages, login_url, redirect, redirect_with};

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(|| async { redirect("/admin/") }))
        .route("/admin/", get(index))
        .route("/admin/users/{id}/active/", post(toggle_active))
        .route("/admin/users/{id}/delete/", post(delete_user))
        .route("/admin/{kind}/{id}/delete/", post(delete_record))
        .route("/admin/{kind}/", get(lists::list))
        .route("/admin/users/add/", get(forms::user_add_form).post(forms::user_add))
        .route("/admin/users/{id}/", get(forms::user_form).post(forms::user_change))
        .route("/admin/chats/add/", get(forms::chat_add_form).post(forms::chat_add))
        .route("/admin/chats/{id}/", get(forms::chat_form).post(forms::chat_change))
        .route("/admin/chats/{id}/members/", post(forms::member_add))
        .route("/admin/chats/{id}/members/{member}/remove/", post(forms::member_remove))
        .route("/admin/{kind}/add/", get(forms::record_add_form).post(forms::record_add))
        .route("/admin/{kind}/{id}/", get(forms::record_form).post(forms::record_change))
}

/// How many rows each table shows, newest first.
const ROWS: i64 = 100;

/// A row of the admin's tables of chats, conversations and topics; each app's model module
/// lists its own (`GroupChat::admin_rows`, `Conversation::admin_rows`, `TopicSummary::admin_rows`).
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Record {
    /// The record's id, as text (conversations have UUIDs).
    pub id: String,
    /// Its title.
    pub label: String,
    /// Its owner's email, when it has one.
    pub owner: Option<String>,
    /// How many members, messages or replies it has.
    pub count: i64,
    /// When it last changed.
    pub updated_at: String,
}

/// Why the admin refuses a request.
#[derive(Debug)]
enum Refused {
    /// Nobody is signed in: go and log in.
    SignIn,
    /// Signed in, but not staff.
    StaffOnly,
    /// Staff, but accounts are for superusers.
    SuperuserOnly,
    /// Nobody changes their own account here.
    OwnAccount,
    /// No such account.
    NoSuchUser,
    /// The database failed.
    Failed(sqlx::Error),
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Refused::SignIn => redirect(&login_url("/admin/")),
            Refused::StaffOnly => (
                StatusCode::FORBIDDEN,
                Html("<!doctype html><title>Staff only</title><h1>Staff only</h1><p>This page is for staff members. <a href=\"/chat/\">Back to the app</a>.</p>"),
            )
                .into_response(),
            Refused::SuperuserOnly => redirect_with("/admin/", "error", "Only superusers can change accounts."),
            Refused::OwnAccount => redirect_with("/admin/", "error", "You cannot change your own account here."),
            Refused::NoSuchUser => crate::web::not_found_page(),
            Refused::Failed(err) => failed(&err),
        }
    }
}

/// The staff member asking.
fn staff(viewer: Option<User>) -> Result<User, Refused> {
    match viewer {
        None => Err(Refused::SignIn),
        Some(user) if user.is_staff || user.is_superuser => Ok(user),
        Some(_) => Err(Refused::StaffOnly),
    }
}

fn failed(err: &sqlx::Error) -> Response {
    tracing::error!(error = %err, "admin page failed");
    crate::web::server_error_page()
}

async fn index(
    State(db): State<Db>,
    State(pages): State<Arc<Pages>>,
    Viewer(viewer): Viewer,
    flash: Flash,
) -> Response {
    let me = match staff(viewer.clone()) {
        Ok(me) => me,
        Err(refusal) => return refusal.into_response(),
    };
    let users = Account::newest(&db, ROWS).await;
    let chats = GroupChat::admin_rows(&db, ROWS).await;
    let conversations = Conversation::admin_rows(&db, ROWS).await;
    let topics = TopicSummary::admin_rows(&db, ROWS).await;
    match (users, chats, conversations, topics) {
        (Ok(users), Ok(chats), Ok(conversations), Ok(topics)) => {
            let ctx = context! { me_id => me.id, is_superuser => me.is_superuser, users, chats, conversations, topics };
            pages.render("admin/index.html", &viewer, &flash, ctx)
        }
        (Err(err), ..) | (_, Err(err), ..) | (_, _, Err(err), _) | (.., Err(err)) => failed(&err),
    }
}

/// Checks that a superuser asks to change another account `id`, which exists.
async fn superuser_on(db: &Db, viewer: Option<User>, id: i64) -> Result<(), Refused> {
    let me = staff(viewer)?;
    if !me.is_superuser {
        return Err(Refused::SuperuserOnly);
    }
    if me.id == id {
        return Err(Refused::OwnAccount);
    }
    match User::exists(db, id).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(Refused::NoSuchUser),
        Err(err) => Err(Refused::Failed(err)),
    }
}

async fn toggle_active(
    State(db): State<Db>,
    State(layer): State<Layer>,
    State(tokens): State<Arc<Tokens>>,
    Viewer(viewer): Viewer,
    Path(id): Path<i64>,
) -> Response {
    if let Err(refusal) = superuser_on(&db, viewer, id).await {
        return refusal.into_response();
    }
    // A deactivated user's tokens stop resolving at once: every lookup requires is_active. Their
    // open sockets are closed too; on a reactivation there are none (a deactivated user cannot
    // connect), so closing either way is harmless. Their refresh tokens are revoked: otherwise
    // a reactivation would bring every login of before back, a stolen one included. (Deletion
    // needs no such step: the tokens' rows go with the user's.)
    let toggled = User::toggle_active(&db, id).await;
    let revoked = match toggled {
        Ok(Some(false)) => tokens.revoke_user(&db, id).await,
        Ok(_) => Ok(()),
        Err(err) => Err(err),
    };
    match revoked {
        Ok(()) => {
            crate::sessions::close_user_sockets(&layer, id).await;
            redirect_with("/admin/", "success", format!("User {id} updated."))
        }
        Err(err) => failed(&err),
    }
}

async fn delete_user(
    State(db): State<Db>,
    State(layer): State<Layer>,
    Viewer(viewer): Viewer,
    Path(id): Path<i64>,
) -> Response {
    if let Err(refusal) = superuser_on(&db, viewer, id).await {
        return refusal.into_response();
    }
    match User::delete(&db, id).await {
        Ok(_) => {
            crate::sessions::close_user_sockets(&layer, id).await;
            redirect_with("/admin/", "success", format!("User {id} and everything they owned were deleted."))
        }
        Err(err) => failed(&err),
    }
}

async fn delete_record(
    State(db): State<Db>,
    State(layer): State<Layer>,
    State(assistant): State<Assistant>,
    Viewer(viewer): Viewer,
    Path((kind, id)): Path<(String, String)>,
) -> Response {
    if let Err(refusal) = staff(viewer) {
        return refusal.into_response();
    }
    let deleted = match kind.as_str() {
        "chats" => match id.parse::<i64>().ok() {
            Some(id) => match GroupChat::get(&db, id).await {
                Ok(Some(chat)) => match crate::chat::service::delete_chat(&db, &layer, &chat).await {
                    Ok(()) => Ok(true),
                    Err(crate::chat::service::Refusal::Db(err)) => Err(err),
                    Err(_) => Ok(false),
                },
                Ok(None) => Ok(false),
                Err(err) => Err(err),
            },
            None => Ok(false),
        },
        "conversations" => match Conversation::get(&db, &id).await {
            Ok(Some(conversation)) => {
                assistant.stop(&conversation.id).await;
                Conversation::delete(&db, &conversation.id).await.map(|()| true)
            }
            Ok(None) => Ok(false),
            Err(err) => Err(err),
        },
        "topics" => match id.parse::<i64>() {
            Ok(id) if TopicRef::get(&db, id).await.ok().flatten().is_some() => {
                TopicRef::delete(&db, id).await.map(|()| true)
            }
            _ => Ok(false),
        },
        _ => Ok(false),
    };
    match deleted {
        Ok(true) => redirect_with("/admin/", "success", "Deleted."),
        Ok(false) => crate::web::not_found_page(),
        Err(err) => failed(&err),
    }
}
