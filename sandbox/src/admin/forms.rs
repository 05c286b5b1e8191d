//! The admin's add and change forms. Each re-renders with its errors (400) when a field is wrong,
//! and saves through the same model functions and events as the apps, so a change reaches open
//! sockets as it would from the app: a deactivated user's or a new password's sockets close, a
//! removed member's chat sockets close.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chanx::Layer;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};

use super::{Refused, failed, staff, superuser_on};
use crate::accounts::password::{Hasher, weakness};
use crate::accounts::tokens::Tokens;
use crate::accounts::{Account, AuthenticateError, CreateUserError, NewUser, User, Viewer};
use crate::assistants::model::Conversation;
use crate::chat::events;
use crate::chat::model::{AddMemberError, GroupChat, Member, Role, validate_chat};
use crate::db::Db;
use crate::discussion::model::{MAX_CONTENT, MAX_TITLE, validate};
use crate::web::{Flash, Pages, redirect_with};

/// The longest conversation title.
const MAX_CONVERSATION_TITLE: usize = 255;

/// One field of a form as the page shows it.
#[derive(Debug, Serialize)]
struct Field {
    name: &'static str,
    label: &'static str,
    /// `text`, `email`, `password`, `textarea`, `checkbox` or `readonly`.
    kind: &'static str,
    value: String,
    checked: bool,
}

impl Field {
    fn new(name: &'static str, label: &'static str, kind: &'static str, value: impl Into<String>) -> Field {
        Field { name, label, kind, value: value.into(), checked: false }
    }

    fn checkbox(name: &'static str, label: &'static str, checked: bool) -> Field {
        Field { name, label, kind: "checkbox", value: String::new(), checked }
    }
}

/// A form page: its heading, where it posts, its fields, what is wrong, and more context.
struct FormPage<'a> {
    heading: String,
    action: String,
    back: &'static str,
    fields: Vec<Field>,
    errors: Vec<String>,
    extra: Value,
    viewer: &'a Option<User>,
}

impl FormPage<'_> {
    fn render(self, pages: &Pages, flash: &Flash) -> Response {
        let status = if self.errors.is_empty() { StatusCode::OK } else { StatusCode::BAD_REQUEST };
        let ctx = context! {
            heading => self.heading, action => self.action, back => self.back, fields => self.fields,
            errors => self.errors, ..self.extra
        };
        pages.render_status(status, "admin/form.html", self.viewer, flash, ctx)
    }
}

/// A checkbox is sent only when it is ticked.
fn ticked(value: &Option<String>) -> bool {
    value.is_some()
}

/// What a new password must be: both fields equal, and not weak. Empty means unchanged.
fn new_password(password1: &str, password2: &str, email: &str) -> Result<Option<String>, String> {
    if password1.is_empty() && password2.is_empty() {
        return Ok(None);
    }
    if password1 != password2 {
        return Err("The two password fields didn't match.".into());
    }
    match weakness(password1, email) {
        Some(reason) => Err(reason.into()),
        None => Ok(Some(password1.to_owned())),
    }
}

fn user_fields(account: &Account, is_active: bool, is_staff: bool) -> Vec<Field> {
    vec![
        Field::new("email", "Email", "readonly", account.email.clone()),
        Field::checkbox("is_active", "Active", is_active),
        Field::checkbox("is_staff", "Staff status", is_staff),
        Field::new("password1", "New password (leave empty to keep it)", "password", ""),
        Field::new("password2", "New password again", "password", ""),
    ]
}

/// `GET /admin/users/{id}/`.
pub(super) async fn user_form(
    State(db): State<Db>,
    State(pages): State<Arc<Pages>>,
    Viewer(viewer): Viewer,
    flash: Flash,
    Path(id): Path<i64>,
) -> Response {
    if let Err(refusal) = staff(viewer.clone()) {
        return refusal.into_response();
    }
    match Account::get(&db, id).await {
        Ok(Some(account)) => FormPage {
            heading: format!("Change user {}", account.email),
            action: format!("/admin/users/{id}/"),
            back: "/admin/users/",
            fields: user_fields(&account, account.is_active, account.is_staff),
            errors: Vec::new(),
            extra: context! { user_id => id },
            viewer: &viewer,
        }
        .render(&pages, &flash),
        Ok(None) => crate::web::not_found_page(),
        Err(err) => failed(&err),
    }
}

