//! `/api/accounts/…`: registration, login, refresh, logout, the current user; and (in
//! `super::manage`) password change, password reset, and updating the current user.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::manage;
use chanx::Layer;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::password::Hasher;
use super::tokens::{ACCESS_COOKIE, Issued, REFRESH_COOKIE, Rotation, TokenType, Tokens, bearer, cookie};
use super::{CreateUserError, NewUser, User};
use crate::db::Db;
use crate::rest::{ApiError, ApiResult, ErrorItem, Json};
use crate::state::AppState;
use crate::throttle::{AuthAttempt, TokenRequest};

/// The routes, as the original names them: without a trailing slash.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(refresh))
        .routes(routes!(verify))
        .routes(routes!(current_user, manage::update_user, manage::patch_user))
        .routes(routes!(manage::password_change))
        .routes(routes!(manage::password_reset))
        .routes(routes!(manage::password_reset_confirm))
}

/// The same routes with a trailing slash (drf-auth-kit's patterns end in `/?`); the document
/// names each once, without it.
pub fn trailing_slash_aliases() -> Router<AppState> {
    let mut router = Router::new();
    for (path, route) in [
        ("/api/accounts/registration/", post(register)),
        ("/api/accounts/login/", post(login)),
        ("/api/accounts/logout/", post(logout)),
        ("/api/accounts/token/refresh/", post(refresh)),
        ("/api/accounts/token/verify/", post(verify)),
        ("/api/accounts/user/", get(current_user).put(manage::update_user).patch(manage::patch_user)),
        ("/api/accounts/password/change/", post(manage::password_change)),
        ("/api/accounts/password/reset/", post(manage::password_reset)),
        ("/api/accounts/password/reset/confirm/", post(manage::password_reset_confirm)),
    ] {
        router = router.route(path, route);
    }
    router
}

/// The public view of a user.
#[derive(utoipa::ToSchema, Debug, Serialize)]
pub struct UserOut {
    id: i64,
    email: String,
    first_name: String,
    last_name: String,
}

impl From<User> for UserOut {
    fn from(user: User) -> Self {
        UserOut { id: user.id, email: user.email, first_name: user.first_name, last_name: user.last_name }
    }
}

/// What login and registration answer.
#[derive(utoipa::ToSchema, Debug, Serialize)]
struct Session {
    access: String,
    /// Empty: the refresh token travels only in its HttpOnly cookie.
    refresh: String,
    access_expiration: String,
    refresh_expiration: String,
    user: UserOut,
}

fn unix_to_rfc3339(seconds: u64) -> String {
    i64::try_from(seconds)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .map(crate::timestamp::format)
        .unwrap_or_default()
}

/// A new login of user `user_id`: its access and refresh tokens, and the `Set-Cookie` headers
/// carrying them.
async fn new_login(tokens: &Tokens, db: &Db, user_id: i64) -> ApiResult<(Issued, Issued, HeaderMap)> {
    let access = tokens.access(user_id).map_err(ApiError::Internal)?;
    let refresh = tokens.refresh(db, user_id).await.map_err(ApiError::Internal)?;
    let mut headers = HeaderMap::new();
    for value in [tokens.cookie(ACCESS_COOKIE, &access), tokens.cookie(REFRESH_COOKIE, &refresh)] {
        headers.append(SET_COOKIE, value.parse().map_err(|_| ApiError::Internal("cookie header".into()))?);
    }
    Ok((access, refresh, headers))
}

/// The `Set-Cookie` headers of a new login of user `user_id`.
pub(super) async fn session_cookies(tokens: &Tokens, db: &Db, user_id: i64) -> ApiResult<HeaderMap> {
    new_login(tokens, db, user_id).await.map(|(_, _, headers)| headers)
}

/// Signs in `user`: both tokens, as cookies and (the access token) in the body.
async fn start_session(tokens: &Tokens, db: &Db, user: User, status: StatusCode) -> ApiResult<Response> {
    let (access, refresh, headers) = new_login(tokens, db, user.id).await?;
    let body = Session {
        access_expiration: unix_to_rfc3339(access.exp),
        refresh_expiration: unix_to_rfc3339(refresh.exp),
        access: access.token,
        refresh: String::new(),
        user: user.into(),
    };
    Ok((status, headers, Json(body)).into_response())
}

#[derive(utoipa::ToSchema, Debug, Deserialize)]
struct Registration {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password1: String,
    #[serde(default)]
    password2: String,
}

