//! Managing one's account: changing the password (knowing the current one), resetting it by
//! mail, and updating one's names; drf-auth-kit's routes and body fields, camelCased.
//!
//! A password change or reset ends every session of the user ([`crate::sessions::end_all`]):
//! whoever held a copy of a token, or an open socket, is out. The browser that changed the
//! password gets a new session in the same answer.

use std::sync::Arc;

use axum::extract::State;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use chanx::Layer;
use serde::Deserialize;
use serde_json::{Value, json};

use super::password::{Hasher, weakness};
use super::reset::ResetTokens;
use super::routes::{UserOut, session_cookies};
use super::tokens::Tokens;
use super::{User, normalize_email};
use crate::config::Config;
use crate::db::Db;
use crate::mail::{Mail, Mailer};
use crate::rest::{ApiError, ApiResult, ErrorItem, Json};
use crate::throttle::{AuthAttempt, Throttles};
use crate::timestamp::unix_now;

/// The longest first or last name, in characters (Django's `max_length=150`).
pub(super) const MAX_NAME_CHARS: usize = 150;

/// The path of the page a reset link opens, under `SERVER_URL`.
pub(super) fn reset_page_path(uid: &str, token: &str) -> String {
    format!("/account/password/reset/{uid}/{token}/")
}

/// Collects field errors in the envelope's order.
#[derive(Default)]
struct Problems(Vec<ErrorItem>);

impl Problems {
    fn add(&mut self, attr: &str, code: &str, detail: impl Into<String>) {
        self.0.push(ErrorItem { code: code.into(), detail: detail.into(), attr: Some(attr.into()) });
    }

    /// `required` for each blank field.
    fn required(&mut self, fields: &[(&str, &str)]) {
        for (attr, value) in fields {
            if value.trim().is_empty() {
                self.add(attr, "required", "This field is required.");
            }
        }
    }

    fn into_result(self) -> ApiResult<()> {
        if self.0.is_empty() { Ok(()) } else { Err(ApiError::Validation(self.0)) }
    }
}

/// The two new-password fields: both given, equal, and strong enough for `email`.
fn check_new_password(problems: &mut Problems, new1: &str, new2: &str, email: &str) {
    if new1.is_empty() || new2.is_empty() {
        return;
    }
    if new1 != new2 {
        problems.add("newPassword2", "password_mismatch", "The two password fields didn't match.");
    } else if let Some(reason) = weakness(new1, email) {
        problems.add("newPassword2", "password_too_weak", reason);
    }
}

/// `POST /api/accounts/password/change`.
#[derive(utoipa::ToSchema, Debug, Deserialize)]
pub(super) struct PasswordChange {
    #[serde(default)]
    old_password: String,
    #[serde(default, alias = "new_password_1")]
    new_password1: String,
    #[serde(default, alias = "new_password_2")]
    new_password2: String,
}

/// Changes the signed-in user's password, given the current one; every session of the user ends,
/// and this browser gets a new one (its cookies).
#[utoipa::path(
    post,
    path = "/api/accounts/password/change",
    operation_id = "changePassword",
    tag = "accounts",
    summary = "Change the password (with the current one); signs out other sessions",
    request_body = PasswordChange,
    responses((status = 200, description = "Changed; new tokens are set as cookies", body = crate::openapi::Detail)),
)]
pub(super) async fn password_change(
    State(db): State<Db>,
    State(hasher): State<Arc<Hasher>>,
    State(tokens): State<Arc<Tokens>>,
    State(layer): State<Layer>,
    user: User,
    _: AuthAttempt,
    Json(form): Json<PasswordChange>,
) -> ApiResult<Response> {
    let mut problems = Problems::default();
    problems.required(&[
        ("oldPassword", &form.old_password),
        ("newPassword1", &form.new_password1),
        ("newPassword2", &form.new_password2),
    ]);
    check_new_password(&mut problems, &form.new_password1, &form.new_password2, &user.email);
    problems.into_result()?;
    if !User::check_password(&db, &hasher, user.id, &form.old_password).await? {
        return Err(ApiError::field(
            "oldPassword",
            "password_incorrect",
            "Your old password was entered incorrectly. Please enter it again.",
        ));
    }
    if !User::set_password(&db, &hasher, user.id, &form.new_password1, None).await? {
        return Err(ApiError::InvalidToken);
    }
    crate::sessions::end_all(&db, &tokens, &layer, user.id).await?;
    tracing::info!(user = user.id, "password changed: every session ended");
    let cookies = session_cookies(&tokens, &db, user.id).await?;
    Ok((cookies, Json(json!({"detail": "New password has been saved."}))).into_response())
}

