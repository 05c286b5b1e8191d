//! The admin's add and change forms. Each re-renders with its errors (400) when a field is wrong,
//! and saves through the apps' own operations (`chat::service`, `discussion::service`), so a
//! change reaches open sockets as it would from the app: an edited or deleted topic or reply
//! changes on every open forum page, a deactivated user's or a new password's sockets close, a
//! removed member's chat sockets close. Who may ask, the [`Staff`] and [`Superuser`] extractors
//! decide before a handler runs.

use std::sync::Arc;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chanx::Layer;
use minijinja::{Value, context};
use serde::{Deserialize, Serialize};

use super::{Admin, Answer, Stop, Superuser, discussion_done, done, failed, found};
use crate::accounts::password::{Hasher, weakness};
use crate::accounts::tokens::Tokens;
use crate::accounts::{Account, AuthenticateError, CreateUserError, NewUser, User};
use crate::assistants::generation::Assistant;
use crate::assistants::model::Conversation;
use crate::chat::model::{GroupChat, Member, Role};
use crate::chat::service::{self as chats, Refusal as ChatRefusal};
use crate::db::Db;
use crate::discussion::model::{MAX_CONTENT, MAX_TITLE, ReplyRef, TopicRef, validate};
use crate::discussion::service as forum;
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

/// A form page: its heading, where it posts, its fields, what is wrong, where its record's
/// delete button posts (change forms), and more context.
struct FormPage<'a> {
    heading: String,
    action: String,
    back: &'static str,
    fields: Vec<Field>,
    errors: Vec<String>,
    delete: Option<String>,
    extra: Value,
    viewer: &'a Option<User>,
}

impl<'a> FormPage<'a> {
    /// A page with no errors, no delete button and no more context.
    fn new(
        viewer: &'a Option<User>,
        heading: impl Into<String>,
        action: impl Into<String>,
        back: &'static str,
    ) -> Self {
        FormPage {
            heading: heading.into(),
            action: action.into(),
            back,
            fields: Vec::new(),
            errors: Vec::new(),
            delete: None,
            extra: context! {},
            viewer,
        }
    }

    fn fields(self, fields: Vec<Field>) -> Self {
        FormPage { fields, ..self }
    }

    fn errors(self, errors: impl IntoIterator<Item = String>) -> Self {
        FormPage { errors: errors.into_iter().collect(), ..self }
    }

    fn extra(self, extra: Value) -> Self {
        FormPage { extra, ..self }
    }

    fn delete(self, delete: String) -> Self {
        FormPage { delete: Some(delete), ..self }
    }

    /// 200, or 400 with the errors shown; a page with errors shows no earlier flash.
    fn render(self, pages: &Pages, flash: &Flash) -> Response {
        let none = Flash::default();
        let (status, flash) =
            if self.errors.is_empty() { (StatusCode::OK, flash) } else { (StatusCode::BAD_REQUEST, &none) };
        let ctx = context! {
            heading => self.heading, action => self.action, back => self.back, fields => self.fields,
            errors => self.errors, delete => self.delete, ..self.extra
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

fn user_page<'a>(viewer: &'a Option<User>, account: &Account, is_active: bool, is_staff: bool) -> FormPage<'a> {
    let id = account.id;
    FormPage::new(viewer, format!("Change user {}", account.email), format!("/admin/users/{id}/"), "/admin/users/")
        .fields(user_fields(account, is_active, is_staff))
        .extra(context! { user_id => id })
}

/// `GET /admin/users/{id}/`.
pub(super) async fn user_form(Admin { db, pages, staff, flash, .. }: Admin, Path(id): Path<i64>) -> Answer {
    let account = found(Account::get(&db, id).await)?;
    Ok(user_page(&staff.viewer, &account, account.is_active, account.is_staff).render(&pages, &flash))
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
    superuser: Superuser,
    Path(id): Path<i64>,
    Form(form): Form<UserChange>,
) -> Answer {
    superuser.on(&db, id).await?;
    let account = found(Account::get(&db, id).await)?;
    let (is_active, is_staff) = (ticked(&form.is_active), ticked(&form.is_staff));
    let password = match new_password(&form.password1, &form.password2, &account.email) {
        Ok(password) => password,
        Err(error) => {
            let page = user_page(&superuser.0.viewer, &account, is_active, is_staff).errors([error]);
            return Ok(page.render(&pages, &Flash::default()));
        }
    };
    let was_active = match Account::change(&db, &hasher, id, is_active, is_staff, password.as_deref()).await {
        Ok(Some(was_active)) => was_active,
        Ok(None) => return Err(crate::web::not_found_page().into()),
        Err(AuthenticateError::Db(err)) => return Err(failed(&err).into()),
        Err(AuthenticateError::Hash(err)) => return Err(crate::rest::ApiError::from(err).into_response().into()),
    };
    // As the deactivate button and a password change do: a new password ends every session, a
    // deactivation ends the refresh tokens (a reactivation must not revive them) and the sockets.
    if password.is_some() {
        done(crate::sessions::end_all(&db, &tokens, &layer, id).await)?;
    } else if was_active && !is_active {
        let revoked = tokens.revoke_user(&db, id).await;
        crate::sessions::close_user_sockets(&layer, id).await;
        done(revoked)?;
    }
    Ok(redirect_with("/admin/users/", "success", format!("User {} was changed.", account.email)))
}

fn new_user_page<'a>(viewer: &'a Option<User>, email: &str, is_staff: bool) -> FormPage<'a> {
    FormPage::new(viewer, "Add user", "/admin/users/add/", "/admin/users/").fields(vec![
        Field::new("email", "Email", "email", email),
        Field::new("password1", "Password", "password", ""),
        Field::new("password2", "Password again", "password", ""),
        Field::checkbox("is_staff", "Staff status", is_staff),
    ])
}

