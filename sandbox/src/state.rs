//! What the handlers share: one [`AppState`], and the parts of it a handler may ask for alone.
//!
//! Each part is a sub-state (axum's [`FromRef`]): a handler names what it uses, as in
//! `State(db): State<Db>` or `State(tokens): State<Arc<Tokens>>`, rather than taking the whole
//! state, so its signature says what it touches, and the extractors (the signed-in [`User`],
//! the request budgets) work with any state that has their parts.
//!
//! [`User`]: crate::accounts::User

use std::sync::Arc;

use axum::extract::FromRef;
use chanx::Layer;

use crate::accounts::password::Hasher;
use crate::accounts::reset::ResetTokens;
use crate::accounts::tokens::Tokens;
use crate::assistants::generation::Assistant;
use crate::config::Config;
use crate::db::Db;
use crate::docs::Rendered;
use crate::mail::Mailer;
use crate::throttle::Throttles;
use crate::web::Pages;

/// Everything the handlers share; each field is cheap to clone (a pool, an `Arc` or a handle).
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// The configuration.
    pub config: Arc<Config>,
    /// The channel layer the consumers listen on.
    pub layer: Layer,
    /// Signs and checks tokens.
    pub tokens: Arc<Tokens>,
    /// The page templates.
    pub pages: Arc<Pages>,
    /// The AsyncAPI document of the consumers, rendered once.
    pub asyncapi: Arc<Rendered>,
    /// The OpenAPI document, rendered once.
    pub openapi: Arc<crate::openapi::Rendered>,
    /// The AI assistant: its model and the answers being written.
    pub assistant: Assistant,
    /// Request budgets per client.
    pub throttles: Arc<Throttles>,
    /// The password hashing threads and their queue.
    pub hasher: Arc<Hasher>,
    /// Signs and checks password-reset links.
    pub resets: Arc<ResetTokens>,
    /// Where mail goes.
    pub mailer: Mailer,
}

/// Makes `$part` a sub-state: `State<$part>` extracts `AppState::$field`.
macro_rules! sub_state {
    ($($field:ident: $part:ty),* $(,)?) => {$(
        impl FromRef<AppState> for $part {
            fn from_ref(state: &AppState) -> Self {
                state.$field.clone()
            }
        }
    )*};
}

sub_state! {
    db: Db,
    config: Arc<Config>,
    layer: Layer,
    tokens: Arc<Tokens>,
    pages: Arc<Pages>,
    asyncapi: Arc<Rendered>,
    openapi: Arc<crate::openapi::Rendered>,
    assistant: Assistant,
    throttles: Arc<Throttles>,
    hasher: Arc<Hasher>,
    resets: Arc<ResetTokens>,
    mailer: Mailer,
}