/// `POST /api/accounts/password/reset`.
#[derive(utoipa::ToSchema, Debug, Deserialize)]
pub(super) struct ResetRequest {
    #[serde(default)]
    email: String,
}

/// Mails a reset link to `email` if it is an active account's; answers the same either way, as
/// fast (the mail goes out in the background).
#[utoipa::path(
    post,
    path = "/api/accounts/password/reset",
    operation_id = "requestPasswordReset",
    tag = "accounts",
    summary = "Mail a reset link; the same answer whether or not the address is known",
    request_body = ResetRequest,
    responses((status = 200, description = "Sent if the account exists", body = crate::openapi::Detail)),
    security((), ("jwtCookieAuth" = []), ("jwtBearerAuth" = [])),
)]
pub(super) async fn password_reset(
    State(db): State<Db>,
    State(config): State<Arc<Config>>,
    State(resets): State<Arc<ResetTokens>>,
    State(mailer): State<Mailer>,
    State(throttles): State<Arc<Throttles>>,
    _: AuthAttempt,
    Json(form): Json<ResetRequest>,
) -> ApiResult<Json<Value>> {
    let mut problems = Problems::default();
    problems.required(&[("email", &form.email)]);
    problems.into_result()?;
    let email = normalize_email(&form.email)
        .ok_or_else(|| ApiError::field("email", "invalid", "Enter a valid email address."))?;
    if let Some(user) = User::find_by_email(&db, &email).await?
        && let Some(state) = User::reset_state(&db, user.id).await?
    {
        // Over the account's budget, the answer stays the same: it must not tell what exists.
        if throttles.reset_mails.spend(user.id).is_err() {
            tracing::warn!(user = user.id, "password reset mail not sent: RESET_MAILS_PER_HOUR spent");
            return Ok(Json(json!({"detail": "Password reset e-mail has been sent."})));
        }
        let (uid, token) = resets.make(&state, unix_now());
        let link = format!("{}{}", config.server_url.trim_end_matches('/'), reset_page_path(&uid, &token));
        mailer.send_later(reset_mail(&state.email, &config.server_url, &link, resets.ttl()));
        tracing::info!(user = user.id, "password reset link sent");
    }
    Ok(Json(json!({"detail": "Password reset e-mail has been sent."})))
}

/// The mail carrying a reset link.
pub(super) fn reset_mail(to: &str, site: &str, link: &str, ttl: std::time::Duration) -> Mail {
    let minutes = ttl.as_secs().div_ceil(60);
    Mail {
        to: to.to_owned(),
        subject: "Password reset on Chanx Example".into(),
        body: format!(
            "You're receiving this email because you asked to reset the password of your account at {site}.\n\n\
             Choose a new password on this page:\n\n{link}\n\n\
             The link works once, for {minutes} minutes, and not after you log in.\n\n\
             If you did not ask for it, ignore this email: your password stays as it is.\n"
        ),
    }
}

/// `POST /api/accounts/password/reset/confirm`.
#[derive(utoipa::ToSchema, Debug, Deserialize)]
pub(super) struct ResetConfirm {
    #[serde(default)]
    uid: String,
    #[serde(default)]
    token: String,
    #[serde(default, alias = "new_password_1")]
    new_password1: String,
    #[serde(default, alias = "new_password_2")]
    new_password2: String,
}

/// Whether `uid` and `token` make a live reset link, and for whom.
pub(super) async fn live_link(
    db: &Db,
    resets: &ResetTokens,
    uid: &str,
    token: &str,
) -> Result<Option<super::reset::AccountState>, sqlx::Error> {
    let Some(id) = ResetTokens::user_id(uid) else { return Ok(None) };
    let Some(state) = User::reset_state(db, id).await? else { return Ok(None) };
    Ok(resets.check(&state, token, unix_now()).then_some(state))
}

