//! Plain entry points into chanx's parsers of peer-controlled input, for fuzz targets and the
//! parser benchmark (feature `fuzzing`). Not public API: names and signatures may change in any
//! release. Each function runs the same code the server runs on that input.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::ValidationError;
use crate::auth::{BearerToken, CookieToken, CredentialSource, ProtocolToken};

/// A client frame split as the connection loop splits it.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedFrame {
    /// The envelope's `topic`.
    pub topic: Option<String>,
    /// The envelope's `ref`.
    pub reference: Option<String>,
    /// The envelope's `seq`.
    pub seq: Option<i64>,
    /// The message object, envelope keys removed, keys decamelized when `camelize`.
    pub body: Map<String, Value>,
}

/// Parses a text frame as a consumer does; the error is the payload of the error frame sent.
pub fn parse_frame(text: &str, camelize: bool) -> Result<ParsedFrame, Vec<ValidationError>> {
    crate::envelope::parse_text(text, camelize, true).map(|inbound| ParsedFrame {
        topic: inbound.envelope.topic,
        reference: inbound.envelope.reference,
        seq: inbound.envelope.seq,
        body: inbound.body.into_object(),
    })
}

/// Parses a frame both ways the server may (kept as text when it can be, else as a `Value`)
/// and panics where they disagree: on the envelope, on the object, and on the message a
/// handler taking a probe message would get or the error it would send. `true` when the frame was
/// kept as text.
pub fn check_frame_paths(text: &str, camelize: bool) -> bool {
    use crate::envelope::{self, BodyRepr};
    let general = envelope::parse_object(text, camelize);
    let inbound = match envelope::parse_text(text, camelize, true) {
        Ok(inbound) => inbound,
        Err(errors) => {
            assert_eq!(Err(errors), general.map(|_| ()), "both ways refuse the frame alike");
            return false;
        }
    };
    let BodyRepr::Text { action, .. } = &inbound.body.0 else { return false };
    let (envelope, object) = general.expect("a frame kept as text parses the general way");
    assert_eq!(envelope, envelope::Envelope::default(), "a frame kept as text has no envelope");
    assert_eq!(Some(*action), object.get("action").and_then(Value::as_str), "the action");
    let from_text: Map<String, Value> = serde_json::from_str(text).expect("the text is an object");
    assert_eq!(from_text, object, "the object is the text's");
    let object = Value::Object(object);
    let fast = crate::dispatch::decode_body::<Probe>(inbound.body, "probe");
    let general = crate::validation::decode_value::<Probe>(&object, "probe");
    assert_eq!(fast, general, "the message or the error");
    true
}

/// Serializes an outgoing frame as a consumer does (camelized when asked, `ref` echoed).
pub fn render_frame(frame: Value, camelize: bool, reply_ref: Option<&str>) -> String {
    let echo = crate::envelope::Echo { reference: reply_ref.map(Into::into), ..Default::default() };
    crate::envelope::render(frame, camelize, &echo).as_str().to_owned()
}

/// The message type [`map_validation_error`] decodes into: a string, an integer, a list, an
/// enum, an optional nested copy of itself, so that every error mapping is reachable.
#[derive(Debug, Deserialize, PartialEq)]
#[allow(dead_code)]
struct Probe {
    payload: ProbePayload,
}

