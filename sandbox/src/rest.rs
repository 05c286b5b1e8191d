//! The REST edge: camelCase JSON in and out, one error envelope, limit/offset pagination.
//!
//! Errors look like `{"type": "validation_error", "errors": [{"code", "detail", "attr"}]}`, the
//! shape of drf-standardized-errors, so one client-side handler reads them all.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequest, FromRequestParts, Path, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::config::Config;

/// One problem, for one field (`attr`) or the whole request.
#[derive(utoipa::ToSchema, Debug, Clone, PartialEq, Serialize)]
pub struct ErrorItem {
    /// A stable machine-readable code: `required`, `blank`, `max_length`, `not_found`…
    pub code: String,
    /// A sentence for people.
    pub detail: String,
    /// The field in camelCase, or null.
    pub attr: Option<String>,
}

/// The body of every error answer: `{"type", "errors"}`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ErrorEnvelope {
    /// What kind of failure.
    #[serde(rename = "type")]
    pub kind: ErrorKind,
    /// One or more problems.
    pub errors: Vec<ErrorItem>,
}

/// The kind of an [`ErrorEnvelope`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// 400 with field errors.
    ValidationError,
    /// Any other 4xx.
    ClientError,
    /// 5xx.
    ServerError,
}

/// Every way a REST request can fail.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 `validation_error`: the body's fields are wrong.
    #[error("invalid input")]
    Validation(Vec<ErrorItem>),
    /// 400 `client_error` with `parse_error`: the body is not the JSON it must be.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// 401: no credentials.
    #[error("not authenticated")]
    NotAuthenticated,
    /// 401: a token that is invalid, expired or revoked.
    #[error("invalid token")]
    InvalidToken,
    /// 403 with a reason.
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// 404.
    #[error("not found")]
    NotFound,
    /// 405.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: the resource is busy.
    #[error("conflict: {0}")]
    Conflict(String),
    /// 413: the body is over [`MAX_BODY`].
    #[error("body over {MAX_BODY} bytes")]
    TooLarge,
    /// 429: the client's budget is spent; try again after this long.
    #[error("throttled for {0:?}")]
    Throttled(std::time::Duration),
    /// 500; the cause is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A validation error on one field.
    pub fn field(attr: &str, code: &str, detail: impl Into<String>) -> Self {
        ApiError::Validation(vec![ErrorItem { code: code.into(), detail: detail.into(), attr: Some(attr.into()) }])
    }

    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) | ApiError::Malformed(_) => StatusCode::BAD_REQUEST,
            ApiError::NotAuthenticated | ApiError::InvalidToken => StatusCode::UNAUTHORIZED,
            ApiError::PermissionDenied(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The envelope.
    pub fn body(&self) -> Value {
        let item = |code: &str, detail: &str| vec![ErrorItem { code: code.into(), detail: detail.into(), attr: None }];
        let (kind, errors) = match self {
            ApiError::Validation(errors) => (ErrorKind::ValidationError, errors.clone()),
            ApiError::Malformed(detail) => (ErrorKind::ClientError, item("parse_error", detail)),
            ApiError::NotAuthenticated => {
                (ErrorKind::ClientError, item("not_authenticated", "Authentication credentials were not provided."))
            }
            ApiError::InvalidToken => {
                (ErrorKind::ClientError, item("token_not_valid", "Given token not valid for any token type"))
            }
            ApiError::PermissionDenied(detail) => (ErrorKind::ClientError, item("permission_denied", detail)),
            ApiError::NotFound => (ErrorKind::ClientError, item("not_found", "Not found.")),
            ApiError::MethodNotAllowed => (ErrorKind::ClientError, item("method_not_allowed", "Method not allowed.")),
            ApiError::Conflict(detail) => (ErrorKind::ClientError, item("conflict", detail)),
            ApiError::TooLarge => {
                (ErrorKind::ClientError, item("too_large", &format!("The body is over the limit of {MAX_BODY} bytes.")))
            }
            ApiError::Throttled(wait) => {
                let detail = format!("Request was throttled. Expected available in {} seconds.", wait.as_secs().max(1));
                (ErrorKind::ClientError, item("throttled", &detail))
            }
            ApiError::Internal(_) => (ErrorKind::ServerError, item("error", "A server error occurred.")),
        };
        serde_json::to_value(ErrorEnvelope { kind, errors }).unwrap_or_default()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "request failed");
        }
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        if let ApiError::Throttled(wait) = self {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, wait.as_secs().max(1).into());
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        ApiError::Internal(format!("database: {err}"))
    }
}

