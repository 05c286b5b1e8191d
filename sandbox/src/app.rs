//! The application put together: the state, the axum router (every app's routes, the
//! middleware) with the chanx consumers mounted beside it, and the server.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::HeaderName;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use chanx::Layer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::accounts::sockets::{UserResolver, user_auth};
use crate::accounts::tokens::Tokens;
use crate::assistants::consumers::{ConversationConsumer, conversation_auth};
use crate::assistants::generation::Assistant;
use crate::assistants::llm::Model;
use crate::chat::consumers::{ChatDetailConsumer, GroupChatConsumer, chat_auth};
use crate::config::Config;
use crate::db::Db;
use crate::discussion::consumers::{DiscussionListConsumer, DiscussionTopicConsumer, topic_auth};
use crate::rest::ApiError;
use crate::state::AppState;
use crate::web::Pages;

/// The sandbox: the state, the chanx router of its consumers, and the whole axum app.
pub struct Sandbox {
    /// Shared state.
    pub state: AppState,
    /// The consumers; tests connect communicators to it.
    pub sockets: chanx::Router,
}

impl Sandbox {
    /// Builds the app on `db` with `config`; the channel layer is Redis when `REDIS_URL` is set,
    /// else in memory.
    pub fn new(db: Db, config: Config) -> Result<Self, chanx::layer::LayerError> {
        let layer = Layer::from_url(config.redis_url.as_deref())?;
        Ok(Self::with_layer(db, config, layer))
    }

    /// Builds the app on `db` with `config` and this channel layer.
    pub fn with_layer(db: Db, config: Config, layer: Layer) -> Self {
        // Without a configured or loaded key (the command line always loads one), a random key
        // that lives as long as the process: never one anybody else knows.
        let secret = config.secret_key.as_ref().map(|key| key.expose().to_owned()).unwrap_or_else(|| {
            tracing::info!("no secret key: signing tokens with a random key that dies with the process");
            format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
        });
        let tokens = Arc::new(Tokens::new(
            &secret,
            config.access_ttl,
            config.refresh_ttl,
            config.server_url.starts_with("https://"),
        ));
        let assistant = Assistant {
            db: db.clone(),
            layer: layer.clone(),
            model: Model::from_config(&config.openai),
            generations: Arc::default(),
        };
        let throttles = Arc::new(crate::throttle::Throttles {
            auth: crate::throttle::Throttle::per_minute(config.auth_per_minute),
            tokens: crate::throttle::Throttle::per_minute(config.token_per_minute),
            assistant: crate::throttle::Throttle::per_minute(config.assistant_per_minute),
            chats: crate::throttle::Throttle::per_hour(config.chats_per_hour),
            invitations: crate::throttle::Throttle::per_hour(config.invitations_per_hour),
            reset_mails: crate::throttle::Throttle::per_hour(config.reset_mails_per_hour),
        });
        let hasher = Arc::new(crate::accounts::password::Hasher::new(config.password_hashing));
        let resets = Arc::new(crate::accounts::reset::ResetTokens::new(&secret, config.password_reset_ttl));
        // `Config::from_lookup` checked `SMTP_URL` and `EMAIL_FROM`; only a configuration changed
        // by hand since can fail here, and then no mail is better than mail to the log.
        let mailer = crate::mail::Mailer::from_config(&config).unwrap_or_else(|err| {
            tracing::error!(error = %err, "mail is disabled");
            crate::mail::Mailer::new(crate::mail::MailBackend::Disabled)
        });
        let config = Arc::new(config);
        let sockets = sockets(&db, &config, &layer, &tokens, &assistant);
        let asyncapi = Arc::new(crate::docs::Rendered::new(&config, &sockets));
        let pages = Arc::new(Pages::new());
        let openapi = Arc::new(crate::openapi::Rendered::new());
        let state = AppState {
            db,
            config,
            layer,
            tokens,
            pages,
            asyncapi,
            openapi,
            assistant,
            throttles,
            hasher,
            resets,
            mailer,
        };
        Sandbox { state, sockets }
    }

