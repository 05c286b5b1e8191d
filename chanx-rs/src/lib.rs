#![doc = include_str!("../../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

// Lets this crate's own tests and doctests use its macros, which name `::chanx`.
extern crate self as chanx;

pub mod asyncapi;
pub mod auth;
pub mod camelize;
pub mod close_code;
mod connection;
mod consumer;
mod context;
mod dispatch;
mod envelope;
mod info;
pub mod layer;
mod message;
pub mod messages;
pub mod metrics;
pub mod request_id;
mod router;
mod scope;
mod server;
mod settings;
mod shutdown;
mod signal;
pub mod testing;
mod validation;

#[cfg(feature = "axum")]
pub mod axum;

pub use chanx_macros::{Message, consumer};
pub use consumer::{Consumer, Handlers};
pub use context::{Broadcast, Context, SendError};
pub use envelope::to_frame;
pub use info::{ConsumerInfo, HandlerInfo, HandlerKind};
pub use layer::Layer;
pub use message::{Message, MessageInfo};
pub use metrics::Metrics;
pub use router::Router;
pub use scope::{Scope, ScopeBuilder};
pub use server::{Serve, serve, shutdown_signal};
pub use settings::{RateLimit, Settings};
pub use validation::ValidationError;

// The guides' examples, compiled so that they stay true.
#[cfg(all(doctest, feature = "axum"))]
#[doc = include_str!("../../docs/production.md")]
mod production_guide {}
#[cfg(doctest)]
#[doc = include_str!("../../docs/authentication.md")]
mod authentication_guide {}
#[cfg(all(doctest, feature = "redis"))]
#[doc = include_str!("../../docs/layers.md")]
mod layers_guide {}
#[cfg(doctest)]
#[doc = include_str!("../../docs/asyncapi.md")]
mod asyncapi_guide {}

/// What most consumers need, in one import.
pub mod prelude {
    pub use crate::messages::{Ping, Pong};
    pub use crate::{Consumer, Context, Layer, Message, Router, Scope, Settings, consumer};
}

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod __fuzz;

/// Used by the code `#[consumer]` generates; not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::dispatch::{
        HandlerFuture, HandlesEvent, IntoOutcome, Outcome, assert_message, boxed, decode, passthrough, str_eq,
    };
    pub use serde_json::Value;
}
