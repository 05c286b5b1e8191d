//! Times each parser of peer-controlled input on adversarial input of about 1 KiB and of about
//! 1 MiB, and prints a Markdown table of the time per byte at both sizes. Linear parsers show
//! about the same time per byte at both; a quadratic one shows about a thousand times more at 1 MiB.
//!
//! ```sh
//! cargo run --release -p chanx-bench --bin parsers
//! ```
//!
//! Each case runs for at least `--millis` (default 300) per size, in rounds of at least 30 ms;
//! the fastest round is reported, the one least disturbed by other work on the machine.
//! `--only TEXT` runs the cases whose parser or input contains TEXT.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chanx::__fuzz;
use chanx::auth::JwtHs256;
use serde_json::{Value, json};

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;
const SECRET: &[u8] = b"a secret of at least 32 bytes, for the bench";

/// One parser and how to make its adversarial input of about `n` bytes.
struct Case {
    parser: &'static str,
    input: &'static str,
    /// Builds the input for a size, and returns the work to time (one call of the parser).
    prepare: fn(usize) -> Box<dyn FnMut() -> usize>,
}

fn underscores(n: usize) -> String {
    "_".repeat(n)
}

/// A frame `{"action":"echo","payload":{KEY:1}}` of `n` bytes.
fn frame_with_key(n: usize, key: fn(usize) -> String) -> String {
    let wrapper = r#"{"action":"echo","payload":{"":1}}"#.len();
    format!(r#"{{"action":"echo","payload":{{"{}":1}}}}"#, key(n - wrapper))
}

/// A frame `{"action":"echo","payload":[{"aB":0},{"aB":0},…]}` of about `n` bytes: many small
/// objects whose key changes, so each is rebuilt.
fn nested_objects_frame(n: usize) -> String {
    let item = r#"{"aB":0},"#;
    let count = (n - r#"{"action":"echo","payload":[]}"#.len()) / item.len();
    let items = item.repeat(count);
    format!(r#"{{"action":"echo","payload":[{}]}}"#, items.trim_end_matches(','))
}

/// A Redis message `{"type": "handle_channel_event", "event_data": [{}, {}, …]}` of `n` bytes:
/// one byte per empty map, the most JSON values per byte msgpack allows.
fn redis_empty_maps(n: usize) -> Vec<u8> {
    let mut bytes = vec![0x82, 0xa4];
    bytes.extend_from_slice(b"type");
    bytes.push(0xb4);
    bytes.extend_from_slice(b"handle_channel_event");
    bytes.push(0xaa);
    bytes.extend_from_slice(b"event_data");
    let count = n - bytes.len() - 5;
    bytes.push(0xdd);
    bytes.extend_from_slice(&u32::try_from(count).unwrap_or(u32::MAX).to_be_bytes());
    bytes.extend(std::iter::repeat_n(0x80, count));
    bytes
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            parser: "camelize",
            input: "key of `_`",
            prepare: |n| {
                let key = underscores(n);
                Box::new(move || black_box(chanx::camelize::camelize(black_box(&key))).len())
            },
        },
        Case {
            parser: "camelize",
            input: "key of `a_` repeated",
            prepare: |n| {
                let key = "a_".repeat(n / 2);
                Box::new(move || black_box(chanx::camelize::camelize(black_box(&key))).len())
            },
        },
        Case {
            parser: "decamelize",
            input: "key of `_`",
            prepare: |n| {
                let key = underscores(n);
                Box::new(move || black_box(chanx::camelize::decamelize(black_box(&key))).len())
            },
        },
        Case {
            parser: "decamelize",
            input: "key of `_A` repeated, then `x`",
            prepare: |n| {
                let key = format!("{}x", "_A".repeat(n / 2));
                Box::new(move || black_box(chanx::camelize::decamelize(black_box(&key))).len())
            },
        },
        Case {
            parser: "decamelize",
            input: "key of capitals, then `b`",
            prepare: |n| {
                let key = format!("{}b", "A".repeat(n - 1));
                Box::new(move || black_box(chanx::camelize::decamelize(black_box(&key))).len())
            },
        },
        Case {
            parser: "envelope parse, camelize on",
            input: "frame with one key of `_`",
            prepare: |n| {
                let frame = frame_with_key(n, underscores);
                Box::new(move || usize::from(__fuzz::parse_frame(black_box(&frame), true).is_ok()))
            },
        },
        Case {
            parser: "envelope parse, camelize on",
            input: "frame with `{\"aB\":0}` objects nested in a list",
            prepare: |n| {
                let frame = nested_objects_frame(n);
                Box::new(move || usize::from(__fuzz::parse_frame(black_box(&frame), true).is_ok()))
            },
        },
        Case {
            parser: "baseline: serde_json::from_str into Value",
            input: "the same frame, parsed only",
            prepare: |n| {
                let frame = nested_objects_frame(n);
                Box::new(move || usize::from(serde_json::from_str::<Value>(black_box(&frame)).is_ok()))
            },
        },
        Case {
            parser: "frame render, camelize on",
            input: "reply with one key of `x_` repeated",
            prepare: |n| {
                let frame = json!({"action": "reply", "payload": {"x_".repeat(n / 2): 1}});
                Box::new(move || __fuzz::render_frame(black_box(frame.clone()), true, Some("7")).len())
            },
        },
        Case {
            parser: "validation error mapping",
            input: "long string where an integer goes (quoted in the message)",
            prepare: |n| {
                let body = json!({"payload": {"name": "a", "count": "9".repeat(n), "tags": [], "kind": "alpha"}});
                Box::new(move || __fuzz::map_validation_error(black_box(body.clone())).map_or(0, |e| e.msg.len()))
            },
        },
        Case {
            parser: "validation error mapping",
            input: "list of strings, the last one wrong",
            prepare: |n| {
                let mut tags: Vec<Value> = vec![json!("t"); n / 4];
                tags.push(json!(1));
                let body = json!({"payload": {"name": "a", "count": 1, "tags": tags, "kind": "alpha"}});
                Box::new(move || __fuzz::map_validation_error(black_box(body.clone())).map_or(0, |e| e.loc.len()))
            },
        },
        Case {
            parser: "cookie parsing",
            input: "`a=1; ` repeated, the session cookie last",
            prepare: |n| {
                let header = format!("{}sessionid=s3cr3t", "a=1; ".repeat(n / 6));
                Box::new(move || __fuzz::cookie_token(black_box(&header), "sessionid").map_or(0, |t| t.len()))
            },
        },
        Case {
            parser: "subprotocol parsing",
            input: "`chat, ` repeated, then the token marker",
            prepare: |n| {
                let header = format!("{}access_token, t0k3n", "chat, ".repeat(n / 6));
                Box::new(move || __fuzz::protocol_token(black_box(&header), "access_token").map_or(0, |t| t.len()))
            },
        },
        Case {
            parser: "route matching",
            input: "path parameter of `%41` repeated",
            prepare: |n| {
                let routes = __fuzz::Routes::new(&["/ws/chat/{room}/", "/ws/chat/{room}/{topic}/", "/ws/{*rest}"]);
                let path = format!("/ws/chat/{}/", "%41".repeat(n / 3));
                Box::new(move || routes.find(black_box(&path)).map_or(0, |(_, params)| params.len()))
            },
        },
        Case {
            parser: "route matching",
            input: "path of `a/` repeated (catch-all after backtracking)",
            prepare: |n| {
                let routes = __fuzz::Routes::new(&["/ws/chat/{room}/", "/ws/chat/{room}/{topic}/", "/ws/{*rest}"]);
                let path = format!("/ws/chat/{}", "a/".repeat(n / 2));
                Box::new(move || routes.find(black_box(&path)).map_or(0, |(index, _)| index))
            },
        },
        Case {
            parser: "handshake head, a byte per read",
            input: "`X: y` lines that never end the head",
            prepare: |n| {
                let router = handshake_router();
                let head = format!("GET /ws/room/1/ HTTP/1.1\r\n{}", "X: y\r\n".repeat(n / 6));
                Box::new(move || {
                    let reads: Vec<&[u8]> = head.as_bytes().chunks(1).collect();
                    match __fuzz::first_request(&router, black_box(&reads)) {
                        __fuzz::FirstRequest::Http(read) => read.len(),
                        _ => 0,
                    }
                })
            },
        },
        Case {
            parser: "handshake head, one read",
            input: "a handshake with one long header value",
            prepare: |n| {
                let router = handshake_router();
                let head = format!(
                    "GET /ws/room/1/ HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
                     Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX: {}\r\n\r\n",
                    "a".repeat(n.saturating_sub(160))
                );
                Box::new(move || match __fuzz::first_request(&router, black_box(&[head.as_bytes()])) {
                    __fuzz::FirstRequest::Upgraded { params, .. } => params.len(),
                    _ => 0,
                })
            },
        },
        Case {
            parser: "Redis message decode",
            input: "msgpack list of empty maps (1 byte each)",
            prepare: |n| {
                let bytes = redis_empty_maps(n);
                Box::new(move || usize::from(__fuzz::decode_redis_message(black_box(&bytes)).is_ok()))
            },
        },
        Case {
            parser: "baseline: rmp_serde::from_slice into Value",
            input: "the same message, decoded only",
            prepare: |n| {
                let bytes = redis_empty_maps(n);
                Box::new(move || usize::from(rmp_serde::from_slice::<Value>(black_box(&bytes)).is_ok()))
            },
        },
        Case {
            parser: "JWT verify, default 8 KiB limit",
            input: "validly signed token with one long claim",
            prepare: |n| {
                let token = signed_token(n);
                let jwt = JwtHs256::<Value>::new(SECRET).require_exp(false);
                Box::new(move || usize::from(jwt.verify(black_box(&token)).is_ok()))
            },
        },
        Case {
            parser: "JWT verify, limit lifted",
            input: "validly signed token with one long claim",
            prepare: |n| {
                let token = signed_token(n);
                let jwt = JwtHs256::<Value>::new(SECRET).require_exp(false).max_len(usize::MAX);
                Box::new(move || usize::from(jwt.verify(black_box(&token)).is_ok()))
            },
        },
    ]
}

/// A consumer for the handshake rows: only its route matters.
struct Room;

#[chanx::consumer]
impl Room {
    #[ws_handler]
    async fn ping(&self, _msg: chanx::messages::Ping) -> chanx::messages::Pong {
        chanx::messages::Pong {}
    }
}

/// The router the handshake rows sort heads for.
fn handshake_router() -> chanx::Router {
    chanx::Router::new().route("/ws/room/{room}/", |_: &chanx::Scope| Room)
}

/// A token of about `n` bytes signed with [`SECRET`].
fn signed_token(n: usize) -> String {
    let jwt = JwtHs256::<Value>::new(SECRET);
    // base64 grows the claims by 4/3; the header and signature take about 80 bytes.
    let claim = "x".repeat((n.saturating_sub(120)) * 3 / 4);
    jwt.sign(&json!({"sub": claim})).unwrap_or_default()
}

/// Nanoseconds per byte of input: the fastest of rounds of at least 30 ms, over `budget`.
fn time_per_byte(work: &mut dyn FnMut() -> usize, bytes: usize, budget: Duration) -> f64 {
    let started = Instant::now();
    let mut best = f64::INFINITY;
    while started.elapsed() < budget || best.is_infinite() {
        let round = Instant::now();
        let mut calls = 0u32;
        while round.elapsed() < Duration::from_millis(30) || calls == 0 {
            black_box(work());
            calls += 1;
        }
        let per_call = round.elapsed().as_secs_f64() * 1e9 / f64::from(calls);
        best = best.min(per_call / bytes as f64);
    }
    best
}

fn main() {
    let option = |name: &str| std::env::args().skip_while(|arg| arg != name).nth(1);
    let budget = Duration::from_millis(option("--millis").and_then(|v| v.parse().ok()).unwrap_or(300));
    let only = option("--only").unwrap_or_default();
    println!("| parser | adversarial input | 1 KiB: ns/byte | 1 MiB: ns/byte | 1 MiB / 1 KiB |");
    println!("|---|---|---:|---:|---:|");
    for case in cases().into_iter().filter(|case| case.parser.contains(&only) || case.input.contains(&only)) {
        let small = time_per_byte(&mut (case.prepare)(KIB), KIB, budget);
        let large = time_per_byte(&mut (case.prepare)(MIB), MIB, budget);
        println!("| {} | {} | {small:.2} | {large:.2} | {:.2}× |", case.parser, case.input, large / small);
    }
}
