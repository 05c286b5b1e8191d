//! Pages: templates (minijinja, HTML auto-escaped), flash notices, static files, and the
//! routes that are not an app's: `/`, `/login`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use chanx::Layer;
use minijinja::{Environment, Value, context};
use serde::{Deserialize, Serialize};

use crate::accounts::tokens::{ACCESS_COOKIE, REFRESH_COOKIE, Rotation, TokenType, Tokens, cookie};
use crate::accounts::{User, Viewer};
use crate::db::Db;
use crate::state::AppState;

/// The templates, compiled once.
#[derive(Debug)]
pub struct Pages {
    env: Environment<'static>,
    broken: Vec<String>,
}

impl Default for Pages {
    fn default() -> Self {
        Self::new()
    }
}

impl Pages {
    /// Loads the templates embedded in the binary.
    pub fn new() -> Self {
        let mut env = Environment::new();
        let mut broken = Vec::new();
        for (name, source) in [
            ("base.html", include_str!("../templates/base.html")),
            ("login.html", include_str!("../templates/login.html")),
            ("accounts/account.html", include_str!("../templates/accounts/account.html")),
            ("accounts/password_reset.html", include_str!("../templates/accounts/password_reset.html")),
            ("accounts/password_reset_confirm.html", include_str!("../templates/accounts/password_reset_confirm.html")),
            ("not_found.html", include_str!("../templates/not_found.html")),
            ("chat/home.html", include_str!("../templates/chat/home.html")),
            ("chat/group_chat.html", include_str!("../templates/chat/group_chat.html")),
            ("chat/group_members.html", include_str!("../templates/chat/group_members.html")),
            ("assistants/home.html", include_str!("../templates/assistants/home.html")),
            ("assistants/chat.html", include_str!("../templates/assistants/chat.html")),
            ("admin/index.html", include_str!("../templates/admin/index.html")),
            ("admin/list.html", include_str!("../templates/admin/list.html")),
            ("admin/form.html", include_str!("../templates/admin/form.html")),
            ("discussion/home.html", include_str!("../templates/discussion/home.html")),
            ("discussion/new_topic.html", include_str!("../templates/discussion/new_topic.html")),
            ("discussion/topic_detail.html", include_str!("../templates/discussion/topic_detail.html")),
        ] {
            if let Err(err) = env.add_template(name, source) {
                // The templates are part of the binary; a broken one is a bug the tests catch.
                tracing::error!(error = %err, name, "template does not compile");
                broken.push(format!("{name}: {err}"));
            }
        }
        Pages { env, broken }
    }

    /// The templates that did not compile, with why (empty unless there is a bug).
    pub fn broken(&self) -> &[String] {
        &self.broken
    }

    /// Renders `name` with `ctx`, plus the viewer and the notices every page shows.
    pub fn render(&self, name: &str, viewer: &Option<User>, flash: &Flash, ctx: Value) -> Response {
        self.render_status(StatusCode::OK, name, viewer, flash, ctx)
    }

    /// [`render`](Self::render) with another status.
    pub fn render_status(
        &self,
        status: StatusCode,
        name: &str,
        viewer: &Option<User>,
        flash: &Flash,
        ctx: Value,
    ) -> Response {
        let base = context! { user => viewer, notices => flash.0 };
        let html = self.env.get_template(name).and_then(|t| t.render(context! { ..base, ..ctx }));
        match html {
            Ok(html) => {
                let mut response = (status, Html(html)).into_response();
                if !flash.0.is_empty() {
                    response.headers_mut().append(header::SET_COOKIE, HeaderValue::from_static(CLEAR_FLASH));
                }
                response
            }
            Err(err) => {
                tracing::error!(error = %err, name, "page failed to render");
                (StatusCode::INTERNAL_SERVER_ERROR, "page failed to render").into_response()
            }
        }
    }
}

/// A notice shown once, on the next page: `level` is `success`, `error` or `warning`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    /// How it looks.
    pub level: String,
    /// What it says.
    pub text: String,
}

const FLASH_COOKIE: &str = "flash";
const CLEAR_FLASH: &str = "flash=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0";

/// The notices left by the previous response, read from their cookie.
#[derive(Debug, Clone, Default)]
pub struct Flash(pub Vec<Notice>);

impl<S: Send + Sync> FromRequestParts<S> for Flash {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let notices = cookie(&parts.headers, FLASH_COOKIE)
            .and_then(|raw| form_urlencoded::parse(format!("v={raw}").as_bytes()).next().map(|(_, v)| v.into_owned()))
            .and_then(|json| serde_json::from_str::<Vec<Notice>>(&json).ok())
            .unwrap_or_default();
        Ok(Flash(notices.into_iter().take(5).collect()))
    }
}