#[derive(Debug, Deserialize, PartialEq)]
#[allow(dead_code)]
struct ProbePayload {
    name: String,
    count: i32,
    tags: Vec<String>,
    kind: ProbeKind,
    #[serde(default)]
    child: Option<Box<ProbePayload>>,
    /// Read exactly from text, but from a `Value` only within 64 bits.
    #[serde(default)]
    wide: Option<i128>,
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
enum ProbeKind {
    Alpha,
    Beta,
}

/// Decodes `body` into a fixed message type (action `probe`), as a handler's input is decoded;
/// the validation error sent when it does not fit.
pub fn map_validation_error(body: Value) -> Option<ValidationError> {
    crate::validation::decode_value::<Probe>(&body, "probe").err()
}

/// The token [`CookieToken`] reads from a `Cookie` header.
pub fn cookie_token(header: &str, name: &str) -> Option<String> {
    CookieToken::new(name).token(&crate::Scope::builder("/").header("cookie", header).build())
}

/// The token [`BearerToken`] reads from an `Authorization` header.
pub fn bearer_token(header: &str) -> Option<String> {
    BearerToken.token(&crate::Scope::builder("/").header("authorization", header).build())
}

/// The token [`ProtocolToken`] reads from a `Sec-WebSocket-Protocol` header.
pub fn protocol_token(header: &str, marker: &str) -> Option<String> {
    ProtocolToken::new(marker).token(&crate::Scope::builder("/").header("sec-websocket-protocol", header).build())
}

/// The subprotocol the handshake answers with for this `Sec-WebSocket-Protocol` header.
pub fn select_subprotocol(header: &str, markers: &[&str]) -> Option<String> {
    let mut headers = http::HeaderMap::new();
    if let Ok(value) = http::HeaderValue::from_str(header) {
        headers.insert(http::header::SEC_WEBSOCKET_PROTOCOL, value);
    }
    let markers: Vec<String> = markers.iter().map(|m| (*m).to_owned()).collect();
    crate::server::subprotocol(&headers, &markers).and_then(|v| v.to_str().ok().map(str::to_owned))
}

/// A route table as a [`Router`](crate::Router) holds it (invalid or conflicting patterns are
/// skipped instead of panicking).
#[derive(Debug, Default)]
pub struct Routes {
    matcher: matchit::Router<usize>,
}

impl Routes {
    /// The table of these patterns, indexed in order.
    pub fn new(patterns: &[&str]) -> Self {
        let mut matcher = matchit::Router::new();
        for (index, pattern) in patterns.iter().enumerate() {
            let _ = matcher.insert(*pattern, index);
        }
        Routes { matcher }
    }