/// Sets a new password with a reset link; the link then stops working, and every session of the
/// user ends.
#[utoipa::path(
    post,
    path = "/api/accounts/password/reset/confirm",
    operation_id = "confirmPasswordReset",
    tag = "accounts",
    summary = "Set a new password with a reset link's uid and token",
    request_body = ResetConfirm,
    responses((status = 200, description = "Reset", body = crate::openapi::Detail)),
    security((), ("jwtCookieAuth" = []), ("jwtBearerAuth" = [])),
)]
pub(super) async fn password_reset_confirm(
    State(db): State<Db>,
    State(hasher): State<Arc<Hasher>>,
    State(tokens): State<Arc<Tokens>>,
    State(resets): State<Arc<ResetTokens>>,
    State(layer): State<Layer>,
    _: AuthAttempt,
    Json(form): Json<ResetConfirm>,
) -> ApiResult<Json<Value>> {
    let mut problems = Problems::default();
    problems.required(&[
        ("uid", &form.uid),
        ("token", &form.token),
        ("newPassword1", &form.new_password1),
        ("newPassword2", &form.new_password2),
    ]);
    problems.into_result()?;
    let invalid = || ApiError::field("token", "invalid", "Invalid value");
    let Some(state) = live_link(&db, &resets, &form.uid, &form.token).await? else { return Err(invalid()) };
    let mut problems = Problems::default();
    check_new_password(&mut problems, &form.new_password1, &form.new_password2, &state.email);
    problems.into_result()?;
    // Only over the hash the link signed: of two uses at once, the second finds it changed.
    let set = User::set_password(&db, &hasher, state.user_id, &form.new_password1, Some(&state.password_hash)).await?;
    if !set {
        return Err(invalid());
    }
    crate::sessions::end_all(&db, &tokens, &layer, state.user_id).await?;
    tracing::info!(user = state.user_id, "password reset: every session ended");
    Ok(Json(json!({"detail": "Password has been reset with the new password."})))
}

/// `PUT` (every field) or `PATCH` (some) `/api/accounts/user`. The email cannot change here (it
/// is read-only, as in drf-auth-kit): a body naming it is answered as if it did not.
#[derive(utoipa::ToSchema, Debug, Deserialize)]
pub(super) struct ProfileUpdate {
    first_name: Option<String>,
    last_name: Option<String>,
}

/// Updates the signed-in user's names.
#[utoipa::path(
    put,
    path = "/api/accounts/user",
    operation_id = "replaceUser",
    tag = "accounts",
    summary = "Replace the user's names (both required)",
    request_body = ProfileUpdate,
    responses((status = 200, description = "The user", body = UserOut)),
)]
pub(super) async fn update_user(
    State(db): State<Db>,
    method: Method,
    user: User,
    Json(form): Json<ProfileUpdate>,
) -> ApiResult<Json<UserOut>> {
    let mut problems = Problems::default();
    let full = method == Method::PUT;
    for (attr, value) in [("firstName", &form.first_name), ("lastName", &form.last_name)] {
        match value {
            None if full => problems.add(attr, "required", "This field is required."),
            Some(name) if name.chars().count() > MAX_NAME_CHARS => problems.add(
                attr,
                "max_length",
                format!("Ensure this field has no more than {MAX_NAME_CHARS} characters."),
            ),
            Some(name) if name.chars().any(char::is_control) => {
                problems.add(attr, "invalid", "Names cannot contain control characters.")
            }
            _ => {}
        }
    }
    problems.into_result()?;
    let first = form.first_name.as_deref().map_or(user.first_name.as_str(), str::trim);
    let last = form.last_name.as_deref().map_or(user.last_name.as_str(), str::trim);
    let saved = User::update_names(&db, user.id, first, last).await?.ok_or(ApiError::InvalidToken)?;
    Ok(Json(saved.into()))
}

#[utoipa::path(
    patch,
    path = "/api/accounts/user",
    operation_id = "updateUser",
    tag = "accounts",
    summary = "Change some of the user's names",
    request_body = ProfileUpdate,
    responses((status = 200, description = "The user", body = UserOut)),
)]
pub(super) async fn patch_user(
    db: State<Db>,
    method: Method,
    user: User,
    form: Json<ProfileUpdate>,
) -> ApiResult<Json<UserOut>> {
    update_user(db, method, user, form).await
}
