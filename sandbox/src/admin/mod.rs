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
use axum::extract::{FromRef, FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
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
use crate::discussion::model::{ReplyRef, TopicRef, TopicSummary};
use crate::rest::ApiError;
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
        }
    }
}

/// The staff member asking, as an extractor: a visitor is sent to log in and a member who is not
/// staff gets 403 before the handler runs, so no admin handler repeats the check. Taken before
/// the path and the form, so that nobody else learns which records exist.
#[derive(Debug)]
pub(super) struct Staff {
    /// The staff member.
    pub(super) me: User,
    /// The same user as the pages' layout reads it.
    pub(super) viewer: Option<User>,
}

impl<S: Send + Sync> FromRequestParts<S> for Staff
where
    Viewer: FromRequestParts<S, Rejection = ApiError>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let Viewer(viewer) = Viewer::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        match viewer {
            None => Err(Refused::SignIn.into_response()),
            Some(me) if me.is_staff || me.is_superuser => Ok(Staff { viewer: Some(me.clone()), me }),
            Some(_) => Err(Refused::StaffOnly.into_response()),
        }
    }
}

/// What a staff page of the admin works with, in one extractor: the staff member asking (checked
/// first, as [`Staff`]), the notices of the previous response, and the app's parts the handlers
/// share. Each handler takes it, destructured, instead of the same five arguments.
pub(super) struct Admin {
    /// Where the records are.
    pub(super) db: Db,
    /// The templates.
    pub(super) pages: Arc<Pages>,
    /// Where the apps' events go.
    pub(super) layer: Layer,
    /// Who asks.
    pub(super) staff: Staff,
    /// The previous response's notices.
    pub(super) flash: Flash,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let staff = Staff::from_request_parts(parts, state).await?;
        let Ok(flash) = Flash::from_request_parts(parts, state).await;
        Ok(Admin {
            db: Db::from_ref(state),
            pages: Arc::<Pages>::from_ref(state),
            layer: Layer::from_ref(state),
            staff,
            flash,
        })
    }
}

/// A superuser asking, as an extractor: accounts are theirs to add and change.
#[derive(Debug)]
pub(super) struct Superuser(pub(super) Staff);

impl<S: Send + Sync> FromRequestParts<S> for Superuser
where
    Viewer: FromRequestParts<S, Rejection = ApiError>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let staff = Staff::from_request_parts(parts, state).await?;
        if !staff.me.is_superuser {
            return Err(Refused::SuperuserOnly.into_response());
        }
        Ok(Superuser(staff))
    }
}

impl Superuser {
    /// Checks that account `id`, which the superuser asks to change, exists and is not theirs.
    async fn on(&self, db: &Db, id: i64) -> Result<(), Stop> {
        if self.0.me.id == id {
            return Err(Refused::OwnAccount.into_response().into());
        }
        match User::exists(db, id).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(Refused::NoSuchUser.into_response().into()),
            Err(err) => Err(failed(&err).into()),
        }
    }
}

/// A response that ends an admin handler early (a refusal, a missing record, a failed query),
/// which `?` carries out of the helpers; boxed, since a response is large to move around.
#[derive(Debug)]
pub(super) struct Stop(Box<Response>);

impl From<Response> for Stop {
    fn from(response: Response) -> Self {
        Stop(Box::new(response))
    }
}

