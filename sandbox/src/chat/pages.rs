//! The chat pages: `/chat/` (my chats, new chat), `/chat/{pk}/` (live messages) and
//! `/chat/{pk}/members/` (manage members). Forms post back to the pages and redirect, with a
//! notice, as the Django example does; removal is a POST, never a GET.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use chanx::Layer;
use minijinja::context;
use serde::Serialize;

use super::model::{GroupChat, Member, Role};
use super::service::{self, Refusal};
use crate::accounts::{User, Viewer};
use crate::db::Db;
use crate::rest::Page;
use crate::state::AppState;
use crate::throttle::Throttles;
use crate::web::{Flash, Pages, login_url, redirect, redirect_with};

/// The routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/chat/", get(home).post(create))
        .route("/chat/{pk}/", get(detail))
        .route("/chat/{pk}/members/", get(members).post(add_member))
        .route("/chat/{pk}/members/{member}/remove/", post(remove_member))
}

/// The fields of a form body; an unreadable body is an empty form.
fn form(body: &Bytes) -> HashMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

const CHAT_NOT_FOUND: &str = "Chat not found. The chat you're looking for doesn't exist or may have been removed.";

/// The chat named by a path segment, or the redirect to `/chat/` with a notice.
async fn chat_or_redirect(db: &Db, pk: &str) -> Result<GroupChat, Response> {
    let chat = match pk.parse::<i64>() {
        Ok(id) => GroupChat::get(db, id).await.map_err(|err| server_error(&err))?,
        Err(_) => None,
    };
    chat.ok_or_else(|| redirect_with("/chat/", "error", CHAT_NOT_FOUND))
}

/// The chat of page `here` with the viewer's membership, when the viewer is a member.
///
/// A visitor is sent to log in before the chat is looked up, and a signed-in non-member gets
/// exactly what a missing chat gets (back to `/chat/` with "Chat not found"): like the REST API's
/// 404, a page never tells an outsider whether a chat exists, nor shows its title or description.
async fn member_page(
    db: &Db,
    pk: &str,
    viewer: &Option<User>,
    here: &str,
) -> Result<(User, GroupChat, Member), Response> {
    let Some(user) = viewer.clone() else { return Err(redirect(&login_url(here))) };
    let chat = chat_or_redirect(db, pk).await?;
    match Member::of(db, chat.id, user.id).await {
        Ok(Some(member)) => Ok((user, chat, member)),
        Ok(None) => Err(redirect_with("/chat/", "error", CHAT_NOT_FOUND)),
        Err(err) => Err(server_error(&err)),
    }
}

/// Where a refused member-management form goes: back to `/chat/` for someone who may not see
/// the chat, back to the members page (`here`) with the reason otherwise.
fn refused(here: &str, refusal: Refusal) -> Response {
    match refusal {
        // A non-member learns no more than from a missing chat.
        Refusal::NotMember | Refusal::ChatNotFound => redirect_with("/chat/", "error", CHAT_NOT_FOUND),
        Refusal::Db(err) => server_error(&err),
        Refusal::Throttled(wait) => crate::web::too_many_requests_page("added members", wait),
        refusal => redirect_with(here, "error", refusal.to_string()),
    }
}

fn server_error(err: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %err, "page failed");
    crate::web::server_error_page()
}

async fn home(State(db): State<Db>, State(pages): State<Arc<Pages>>, Viewer(viewer): Viewer, flash: Flash) -> Response {
    render_home(&db, &pages, viewer, flash, StatusCode::OK, context! {}).await
}

async fn render_home(
    db: &Db,
    pages: &Pages,
    viewer: Option<User>,
    flash: Flash,
    status: StatusCode,
    extra: minijinja::Value,
) -> Response {
    let chats = match &viewer {
        Some(user) => match GroupChat::list_for(db, user.id, Page { limit: Page::MAX_LIMIT, offset: 0 }).await {
            Ok((_, chats)) => chats,
            Err(err) => return server_error(&err),
        },
        None => vec![],
    };
    let ctx = context! { user_chats => chats, ..extra };
    pages.render_status(status, "chat/home.html", &viewer, &flash, ctx)
}

