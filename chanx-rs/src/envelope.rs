//! Frames on the wire: parsing a client's text into envelope + message, and rendering outgoing
//! messages (camelized when asked, with the 2.13 `version`/`ref` echo on replies).

use std::fmt::Write as _;

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
pub(crate) struct Inbound<'t> {
    pub(crate) envelope: Envelope,
    pub(crate) body: Body<'t>,
}

/// A client's message object, as a handler's input is decoded from it.
///
/// Most frames are `{"action": ..., "payload": ...}` with nothing to take out or rename: those
/// stay the frame's text, and the handler's message is decoded straight from it, with no
/// `Value` tree (a map, a string per key) built first and dropped after.
#[derive(Debug)]
pub struct Body<'t>(pub(crate) BodyRepr<'t>);

#[derive(Debug)]
pub(crate) enum BodyRepr<'t> {
    /// The frame's text, known to parse to what [`BodyRepr::Object`] would hold: an object with
    /// no envelope key, no key that decamelizing changes (when the consumer camelizes) and no
    /// key twice, whose `action` is the unescaped string `action`.
    Text { text: &'t str, action: &'t str },
    /// The parsed object, envelope keys taken out and keys converted.
    Object(Map<String, Value>),
}

impl<'t> Body<'t> {
    /// The frame's `action`, when it is a string.
    pub(crate) fn action(&self) -> Option<&str> {
        match &self.0 {
            BodyRepr::Text { action, .. } => Some(action),
            BodyRepr::Object(map) => map.get("action").and_then(Value::as_str),
        }
    }

    /// The message object as a map, parsed now if it was kept as text.
    pub(crate) fn into_object(self) -> Map<String, Value> {
        match self.0 {
            // The text was checked to be an object when it was kept.
            BodyRepr::Text { text, .. } => serde_json::from_str(text).unwrap_or_default(),
            BodyRepr::Object(map) => map,
        }
    }
}

/// Parses a text frame. An `Err` is the payload of the error frame to send (no completion follows).
/// `as_text`: a plain frame may be kept as its text (not when a topic will read it as a map).
pub(crate) fn parse_text(text: &str, camelize: bool, as_text: bool) -> Result<Inbound<'_>, Vec<ValidationError>> {
    if let Some(action) = as_text.then(|| plain_action(text, camelize)).flatten() {
        return Ok(Inbound { envelope: Envelope::default(), body: Body(BodyRepr::Text { text, action }) });
    }
    parse_object(text, camelize).map(|(envelope, body)| Inbound { envelope, body: Body(BodyRepr::Object(body)) })
}

/// Parses a text frame into its envelope and its object, the general way.
pub(crate) fn parse_object(text: &str, camelize: bool) -> Result<(Envelope, Map<String, Value>), Vec<ValidationError>> {
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
    // Most frames carry no envelope key: one pass over the keys spares four hashed lookups.
    let has_envelope = body.keys().any(|k| matches!(k.as_str(), "version" | "topic" | "ref" | "seq"));
    if !has_envelope {
        if camelize {
            body = decamelized(body);
        }
        return Ok((Envelope::default(), body));
    }
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
        body = decamelized(body);
    }
    Ok((Envelope { topic, reference, seq }, body))
}

/// The frame's action when the frame can be decoded from its text as it is (see
/// [`BodyRepr::Text`]); `None` sends it the general way. One pass over the text, allocating
/// nothing; any doubt (an escaped action, a repeated key, an envelope key) answers `None`.
fn plain_action(text: &str, camelize: bool) -> Option<&str> {
    use serde::de::DeserializeSeed as _;
    let mut de = serde_json::Deserializer::from_str(text);
    let action = PlainFrame { camelize }.deserialize(&mut de).ok()?;
    de.end().ok()?;
    action
}