/// A `302 Found` to `location`.
pub fn redirect(location: &str) -> Response {
    let mut response = StatusCode::FOUND.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// A `302 Found` to `location` that shows `text` on the next page.
pub fn redirect_with(location: &str, level: &str, text: impl Into<String>) -> Response {
    let mut response = redirect(location);
    let notices = vec![Notice { level: level.into(), text: text.into() }];
    let json = serde_json::to_string(&notices).unwrap_or_default();
    let encoded: String = form_urlencoded::byte_serialize(json.as_bytes()).collect();
    if let Ok(value) =
        HeaderValue::from_str(&format!("{FLASH_COOKIE}={encoded}; Path=/; HttpOnly; SameSite=Lax; Max-Age=60"))
    {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// The login page's address for coming back to `next`.
pub fn login_url(next: &str) -> String {
    let next: String = form_urlencoded::byte_serialize(next.as_bytes()).collect();
    format!("/login?next={next}")
}

/// Where a page goes after login when `next` is missing or leads off the site.
const DEFAULT_NEXT: &str = "/chat/";

/// The longest `next` considered; longer ones go to the default page.
const MAX_NEXT_LEN: usize = 2048;

/// Where to go after login: `next` if, resolved as a browser resolves it, it stays on this site,
/// else `/chat/`; never an open redirect.
///
/// Browsers follow the WHATWG URL rules, under which `/\tevil.example` is not a path: tabs and
/// newlines are removed, leading spaces and control characters trimmed, and a backslash reads as
/// a slash, so `/%09/evil.example` and `/\evil.example` both mean `//evil.example`, another host.
/// The url crate implements the same rules, so the target is resolved with it against a page of
/// the site and kept only if its origin is still the site's. The result is the resolved path,
/// query and fragment, which resolve the same way from any page of the site.
///
/// ```
/// use sandbox::web::local_path;
///
/// assert_eq!(local_path(Some("/chat/7/?tab=members")), "/chat/7/?tab=members");
/// assert_eq!(local_path(Some("/\t/evil.example")), "/chat/");
/// assert_eq!(local_path(Some("/\\evil.example")), "/chat/");
/// assert_eq!(local_path(Some("https://evil.example/")), "/chat/");
/// ```
pub fn local_path(next: Option<&str>) -> String {
    next.filter(|next| next.len() <= MAX_NEXT_LEN).and_then(resolve_on_site).unwrap_or_else(|| DEFAULT_NEXT.to_owned())
}

/// `next` resolved against a page of the site, as a path, if it stays there.
fn resolve_on_site(next: &str) -> Option<String> {
    // A stand-in for the site's own address: only whether the origin changes matters.
    let page = url::Url::parse("http://sandbox.invalid/login").ok()?;
    let target = page.join(next).ok()?;
    if target.origin() != page.origin() {
        return None;
    }
    let path = target.path();
    // A path starting with `//` would name a host once it is written on its own.
    if !path.starts_with('/') || path.starts_with("//") {
        return None;
    }
    let mut local = path.to_owned();
    if let Some(query) = target.query() {
        local.push('?');
        local.push_str(query);
    }
    if let Some(fragment) = target.fragment() {
        local.push('#');
        local.push_str(fragment);
    }
    Some(local)
}

/// The 404 page.
pub fn not_found_page() -> Response {
    (StatusCode::NOT_FOUND, Html(include_str!("../templates/not_found.html"))).into_response()
}

/// The 500 page; the cause is logged, never shown.
pub fn server_error_page() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Html("<!doctype html><title>Server error</title><h1>Something went wrong</h1><p>Please try again.</p>"),
    )
        .into_response()
}

/// The 429 page of a form whose budget is spent, with `Retry-After`.
pub fn too_many_requests_page(what: &str, wait: std::time::Duration) -> Response {
    let seconds = wait.as_secs().max(1);
    let body = format!(
        "<!doctype html><title>Slow down</title><link rel=\"stylesheet\" href=\"/static/app.css\">\
         <main><h1>Slow down</h1><p>You have {what} too often. Please try again in {seconds} seconds. \
         <a href=\"/chat/\">Go to your chats</a>.</p></main>"
    );
    (StatusCode::TOO_MANY_REQUESTS, [(axum::http::header::RETRY_AFTER, seconds.to_string())], Html(body))
        .into_response()
}

/// `/`, `/login` and the static files.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { redirect("/chat/") }))
        .route("/chat", get(|| async { redirect("/chat/") }))
        .route("/login", get(login_page))
        .route("/login/", get(login_page))
        .route("/static/{file}", get(static_file))
}

#[derive(Debug, Deserialize)]
struct NextPage {
    next: Option<String>,
}

async fn login_page(
    State(pages): State<Arc<Pages>>,
    Viewer(viewer): Viewer,
    flash: Flash,
    Query(query): Query<NextPage>,
) -> Response {
    let next = local_path(query.next.as_deref());
    pages.render("login.html", &viewer, &flash, context! { next })
}