/// The user change form's fields.
#[derive(Debug, Deserialize)]
pub(super) struct UserChange {
    is_active: Option<String>,
    is_staff: Option<String>,
    #[serde(default)]
    password1: String,
    #[serde(default)]
    password2: String,
}

/// `POST /admin/users/{id}/`: superusers only, never on their own account.
#[allow(clippy::too_many_arguments)]
pub(super) async fn user_change(
    State(db): State<Db>,
    State(pages): State<Arc<Pages>>,
    State(hasher): State<Arc<Hasher>>,
    State(tokens): State<Arc<Tokens>>,
    State(layer): State<Layer>,
    Viewer(viewer): Viewer,
    Path(id): Path<i64>,
    Form(form): Form<UserChange>,
) -> Response {
    if let Err(refusal) = superuser_on(&db, viewer.clone(), id).await {
        return refusal.into_response();
    }
    let account = match Account::get(&db, id).await {
        Ok(Some(account)) => account,
        Ok(None) => return crate::web::not_found_page(),
        Err(err) => return failed(&err),
    };
    let (is_active, is_staff) = (ticked(&form.is_active), ticked(&form.is_staff));
    let password = match new_password(&form.password1, &form.password2, &account.email) {
        Ok(password) => password,
        Err(error) => {
            return FormPage {
                heading: format!("Change user {}", account.email),
                action: format!("/admin/users/{id}/"),
                back: "/admin/users/",
                fields: user_fields(&account, is_active, is_staff),
                errors: vec![error],
                extra: context! { user_id => id },
                viewer: &viewer,
            }
            .render(&pages, &Flash::default());
        }
    };
    let was_active = match Account::change(&db, &hasher, id, is_active, is_staff, password.as_deref()).await {
        Ok(Some(was_active)) => was_active,
        Ok(None) => return crate::web::not_found_page(),
        Err(AuthenticateError::Db(err)) => return failed(&err),
        Err(AuthenticateError::Hash(err)) => return crate::rest::ApiError::from(err).into_response(),
    };
    // As the deactivate button and a password change do: a new password ends every session, a
    // deactivation ends the refresh tokens (a reactivation must not revive them) and the sockets.
    let ended = if password.is_some() {
        crate::sessions::end_all(&db, &tokens, &layer, id).await
    } else if was_active && !is_active {
        let revoked = tokens.revoke_user(&db, id).await;
        crate::sessions::close_user_sockets(&layer, id).await;
        revoked
    } else {
        Ok(())
    };
    match ended {
        Ok(()) => redirect_with("/admin/users/", "success", format!("User {} was changed.", account.email)),
        Err(err) => failed(&err),
    }
}

fn new_user_fields(email: &str, is_staff: bool) -> Vec<Field> {
    vec![
        Field::new("email", "Email", "email", email),
        Field::new("password1", "Password", "password", ""),
        Field::new("password2", "Password again", "password", ""),
        Field::checkbox("is_staff", "Staff status", is_staff),
    ]
}

/// `GET /admin/users/add/`.
pub(super) async fn user_add_form(State(pages): State<Arc<Pages>>, Viewer(viewer): Viewer, flash: Flash) -> Response {
    match staff(viewer.clone()) {
        Ok(me) if me.is_superuser => FormPage {
            heading: "Add user".into(),
            action: "/admin/users/add/".into(),
            back: "/admin/users/",
            fields: new_user_fields("", false),
            errors: Vec::new(),
            extra: context! {},
            viewer: &viewer,
        }
        .render(&pages, &flash),
        Ok(_) => Refused::SuperuserOnly.into_response(),
        Err(refusal) => refusal.into_response(),
    }
}

/// The add-user form's fields.
#[derive(Debug, Deserialize)]
pub(super) struct NewUserForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password1: String,
    #[serde(default)]
    password2: String,
    is_staff: Option<String>,
}

