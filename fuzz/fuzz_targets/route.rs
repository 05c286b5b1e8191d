//! Matching a request path against a router's table, and decoding its parameters.
//!
//! Invariants: no panic; the route found, and its decoded parameters, are those a plain
//! segment-by-segment matcher finds (a `{param}` is one non-empty segment, a `{*rest}` the
//! non-empty remainder, static routes win over parameters).
#![no_main]

use std::sync::OnceLock;

use chanx::__fuzz::Routes;
use libfuzzer_sys::fuzz_target;

/// A table in the style of the sandbox's: static, one parameter, two, a catch-all, and a static
/// route beside a parameter at the same place.
const PATTERNS: &[&str] = &[
    "/ws/echo/",
    "/ws/chat/{room}/",
    "/ws/chat/lobby/",
    "/ws/users/{user}/rooms/{room}/",
    "/ws/files/{*path}",
    "/asyncapi/",
];

fuzz_target!(|data: &[u8]| {
    static ROUTES: OnceLock<Routes> = OnceLock::new();
    let routes = ROUTES.get_or_init(|| Routes::new(PATTERNS));
    let path = String::from_utf8_lossy(data);
    let found = routes.find(&path);
    assert_eq!(found, reference(&path), "matching {path:?}");
});

/// The route and decoded parameters `path` should get.
fn reference(path: &str) -> Option<(usize, Vec<(String, String)>)> {
    let decode = |raw: &str| percent_decode(raw);
    let rest = path.strip_prefix('/')?;
    let segments: Vec<&str> = rest.split('/').collect();
    match segments[..] {
        ["ws", "echo", ""] => Some((0, vec![])),
        ["ws", "chat", "lobby", ""] => Some((2, vec![])),
        ["ws", "chat", room, ""] if !room.is_empty() => Some((1, vec![("room".into(), decode(room))])),
        ["ws", "users", user, "rooms", room, ""] if !user.is_empty() && !room.is_empty() => {
            Some((3, vec![("user".into(), decode(user)), ("room".into(), decode(room))]))
        }
        ["asyncapi", ""] => Some((5, vec![])),
        _ => {
            let tail = path.strip_prefix("/ws/files/")?;
            (!tail.is_empty()).then(|| (4, vec![("path".into(), decode(tail))]))
        }
    }
}

/// `%XX` to its byte, then UTF-8 with invalid sequences replaced; anything else as is.
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) =
                (bytes.get(i + 1).and_then(|&b| hex(b)), bytes.get(i + 2).and_then(|&b| hex(b)))
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