/// Reads a frame's top-level object for [`plain_action`]: its action, and an error for anything
/// that needs the general way.
struct PlainFrame {
    camelize: bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for PlainFrame {
    type Value = Option<&'de str>;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for PlainFrame {
    type Value = Option<&'de str>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a frame")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        use serde::de::Error as _;
        let mut action = None;
        // A repeated key keeps its last value in a `Value` but is an error to a derived
        // `Deserialize`: it takes the general path. Frames have few keys, so those seen are
        // searched, not hashed, and a frame with more than a handful takes the general path too.
        let mut seen: [&str; 8] = [""; 8];
        let mut count = 0;
        // `&str` keys and action: an escaped one (not borrowable from the text) is an error here.
        while let Some(key) = map.next_key::<&'de str>()? {
            match key {
                "action" if action.is_none() => {
                    action = Some(map.next_value::<&'de str>()?);
                    continue;
                }
                "action" | "version" | "topic" | "ref" | "seq" => return Err(A::Error::custom("envelope key")),
                _ if self.camelize && !camelize::key_stays(key) => return Err(A::Error::custom("renamed key")),
                _ if count == seen.len() || seen[..count].contains(&key) => {
                    return Err(A::Error::custom("repeated key"));
                }
                _ => {}
            }
            seen[count] = key;
            count += 1;
            map.next_value_seed(Walk { camelize: self.camelize })?;
        }
        Ok(action)
    }
}