/// `GET /admin/users/add/`: superusers only.
pub(super) async fn user_add_form(State(pages): State<Arc<Pages>>, superuser: Superuser, flash: Flash) -> Response {
    new_user_page(&superuser.0.viewer, "", false).render(&pages, &flash)
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
    superuser: Superuser,
    Form(form): Form<NewUserForm>,
) -> Answer {
    let is_staff = ticked(&form.is_staff);
    let error = if form.password1.is_empty() {
        "Enter a password.".to_owned()
    } else if form.password1 != form.password2 {
        "The two password fields didn't match.".to_owned()
    } else {
        let new = NewUser { email: form.email.clone(), password: form.password1, is_staff, is_superuser: false };
        match User::create(&db, &hasher, new).await {
            Ok(user) => {
                let location = format!("/admin/users/{}/", user.id);
                return Ok(redirect_with(&location, "success", format!("Added {}.", user.email)));
            }
            Err(err @ (CreateUserError::InvalidEmail | CreateUserError::Taken | CreateUserError::WeakPassword(_))) => {
                err.to_string()
            }
            Err(err) => {
                tracing::error!(error = %err, "adding a user failed");
                return Err(crate::web::server_error_page().into());
            }
        }
    };
    let email: String = form.email.chars().take(254).collect();
    Ok(new_user_page(&superuser.0.viewer, &email, is_staff).errors([error]).render(&pages, &Flash::default()))
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
) -> Answer {
    let members: Vec<MemberRow> = done(Member::list(db, chat.id).await)?
        .into_iter()
        .map(|m| MemberRow {
            id: m.id,
            email: m.user.clone(),
            role: m.role().label(),
            removable: m.role() != Role::Owner,
        })
        .collect();
    let id = chat.id;
    let page = FormPage::new(
        viewer,
        format!("Change group chat {}", chat.title),
        format!("/admin/chats/{id}/"),
        "/admin/chats/",
    )
    .fields(fields)
    .errors(errors)
    .delete(format!("/admin/chats/{id}/delete/"))
    .extra(context! { chat_id => id, members });
    Ok(page.render(pages, flash))
}

fn chat_fields(title: &str, description: &str) -> Vec<Field> {
    vec![Field::new("title", "Title", "text", title), Field::new("description", "Description", "textarea", description)]
}

/// `GET /admin/chats/{id}/`: the chat's fields and its members.
pub(super) async fn chat_form(Admin { db, pages, staff, flash, .. }: Admin, Path(id): Path<i64>) -> Answer {
    let chat = found(GroupChat::get(&db, id).await)?;
    let fields = chat_fields(&chat.title, chat.description.as_deref().unwrap_or(""));
    chat_page(&db, &pages, &staff.viewer, &flash, &chat, fields, Vec::new()).await
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

/// A chat operation's refusal as a sentence for the form, or the answer for a failure.
fn chat_refusal(refusal: ChatRefusal) -> Result<String, Stop> {
    match refusal {
        ChatRefusal::Db(err) => Err(failed(&err).into()),
        ChatRefusal::ChatNotFound => Err(crate::web::not_found_page().into()),
        other => Ok(other.to_string()),
    }
}

/// `POST /admin/chats/{id}/`, through the chat's own update, which tells its members' lists.
pub(super) async fn chat_change(
    Admin { db, pages, layer, staff, .. }: Admin,
    Path(id): Path<i64>,
    Form(form): Form<ChatForm>,
) -> Answer {
    let chat = found(GroupChat::get(&db, id).await)?;
    match chats::update_chat(&db, &layer, id, &form.title, form.description()).await {
        Ok(_) => Ok(redirect_with(&format!("/admin/chats/{id}/"), "success", "The group chat was changed.")),
        Err(refusal) => {
            let error = chat_refusal(refusal)?;
            chat_page(&db, &pages, &staff.viewer, &Flash::default(), &chat, form.fields(), vec![error]).await
        }
    }
}

fn new_chat_page<'a>(viewer: &'a Option<User>, form: Option<&ChatForm>) -> FormPage<'a> {
    let mut fields = form.map_or_else(|| chat_fields("", ""), ChatForm::fields);
    let owner = form.map_or(String::new(), |f| f.owner.chars().take(254).collect());
    fields.insert(0, Field::new("owner", "Owner's email", "email", owner));
    FormPage::new(viewer, "Add group chat", "/admin/chats/add/", "/admin/chats/").fields(fields)
}