#[utoipa::path(
    post,
    path = "/api/accounts/registration",
    operation_id = "register",
    tag = "accounts",
    summary = "Create an account and sign in",
    request_body = Registration,
    responses((status = 201, description = "Signed in; the tokens are also set as cookies", body = Session)),
    security((), ("jwtCookieAuth" = []), ("jwtBearerAuth" = [])),
)]
async fn register(
    State(db): State<Db>,
    State(hasher): State<Arc<Hasher>>,
    State(tokens): State<Arc<Tokens>>,
    _: AuthAttempt,
    Json(form): Json<Registration>,
) -> ApiResult<Response> {
    let mut errors = Vec::new();
    let mut problem = |attr: &str, code: &str, detail: &str| {
        errors.push(ErrorItem { code: code.into(), detail: detail.into(), attr: Some(attr.into()) });
    };
    for (attr, value) in [("email", &form.email), ("password1", &form.password1), ("password2", &form.password2)] {
        if value.trim().is_empty() {
            problem(attr, "required", "This field is required.");
        }
    }
    if !form.password1.is_empty() && form.password1 != form.password2 {
        problem("nonFieldErrors", "password_mismatch", "The two password fields didn't match.");
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let new = NewUser { email: form.email, password: form.password1, ..NewUser::default() };
    let user = User::create(&db, &hasher, new).await.map_err(|err| match err {
        CreateUserError::InvalidEmail | CreateUserError::Taken => ApiError::field("email", "invalid", err.to_string()),
        CreateUserError::WeakPassword(reason) => ApiError::field("password1", "password_too_weak", reason),
        CreateUserError::Hash(err) => err.into(),
        CreateUserError::Internal(cause) => ApiError::Internal(cause),
    })?;
    tracing::info!(user = user.id, "registered");
    start_session(&tokens, &db, user, StatusCode::CREATED).await
}

#[derive(utoipa::ToSchema, Debug, Deserialize)]
struct Login {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

#[utoipa::path(
    post,
    path = "/api/accounts/login",
    operation_id = "login",
    tag = "accounts",
    summary = "Sign in with email and password",
    request_body = Login,
    responses((status = 200, description = "Signed in; the tokens are also set as cookies", body = Session)),
    security((), ("jwtCookieAuth" = []), ("jwtBearerAuth" = [])),
)]
async fn login(
    State(db): State<Db>,
    State(hasher): State<Arc<Hasher>>,
    State(tokens): State<Arc<Tokens>>,
    _: AuthAttempt,
    Json(form): Json<Login>,
) -> ApiResult<Response> {
    let mut errors = Vec::new();
    for (attr, value) in [("email", &form.email), ("password", &form.password)] {
        if value.is_empty() {
            errors.push(ErrorItem {
                code: "required".into(),
                detail: "This field is required.".into(),
                attr: Some(attr.into()),
            });
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    match User::authenticate(&db, &hasher, &form.email, &form.password).await? {
        Some(user) => start_session(&tokens, &db, user, StatusCode::OK).await,
        None => Err(ApiError::field("nonFieldErrors", "authorization", "Unable to log in with provided credentials.")),
    }
}

#[derive(utoipa::ToSchema, Debug, Default, Deserialize)]
struct RefreshBody {
    #[serde(default)]
    refresh: Option<String>,
}

/// A refresh token a request carries, and whether it came in the body (else the cookie).
struct Presented {
    token: String,
    in_body: bool,
}

/// The refresh token of the body (optional JSON), else of the cookie.
fn refresh_token(headers: &HeaderMap, body: &[u8]) -> ApiResult<Option<Presented>> {
    let body: Option<RefreshBody> = crate::rest::optional_json(body)?;
    let in_body = body.and_then(|body| body.refresh).filter(|t| !t.is_empty());
    Ok(match in_body {
        Some(token) => Some(Presented { token, in_body: true }),
        None => cookie(headers, REFRESH_COOKIE).map(|token| Presented { token: token.to_owned(), in_body: false }),
    })
}

/// `Set-Cookie` headers deleting both session cookies.
fn cleared_cookies(tokens: &Tokens) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for name in [ACCESS_COOKIE, REFRESH_COOKIE] {
        if let Ok(value) = tokens.expired_cookie(name).parse() {
            headers.append(SET_COOKIE, value);
        }
    }
    headers
}

/// Logs out with whatever the request still has: a refresh token (body or cookie) that is signed
/// by us and unexpired, rotated or not, has its whole family revoked; without one, an access
/// token names the user. Both cookies are cleared in every case, so a browser is signed out even
/// when its tokens had expired or were revoked, and the next page load cannot sign it back in.
#[utoipa::path(
    post,
    path = "/api/accounts/logout",
    operation_id = "logout",
    tag = "accounts",
    summary = "Sign out: revoke the refresh token and clear the cookies",
    request_body = inline(Option<RefreshBody>),
    responses((status = 200, description = "Signed out", body = crate::openapi::Detail)),
    security((), ("jwtCookieAuth" = []), ("jwtBearerAuth" = [])),
)]
async fn logout(
    State(db): State<Db>,
    State(tokens): State<Arc<Tokens>>,
    State(layer): State<Layer>,
    budget: Result<TokenRequest, ApiError>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    // Over its budget, the client is still signed out of this browser: only the work is refused.
    if let Err(throttled) = budget {
        return (cleared_cookies(&tokens), throttled).into_response();
    }
    // A malformed body still logs out the browser's cookie.
    let presented = refresh_token(&headers, &body)
        .map_or_else(|_| cookie(&headers, REFRESH_COOKIE).map(str::to_owned), |presented| presented.map(|p| p.token));
    let refresh = presented.and_then(|token| tokens.verify(&token, TokenType::Refresh));
    let revoked = match &refresh {
        Some(claims) => tokens.revoke(&db, &claims.jti).await,
        None => Ok(()),
    };
    let access_user = || {
        bearer(&headers)
            .or_else(|| cookie(&headers, ACCESS_COOKIE))
            .and_then(|token| tokens.verify(token, TokenType::Access))
            .map(|claims| claims.user_id)
    };
    let signed_out = refresh.map(|claims| claims.user_id).or_else(access_user);
    let mut revoked = revoked;
    if let Some(user_id) = signed_out {
        // Every access token issued so far stops working, a copied one included; other devices
        // renew with their refresh tokens, whose families stay live.
        let ended = User::end_sessions(&db, user_id).await;
        revoked = revoked.and(ended);
        // Whoever the tokens name is signed out: their open sockets end too.
        crate::sessions::close_user_sockets(&layer, user_id).await;
        tracing::info!(user = user_id, "logged out");
    }
    let cleared = cleared_cookies(&tokens);
    match revoked {
        Ok(()) => (cleared, Json(json!({"detail": "Successfully logged out."}))).into_response(),
        Err(err) => (cleared, ApiError::from(err)).into_response(),
    }
}