async fn static_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.css" => (include_str!("../static/app.css"), "text/css; charset=utf-8"),
        "app.js" => (include_str!("../static/app.js"), "text/javascript; charset=utf-8"),
        "login.js" => (include_str!("../static/login.js"), "text/javascript; charset=utf-8"),
        "account.js" => (include_str!("../static/account.js"), "text/javascript; charset=utf-8"),
        "chat.js" => (include_str!("../static/chat.js"), "text/javascript; charset=utf-8"),
        "discussion.js" => (include_str!("../static/discussion.js"), "text/javascript; charset=utf-8"),
        "assistant.js" => (include_str!("../static/assistant.js"), "text/javascript; charset=utf-8"),
        _ => return not_found_page(),
    };
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

/// Keeps page visitors signed in: when a page request's access cookie is missing or expired but
/// its refresh token is still valid, the refresh token is rotated, a new access token is minted
/// for this request, and both are set as cookies on the response. API requests are left alone
/// (the pages' JavaScript refreshes for them), and so are static files, which need no session:
/// a page's scripts and styles load at once, and each would otherwise spend the same token.
pub async fn renew_session(
    State(db): State<Db>,
    State(layer): State<Layer>,
    State(tokens): State<Arc<Tokens>>,
    mut request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let is_page =
        request.method() == axum::http::Method::GET && !path.starts_with("/api/") && !path.starts_with("/static/");
    let headers = request.headers();
    let refresh = cookie(headers, REFRESH_COOKIE).map(str::to_owned);
    // An access token issued before a logout elsewhere is signed but no longer works: the
    // page renews it then, as it would an expired one. (A database failure spends no token.)
    let access_ok = match cookie(headers, ACCESS_COOKIE) {
        Some(token) if is_page && refresh.is_some() => {
            !matches!(User::from_access_token(&tokens, &db, token).await, Ok(None))
        }
        Some(token) => tokens.verify(token, TokenType::Access).is_some(),
        None => false,
    };
    let renewed = match (is_page, access_ok, refresh) {
        (true, false, Some(token)) => match tokens.rotate(&db, &token).await {
            Ok(Rotation::Rotated { user_id, refresh }) => tokens.access(user_id).ok().map(|access| (access, refresh)),
            Ok(Rotation::Reused { user_id }) => {
                // The family was stolen: the thief's sockets end with it (see the refresh route).
                crate::sessions::close_user_sockets(&layer, user_id).await;
                None
            }
            Ok(Rotation::Raced | Rotation::Refused) => None,
            Err(err) => {
                tracing::error!(error = %err, "renewing a session failed");
                None
            }
        },
        _ => None,
    };
    let Some((access, refresh)) = renewed else { return next.run(request).await };
    // The request continues as if it had carried the new cookies.
    let others: Vec<String> = request
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        .filter(|pair| {
            !pair.is_empty()
                && !pair.starts_with(&format!("{ACCESS_COOKIE}="))
                && !pair.starts_with(&format!("{REFRESH_COOKIE}="))
        })
        .map(str::to_owned)
        .collect();
    let renewed_pairs = [format!("{ACCESS_COOKIE}={}", access.token), format!("{REFRESH_COOKIE}={}", refresh.token)];
    let cookies = others.into_iter().chain(renewed_pairs).collect::<Vec<_>>().join("; ");
    request.headers_mut().remove(header::COOKIE);
    if let Ok(value) = HeaderValue::from_str(&cookies) {
        request.headers_mut().insert(header::COOKIE, value);
    }
    let mut response = next.run(request).await;
    for set in [tokens.cookie(ACCESS_COOKIE, &access), tokens.cookie(REFRESH_COOKIE, &refresh)] {
        if let Ok(value) = HeaderValue::from_str(&set) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_compiles() {
        assert_eq!(super::Pages::new().broken(), [] as [String; 0]);
    }

    #[test]
    fn next_pages_stay_on_this_site() {
        assert_eq!(super::local_path(Some("/chat/7/")), "/chat/7/");
        assert_eq!(super::local_path(Some("/chat/../admin/?a=1#top")), "/admin/?a=1#top");
        assert_eq!(super::local_path(Some("chat/7/")), "/chat/7/", "relative to the login page: still here");
        let outside = [
            "https://evil.example",
            "//evil.example",
            "/\\evil",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r/evil.example",
            " //evil.example",
            "\u{1}//evil.example",
            "/.//evil.example",
            "javascript:alert(1)",
            "https:evil.example",
            "//sandbox.invalid@evil.example",
        ];
        assert_eq!(super::local_path(None), "/chat/");
        for next in outside {
            assert_eq!(super::local_path(Some(next)), "/chat/", "{next:?}");
        }
        assert_eq!(super::local_path(Some(&format!("/{}", "a".repeat(3000)))), "/chat/", "too long");
    }
}