/// `GET /admin/chats/add/`.
pub(super) async fn chat_add_form(Admin { pages, staff, flash, .. }: Admin) -> Response {
    new_chat_page(&staff.viewer, None).render(&pages, &flash)
}

/// `POST /admin/chats/add/`: a chat owned by the user with the email given.
pub(super) async fn chat_add(Admin { db, pages, layer, staff, .. }: Admin, Form(form): Form<ChatForm>) -> Answer {
    let error = match done(User::find_by_email(&db, form.owner.trim()).await)? {
        Some(owner) => match chats::open_chat(&db, &layer, &owner, &form.title, form.description()).await {
            Ok(chat) => {
                let location = format!("/admin/chats/{}/", chat.id);
                return Ok(redirect_with(&location, "success", "The group chat was added."));
            }
            Err(refusal) => chat_refusal(refusal)?,
        },
        None => "No active user has this email.".to_owned(),
    };
    Ok(new_chat_page(&staff.viewer, Some(&form)).errors([error]).render(&pages, &Flash::default()))
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
    Admin { db, layer, .. }: Admin,
    Path(id): Path<i64>,
    Form(form): Form<MemberForm>,
) -> Answer {
    let back = format!("/admin/chats/{id}/");
    let chat = found(GroupChat::get(&db, id).await)?;
    let role = match form.role.parse::<i64>().ok().and_then(Role::from_code) {
        Some(role @ (Role::Admin | Role::Member)) => role,
        _ => return Ok(redirect_with(&back, "error", "Choose the role Admin or Member.")),
    };
    let Some(user) = done(User::find_by_email(&db, form.email.trim()).await)? else {
        return Ok(redirect_with(&back, "error", "No active user has this email."));
    };
    match chats::join(&db, &layer, &chat, &user, role).await {
        Ok(_) => Ok(redirect_with(&back, "success", format!("Added {}.", user.email))),
        Err(ChatRefusal::AlreadyMember(email)) => {
            Ok(redirect_with(&back, "error", format!("{email} is already a member.")))
        }
        Err(refusal) => Ok(redirect_with(&back, "error", chat_refusal(refusal)?)),
    }
}

/// `POST /admin/chats/{id}/members/{member}/remove/`: the owner stays; the removed member's
/// pages of the chat are told and closed, as when an owner removes them.
pub(super) async fn member_remove(Admin { db, layer, .. }: Admin, Path((id, member_id)): Path<(i64, i64)>) -> Answer {
    let back = format!("/admin/chats/{id}/");
    let chat = found(GroupChat::get(&db, id).await)?;
    let member = found(Member::get(&db, id, member_id).await)?;
    match chats::leave(&db, &layer, &chat, &member).await {
        Ok(()) => Ok(redirect_with(&back, "success", format!("Removed {}.", member.user))),
        Err(ChatRefusal::Forbidden(_)) => Ok(redirect_with(&back, "error", "The owner cannot be removed.")),
        Err(refusal) => Ok(redirect_with(&back, "error", chat_refusal(refusal)?)),
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

fn record_page<'a>(viewer: &'a Option<User>, kind: &str, id: &str, fields: Vec<Field>) -> FormPage<'a> {
    let (what, back) = match kind {
        "conversations" => ("conversation", "/admin/conversations/"),
        "topics" => ("topic", "/admin/topics/"),
        _ => ("reply", "/admin/replies/"),
    };
    FormPage::new(viewer, format!("Change {what} {id}"), format!("/admin/{kind}/{id}/"), back)
        .fields(fields)
        .delete(format!("/admin/{kind}/{id}/delete/"))
}

