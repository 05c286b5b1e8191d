//! The built-in messages of the chanx protocol, with the same JSON as chanx 2.13.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Message;

/// The action of [`Complete`].
pub const COMPLETE: &str = "complete";
/// The action of [`GroupComplete`].
pub const GROUP_COMPLETE: &str = "group_complete";
/// The action of [`EventComplete`].
pub const EVENT_COMPLETE: &str = "event_complete";
/// The three completion actions, which test helpers skip.
pub const COMPLETION_ACTIONS: [&str; 3] = [COMPLETE, GROUP_COMPLETE, EVENT_COMPLETE];

/// `{"action": "ping"}`, client → server. A consumer answers it only if it has a handler for it.
///
/// ```
/// assert_eq!(chanx::to_frame(&chanx::messages::Ping {})?, serde_json::json!({"action": "ping", "payload": null}));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, Default, PartialEq, Eq)]
#[message(action = "ping")]
pub struct Ping {}

/// `{"action": "pong", "payload": null}`, the usual answer to [`Ping`].
///
/// ```
/// assert_eq!(chanx::to_frame(&chanx::messages::Pong {})?, serde_json::json!({"action": "pong", "payload": null}));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, Default, PartialEq, Eq)]
#[message(action = "pong")]
pub struct Pong {}

/// `{"action": "error", "payload": ...}`: a list of `{type, loc, msg}` for invalid input, or
/// `{"detail": ...}` for a failure while processing.
///
/// ```
/// let frame = chanx::to_frame(&chanx::messages::ErrorMessage::detail("Failed to process message"))?;
/// assert_eq!(frame, serde_json::json!({"action": "error", "payload": {"detail": "Failed to process message"}}));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "error")]
pub struct ErrorMessage {
    /// Either a list of validation errors or an object with `detail`.
    pub payload: Value,
}

impl ErrorMessage {
    /// An error whose payload is `{"detail": detail}`.
    pub fn detail(detail: impl Into<String>) -> Self {
        ErrorMessage { payload: serde_json::json!({ "detail": detail.into() }) }
    }
}

/// `{"action": "authentication", "payload": {"status_code", "status_text", "data"}}`, sent once
/// after the connection is authenticated (or refused).
///
/// ```
/// use chanx::messages::{Authentication, AuthenticationPayload};
/// let frame = chanx::to_frame(&Authentication { payload: AuthenticationPayload::ok() })?;
/// assert_eq!(frame["payload"]["status_code"], 200);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "authentication")]
pub struct Authentication {
    /// The outcome.
    pub payload: AuthenticationPayload,
}

/// The outcome of authenticating a connection.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub struct AuthenticationPayload {
    /// An HTTP status: 200 when accepted, 401, 403, 404, 500… when refused.
    pub status_code: u16,
    /// The status' reason phrase, such as `OK` or `Forbidden`.
    pub status_text: String,
    /// Anything the authenticator wants the client to know (such as `{"detail": ...}`).
    #[serde(default)]
    pub data: Value,
}

impl AuthenticationPayload {
    /// Status 200, `OK`.
    pub fn ok() -> Self {
        Self::status(200)
    }

    /// A payload for `status_code` with its standard reason phrase and no data.
    ///
    /// ```
    /// let denied = chanx::messages::AuthenticationPayload::status(403);
    /// assert_eq!(denied.status_text, "Forbidden");
    /// assert!(!denied.is_success());
    /// ```
    pub fn status(status_code: u16) -> Self {
        let status_text = http::StatusCode::from_u16(status_code)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Unknown")
            .to_owned();
        AuthenticationPayload { status_code, status_text, data: Value::Null }
    }

    /// Attaches data (such as `{"detail": "..."}`).
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }

    /// Whether the connection is accepted (a 2xx status).
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status_code)
    }

    /// The close code of a refused connection: 4000 + the status when it is 400–599, else 4401.
    ///
    /// ```
    /// use chanx::messages::AuthenticationPayload;
    /// assert_eq!(AuthenticationPayload::status(404).close_code(), 4404);
    /// assert_eq!(AuthenticationPayload::status(302).close_code(), 4401);
    /// ```
    pub fn close_code(&self) -> u16 {
        crate::close_code::authentication_refused(self.status_code)
    }
}

/// `{"action": "complete", "payload": null}`: a client frame has been handled (opt-in).
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, Default, PartialEq, Eq)]
#[message(action = "complete")]
pub struct Complete {}

/// `{"action": "group_complete", "payload": null}`: a group message has been delivered (opt-in).
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, Default, PartialEq, Eq)]
#[message(action = "group_complete")]
pub struct GroupComplete {}

/// `{"action": "event_complete", "payload": null}`: a channel event has been handled (opt-in).
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, Default, PartialEq, Eq)]
#[message(action = "event_complete")]
pub struct EventComplete {}

/// `{"action": "subscribe", "payload": null}` with a `topic` (and a `ref`), client → server:
/// follow a topic. See [`Topic`](crate::Topic).
///
/// ```
/// assert_eq!(chanx::to_frame(&chanx::messages::Subscribe {})?, serde_json::json!({"action": "subscribe", "payload": null}));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, Default, PartialEq, Eq)]
#[message(action = "subscribe")]
pub struct Subscribe {}

/// `{"action": "unsubscribe", "payload": null}` with a `topic` (and a `ref`), client → server.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, Default, PartialEq, Eq)]
#[message(action = "unsubscribe")]
pub struct Unsubscribe {}

/// `{"action": "subscribed", "payload": null, "version": 1, "topic": ..., "ref": ...}`: the
/// connection follows the topic (sent again for a second `subscribe`).
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, Default, PartialEq, Eq)]
#[message(action = "subscribed")]
pub struct Subscribed {}

/// `{"action": "unsubscribed", "payload": null, "version": 1, "topic": ..., "ref": ...}`: the
/// connection no longer follows the topic (also the answer when it did not).
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, Default, PartialEq, Eq)]
#[message(action = "unsubscribed")]
pub struct Unsubscribed {}