/// The result of a REST handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// A JSON body with camelCase keys on the wire and snake_case in Rust, both ways.
///
/// As an extractor it refuses a body that is not JSON, has the wrong content type, or does not
/// fit `T`, with a 400 envelope naming the field. Keys are converted in time linear in their
/// length (see `chanx::camelize`), and the error detail quotes at most 256 bytes of the body.
#[derive(Debug, Clone)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let is_json =
            req.headers().get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| {
                v.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
            });
        if !is_json {
            return Err(ApiError::Malformed("Expected a JSON body with Content-Type: application/json.".into()));
        }
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|err| {
            if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge
            } else {
                ApiError::Malformed(format!("Could not read the body: {err}"))
            }
        })?;
        let mut value: Value =
            serde_json::from_slice(&bytes).map_err(|err| ApiError::Malformed(format!("JSON parse error - {err}")))?;
        chanx::camelize::decamelize_keys(&mut value);
        serde_json::from_value(value)
            .map(Json)
            .map_err(|err| ApiError::Malformed(format!("Invalid body: {}", bounded_echo(&err.to_string()))))
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_value(&self.0) {
            Ok(mut value) => {
                chanx::camelize::camelize_keys(&mut value);
                axum::Json(value).into_response()
            }
            Err(err) => ApiError::Internal(format!("serialize: {err}")).into_response(),
        }
    }
}

/// The largest request body the app reads, in bytes (`DefaultBodyLimit` on every HTTP route):
/// every form and JSON body of the app fits in a fraction of it, and a parsed JSON body costs
/// many times its size in memory, so axum's default of 2 MB would let a few anonymous requests
/// a second keep the cores busy.
pub const MAX_BODY: usize = 64 * 1024;

/// The most of a client's input an error detail quotes, in bytes: serde's messages quote the
/// offending value, which may be most of the body.
const MAX_ECHO: usize = 256;

/// `text` cut to at most [`MAX_ECHO`] bytes, at a character boundary, marked with `…` when cut.
fn bounded_echo(text: &str) -> String {
    if text.len() <= MAX_ECHO {
        return text.to_owned();
    }
    format!("{}…", &text[..char_boundary(text, MAX_ECHO)])
}

/// The largest index at most `at` that is a character boundary of `text`.
pub(crate) fn char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// An optional JSON body: empty is `None`; anything else must parse as `T`.
pub fn optional_json<T: DeserializeOwned>(body: &[u8]) -> ApiResult<Option<T>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let mut value: Value =
        serde_json::from_slice(body).map_err(|err| ApiError::Malformed(format!("JSON parse error - {err}")))?;
    chanx::camelize::decamelize_keys(&mut value);
    serde_json::from_value(value)
        .map(Some)
        .map_err(|err| ApiError::Malformed(format!("Invalid body: {}", bounded_echo(&err.to_string()))))
}

/// `201 Created` with a camelCase JSON body.
pub fn created<T: Serialize>(body: T) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}

/// Path parameters; a value that does not parse (`/api/chat/abc/`) is a 404, not a 400.
#[derive(Debug, Clone, Copy)]
pub struct Ids<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Ids<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state).await.map(|Path(ids)| Ids(ids)).map_err(|_| ApiError::NotFound)
    }
}

/// `?limit=&offset=` of a list; missing or unreadable values fall back to 20 and 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Items per page, 1 to [`Page::MAX_LIMIT`].
    pub limit: i64,
    /// Items skipped.
    pub offset: i64,
}

