//! Invalid input → the `[{type, loc, msg}]` error list of chanx (pydantic's codes and texts).

use serde::Serialize;
use serde_json::Value;

/// One entry of a validation error frame.
///
/// ```
/// use chanx::ValidationError;
/// let e = ValidationError::missing(vec!["chat".into(), "payload".into(), "content".into()]);
/// assert_eq!(serde_json::to_value(&e)?, serde_json::json!(
///     {"type": "missing", "loc": ["chat", "payload", "content"], "msg": "Field required"}));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// A pydantic error code such as `missing`, `string_type` or `union_tag_invalid`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The path to the offending value: object keys as strings, array indexes as numbers.
    pub loc: Vec<Value>,
    /// A human-readable message.
    pub msg: String,
}

impl ValidationError {
    /// An error with the given code, location and message.
    pub fn new(kind: &str, loc: Vec<Value>, msg: impl Into<String>) -> Self {
        ValidationError { kind: kind.to_owned(), loc, msg: msg.into() }
    }

    /// A required field is absent.
    pub fn missing(loc: Vec<Value>) -> Self {
        Self::new("missing", loc, "Field required")
    }
}

/// A list of errors as the payload of an `error` frame.
pub(crate) fn to_payload(errors: &[ValidationError]) -> Value {
    serde_json::to_value(errors).unwrap_or(Value::Null)
}

/// Decodes `value` into `T`, turning the first failure into a pydantic-style error located
/// under `prefix` (the action, as chanx's discriminated unions do).
///
/// Valid input, the usual case, is decoded from a borrow of `value` with serde alone; only when
/// that fails is it decoded again with `serde_path_to_error`, which builds the error's `loc` but
/// copies every map key it passes on the way.
pub(crate) fn decode_value<T: serde::de::DeserializeOwned>(value: &Value, prefix: &str) -> Result<T, ValidationError> {
    if let Ok(decoded) = <T as serde::Deserialize>::deserialize(value) {
        return Ok(decoded);
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let mut loc: Vec<Value> = vec![Value::from(prefix)];
        for segment in err.path().iter() {
            match segment {
                // A map's keys are the peer's (a `HashMap<String, _>` field): quoted in bounds too.
                serde_path_to_error::Segment::Map { key } => loc.push(Value::from(bounded_echo(key))),
                serde_path_to_error::Segment::Seq { index } => loc.push(Value::from(*index)),
                serde_path_to_error::Segment::Enum { variant } => loc.push(Value::from(bounded_echo(variant))),
                serde_path_to_error::Segment::Unknown => {}
            }
        }
        from_serde_message(&err.inner().to_string(), loc)
    })
}

/// The most of a peer's input an error message echoes, in bytes: serde's messages quote the
/// offending value, which may be most of a 1 MiB frame.
pub(crate) const MAX_ECHO: usize = 256;

/// `text`, cut to at most [`MAX_ECHO`] bytes (at a character boundary) and marked with `…` when cut.
pub(crate) fn bounded_echo(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= MAX_ECHO {
        return text.into();
    }
    format!("{}…", prefix_within(text, MAX_ECHO)).into()
}