/// `POST /admin/users/add/`: superusers only.
pub(super) async fn user_add(
    State(db): State<Db>,
    State(pages): State<Arc<Pages>>,
    State(hasher): State<Arc<Hasher>>,
    Viewer(viewer): Viewer,
    Form(form): Form<NewUserForm>,
) -> Response {
    match staff(viewer.clone()) {
        Ok(me) if me.is_superuser => {}
        Ok(_) => return Refused::SuperuserOnly.into_response(),
        Err(refusal) => return refusal.into_response(),
    }
    let is_staff = ticked(&form.is_staff);
    let error = if form.password1.is_empty() {
        Some("Enter a password.".to_owned())
    } else if form.password1 != form.password2 {
        Some("The two password fields didn't match.".to_owned())
    } else {
        let new = NewUser { email: form.email.clone(), password: form.password1, is_staff, is_superuser: false };
        match User::create(&db, &hasher, new).await {
            Ok(user) => {
                return redirect_with(
                    &format!("/admin/users/{}/", user.id),
                    "success",
                    format!("Added {}.", user.email),
                );
            }
            Err(err @ (CreateUserError::InvalidEmail | CreateUserError::Taken | CreateUserError::WeakPassword(_))) => {
                Some(err.to_string())
            }
            Err(err) => {
                tracing::error!(error = %err, "adding a user failed");
                return crate::web::server_error_page();
            }
        }
    };
    let email: String = form.email.chars().take(254).collect();
    FormPage {
        heading: "Add user".into(),
        action: "/admin/users/add/".into(),
        back: "/admin/users/",
        fields: new_user_fields(&email, is_staff),
        errors: error.into_iter().collect(),
        extra: context! {},
        viewer: &viewer,
    }
    .render(&pages, &Flash::default())
}

/// A member row of the chat form.
#[derive(Debug, Serialize)]
struct MemberRow {
    id: i64,
    email: String,
    role: &'static str,
    removable: bool,
}

async fn chat_page(
    db: &Db,
    pages: &Pages,
    viewer: &Option<User>,
    flash: &Flash,
    chat: &GroupChat,
    fields: Vec<Field>,
    errors: Vec<String>,
) -> Response {
    let members = match Member::list(db, chat.id).await {
        Ok(members) => members,
        Err(err) => return failed(&err),
    };
    let members: Vec<MemberRow> = members
        .into_iter()
        .map(|m| MemberRow {
            id: m.id,
            email: m.user.clone(),
            role: m.role().label(),
            removable: m.role() != Role::Owner,
        })
        .collect();
    FormPage {
        heading: format!("Change group chat {}", chat.title),
        action: format!("/admin/chats/{}/", chat.id),
        back: "/admin/chats/",
        fields,
        errors,
        extra: context! { chat_id => chat.id, members },
        viewer,
    }
    .render(pages, flash)
}

fn chat_fields(title: &str, description: &str) -> Vec<Field> {
    vec![Field::new("title", "Title", "text", title), Field::new("description", "Description", "textarea", description)]
}

/// `GET /admin/chats/{id}/`: the chat's fields and its members.
pub(super) async fn chat_form(
    State(db): State<Db>,
    State(pages): State<Arc<Pages>>,
    Viewer(viewer): Viewer,
    flash: Flash,
    Path(id): Path<i64>,
) -> Response {
    if let Err(refusal) = staff(viewer.clone()) {
        return refusal.into_response();
    }
    match GroupChat::get(&db, id).await {
        Ok(Some(chat)) => {
            let fields = chat_fields(&chat.title, chat.description.as_deref().unwrap_or(""));
            chat_page(&db, &pages, &viewer, &flash, &chat, fields, Vec::new()).await
        }
        Ok(None) => crate::web::not_found_page(),
        Err(err) => failed(&err),
    }
}

/// The chat forms' fields.
#[derive(Debug, Deserialize)]
pub(super) struct ChatForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    /// The owner's email (the add form only).
    #[serde(default)]
    owner: String,
}

impl ChatForm {
    fn description(&self) -> Option<&str> {
        Some(self.description.as_str()).filter(|d| !d.trim().is_empty())
    }

    fn fields(&self) -> Vec<Field> {
        let cut = |text: &str, max: usize| text.chars().take(max).collect::<String>();
        chat_fields(&cut(&self.title, 255), &cut(&self.description, crate::chat::model::MAX_DESCRIPTION))
    }
}

