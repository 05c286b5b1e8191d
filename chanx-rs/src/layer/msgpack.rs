//! The msgpack codec both Redis layers share: layer messages as channels_redis writes them
//! (`msgpack.packb` of the message dict), decoded in bounded time and depth.

use serde_json::{Map, Value};

use super::LayerBody;

/// Nesting deeper than this in a message from Redis is refused, as serde_json refuses JSON nested
/// deeper than 128: decoding recurses once per level, on a runtime worker's stack.
const MAX_DEPTH: usize = 128;

/// Why a message from Redis could not be decoded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    /// Not msgpack, or nested deeper than [`MAX_DEPTH`].
    #[error("not a msgpack value: {0}")]
    Msgpack(#[from] rmp_serde::decode::Error),
    /// msgpack, but not a layer message.
    #[error("not a layer message: {0}")]
    Shape(#[from] serde_json::Error),
}

/// Encodes a body as channels_redis does: a msgpack map with string keys.
pub(crate) fn encode_body(body: &LayerBody) -> Result<Vec<u8>, rmp_serde::encode::Error> {
    rmp_serde::to_vec_named(body)
}

/// Decodes a message another process published. The payload is already in memory; decoding it
/// takes time linear in its length, and nesting is bounded by [`MAX_DEPTH`].
pub(crate) fn decode_message(payload: &[u8]) -> Result<LayerBody, DecodeError> {
    body_from_value(decode_value(payload)?)
}

/// Decodes msgpack into a JSON value, refusing nesting deeper than [`MAX_DEPTH`]. Lengths that
/// claim more than the payload holds are an error, not an allocation.
pub(crate) fn decode_value(payload: &[u8]) -> Result<Value, DecodeError> {
    let mut decoder = rmp_serde::Deserializer::from_read_ref(payload);
    decoder.set_max_depth(MAX_DEPTH);
    Ok(serde::Deserialize::deserialize(&mut decoder)?)
}

/// The layer body a decoded message holds.
///
/// The two messages every group send and event use are taken apart by hand: decoding into
/// [`LayerBody`] directly would first copy the whole message into serde's buffer for internally
/// tagged enums, doubling the work. Other messages go through `LayerBody`'s own decoding.
pub(crate) fn body_from_value(value: Value) -> Result<LayerBody, DecodeError> {
    match value {
        Value::Object(map) => body_from_map(map),
        value => Ok(serde_json::from_value(value)?),
    }
}

/// [`body_from_value`] for a map already taken apart (the core layer first removes its
/// `__asgi_channel__` key).
pub(crate) fn body_from_map(mut map: Map<String, Value>) -> Result<LayerBody, DecodeError> {
    match map.get("type").and_then(Value::as_str) {
        Some("handle_channel_event") => {
            if let Some(event_data) = map.remove("event_data") {
                return Ok(LayerBody::ChannelEvent { event_data });
            }
        }
        Some("handle_group_message") => {
            let exclude_current = map.get("exclude_current").and_then(Value::as_bool);
            let from_channel = match map.get("from_channel") {
                None | Some(Value::Null) => Some(None),
                Some(Value::String(channel)) => Some(Some(channel.clone())),
                Some(_) => None,
            };
            if let (Some(exclude_current), Some(from_channel), Some(message)) =
                (exclude_current, from_channel, map.remove("message"))
            {
                return Ok(LayerBody::GroupMessage { message, exclude_current, from_channel });
            }
        }
        _ => {}
    }
    Ok(serde_json::from_value(Value::Object(map))?)
}