/// Walks a value of a frame as parsing it into a `Value` would (so it fails on the same input:
/// `IgnoredAny` would let a number out of range through), and, for a camelizing consumer, at
/// the first key that decamelizing would change. serde_json's depth limit bounds the recursion.
#[derive(Clone, Copy)]
struct Walk {
    camelize: bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for Walk {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Walk {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<(), E> {
        // An integer past i64 and u64 (or -0) comes here as a float. From the text serde_json
        // reads it exactly into an i128 or u128; from a `Value` it is a float, which those
        // refuse. Such a frame goes the general way, so that both ways answer alike.
        let wide = v.fract() == 0.0 && (v.abs() >= 9_223_372_036_854_775_808.0 || (v == 0.0 && v.is_sign_negative()));
        if wide { Err(E::custom("an integer past 64 bits")) } else { Ok(()) }
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key_seed(WalkKey { camelize: self.camelize })?.is_some() {
            map.next_value_seed(self)?;
        }
        Ok(())
    }
}

/// A key of a nested object: any, or for a camelizing consumer one that decamelizing keeps.
struct WalkKey {
    camelize: bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for WalkKey {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for WalkKey {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<(), E> {
        if !self.camelize || camelize::key_stays(key) { Ok(()) } else { Err(E::custom("renamed key")) }
    }
}

fn decamelized(body: Map<String, Value>) -> Map<String, Value> {
    let mut object = Value::Object(body);
    camelize::decamelize_keys(&mut object);
    match object {
        Value::Object(map) => map,
        _ => Map::new(),
    }
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

/// The envelope keys an outgoing frame carries after its message keys: the `topic` it belongs
/// to, the `ref` of the request it answers (chanx 2.13 echoes it on plain replies too), the
/// `seq` of the topic push it renders. With any of them, `version` comes first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Echo {
    pub(crate) topic: Option<std::sync::Arc<str>>,
    pub(crate) reference: Option<std::sync::Arc<str>>,
    pub(crate) seq: Option<i64>,
}

impl Echo {
    /// No envelope: a frame that answers nothing and belongs to no topic.
    pub(crate) const NONE: &'static Echo = &Echo { topic: None, reference: None, seq: None };

    /// Only a `ref`, as on the reply to a plain frame.
    #[cfg(test)]
    pub(crate) fn reply(reference: &str) -> Echo {
        Echo { reference: Some(reference.into()), ..Echo::default() }
    }

    fn is_empty(&self) -> bool {
        self.topic.is_none() && self.reference.is_none() && self.seq.is_none()
    }
}

/// Serializes an outgoing frame: keys camelized when asked, then the envelope `echo` (chanx's
/// `content | envelope`), appended after the message keys and never camelized.
pub(crate) fn render(mut frame: Value, camelize: bool, echo: &Echo) -> Utf8Bytes {
    if camelize {
        camelize::camelize_keys(&mut frame);
    }
    if let (false, Value::Object(map)) = (echo.is_empty(), &mut frame) {
        map.insert("version".into(), Value::from(ENVELOPE_VERSION));
        if let Some(topic) = &echo.topic {
            map.insert("topic".into(), Value::from(&**topic));
        }
        if let Some(reference) = &echo.reference {
            map.insert("ref".into(), Value::from(&**reference));
        }
        if let Some(seq) = echo.seq {
            map.insert("seq".into(), Value::from(seq));
        }
    }
    // `to_string` writes into the buffer directly; `Display` (`frame.to_string()`) goes through a
    // `fmt::Formatter` call per token, several times slower. The bytes are the same.
    Utf8Bytes::from(serde_json::to_string(&frame).unwrap_or_default())
}

/// An outgoing frame, either already serialized (the usual case for a typed message: see
/// [`encode`]) or as a `Value` (raw frames, and typed messages of unusual shapes).
#[derive(Debug)]
pub(crate) enum Frame {
    Value(Value),
    /// `{"action": ..., <fields>, "payload": ...}` serialized; none of its top-level keys is an
    /// envelope key, so the echo can be appended as text.
    Json(String),
    /// A constant frame whose keys camelizing leaves as they are (the completion frames).
    Static(&'static str),
}

impl Frame {
    /// Serializes the frame as [`render`] does, with the same bytes.
    pub(crate) fn render(self, camelize: bool, echo: &Echo) -> Utf8Bytes {
        match self {
            Frame::Value(frame) => render(frame, camelize, echo),
            Frame::Static(text) if echo.is_empty() => Utf8Bytes::from_static(text),
            Frame::Static(text) => Frame::Json(text.to_owned()).render(false, echo),
            // Camelizing converts nested keys: do it on the value (a frame we wrote parses).
            Frame::Json(text) if camelize => render(serde_json::from_str(&text).unwrap_or_default(), true, echo),
            Frame::Json(mut text) => {
                if !echo.is_empty() {
                    text.pop(); // the closing brace
                    // Numbers are written into the frame, not through a `String` each: this runs
                    // once per subscriber of every topic push.
                    let _ = write!(text, r#","version":{ENVELOPE_VERSION}"#);
                    if let Some(topic) = &echo.topic {
                        text.push_str(r#","topic":"#);
                        push_json_str(&mut text, topic);
                    }
                    if let Some(reference) = &echo.reference {
                        text.push_str(r#","ref":"#);
                        push_json_str(&mut text, reference);
                    }
                    if let Some(seq) = echo.seq {
                        let _ = write!(text, r#","seq":{seq}"#);
                    }
                    text.push('}');
                }
                Utf8Bytes::from(text)
            }
        }
    }
}

fn push_json_str(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        // Nothing to escape, the usual case (actions, references).
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        // Serializing a str cannot fail.
        out.push_str(&serde_json::to_string(s).unwrap_or_default());
    }
}

/// The frame of a typed message, serialized straight to text when its shape allows (the same
/// bytes as rendering [`to_frame`]'s value), else as that value.
pub(crate) fn encode<M: Message>(message: &M) -> Result<Frame, serde_json::Error> {
    match direct_frame(M::ACTION, message) {
        Some(text) => Ok(Frame::Json(text)),
        None => to_frame(message).map(Frame::Value),
    }
}

/// Floats as a `Value` holds them: an `f32` is widened to `f64` before it is written (so
/// `0.1f32` is written `0.10000000149011612`, as `to_value` then `to_string` writes it).
struct ValueFloats;

impl serde_json::ser::Formatter for ValueFloats {
    fn write_f32<W: ?Sized + std::io::Write>(&mut self, writer: &mut W, value: f32) -> std::io::Result<()> {
        self.write_f64(writer, f64::from(value))
    }
}

/// `{"action": action, <the message's fields>, "payload": null when it has none}` serialized
/// directly, or `None` when only the `Value` path gives the same bytes: a message that is not
/// a JSON object, or whose top-level keys repeat, are escaped, or are `action` or an envelope key
/// (which the value path replaces in place).
fn direct_frame<M: serde::Serialize>(action: &str, message: &M) -> Option<String> {
    // `{"action":"<action>"`, then the message's own serialization after it, in one buffer: its
    // opening brace becomes the comma between the action and its fields.
    // One allocation for a small message: room for its fields and `"payload":null`.
    let mut head = String::with_capacity(action.len() + 96);
    head.push_str(r#"{"action":"#);
    push_json_str(&mut head, action);
    let mut out = head.into_bytes();
    let start = out.len();
    message.serialize(&mut serde_json::Serializer::with_formatter(&mut out, ValueFloats)).ok()?;
    let fields = &out[start..];
    let inner = if fields == b"null" { &[][..] } else { fields.strip_prefix(b"{")?.strip_suffix(b"}")? };
    let inner = std::str::from_utf8(inner).ok()?;
    let mut has_payload = false;
    let mut keys = TopKeys::default();
    for_each_top_key(inner, |key| {
        has_payload |= key == "payload";
        !matches!(key, "action" | "version" | "topic" | "ref" | "seq") && keys.insert_new(key)
    })?;
    let empty = inner.is_empty();
    if empty {
        out.truncate(start);
    } else {
        out[start] = b',';
        out.pop(); // the closing brace
    }
    if !has_payload {
        out.extend_from_slice(br#","payload":null"#);
    }
    out.push(b'}');
    String::from_utf8(out).ok()
}

/// The top-level keys seen so far, to refuse duplicates (which a `Value` would merge).
#[derive(Default)]
struct TopKeys<'a> {
    few: [&'a str; 8],
    len: usize,
    more: Vec<&'a str>,
}

impl<'a> TopKeys<'a> {
    /// `false` when `key` was seen already.
    fn insert_new(&mut self, key: &'a str) -> bool {
        if self.few[..self.len].contains(&key) {
            return false;
        }
        if self.len < self.few.len() {
            self.few[self.len] = key;
            self.len += 1;
            return true;
        }
        // Many keys: kept sorted, so each check is a binary search.
        match self.more.binary_search(&key) {
            Ok(_) => false,
            Err(at) => {
                self.more.insert(at, key);
                true
            }
        }
    }
}

/// Calls `visit` with each top-level key of `inner`, the text of a JSON object without its
/// braces as serde_json writes it; `None` when `visit` refuses a key, or a key holds an escape.
fn for_each_top_key<'a>(inner: &'a str, mut visit: impl FnMut(&'a str) -> bool) -> Option<()> {
    let bytes = inner.as_bytes();
    let (mut i, mut depth, mut expect_key) = (0, 0usize, true);
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let start = i + 1;
                let mut escaped = false;
                i += 1;
                while *bytes.get(i)? != b'"' {
                    if bytes[i] == b'\\' {
                        escaped = true;
                        i += 1;
                    }
                    i += 1;
                }
                if depth == 0 && expect_key {
                    if escaped || !visit(&inner[start..i]) {
                        return None;
                    }
                    expect_key = false;
                }
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.checked_sub(1)?,
            b',' if depth == 0 => expect_key = true,
            _ => {}
        }
        i += 1;
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error_of(text: &str) -> Value {
        serde_json::to_value(parse_text(text, false, true).expect_err("invalid")).unwrap_or_default()
    }

    #[test]
    fn envelope_keys_are_stripped_and_read() {
        let inbound = parse_text(r#"{"action":"ping","ref":"7","version":1,"seq":3}"#, false, true).ok();
        let inbound = inbound.expect("valid frame");
        assert_eq!(inbound.envelope.reference.as_deref(), Some("7"));
        assert_eq!(inbound.envelope.seq, Some(3));
        assert_eq!(Value::Object(inbound.body.into_object()), json!({"action": "ping"}));
    }

    /// A handler's input with a nested type, a number, a list and an enum.
    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Probe {
        payload: ProbePayload,
    }

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct ProbePayload {
        name: String,
        count: i32,
        #[serde(default)]
        tags: Vec<String>,
        #[serde(default)]
        child: Option<Box<ProbePayload>>,
    }

    /// Whether the frame was kept as text; where it was, that both ways agree on everything.
    fn kept_as_text(text: &str, camelize: bool) -> bool {
        let Ok(inbound) = parse_text(text, camelize, true) else { return false };
        let BodyRepr::Text { action, .. } = inbound.body.0 else { return false };
        let (envelope, object) = parse_object(text, camelize).expect("it parses the general way too");
        assert_eq!(envelope, Envelope::default());
        assert_eq!(object.get("action").and_then(Value::as_str), Some(action));
        assert_eq!(serde_json::from_str::<Map<String, Value>>(text).ok(), Some(object.clone()));
        let fast = crate::dispatch::decode_body::<Probe>(inbound.body, "probe");
        assert_eq!(fast, crate::validation::decode_value::<Probe>(&Value::Object(object), "probe"), "{text}");
        true
    }

    #[test]
    fn plain_frames_are_decoded_from_their_text_and_the_rest_the_general_way() {
        let probe = r#"{"name":"n","count":1,"tags":["t"]}"#;
        let frame = |extra: &str| format!(r#"{{"action":"probe",{extra}"payload":{probe}}}"#);
        for camelize in [false, true] {
            assert!(kept_as_text(&frame(""), camelize));
            assert!(kept_as_text(&frame(r#""x":[1,{"a_b":null}],"#), camelize));
            assert!(kept_as_text(
                "{\"action\" : \"probe\" ,\n \"payload\": {\"name\":\"n\",\"count\":\"x\"}}",
                camelize
            ));
            // Invalid input keeps its located error.
            assert!(kept_as_text(r#"{"action":"probe","payload":{"name":"n","count":1e3}}"#, camelize));
            assert!(kept_as_text(r#"{"action":"probe","payload":{"name":"n","name":"m","count":1}}"#, camelize));
            for general in [
                r#"{"action":"pr\u006fbe","payload":{}}"#.to_owned(),
                frame(r#""p\u0061yload":1,"#),
                frame(r#""payload":1,"#),
                r#"{"action":"x","action":"probe"}"#.to_owned(),
                frame(r#""topic":null,"#),
                frame(r#""ref":"7","#),
                frame(r#""k1":1,"k2":1,"k3":1,"k4":1,"k5":1,"k6":1,"k7":1,"k8":1,"#),
                r#"{"payload":1}"#.to_owned(),
                r#"{"action":null}"#.to_owned(),
                r#"{"action":1}"#.to_owned(),
                // Walked as a `Value` is parsed: these fail there, so they must not pass here.
                frame(r#""x":1e400,"#),
                // Read exactly into an i128 from the text, but a float in a `Value`.
                r#"{"action":"probe","payload":{"name":"n","count":100000000000000000000000}}"#.to_owned(),
                frame(r#""x":-18446744073709551617,"#),
                frame(r#""x":-0,"#),
                frame(r#""x":"\ud800","#),
                frame(&format!(r#""x":{}{},"#, "[".repeat(130), "]".repeat(130))),
                format!("{} x", frame("")),
                "[1]".to_owned(),
            ] {
                assert!(!kept_as_text(&general, camelize), "{general}");
            }
        }
        let camel = frame(r#""x":[{"userName":1}],"#);
        assert!(kept_as_text(&camel, false));
        assert!(!kept_as_text(&camel, true), "a key that decamelizing renames");
        let camel_top = frame(r#""userName":1,"#);
        assert!(!kept_as_text(&camel_top, true));
        // What the general way then gives: the converted key.
        let object = parse_text(&camel, true, true).ok().map(|inbound| inbound.body.into_object());
        assert_eq!(object.map(Value::Object).map(|o| o["x"][0].clone()), Some(json!({"user_name": 1})));
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

    /// The direct encoding writes exactly what rendering the frame's value writes.
    #[test]
    fn encoded_frames_are_the_bytes_of_rendered_values() {
        use serde::Serialize;
        #[derive(Serialize)]
        struct Fields {
            payload: Value,
            n: f32,
            list: Vec<f64>,
            text: String,
        }
        #[derive(Serialize)]
        struct NoPayload {
            count: u64,
        }
        #[derive(Serialize)]
        struct Clash {
            version: u8,
        }
        #[derive(Serialize)]
        struct Unit;
        fn both<M: serde::Serialize>(m: &M, echo: &Echo, expect_direct: bool) {
            let value = frame_from_value("act\"ion", serde_json::to_value(m).expect("value")).expect("frame");
            let direct = direct_frame("act\"ion", m);
            assert_eq!(direct.is_some(), expect_direct);
            let frame = direct.map_or(Frame::Value(value.clone()), Frame::Json);
            for camelize in [false, true] {
                let rendered = render(value.clone(), camelize, echo);
                let frame = match &frame {
                    Frame::Json(text) => Frame::Json(text.clone()),
                    Frame::Value(v) => Frame::Value(v.clone()),
                    Frame::Static(text) => Frame::Static(text),
                };
                assert_eq!(frame.render(camelize, echo).as_str(), rendered.as_str());
            }
        }
        let fields = Fields {
            payload: json!({"a_b": [1, {"c": "\"}"}], "z": null}),
            n: 0.1,
            list: vec![1.5, 1e300],
            text: "é\u{1}\"{[".into(),
        };
        let topic_push = Echo { topic: Some("room:a\"b".into()), reference: None, seq: Some(-42) };
        let topic_reply = Echo { topic: Some("room:lobby".into()), reference: Some("9".into()), seq: None };
        for echo in [Echo::NONE, &Echo::reply("r\"1"), &topic_push, &topic_reply] {
            both(&fields, echo, true);
            both(&NoPayload { count: 7 }, echo, true);
            both(&Unit, echo, true);
            both(&Clash { version: 3 }, echo, false);
            both(&json!({"x": 1, "action": 2}), echo, false);
            both(&json!({"x": 1, "topic": 2}), echo, false);
            let complete = r#"{"action":"complete","payload":null}"#;
            for camelize in [false, true] {
                let value = serde_json::from_str(complete).expect("json");
                assert_eq!(
                    Frame::Static(complete).render(camelize, echo).as_str(),
                    render(value, camelize, echo).as_str()
                );
            }
        }
    }

    #[test]
    fn replies_echo_version_and_ref() {
        let text = render(json!({"action": "pong", "payload": null}), false, &Echo::reply("7"));
        assert_eq!(text.as_str(), r#"{"action":"pong","payload":null,"version":1,"ref":"7"}"#);
    }

    #[test]
    fn topic_frames_append_version_topic_ref_and_seq_in_chanx_order() {
        let echo = Echo { topic: Some("room:lobby".into()), reference: Some("2".into()), seq: Some(3) };
        let text = render(json!({"action": "said", "payload": "hi"}), false, &echo);
        assert_eq!(
            text.as_str(),
            r#"{"action":"said","payload":"hi","version":1,"topic":"room:lobby","ref":"2","seq":3}"#
        );
    }
}