/// `POST /admin/chats/{id}/`.
pub(super) async fn chat_change(
    State(db): State<Db>,
    State(pages): State<Arc<Pages>>,
    Viewer(viewer): Viewer,
    Path(id): Path<i64>,
    Form(form): Form<ChatForm>,
) -> Response {
    if let Err(refusal) = staff(viewer.clone()) {
        return refusal.into_response();
    }
    let chat = match GroupChat::get(&db, id).await {
        Ok(Some(chat)) => chat,
        Ok(None) => return crate::web::not_found_page(),
        Err(err) => return failed(&err),
    };
    if let Err((_, _, text)) = validate_chat(&form.title, form.description()) {
        return chat_page(&db, &pages, &viewer, &Flash::default(), &chat, form.fields(), vec![text.into()]).await;
    }
    match GroupChat::update(&db, id, form.title.trim(), form.description()).await {
        Ok(_) => redirect_with(&format!("/admin/chats/{id}/"), "success", "The group chat was changed."),
        Err(err) => failed(&err),
    }
}

fn new_chat_fields(form: Option<&ChatForm>) -> Vec<Field> {
    let mut fields = form.map_or_else(|| chat_fields("", ""), ChatForm::fields);
    let owner = form.map_or(String::new(), |f| f.owner.chars().take(254).collect());
    fields.insert(0, Field::new("owner", "Owner's email", "email", owner));
    fields
}

/// `GET /admin/chats/add/`.
pub(super) async fn chat_add_form(State(pages): State<Arc<Pages>>, Viewer(viewer): Viewer, flash: Flash) -> Response {
    if let Err(refusal) = staff(viewer.clone()) {
        return refusal.into_response();
    }
    FormPage {
        heading: "Add group chat".into(),
        action: "/admin/chats/add/".into(),
        back: "/admin/chats/",
        fields: new_chat_fields(None),
        errors: Vec::new(),
        extra: context! {},
        viewer: &viewer,
    }
    .render(&pages, &flash)
}

/// `POST /admin/chats/add/`: a chat owned by the user with the email given.
pub(super) async fn chat_add(
    State(db): State<Db>,
    State(pages): State<Arc<Pages>>,
    State(layer): State<Layer>,
    Viewer(viewer): Viewer,
    Form(form): Form<ChatForm>,
) -> Response {
    if let Err(refusal) = staff(viewer.clone()) {
        return refusal.into_response();
    }
    let error = match validate_chat(&form.title, form.description()) {
        Err((_, _, text)) => text.to_owned(),
        Ok(()) => match User::find_by_email(&db, form.owner.trim()).await {
            Ok(Some(owner)) => match GroupChat::create(&db, &owner, form.title.trim(), form.description()).await {
                Ok((chat, member)) => {
                    events::member_joined(&layer, &chat, &member).await;
                    return redirect_with(
                        &format!("/admin/chats/{}/", chat.id),
                        "success",
                        "The group chat was added.",
                    );
                }
                Err(err) => return failed(&err),
            },
            Ok(None) => "No active user has this email.".to_owned(),
            Err(err) => return failed(&err),
        },
    };
    FormPage {
        heading: "Add group chat".into(),
        action: "/admin/chats/add/".into(),
        back: "/admin/chats/",
        fields: new_chat_fields(Some(&form)),
        errors: vec![error],
        extra: context! {},
        viewer: &viewer,
    }
    .render(&pages, &Flash::default())
}

/// The add-member form's fields.
#[derive(Debug, Deserialize)]
pub(super) struct MemberForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