    /// The index of the route matching `path`, and its decoded parameters.
    pub fn find(&self, path: &str) -> Option<(usize, Vec<(String, String)>)> {
        crate::router::match_path(&self.matcher, path).map(|(index, params)| (*index, params))
    }
}

/// [`Routes::new`] then [`Routes::find`].
pub fn match_route(patterns: &[&str], path: &str) -> Option<(usize, Vec<(String, String)>)> {
    Routes::new(patterns).find(path)
}

/// Decodes a message received from Redis as the Redis layer does (msgpack from another process).
pub fn decode_redis_message(payload: &[u8]) -> Result<crate::layer::LayerBody, String> {
    crate::layer::msgpack::decode_message(payload).map_err(|err| err.to_string())
}

/// Encodes a layer message as the Redis layer publishes it.
pub fn encode_redis_message(body: &crate::layer::LayerBody) -> Result<Vec<u8>, String> {
    rmp_serde::to_vec_named(body).map_err(|err| err.to_string())
}

/// Decodes a message popped from Redis as the core layer does (after its random prefix): the
/// channels named by its `__asgi_channel__`, and its body.
pub fn decode_redis_core_message(message: &[u8]) -> Result<(Vec<String>, crate::layer::LayerBody), String> {
    crate::layer::redis_core::decode_core_message(message).map_err(|err| err.to_string())
}

/// Encodes a layer message for `channels` as the core layer stores it, without the random prefix.
pub fn encode_redis_core_message(body: &crate::layer::LayerBody, channels: &[&str]) -> Result<Vec<u8>, String> {
    crate::layer::redis_core::encode_core_message(body, channels).map_err(|err| err.to_string())
}

/// Verifies an HS256 token with this secret (no `exp` required); its claims.
pub fn verify_jwt(secret: &[u8], token: &str) -> Result<Value, String> {
    crate::auth::JwtHs256::<Value>::new(secret).require_exp(false).verify(token).map_err(|err| err.to_string())
}

/// Signs claims into an HS256 token with this secret.
pub fn sign_jwt(secret: &[u8], claims: &Value) -> Result<String, String> {
    crate::auth::JwtHs256::<Value>::new(secret).sign(claims).map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn each_entry_point_reaches_its_parser() {
        let frame = parse_frame(r#"{"action":"new_message","ref":"7","payload":{"userName":"ada"}}"#, true);
        let frame = frame.expect("a valid frame");
        assert_eq!(frame.reference.as_deref(), Some("7"));
        assert_eq!(Value::Object(frame.body), json!({"action": "new_message", "payload": {"user_name": "ada"}}));
        assert_eq!(map_validation_error(json!({"payload": {}})).map(|e| e.kind).as_deref(), Some("missing"));
        assert_eq!(cookie_token("a=1; sessionid=abc", "sessionid").as_deref(), Some("abc"));
        assert_eq!(bearer_token("Bearer t").as_deref(), Some("t"));
        assert_eq!(protocol_token("access_token, t", "access_token").as_deref(), Some("t"));
        assert_eq!(select_subprotocol("chat, access_token, t", &["access_token"]).as_deref(), Some("access_token"));
        assert_eq!(match_route(&["/ws/{room}/"], "/ws/a%20b/"), Some((0, vec![("room".into(), "a b".into())])));
        let body = crate::layer::LayerBody::ChannelEvent { event_data: json!({"action": "ping"}) };
        let bytes = encode_redis_message(&body).expect("encoded");
        assert_eq!(decode_redis_message(&bytes), Ok(body));
        let token = sign_jwt(b"k", &json!({"sub": "ada"})).expect("signed");
        assert_eq!(verify_jwt(b"k", &token), Ok(json!({"sub": "ada"})));
    }
}

/// What [`serve`](crate::serve) makes of the first bytes a client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstRequest {
    /// A handshake answered with 101 without hyper, for this path and these path parameters.
    Upgraded { path: String, params: Vec<(String, String)> },
    /// A handshake refused without hyper, with this status.
    Refused(u16),
    /// Left to hyper: the bytes read so far, which hyper reads as if it had read them.
    Http(Vec<u8>),
}

/// Reads the first request head from `chunks`, delivered one read each as a network delivers
/// them, and sorts it as `serve` does for `router`.
pub fn first_request(router: &crate::Router, chunks: &[&[u8]]) -> FirstRequest {
    use crate::server::upgrade::{Head, read_head, take};
    use futures_util::FutureExt;
    let mut reader = Chunks { chunks, at: (0, 0) };
    let Some(Ok(head)) = read_head(&mut reader).now_or_never() else {
        unreachable!("reading from memory neither waits nor fails")
    };
    match take(router, head, None) {
        Head::Http(head) => FirstRequest::Http(head),
        Head::WebSocket { answer: Ok(upgrade), .. } => FirstRequest::Upgraded {
            path: upgrade.scope().path().to_owned(),
            params: upgrade.scope().params().to_vec(),
        },
        Head::WebSocket { answer: Err(refused), .. } => FirstRequest::Refused(refused.status.as_u16()),
    }
}

/// A reader giving one chunk per read (what the buffer has no room for at the next), then the
/// end.
struct Chunks<'a> {
    chunks: &'a [&'a [u8]],
    /// The chunk being read, and how much of it was.
    at: (usize, usize),
}

impl tokio::io::AsyncRead for Chunks<'_> {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let (chunk, read) = &mut this.at;
        if let Some(bytes) = this.chunks.get(*chunk) {
            let n = (bytes.len() - *read).min(buf.remaining());
            buf.put_slice(&bytes[*read..*read + n]);
            *read += n;
            if *read == bytes.len() {
                this.at = (*chunk + 1, 0);
            }
        }
        std::task::Poll::Ready(Ok(()))
    }
}
