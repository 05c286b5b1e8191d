//! Frames on the wire: parsing a client's text into envelope + message, and rendering outgoing
//! messages (camelized when asked, with the 2.13 `version`/`ref` echo on replies).

use serde_json::{Map, Value};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::Message;
use crate::camelize;
use crate::validation::ValidationError;

/// The envelope version chanx speaks.
pub(crate) const ENVELOPE_VERSION: i64 = 1;

/// The envelope of a client frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Envelope {
    pub(crate) topic: Option<String>,
    pub(crate) reference: Option<String>,
    pub(crate) seq: Option<i64>,
}

/// A client frame split into its envelope and its message object (envelope keys removed,
/// keys decamelized when the consumer camelizes).
#[derive(Debug)]
pub(crate) struct Inbound {
    pub(crate) envelope: Envelope,
    pub(crate) body: Map<String, Value>,
}

/// Parses a text frame. An `Err` is the payload of the error frame to send (no completion follows).
pub(crate) fn parse_text(text: &str, camelize: bool) -> Result<Inbound, Vec<ValidationError>> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| vec![ValidationError::new("json_invalid", vec![], format!("Invalid JSON: {e}"))])?;
    let Value::Object(mut body) = value else {
        return Err(vec![ValidationError::new(
            "model_type",
            vec![],
            "Input should be a valid dictionary or instance of Envelope",
        )]);
    };
    let mut errors = Vec::new();
    if let Some(Err(e)) = body.remove("version").map(|v| check_int(&v, "version", false)) {
        errors.push(e);
    }
    let topic = take_string(&mut body, "topic", &mut errors);
    let reference = take_string(&mut body, "ref", &mut errors);
    let seq = match body.remove("seq") {
        None | Some(Value::Null) => None,
        Some(v) => match check_int(&v, "seq", true) {
            Ok(n) => n,
            Err(e) => {
                errors.push(e);
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    if camelize {
        let mut object = Value::Object(body);
        camelize::decamelize_keys(&mut object);
        body = match object {
            Value::Object(map) => map,
            _ => Map::new(),
        };
    }
    Ok(Inbound { envelope: Envelope { topic, reference, seq }, body })
}

/// pydantic's lax integer: a JSON integer, an integral float, or a string holding an integer.
fn check_int(value: &Value, key: &str, nullable: bool) -> Result<Option<i64>, ValidationError> {
    let loc = vec![Value::from(key)];
    match value {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(Some(i))
            } else if n.as_f64().is_some_and(|f| f.fract() == 0.0 && f.abs() < 9.0e15) {
                Ok(n.as_f64().map(|f| f as i64))
            } else {
                Err(ValidationError::new(
                    "int_from_float",
                    loc,
                    "Input should be a valid integer, got a number with a fractional part",
                ))
            }
        }
        Value::String(s) => s.trim().parse::<i64>().map(Some).map_err(|_| {
            ValidationError::new(
                "int_parsing",
                loc,
                "Input should be a valid integer, unable to parse string as an integer",
            )
        }),
        Value::Null if nullable => Ok(None),
        _ => Err(ValidationError::new("int_type", loc, "Input should be a valid integer")),
    }
}

fn take_string(body: &mut Map<String, Value>, key: &str, errors: &mut Vec<ValidationError>) -> Option<String> {
    match body.remove(key) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            errors.push(ValidationError::new("string_type", vec![Value::from(key)], "Input should be a valid string"));
            None
        }
    }
}

/// The JSON frame of a message: `{"action": ..., <its fields>}`, with `"payload": null` when the
/// message has no payload field.
///
/// ```
/// use chanx::messages::Pong;
/// assert_eq!(chanx::to_frame(&Pong {})?.to_string(), r#"{"action":"pong","payload":null}"#);
/// # Ok::<(), serde_json::Error>(())
/// ```
pub fn to_frame<M: Message>(message: &M) -> Result<Value, serde_json::Error> {
    frame_from_value(M::ACTION, serde_json::to_value(message)?)
}

pub(crate) fn frame_from_value(action: &str, fields: Value) -> Result<Value, serde_json::Error> {
    let fields = match fields {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => {
            return Err(serde::de::Error::custom(format!("a message must serialize to a JSON object, not {other}")));
        }
    };
    let mut frame = Map::with_capacity(fields.len() + 2);
    frame.insert("action".into(), Value::from(action));
    frame.extend(fields);
    frame.entry("payload").or_insert(Value::Null);
    Ok(Value::Object(frame))
}

/// Serializes an outgoing frame: keys camelized when asked, then the `version`/`ref` echo of the
/// request this frame answers (chanx 2.13), appended after the message keys.
pub(crate) fn render(mut frame: Value, camelize: bool, reply_ref: Option<&str>) -> Utf8Bytes {
    if camelize {
        camelize::camelize_keys(&mut frame);
    }
    if let (Some(reference), Value::Object(map)) = (reply_ref, &mut frame) {
        map.insert("version".into(), Value::from(ENVELOPE_VERSION));
        map.insert("ref".into(), Value::from(reference));
    }
    Utf8Bytes::from(frame.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error_of(text: &str) -> Value {
        serde_json::to_value(parse_text(text, false).expect_err("invalid")).unwrap_or_default()
    }

    #[test]
    fn envelope_keys_are_stripped_and_read() {
        let inbound = parse_text(r#"{"action":"ping","ref":"7","version":1,"seq":3}"#, false).ok();
        let inbound = inbound.expect("valid frame");
        assert_eq!(inbound.envelope.reference.as_deref(), Some("7"));
        assert_eq!(inbound.envelope.seq, Some(3));
        assert_eq!(Value::Object(inbound.body), json!({"action": "ping"}));
    }

    #[test]
    fn bad_envelopes_give_chanx_errors() {
        assert_eq!(
            error_of(r#"{"action":"ping","version":"x"}"#),
            json!([{"type": "int_parsing", "loc": ["version"], "msg": "Input should be a valid integer, unable to parse string as an integer"}])
        );
        assert_eq!(
            error_of(r#"{"action":"ping","ref":1}"#),
            json!([{"type": "string_type", "loc": ["ref"], "msg": "Input should be a valid string"}])
        );
        assert_eq!(error_of("[1, 2]")[0]["type"], "model_type");
        assert_eq!(error_of("\"x\"")[0]["type"], "model_type");
        assert_eq!(error_of("not json")[0]["type"], "json_invalid");
    }

    #[test]
    fn replies_echo_version_and_ref() {
        let text = render(json!({"action": "pong", "payload": null}), false, Some("7"));
        assert_eq!(text.as_str(), r#"{"action":"pong","payload":null,"version":1,"ref":"7"}"#);
    }
}