async fn create(
    State(db): State<Db>,
    State(layer): State<Layer>,
    State(pages): State<Arc<Pages>>,
    State(throttles): State<Arc<Throttles>>,
    Viewer(viewer): Viewer,
    body: Bytes,
) -> Response {
    let Some(user) = viewer.clone() else { return redirect(&login_url("/chat/")) };
    let fields = form(&body);
    let title = fields.get("title").map(String::as_str).unwrap_or_default();
    let description = fields.get("description").map(String::as_str).unwrap_or_default();
    let budget = &throttles.chats;
    match service::create_chat(&db, &layer, budget, &user, title, Some(description)).await {
        Ok(chat) => redirect(&format!("/chat/{}/", chat.id)),
        Err(Refusal::Invalid(field, _, text)) => {
            let errors = HashMap::from([(field, text)]);
            let ctx = context! { errors, title, description };
            render_home(&db, &pages, viewer, Flash::default(), StatusCode::BAD_REQUEST, ctx).await
        }
        Err(Refusal::Throttled(wait)) => crate::web::too_many_requests_page("created chats", wait),
        Err(err) => server_error(&err),
    }
}

async fn detail(
    State(db): State<Db>,
    State(pages): State<Arc<Pages>>,
    Viewer(viewer): Viewer,
    flash: Flash,
    Path(pk): Path<String>,
) -> Response {
    let (user, chat, member) = match member_page(&db, &pk, &viewer, &format!("/chat/{pk}/")).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let chats = match GroupChat::all_for(&db, user.id).await {
        Ok(chats) => chats,
        Err(err) => return server_error(&err),
    };
    let ctx = context! { group_chat => chat, user_chats => chats, user_member => member };
    pages.render("chat/group_chat.html", &viewer, &flash, ctx)
}

/// A member row of the members page.
#[derive(Debug, Serialize)]
struct MemberRow {
    #[serde(flatten)]
    member: Member,
    role: &'static str,
    removable: bool,
}

async fn members(
    State(db): State<Db>,
    State(pages): State<Arc<Pages>>,
    Viewer(viewer): Viewer,
    flash: Flash,
    Path(pk): Path<String>,
) -> Response {
    let (_, chat, me) = match member_page(&db, &pk, &viewer, &format!("/chat/{pk}/members/")).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let can_manage = me.role().can_manage();
    let rows: Vec<MemberRow> = match Member::list(&db, chat.id).await {
        Ok(list) => list
            .into_iter()
            .map(|member| MemberRow {
                role: member.role().label(),
                removable: can_manage && member.role() != Role::Owner && member.id != me.id,
                member,
            })
            .collect(),
        Err(err) => return server_error(&err),
    };
    let roles = [(Role::Admin.code(), "Admin"), (Role::Member.code(), "Member")];
    let ctx = context! { group_chat => chat, members => rows, user_member => me, can_manage, roles };
    pages.render("chat/group_members.html", &viewer, &flash, ctx)
}

async fn add_member(
    State(db): State<Db>,
    State(layer): State<Layer>,
    State(throttles): State<Arc<Throttles>>,
    Viewer(viewer): Viewer,
    Path(pk): Path<String>,
    body: Bytes,
) -> Response {
    let here = format!("/chat/{pk}/members/");
    let Some(user) = viewer else { return redirect(&login_url(&here)) };
    let chat = match chat_or_redirect(&db, &pk).await {
        Ok(chat) => chat,
        Err(response) => return response,
    };
    let fields = form(&body);
    let email = fields.get("email").map(String::as_str).unwrap_or_default().trim().to_owned();
    let role = match fields.get("role").map(|r| r.trim().parse::<i64>().ok().and_then(Role::from_code)) {
        None => Some(Role::Member),
        Some(role) => role,
    };
    let Some(role) = role else { return redirect_with(&here, "error", "Choose a valid role") };
    let budget = &throttles.invitations;
    match service::add_member(&db, &layer, budget, chat.id, &user, &email, role).await {
        Ok(member) => redirect_with(&here, "success", format!("Added {} to the group chat", member.user)),
        Err(refusal) => refused(&here, refusal),
    }
}

async fn remove_member(
    State(db): State<Db>,
    State(layer): State<Layer>,
    Viewer(viewer): Viewer,
    Path((pk, member)): Path<(String, String)>,
) -> Response {
    let here = format!("/chat/{pk}/members/");
    let Some(user) = viewer else { return redirect(&login_url(&here)) };
    let chat = match chat_or_redirect(&db, &pk).await {
        Ok(chat) => chat,
        Err(response) => return response,
    };
    let Ok(member) = member.parse::<i64>() else { return crate::web::not_found_page() };
    match service::remove_member(&db, &layer, chat.id, &user, member).await {
        Ok(removed) => redirect_with(&here, "success", format!("Removed {} from the group chat", removed.user)),
        Err(Refusal::NotFound(_)) => crate::web::not_found_page(),
        Err(refusal) => refused(&here, refusal),
    }
}