/// `POST /admin/chats/{id}/members/`: adds a member or admin (never a second owner).
pub(super) async fn member_add(
    State(db): State<Db>,
    State(layer): State<Layer>,
    Viewer(viewer): Viewer,
    Path(id): Path<i64>,
    Form(form): Form<MemberForm>,
) -> Response {
    if let Err(refusal) = staff(viewer) {
        return refusal.into_response();
    }
    let back = format!("/admin/chats/{id}/");
    let chat = match GroupChat::get(&db, id).await {
        Ok(Some(chat)) => chat,
        Ok(None) => return crate::web::not_found_page(),
        Err(err) => return failed(&err),
    };
    let role = match form.role.parse::<i64>().ok().and_then(Role::from_code) {
        Some(role @ (Role::Admin | Role::Member)) => role,
        _ => return redirect_with(&back, "error", "Choose the role Admin or Member."),
    };
    let user = match User::find_by_email(&db, form.email.trim()).await {
        Ok(Some(user)) => user,
        Ok(None) => return redirect_with(&back, "error", "No active user has this email."),
        Err(err) => return failed(&err),
    };
    match Member::add(&db, id, &user, role).await {
        Ok(member) => {
            let chat = GroupChat::get(&db, id).await.ok().flatten().unwrap_or(chat);
            events::member_joined(&layer, &chat, &member).await;
            redirect_with(&back, "success", format!("Added {}.", user.email))
        }
        Err(AddMemberError::AlreadyMember) => {
            redirect_with(&back, "error", format!("{} is already a member.", user.email))
        }
        Err(AddMemberError::Db(err)) => failed(&err),
    }
}

/// `POST /admin/chats/{id}/members/{member}/remove/`: the owner stays; the removed member's
/// pages of the chat are told and closed, as when an owner removes them.
pub(super) async fn member_remove(
    State(db): State<Db>,
    State(layer): State<Layer>,
    Viewer(viewer): Viewer,
    Path((id, member_id)): Path<(i64, i64)>,
) -> Response {
    if let Err(refusal) = staff(viewer) {
        return refusal.into_response();
    }
    let back = format!("/admin/chats/{id}/");
    let found = match GroupChat::get(&db, id).await {
        Ok(Some(chat)) => Member::get(&db, id, member_id).await.map(|m| m.map(|m| (chat, m))),
        Ok(None) => Ok(None),
        Err(err) => Err(err),
    };
    let (chat, member) = match found {
        Ok(Some(found)) => found,
        Ok(None) => return crate::web::not_found_page(),
        Err(err) => return failed(&err),
    };
    if member.role() == Role::Owner {
        return redirect_with(&back, "error", "The owner cannot be removed.");
    }
    match Member::remove(&db, member.id).await {
        Ok(()) => {
            events::member_left(&layer, &chat, &member).await;
            redirect_with(&back, "success", format!("Removed {}.", member.user))
        }
        Err(err) => failed(&err),
    }
}

/// A conversation, topic or reply as its change form edits it.
#[derive(Debug, sqlx::FromRow)]
struct Editable {
    title: String,
    content: String,
}

async fn editable(db: &Db, kind: &str, id: &str) -> Result<Option<Editable>, sqlx::Error> {
    let query = match kind {
        "conversations" => {
            return sqlx::query_as("SELECT title, '' AS content FROM assistant_conversations WHERE id = $1")
                .bind(id)
                .fetch_optional(db.pool())
                .await;
        }
        "topics" => "SELECT title, content FROM discussion_topics WHERE id = $1",
        "replies" => "SELECT '' AS title, content FROM discussion_replies WHERE id = $1",
        _ => return Ok(None),
    };
    let Ok(id) = id.parse::<i64>() else { return Ok(None) };
    sqlx::query_as(query).bind(id).fetch_optional(db.pool()).await
}

fn record_fields(kind: &str, title: &str, content: &str) -> Vec<Field> {
    let mut fields = Vec::new();
    if kind != "replies" {
        fields.push(Field::new("title", "Title", "text", title));
    }
    if kind != "conversations" {
        fields.push(Field::new("content", "Content", "textarea", content));
    }
    fields
}

fn record_page<'a>(
    viewer: &'a Option<User>,
    kind: &str,
    id: &str,
    fields: Vec<Field>,
    errors: Vec<String>,
) -> FormPage<'a> {
    let (what, back) = match kind {
        "conversations" => ("conversation", "/admin/conversations/"),
        "topics" => ("topic", "/admin/topics/"),
        _ => ("reply", "/admin/replies/"),
    };
    FormPage {
        heading: format!("Change {what} {id}"),
        action: format!("/admin/{kind}/{id}/"),
        back,
        fields,
        errors,
        extra: context! {},
        viewer,
    }
}