impl IntoResponse for Stop {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// What an admin handler answers: the page, or the [`Stop`] that ended it early.
type Answer = Result<Response, Stop>;

/// The record a lookup found, or the answer for a missing one (404) or a failed query.
fn found<T>(lookup: Result<Option<T>, sqlx::Error>) -> Result<T, Stop> {
    match lookup {
        Ok(Some(record)) => Ok(record),
        Ok(None) => Err(crate::web::not_found_page().into()),
        Err(err) => Err(failed(&err).into()),
    }
}

/// The value of a query that must not fail, or the answer for its failure.
fn done<T>(result: Result<T, sqlx::Error>) -> Result<T, Stop> {
    result.map_err(|err| failed(&err).into())
}

fn failed(err: &sqlx::Error) -> Response {
    tracing::error!(error = %err, "admin page failed");
    crate::web::server_error_page()
}

async fn index(Admin { db, pages, staff, flash, .. }: Admin) -> Answer {
    let users = done(Account::newest(&db, ROWS).await)?;
    let chats = done(GroupChat::admin_rows(&db, ROWS).await)?;
    let conversations = done(Conversation::admin_rows(&db, ROWS).await)?;
    let topics = done(TopicSummary::admin_rows(&db, ROWS).await)?;
    let me = &staff.me;
    let ctx = context! { me_id => me.id, is_superuser => me.is_superuser, users, chats, conversations, topics };
    Ok(pages.render("admin/index.html", &staff.viewer, &flash, ctx))
}

async fn toggle_active(
    State(db): State<Db>,
    State(layer): State<Layer>,
    State(tokens): State<Arc<Tokens>>,
    superuser: Superuser,
    Path(id): Path<i64>,
) -> Answer {
    superuser.on(&db, id).await?;
    // A deactivated user's tokens stop resolving at once: every lookup requires is_active. Their
    // open sockets are closed too; on a reactivation there are none (a deactivated user cannot
    // connect), so closing either way is harmless. Their refresh tokens are revoked: otherwise
    // a reactivation would bring every login of before back, a stolen one included. (Deletion
    // needs no such step: the tokens' rows go with the user's.)
    if let Some(false) = done(User::toggle_active(&db, id).await)? {
        done(tokens.revoke_user(&db, id).await)?;
    }
    crate::sessions::close_user_sockets(&layer, id).await;
    Ok(redirect_with("/admin/", "success", format!("User {id} updated.")))
}

async fn delete_user(
    State(db): State<Db>,
    State(layer): State<Layer>,
    superuser: Superuser,
    Path(id): Path<i64>,
) -> Answer {
    superuser.on(&db, id).await?;
    done(User::delete(&db, id).await)?;
    crate::sessions::close_user_sockets(&layer, id).await;
    Ok(redirect_with("/admin/", "success", format!("User {id} and everything they owned were deleted.")))
}

/// `POST /admin/{chats,conversations,topics,replies}/{id}/delete/`, through each app's own
/// operation, so that open pages hear of it as when the owner deletes.
async fn delete_record(
    Admin { db, layer, .. }: Admin,
    State(assistant): State<Assistant>,
    Path((kind, id)): Path<(String, String)>,
) -> Answer {
    let number = id.parse::<i64>().ok();
    let missing = || crate::web::not_found_page();
    match (kind.as_str(), number) {
        ("chats", Some(id)) => {
            let chat = found(GroupChat::get(&db, id).await)?;
            match crate::chat::service::delete_chat(&db, &layer, &chat).await {
                Ok(()) => {}
                Err(crate::chat::service::Refusal::Db(err)) => return Err(failed(&err).into()),
                Err(_) => return Err(missing().into()),
            }
        }
        ("conversations", _) => {
            let conversation = found(Conversation::get(&db, &id).await)?;
            assistant.stop(&conversation.id).await;
            done(Conversation::delete(&db, &conversation.id).await)?;
        }
        ("topics", Some(id)) => {
            let topic = found(TopicRef::get(&db, id).await)?;
            discussion_done(crate::discussion::service::delete_topic(&db, &layer, &topic).await)?;
        }
        ("replies", Some(id)) => {
            let reply = found(ReplyRef::find(&db, id).await)?;
            let topic = found(TopicRef::get(&db, reply.topic_id).await)?;
            discussion_done(crate::discussion::service::delete_reply(&db, &layer, &topic, reply.id).await)?;
        }
        _ => return Err(missing().into()),
    }
    Ok(redirect_with("/admin/", "success", "Deleted."))
}

/// A forum operation's outcome as an admin answer: a record gone meanwhile is a 404.
fn discussion_done<T>(result: Result<T, crate::discussion::service::Refusal>) -> Result<T, Stop> {
    use crate::discussion::service::Refusal;
    match result {
        Ok(value) => Ok(value),
        Err(Refusal::Db(err)) => Err(failed(&err).into()),
        Err(Refusal::NotFound | Refusal::Invalid(..)) => Err(crate::web::not_found_page().into()),
    }
}