/// The longest prefix of `text` of at most `max` bytes that ends at a character boundary.
pub(crate) fn prefix_within(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Maps a serde_json error message to pydantic's code and text.
///
/// serde's messages quote the offending input (`invalid type: string "…", expected i32`), so the
/// parts that come from the type are read from the ends of the message, never searched for in
/// it: input containing `, expected ` or `` missing field ` `` cannot change the code or location.
fn from_serde_message(message: &str, mut loc: Vec<Value>) -> ValidationError {
    if let Some(field) = message.strip_prefix("missing field `").and_then(|rest| rest.strip_suffix('`')) {
        loc.push(Value::from(field));
        return ValidationError::missing(loc);
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        let (found, expected) = rest.rsplit_once(", expected ").unwrap_or((rest, ""));
        let (kind, msg) = type_error(found, expected);
        return ValidationError::new(kind, loc, msg);
    }
    if message.starts_with("unknown variant `") {
        return ValidationError::new("enum", loc, format!("Input should be {}", bounded_echo(message_tail(message))));
    }
    if message.starts_with("invalid value: integer") || message.ends_with("out of range") {
        return ValidationError::new("int_out_of_range", loc, "Input is out of range for this integer type");
    }
    if message.starts_with("invalid length") {
        return ValidationError::new("too_short", loc, capitalize(&bounded_echo(message)));
    }
    ValidationError::new("value_error", loc, format!("Value error, {}", bounded_echo(message)))
}

fn type_error(found: &str, expected: &str) -> (&'static str, String) {
    let expected_int = ["i8", "i16", "i32", "i64", "i128", "u8", "u16", "u32", "u64", "u128", "isize", "usize"]
        .iter()
        .any(|t| expected == *t || expected.ends_with(&format!(" {t}")));
    let found_string = found.starts_with("string");
    if expected_int {
        return if found_string {
            ("int_parsing", "Input should be a valid integer, unable to parse string as an integer".into())
        } else if found.starts_with("floating point") {
            ("int_from_float", "Input should be a valid integer, got a number with a fractional part".into())
        } else {
            ("int_type", "Input should be a valid integer".into())
        };
    }
    if expected == "f32" || expected == "f64" {
        return ("float_type", "Input should be a valid number".into());
    }
    if expected.contains("string") || expected == "a character" {
        return ("string_type", "Input should be a valid string".into());
    }
    if expected == "a boolean" {
        return ("bool_type", "Input should be a valid boolean".into());
    }
    if expected.contains("sequence") || expected.contains("tuple") {
        return ("list_type", "Input should be a valid list".into());
    }
    if let Some(name) = expected.strip_prefix("struct ") {
        return ("model_type", format!("Input should be a valid dictionary or instance of {name}"));
    }
    if expected.contains("map") {
        return ("dict_type", "Input should be a valid dictionary".into());
    }
    if expected == "unit" {
        return ("none_required", "Input should be None".into());
    }
    ("value_error", format!("Input should be {}", bounded_echo(expected)))
}

/// What an `unknown variant` message says was expected: after the last `, expected `, since the
/// variant quoted before it is the peer's.
fn message_tail(message: &str) -> &str {
    message.rsplit_once(", expected ").map_or(message, |(_, tail)| tail)
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Echo {
        payload: EchoPayload,
    }

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct EchoPayload {
        user_name: String,
        count: i32,
        tags: Vec<String>,
    }

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Settings {
        payload: SettingsPayload,
    }

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct SettingsPayload {
        admin: bool,
        #[serde(default)]
        theme: Option<Theme>,
        #[serde(default)]
        initial: Option<char>,
    }

    #[derive(Deserialize, Debug)]
    #[serde(rename_all = "snake_case")]
    enum Theme {
        Dark,
    }

    fn settings_error(payload: Value) -> ValidationError {
        decode_value::<Settings>(&json!({ "payload": payload }), "settings").expect_err("the input is invalid")
    }

    #[test]
    fn quoted_input_cannot_change_the_code_or_the_location() {
        let admin = vec![json!("settings"), json!("payload"), json!("admin")];
        let e = settings_error(json!({"admin": "missing field `owner`"}));
        assert_eq!((e.kind.as_str(), &e.loc), ("bool_type", &admin));
        let e = settings_error(json!({"admin": "yes, expected i32"}));
        assert_eq!((e.kind.as_str(), e.msg.as_str()), ("bool_type", "Input should be a valid boolean"));
        let e = settings_error(json!({"admin": true, "theme": "x, expected anything"}));
        assert_eq!((e.kind.as_str(), e.msg.as_str()), ("enum", "Input should be `dark`"));
    }

    #[test]
    fn messages_quote_at_most_a_bounded_part_of_the_input() {
        let huge = "v".repeat(1 << 20);
        let e = settings_error(json!({"admin": true, "initial": huge}));
        assert_eq!(e.kind, "value_error");
        assert!(e.msg.starts_with("Value error, invalid value: string \"vvv"), "{}", e.msg);
        assert!(e.msg.len() <= MAX_ECHO + 20, "{} bytes", e.msg.len());
        let e = settings_error(json!({"admin": true, "theme": format!("{huge}é")}));
        assert_eq!((e.kind.as_str(), e.msg.as_str()), ("enum", "Input should be `dark`"));
        assert_eq!(bounded_echo(&"é".repeat(200)).len(), MAX_ECHO + "…".len());
    }

    fn error_of(value: Value) -> ValidationError {
        decode_value::<Echo>(&value, "echo").expect_err("the input is invalid")
    }

    #[test]
    fn missing_field_is_located_at_the_field() {
        let e = error_of(json!({"payload": {"count": 1, "tags": []}}));
        assert_eq!(e, ValidationError::missing(vec!["echo".into(), "payload".into(), "user_name".into()]));
    }

    #[test]
    fn type_errors_use_pydantic_codes() {
        let e = error_of(json!({"payload": {"user_name": "a", "count": "x", "tags": []}}));
        assert_eq!(e.kind, "int_parsing");
        assert_eq!(e.loc, vec![json!("echo"), json!("payload"), json!("count")]);
        let e = error_of(json!({"payload": {"user_name": 5, "count": 1, "tags": []}}));
        assert_eq!((e.kind.as_str(), e.msg.as_str()), ("string_type", "Input should be a valid string"));
        let e = error_of(json!({"payload": {"user_name": "a", "count": 1, "tags": [1]}}));
        assert_eq!(e.loc, vec![json!("echo"), json!("payload"), json!("tags"), json!(0)]);
        let e = error_of(json!({"payload": "nope"}));
        assert_eq!(e.kind, "model_type");
        assert_eq!(e.msg, "Input should be a valid dictionary or instance of EchoPayload");
    }

    #[test]
    fn a_peer_key_in_the_location_is_quoted_in_bounds() {
        let key = "k".repeat(1 << 20);
        let value = json!({ key.clone(): "not a number" });
        let err = decode_value::<std::collections::HashMap<String, i32>>(&value, "scores").expect_err("invalid");
        assert_eq!(err.kind, "int_parsing");
        let quoted = err.loc[1].as_str().expect("a key");
        assert!(quoted.len() <= MAX_ECHO + '…'.len_utf8() && quoted.starts_with("kkk"), "{} bytes", quoted.len());
    }
}