/// `GET /admin/{conversations,topics,replies}/{id}/`.
pub(super) async fn record_form(
    State(db): State<Db>,
    State(pages): State<Arc<Pages>>,
    Viewer(viewer): Viewer,
    flash: Flash,
    Path((kind, id)): Path<(String, String)>,
) -> Response {
    if let Err(refusal) = staff(viewer.clone()) {
        return refusal.into_response();
    }
    match editable(&db, &kind, &id).await {
        Ok(Some(record)) => {
            let fields = record_fields(&kind, &record.title, &record.content);
            record_page(&viewer, &kind, &id, fields, Vec::new()).render(&pages, &flash)
        }
        Ok(None) => crate::web::not_found_page(),
        Err(err) => failed(&err),
    }
}

/// The record change forms' fields.
#[derive(Debug, Deserialize)]
pub(super) struct RecordForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    content: String,
}

/// `POST /admin/{conversations,topics,replies}/{id}/`. The change is saved; open forum pages
/// see it on their next load.
pub(super) async fn record_change(
    State(db): State<Db>,
    State(pages): State<Arc<Pages>>,
    Viewer(viewer): Viewer,
    Path((kind, id)): Path<(String, String)>,
    Form(form): Form<RecordForm>,
) -> Response {
    if let Err(refusal) = staff(viewer.clone()) {
        return refusal.into_response();
    }
    match editable(&db, &kind, &id).await {
        Ok(Some(_)) => {}
        Ok(None) => return crate::web::not_found_page(),
        Err(err) => return failed(&err),
    }
    let checked = match kind.as_str() {
        "conversations" => validate("title", &form.title, MAX_CONVERSATION_TITLE),
        "topics" => {
            validate("title", &form.title, MAX_TITLE).and_then(|()| validate("content", &form.content, MAX_CONTENT))
        }
        _ => validate("content", &form.content, MAX_CONTENT),
    };
    if let Err((field, _, text)) = checked {
        let cut = |text: &str| text.chars().take(MAX_CONTENT).collect::<String>();
        let fields = record_fields(&kind, &cut(&form.title), &cut(&form.content));
        return record_page(&viewer, &kind, &id, fields, vec![format!("{field}: {text}")])
            .render(&pages, &Flash::default());
    }
    // `editable` found the record, so a number id parses.
    let number = id.parse::<i64>().unwrap_or_default();
    let saved = match kind.as_str() {
        "conversations" => Conversation::set_title(&db, &id, form.title.trim()).await,
        "topics" => crate::discussion::model::TopicRef::edit(&db, number, form.title.trim(), &form.content).await,
        _ => crate::discussion::model::Reply::edit(&db, number, form.content.trim()).await,
    };
    match saved {
        Ok(()) => redirect_with(&format!("/admin/{kind}/{id}/"), "success", "Saved."),
        Err(err) => failed(&err),
    }
}

/// The add forms of conversations, topics and replies.
#[derive(Debug, Default, Deserialize)]
pub(super) struct NewRecordForm {
    /// The owner's (conversations, optional) or author's email.
    #[serde(default)]
    user: String,
    /// The topic a reply answers.
    #[serde(default)]
    topic: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    content: String,
}

fn new_record_page<'a>(
    viewer: &'a Option<User>,
    kind: &str,
    form: &NewRecordForm,
    errors: Vec<String>,
) -> FormPage<'a> {
    let cut = |text: &str, max: usize| text.chars().take(max).collect::<String>();
    let (heading, back, fields) = match kind {
        "conversations" => (
            "Add conversation",
            "/admin/conversations/",
            vec![
                Field::new("user", "Owner's email (empty: anonymous)", "email", cut(&form.user, 254)),
                Field::new("title", "Title", "text", cut(&form.title, MAX_CONVERSATION_TITLE)),
            ],
        ),
        "topics" => (
            "Add topic",
            "/admin/topics/",
            vec![
                Field::new("user", "Author's email", "email", cut(&form.user, 254)),
                Field::new("title", "Title", "text", cut(&form.title, MAX_TITLE)),
                Field::new("content", "Content", "textarea", cut(&form.content, MAX_CONTENT)),
            ],
        ),
        _ => (
            "Add reply",
            "/admin/replies/",
            vec![
                Field::new("topic", "Topic id", "text", cut(&form.topic, 20)),
                Field::new("user", "Author's email", "email", cut(&form.user, 254)),
                Field::new("content", "Content", "textarea", cut(&form.content, MAX_CONTENT)),
            ],
        ),
    };
    FormPage {
        heading: heading.into(),
        action: format!("/admin/{kind}/add/"),
        back,
        fields,
        errors,
        extra: context! {},
        viewer,
    }
}

