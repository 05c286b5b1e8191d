//! The [`Message`] trait: a typed frame with its `action` literal.

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A typed WebSocket message, identified on the wire by its `action`.
///
/// A frame is a JSON object: `{"action": ACTION, "payload": ..., <other fields>}`. The struct holds
/// everything but the action, which is declared once with the derive. Messages without data are
/// written with braces (`struct Ping {}`); their frame carries `"payload": null`.
///
/// The keys `action`, `version`, `topic`, `ref` and `seq` are reserved for the envelope: the derive
/// rejects fields with those names.
///
/// ```
/// use chanx::Message;
/// use schemars::JsonSchema;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Message, Serialize, Deserialize, JsonSchema, Debug, PartialEq)]
/// #[message(action = "new_message")]
/// struct NewMessage {
///     payload: NewMessagePayload,
/// }
///
/// #[derive(Serialize, Deserialize, JsonSchema, Debug, PartialEq)]
/// struct NewMessagePayload {
///     content: String,
/// }
///
/// assert_eq!(NewMessage::ACTION, "new_message");
/// let frame = chanx::to_frame(&NewMessage { payload: NewMessagePayload { content: "hi".into() } })?;
/// assert_eq!(frame, serde_json::json!({"action": "new_message", "payload": {"content": "hi"}}));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a chanx message",
    label = "not a chanx message",
    note = "add `#[derive(chanx::Message, Serialize, Deserialize, JsonSchema)]` and `#[message(action = \"...\")]` to `{Self}`"
)]
pub trait Message: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static {
    /// The `action` literal that routes this message.
    const ACTION: &'static str;
}

/// Describes one message type, for AsyncAPI and diagnostics.
///
/// ```
/// use chanx::{MessageInfo, messages::Pong};
/// let info = MessageInfo::of::<Pong>();
/// assert_eq!(info.action, "pong");
/// assert_eq!(info.type_name, "Pong");
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MessageInfo {
    /// The action literal.
    pub action: &'static str,
    /// The Rust type's name, without its module path.
    pub type_name: &'static str,
    /// Builds the JSON Schema of the message (its fields, without `action`).
    pub schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
}

impl MessageInfo {
    /// The description of `M`.
    pub fn of<M: Message>() -> Self {
        let full = std::any::type_name::<M>();
        let type_name = full.rsplit("::").next().unwrap_or(full);
        MessageInfo { action: M::ACTION, type_name, schema: M::json_schema }
    }
}
