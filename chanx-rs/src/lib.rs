#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_debug_implementations)]

// Lets this crate's own tests and doctests use its macros, which name `::chanx`.
extern crate self as chanx;

pub mod asyncapi;
pub mod auth;
pub mod camelize;
mod close;
mod connection;
mod consumer;
mod context;
mod dispatch;
mod envelope;
mod frame_log;
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
mod topic;
mod validation;

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;

/// The attribute for implementing chanx's trait-object traits ([`ChannelLayer`](layer::ChannelLayer),
/// [`Permission`](auth::Permission), [`ResolveUser`](auth::ResolveUser),
/// [`ObjectLookup`](auth::ObjectLookup)) with `async fn`, re-exported so that implementing them
/// needs no dependency of your own. See `docs/architecture.md`, "Async traits".
pub use async_trait::async_trait;
pub use chanx_macros::{Message, consumer, topic};
#[doc(inline)]
pub use close::close_code;
pub use consumer::Consumer;
pub use context::{Broadcast, Context, SendError};
/// Implemented by `#[consumer]` for each event type a consumer handles (an `#[event_handler]`'s
/// input or a `passthrough` event), so that [`Consumer::broadcast_event`] accepts only those. Name
/// it in your own helpers' bounds (`where C: Consumer + HandlesEvent<E>`); implementing it by hand
/// only weakens that check.
pub use dispatch::HandlesEvent;
pub use envelope::to_frame;
pub use info::{ConsumerInfo, HandlerInfo, HandlerKind, PresenceInfo};
pub use layer::Layer;
pub use message::{Message, MessageInfo};
pub use metrics::Metrics;
pub use router::{Router, RouterError};
pub use scope::{Scope, ScopeBuilder};
pub use server::{Listener, Serve, serve, shutdown_signal};
pub use settings::{RateLimit, Settings};
pub use topic::{History, Recovery, Topic, TopicErrorReason, TopicParams};
pub use validation::ValidationError;

/// What most consumers need, in one import.
pub mod prelude {
    pub use crate::messages::{Ping, Pong};
    pub use crate::{Consumer, Context, Layer, Message, Router, Scope, Settings, Topic, TopicParams, consumer, topic};
}

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod __fuzz;

/// Used by the code `#[consumer]` generates; not public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::consumer::Handlers;
    pub use crate::dispatch::{
        HandlerFuture, HandlesEvent, IntoOutcome, Outcome, assert_message, boxed, decode, decode_event, passthrough,
        str_eq,
    };
    pub use crate::envelope::Body;
    pub use crate::topic::{TopicType, same_shape, topic_info};
    pub use serde_json::Value;
}