fn addable(kind: &str) -> bool {
    matches!(kind, "conversations" | "topics" | "replies")
}

/// `GET /admin/{conversations,topics,replies}/add/`.
pub(super) async fn record_add_form(
    State(pages): State<Arc<Pages>>,
    Viewer(viewer): Viewer,
    flash: Flash,
    Path(kind): Path<String>,
) -> Response {
    if let Err(refusal) = staff(viewer.clone()) {
        return refusal.into_response();
    }
    if !addable(&kind) {
        return crate::web::not_found_page();
    }
    new_record_page(&viewer, &kind, &NewRecordForm::default(), Vec::new()).render(&pages, &flash)
}

/// Why an add form was not saved: a sentence for the form, or a failure.
enum NotAdded {
    Invalid(String),
    Failed(sqlx::Error),
}

impl From<sqlx::Error> for NotAdded {
    fn from(err: sqlx::Error) -> Self {
        NotAdded::Failed(err)
    }
}

impl From<crate::discussion::service::Refusal> for NotAdded {
    fn from(refusal: crate::discussion::service::Refusal) -> Self {
        use crate::discussion::service::Refusal;
        match refusal {
            Refusal::Invalid(field, _, text) => NotAdded::Invalid(format!("{field}: {text}")),
            Refusal::NotFound => NotAdded::Invalid("No such topic.".into()),
            Refusal::Db(err) => NotAdded::Failed(err),
        }
    }
}

/// Saves an add form through the apps' own operations (a new topic or reply is announced as one
/// from the app is); the new record's change form.
async fn add_record(db: &Db, layer: &Layer, kind: &str, form: &NewRecordForm) -> Result<String, NotAdded> {
    let email = form.user.trim();
    let user = match email {
        "" => None,
        email => Some(
            User::find_by_email(db, email)
                .await?
                .ok_or_else(|| NotAdded::Invalid("No active user has this email.".into()))?,
        ),
    };
    match (kind, user) {
        ("conversations", user) => {
            if form.title.chars().count() > MAX_CONVERSATION_TITLE {
                return Err(NotAdded::Invalid(format!(
                    "title: Ensure this field has no more than {MAX_CONVERSATION_TITLE} characters."
                )));
            }
            let conversation = Conversation::create(db, user.map(|u| u.id), form.title.trim()).await?;
            Ok(conversation.id)
        }
        ("topics", Some(author)) => {
            let id = crate::discussion::service::ask(db, layer, &author, &form.title, &form.content).await?;
            Ok(id.to_string())
        }
        ("replies", Some(author)) => {
            let topic = match form.topic.trim().parse::<i64>() {
                Ok(id) => crate::discussion::model::TopicRef::get(db, id).await?,
                Err(_) => None,
            };
            let topic = topic.ok_or_else(|| NotAdded::Invalid("No such topic.".into()))?;
            let reply = crate::discussion::service::reply(db, layer, &topic, &author, &form.content).await?;
            Ok(reply.id.to_string())
        }
        _ => Err(NotAdded::Invalid("Enter the author's email.".into())),
    }
}

/// `POST /admin/{conversations,topics,replies}/add/`.
pub(super) async fn record_add(
    State(db): State<Db>,
    State(pages): State<Arc<Pages>>,
    State(layer): State<Layer>,
    Viewer(viewer): Viewer,
    Path(kind): Path<String>,
    Form(form): Form<NewRecordForm>,
) -> Response {
    if let Err(refusal) = staff(viewer.clone()) {
        return refusal.into_response();
    }
    if !addable(&kind) {
        return crate::web::not_found_page();
    }
    match add_record(&db, &layer, &kind, &form).await {
        Ok(id) => redirect_with(&format!("/admin/{kind}/{id}/"), "success", "Added."),
        Err(NotAdded::Invalid(error)) => {
            new_record_page(&viewer, &kind, &form, vec![error]).render(&pages, &Flash::default())
        }
        Err(NotAdded::Failed(err)) => failed(&err),
    }
}