/// `GET /admin/{conversations,topics,replies}/{id}/`.
pub(super) async fn record_form(
    Admin { db, pages, staff, flash, .. }: Admin,
    Path((kind, id)): Path<(String, String)>,
) -> Answer {
    let record = found(editable(&db, &kind, &id).await)?;
    let fields = record_fields(&kind, &record.title, &record.content);
    Ok(record_page(&staff.viewer, &kind, &id, fields).render(&pages, &flash))
}

/// The record change forms' fields.
#[derive(Debug, Deserialize)]
pub(super) struct RecordForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    content: String,
}

/// `POST /admin/{conversations,topics,replies}/{id}/`. Each record is saved through its app's own
/// edit (a conversation's rename, the forum's edits), so every open page of it shows the change at
/// once.
pub(super) async fn record_change(
    Admin { db, pages, layer, staff, .. }: Admin,
    State(assistant): State<Assistant>,
    Path((kind, id)): Path<(String, String)>,
    Form(form): Form<RecordForm>,
) -> Answer {
    found(editable(&db, &kind, &id).await)?;
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
        let page = record_page(&staff.viewer, &kind, &id, fields).errors([format!("{field}: {text}")]);
        return Ok(page.render(&pages, &Flash::default()));
    }
    // `editable` found the record, so a number id parses.
    let number = id.parse::<i64>().unwrap_or_default();
    match kind.as_str() {
        "conversations" => {
            let conversation = found(Conversation::get(&db, &id).await)?;
            done(assistant.retitle(&conversation, form.title.trim()).await)?;
        }
        "topics" => {
            let topic = found(TopicRef::get(&db, number).await)?;
            let (title, content) = (Some(form.title), Some(form.content));
            discussion_done(forum::edit_topic(&db, &layer, &topic, &staff.me, title, content).await)?;
        }
        _ => {
            let reply = found(ReplyRef::find(&db, number).await)?;
            let topic = found(TopicRef::get(&db, reply.topic_id).await)?;
            discussion_done(forum::edit_reply(&db, &layer, &topic, reply.id, &staff.me, &form.content).await)?;
        }
    }
    Ok(redirect_with(&format!("/admin/{kind}/{id}/"), "success", "Saved."))
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

fn new_record_page<'a>(viewer: &'a Option<User>, kind: &str, form: &NewRecordForm) -> FormPage<'a> {
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
    FormPage::new(viewer, heading, format!("/admin/{kind}/add/"), back).fields(fields)
}

fn addable(kind: &str) -> bool {
    matches!(kind, "conversations" | "topics" | "replies")
}

/// `GET /admin/{conversations,topics,replies}/add/`.
pub(super) async fn record_add_form(Admin { pages, staff, flash, .. }: Admin, Path(kind): Path<String>) -> Response {
    if !addable(&kind) {
        return crate::web::not_found_page();
    }
    new_record_page(&staff.viewer, &kind, &NewRecordForm::default()).render(&pages, &flash)
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

impl From<forum::Refusal> for NotAdded {
    fn from(refusal: forum::Refusal) -> Self {
        match refusal {
            forum::Refusal::Invalid(field, _, text) => NotAdded::Invalid(format!("{field}: {text}")),
            forum::Refusal::NotFound => NotAdded::Invalid("No such topic.".into()),
            forum::Refusal::Db(err) => NotAdded::Failed(err),
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
            let id = forum::ask(db, layer, &author, &form.title, &form.content).await?;
            Ok(id.to_string())
        }
        ("replies", Some(author)) => {
            let topic = match form.topic.trim().parse::<i64>() {
                Ok(id) => TopicRef::get(db, id).await?,
                Err(_) => None,
            };
            let topic = topic.ok_or_else(|| NotAdded::Invalid("No such topic.".into()))?;
            let reply = forum::reply(db, layer, &topic, &author, &form.content).await?;
            Ok(reply.id.to_string())
        }
        _ => Err(NotAdded::Invalid("Enter the author's email.".into())),
    }
}

/// `POST /admin/{conversations,topics,replies}/add/`.
pub(super) async fn record_add(
    Admin { db, pages, layer, staff, .. }: Admin,
    Path(kind): Path<String>,
    Form(form): Form<NewRecordForm>,
) -> Answer {
    if !addable(&kind) {
        return Err(crate::web::not_found_page().into());
    }
    match add_record(&db, &layer, &kind, &form).await {
        Ok(id) => Ok(redirect_with(&format!("/admin/{kind}/{id}/"), "success", "Added.")),
        Err(NotAdded::Invalid(error)) => {
            Ok(new_record_page(&staff.viewer, &kind, &form).errors([error]).render(&pages, &Flash::default()))
        }
        Err(NotAdded::Failed(err)) => Err(failed(&err).into()),
    }
}
