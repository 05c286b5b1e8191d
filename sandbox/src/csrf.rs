//! Cross-site request forgery: a browser sends our cookies with any site's form or script, so an
//! unsafe request that carries them must come from a page of ours.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::accounts::tokens::{ACCESS_COOKIE, REFRESH_COOKIE, bearer, cookie};
use crate::config::Config;
use crate::rest::ApiError;

/// CSRF protection: an unsafe request from a browser must come from a trusted origin. A request
/// that carries our cookies, or names a foreign `Origin`, is refused with 403 unless its
/// `Origin` (or, without one, its `Referer`) is the host itself or an allowed origin. Requests
/// authenticated by a Bearer header and without cookies are not browser-driven and pass.
pub async fn csrf_guard(State(config): State<Arc<Config>>, request: Request, next: Next) -> Response {
    let safe = matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE);
    if safe || trusted_origin(request.headers(), &config) {
        return next.run(request).await;
    }
    let headers = request.headers();
    let has_cookies = cookie(headers, ACCESS_COOKIE).is_some() || cookie(headers, REFRESH_COOKIE).is_some();
    let names_origin = headers.contains_key(header::ORIGIN) || headers.contains_key(header::REFERER);
    if !has_cookies && (bearer(headers).is_some() || !names_origin) {
        return next.run(request).await;
    }
    tracing::warn!(origin = ?headers.get(header::ORIGIN), "cross-origin unsafe request refused");
    ApiError::PermissionDenied("CSRF check failed: the request did not come from this site.".into()).into_response()
}

/// Whether the request's `Origin` (else the origin of its `Referer`) is this host or allowed.
fn trusted_origin(headers: &HeaderMap, config: &Config) -> bool {
    let text = |name| headers.get(name).and_then(|v: &axum::http::HeaderValue| v.to_str().ok());
    let origin = match text(header::ORIGIN) {
        Some(origin) => origin.to_owned(),
        None => match text(header::REFERER).and_then(|referer| referer.split_once("://")) {
            Some((scheme, rest)) => format!("{scheme}://{}", rest.split('/').next().unwrap_or_default()),
            None => return false,
        },
    };
    let host = text(header::HOST).unwrap_or_default();
    let authority = origin.split_once("://").map_or("", |(_, authority)| authority);
    (!host.is_empty() && authority.eq_ignore_ascii_case(host))
        || config.allowed_origins.iter().any(|allowed| allowed.eq_ignore_ascii_case(&origin))
}
