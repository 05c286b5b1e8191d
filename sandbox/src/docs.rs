//! The AsyncAPI document of the sandbox's consumers: served at `/asyncapi/` (by chanx) and at
//! `/api/asyncapi/schema/?format=json|yaml` and `/api/asyncapi/docs/`, and exported by the
//! `asyncapi` subcommand.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chanx::asyncapi::AsyncApi;
use serde::Deserialize;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::Config;
use crate::state::AppState;

/// The document's metadata; the server is `SERVER_URL`'s host, over `ws` or `wss`.
pub fn spec(config: &Config) -> AsyncApi {
    let (scheme, host) = config.server_url.split_once("://").unwrap_or(("http", "localhost:8000"));
    let protocol = if scheme == "https" { "wss" } else { "ws" };
    AsyncApi::new("CHANX AsyncAPI Documentation", "1.0.0").description("Websocket schema of Chanx").server(
        "production",
        host.trim_end_matches('/'),
        protocol,
    )
}

/// The document in each form, rendered once at start-up.
#[derive(Debug)]
pub struct Rendered {
    /// JSON.
    pub json: String,
    /// YAML.
    pub yaml: String,
    /// The HTML page.
    pub html: String,
}

impl Rendered {
    /// Renders the document of `sockets`.
    pub fn new(config: &Config, sockets: &chanx::Router) -> Self {
        let spec = spec(config);
        Rendered { json: spec.to_json(sockets), yaml: spec.to_yaml(sockets), html: spec.to_html(sockets) }
    }
}

/// The routes, in the OpenAPI document too.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(schema)).routes(routes!(page))
}

#[derive(Debug, Deserialize)]
struct Format {
    format: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/asyncapi/schema/",
    operation_id = "asyncapiSchema",
    tag = "schema",
    summary = "The AsyncAPI 3 document of the WebSocket consumers",
    params(("format" = Option<String>, Query, description = "`json` (the default) or `yaml`")),
    responses(
        (status = 200, description = "The AsyncAPI document", content(
            (Object = "application/json"),
            (String = "application/yaml"),
        )),
        (status = 400, description = "An unknown format"),
    ),
    security((), ("jwtCookieAuth" = []), ("jwtBearerAuth" = [])),
)]
async fn schema(State(asyncapi): State<Arc<Rendered>>, Query(query): Query<Format>) -> Response {
    match query.format.as_deref().unwrap_or("json") {
        "json" => ([(header::CONTENT_TYPE, "application/json")], asyncapi.json.clone()).into_response(),
        "yaml" => ([(header::CONTENT_TYPE, "application/yaml")], asyncapi.yaml.clone()).into_response(),
        _ => (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "Invalid format. Supported formats: json, yaml"})))
            .into_response(),
    }
}

#[utoipa::path(
    get,
    path = "/api/asyncapi/docs/",
    operation_id = "asyncapiDocs",
    tag = "schema",
    summary = "The AsyncAPI document as a page",
    responses((status = 200, description = "An HTML page", content_type = "text/html")),
    security((), ("jwtCookieAuth" = []), ("jwtBearerAuth" = [])),
)]
async fn page(State(asyncapi): State<Arc<Rendered>>) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], asyncapi.html.clone()).into_response()
}