impl Page {
    /// The default page size.
    pub const DEFAULT_LIMIT: i64 = 20;
    /// The largest page a client can ask for.
    pub const MAX_LIMIT: i64 = 100;
}

impl utoipa::IntoParams for Page {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::{ObjectBuilder, Required, Type};
        let param = |name: &str, description: String, minimum: i64| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some(description))
                .schema(Some(ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(minimum))))
                .build()
        };
        vec![
            param(
                "limit",
                format!("Items per page (default {}, at most {}).", Page::DEFAULT_LIMIT, Page::MAX_LIMIT),
                1,
            ),
            param("offset", "Items skipped (default 0).".into(), 0),
        ]
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Page {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let mut page = Page { limit: Page::DEFAULT_LIMIT, offset: 0 };
        for (key, value) in form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()) {
            match (key.as_ref(), value.parse::<i64>()) {
                ("limit", Ok(n)) if n > 0 => page.limit = n.min(Page::MAX_LIMIT),
                ("offset", Ok(n)) if n >= 0 => page.offset = n,
                _ => {}
            }
        }
        Ok(page)
    }
}

/// `SERVER_URL` followed by the request's path, for links in paginated lists.
///
/// The `Host` header is the client's to choose: building links from it would let anyone make the
/// API hand out links to their own site (and poison a cache in front of it).
#[derive(Debug, Clone)]
pub struct BaseUrl(pub String);

impl<S: Send + Sync> FromRequestParts<S> for BaseUrl
where
    Arc<Config>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let config = Arc::<Config>::from_ref(state);
        Ok(BaseUrl(format!("{}{}", config.server_url.trim_end_matches('/'), parts.uri.path())))
    }
}

/// A page of results: `{count, next, previous, results}`, with absolute `next`/`previous` links.
#[derive(utoipa::ToSchema, Debug, Serialize)]
pub struct Paginated<T> {
    /// Items in the whole list.
    pub count: i64,
    /// The next page, or null.
    pub next: Option<String>,
    /// The previous page, or null.
    pub previous: Option<String>,
    /// This page's items.
    pub results: Vec<T>,
}

impl<T> Paginated<T> {
    /// Builds the page whose links point at `base` (scheme, host and path of the request).
    pub fn new(base: &str, page: Page, count: i64, results: Vec<T>) -> Self {
        let link = |offset: i64| {
            if offset == 0 {
                format!("{base}?limit={}", page.limit)
            } else {
                format!("{base}?limit={}&offset={offset}", page.limit)
            }
        };
        Paginated {
            count,
            next: (page.offset + page.limit < count).then(|| link(page.offset + page.limit)),
            previous: (page.offset > 0).then(|| link((page.offset - page.limit).max(0))),
            results,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pagination_links() {
        let page = |offset| Page { limit: 20, offset };
        let first = Paginated::new("http://h/api/x/", page(0), 27, vec![(); 20]);
        assert_eq!(first.next.as_deref(), Some("http://h/api/x/?limit=20&offset=20"));
        assert_eq!(first.previous, None);
        let second = Paginated::new("http://h/api/x/", page(20), 27, vec![(); 7]);
        assert_eq!((second.next, second.previous.as_deref()), (None, Some("http://h/api/x/?limit=20")));
    }

    #[test]
    fn error_details_quote_a_bounded_part_of_the_body() {
        let huge = format!("invalid type: string \"{}\", expected i64", "é".repeat(1 << 19));
        let quoted = bounded_echo(&huge);
        assert!(quoted.len() <= MAX_ECHO + "…".len() && quoted.ends_with('…'), "{} bytes", quoted.len());
        assert_eq!(bounded_echo("short"), "short");
    }

    #[test]
    fn envelopes() {
        assert_eq!(
            ApiError::field("title", "blank", "This field may not be blank.").body(),
            json!({"type": "validation_error", "errors": [{"code": "blank", "detail": "This field may not be blank.", "attr": "title"}]})
        );
        assert_eq!(ApiError::Internal("secret cause".into()).body()["errors"][0]["detail"], "A server error occurred.");
    }
}