/// Trades a refresh token (body or cookie) for a new access token and a new refresh token; the
/// old refresh token stops working. Both go in cookies; the refresh token is in the body too when
/// it came in the body (an API client without cookies). A refused token clears the cookies,
/// unless another tab renewed with it a moment ago.
#[utoipa::path(
    post,
    path = "/api/accounts/token/refresh",
    operation_id = "refreshToken",
    tag = "accounts",
    summary = "New tokens for the refresh token (cookie or body), rotating it",
    request_body = inline(Option<RefreshBody>),
    responses((status = 200, description = "New tokens, also set as cookies", body = crate::openapi::Refreshed)),
    security((), ("jwtCookieAuth" = []), ("jwtBearerAuth" = [])),
)]
async fn refresh(
    State(db): State<Db>,
    State(tokens): State<Arc<Tokens>>,
    State(layer): State<Layer>,
    _: TokenRequest,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let presented = refresh_token(&headers, &body)?.ok_or(ApiError::NotAuthenticated)?;
    let refused = || (cleared_cookies(&tokens), ApiError::InvalidToken).into_response();
    let (user_id, refresh) = match tokens.rotate(&db, &presented.token).await? {
        Rotation::Rotated { user_id, refresh } => (user_id, refresh),
        Rotation::Reused { user_id } => {
            // Whoever holds a copy of the token may hold sockets too: they end with the family.
            crate::sessions::close_user_sockets(&layer, user_id).await;
            return Ok(refused());
        }
        Rotation::Refused => return Ok(refused()),
        // Another tab won the same renewal: its cookies, already in the browser, must stay.
        Rotation::Raced => return Err(ApiError::InvalidToken),
    };
    if User::find(&db, user_id).await?.is_none() {
        return Ok(refused());
    }
    let access = tokens.access(user_id).map_err(ApiError::Internal)?;
    let mut out = HeaderMap::new();
    for value in [tokens.cookie(ACCESS_COOKIE, &access), tokens.cookie(REFRESH_COOKIE, &refresh)] {
        out.append(SET_COOKIE, value.parse().map_err(|_| ApiError::Internal("cookie header".into()))?);
    }
    let body = json!({
        "access": access.token,
        "access_expiration": unix_to_rfc3339(access.exp),
        "refresh": if presented.in_body { refresh.token.clone() } else { String::new() },
        "refresh_expiration": unix_to_rfc3339(refresh.exp),
    });
    Ok((out, Json(body)).into_response())
}

#[derive(utoipa::ToSchema, Debug, Deserialize)]
struct VerifyBody {
    #[serde(default)]
    token: String,
}

#[utoipa::path(
    post,
    path = "/api/accounts/token/verify",
    operation_id = "verifyToken",
    tag = "accounts",
    summary = "Whether a token is valid",
    request_body = VerifyBody,
    responses((status = 200, description = "Valid", body = crate::openapi::Empty)),
    security((), ("jwtCookieAuth" = []), ("jwtBearerAuth" = [])),
)]
async fn verify(
    State(db): State<Db>,
    State(tokens): State<Arc<Tokens>>,
    _: TokenRequest,
    Json(body): Json<VerifyBody>,
) -> ApiResult<Json<serde_json::Value>> {
    let valid = tokens.verify(&body.token, TokenType::Access).is_some()
        || tokens.verify_refresh(&db, &body.token).await?.is_some();
    if valid { Ok(Json(json!({}))) } else { Err(ApiError::InvalidToken) }
}

#[utoipa::path(
    get,
    path = "/api/accounts/user",
    operation_id = "currentUser",
    tag = "accounts",
    summary = "The signed-in user",
    responses((status = 200, description = "The user", body = UserOut)),
)]
async fn current_user(user: User) -> Json<UserOut> {
    Json(user.into())
}