    /// The axum router serving everything.
    pub fn router(&self) -> Router {
        let request_id = HeaderName::from_static("x-request-id");
        let trace = TraceLayer::new_for_http().make_span_with(|request: &Request| {
            let id =
                request.extensions().get::<RequestId>().and_then(|id| id.header_value().to_str().ok()).unwrap_or("-");
            tracing::info_span!("http", method = %request.method(), path = request.uri().path(), request_id = id)
        });
        // Every `/api/` route comes with its OpenAPI operation; the rest are pages.
        let (api, _) = crate::openapi::api();
        Router::new()
            .merge(api)
            .merge(crate::accounts::routes::trailing_slash_aliases())
            .merge(crate::accounts::pages::routes())
            .merge(crate::chat::pages::routes())
            .merge(crate::assistants::pages::routes())
            .merge(crate::discussion::pages::routes())
            .merge(crate::admin::routes())
            .merge(crate::web::routes())
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(DefaultBodyLimit::max(crate::rest::MAX_BODY))
            .layer(middleware::from_fn_with_state(self.state.clone(), crate::web::renew_session))
            .layer(middleware::from_fn_with_state(self.state.clone(), crate::csrf::csrf_guard))
            .with_state(self.state.clone())
            .merge(chanx::axum::routes(self.sockets.clone()))
            .layer(PropagateRequestIdLayer::new(request_id.clone()))
            .layer(trace)
            .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
            .layer(middleware::map_request(bound_request_id))
    }

    /// Serves the app on `listener` (TCP in production, a `chanx::testing::MemoryListener` in
    /// tests) with chanx's accept-side limits, from the sockets' settings: the header timeout,
    /// the connection cap, `TCP_NODELAY` over TCP, and a graceful shutdown (sockets closed with
    /// 1001, requests in flight finished) on Ctrl-C and SIGTERM.
    pub fn serve<L: chanx::Listener>(&self, listener: L) -> chanx::Serve<L> {
        chanx::axum::serve(listener, self.router(), self.sockets.clone())
    }
}

/// Keeps a client's `x-request-id` only when it is short and plain (chanx's rule, the same as for
/// sockets served without axum), else replaces it with a new UUID, before it is echoed and copied
/// into the request's span and logs.
async fn bound_request_id(mut request: Request) -> Request {
    let sent = request.headers().get("x-request-id").and_then(|value| value.to_str().ok());
    let id = chanx::request_id::from_header(sent);
    // Inserting also drops any further `x-request-id` headers.
    if let Ok(value) = axum::http::HeaderValue::from_str(&id) {
        request.headers_mut().insert("x-request-id", value);
    }
    request
}

/// The consumers: the chat list, one chat, the forum's list and one topic, an assistant
/// conversation; and the AsyncAPI page at
/// `/asyncapi/`.
fn sockets(db: &Db, config: &Config, layer: &Layer, tokens: &Arc<Tokens>, assistant: &Assistant) -> chanx::Router {
    let resolver = UserResolver::new(tokens.clone(), db.clone());
    let assistant = assistant.clone();
    let assistant_auth = conversation_auth(resolver.clone(), db.clone());
    let topic_auth = topic_auth(resolver.clone(), db.clone());
    let (chat_db, list_db, topic_db, db) = (db.clone(), db.clone(), db.clone(), db.clone());
    let settings = chanx::Settings::default()
        .camelize(true)
        .allowed_origins(config.allowed_origins.iter().cloned())
        .max_connections_per_peer(config.connections_per_address)
        // Every frame at DEBUG in development (chanx's LOG_WEBSOCKET_MESSAGE), none in
        // production. The assistant's token stream, which would drown the rest, its consumer
        // leaves out itself (`log_ignored = ["streaming"]`), as the original's settings do.
        .log_frames((config.mode == crate::config::Mode::Development).then_some(tracing::Level::DEBUG));
    chanx::Router::new()
        .route_authenticated("/ws/chat/group/", user_auth(resolver.clone()), move |_: &chanx::Scope| {
            GroupChatConsumer { db: db.clone() }
        })
        .route_authenticated("/ws/chat/{pk}/", chat_auth(resolver.clone(), chat_db.clone()), move |_: &chanx::Scope| {
            ChatDetailConsumer { db: chat_db.clone() }
        })
        .route_authenticated("/ws/discussion/", user_auth(resolver), move |_: &chanx::Scope| DiscussionListConsumer {
            db: list_db.clone(),
        })
        .route_authenticated("/ws/discussion/{pk}/", topic_auth, move |_: &chanx::Scope| DiscussionTopicConsumer {
            db: topic_db.clone(),
        })
        .route_authenticated("/ws/assistants/{id}/", assistant_auth, move |_: &chanx::Scope| {
            ConversationConsumer::new(assistant.clone())
        })
        .with_layer(layer.clone())
        .with_settings(settings)
        .asyncapi("/asyncapi/", crate::docs::spec(config))
}

async fn not_found(request: Request) -> Response {
    if request.uri().path().starts_with("/api/") {
        ApiError::NotFound.into_response()
    } else {
        crate::web::not_found_page()
    }
}

async fn method_not_allowed() -> Response {
    ApiError::MethodNotAllowed.into_response()
}
