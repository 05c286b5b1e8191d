//! The first bytes of a connection, as `chanx::serve` reads and sorts them before hyper: the
//! request head read up to its end (at most `MAX_HEAD` bytes), then a WebSocket handshake on a
//! routed path answered directly, or everything left to hyper.
//!
//! The input's first byte sets how the rest is cut into reads (1 to 64 bytes each, or all at
//! once). Invariants: no panic; the outcome does not depend on how the bytes arrive; a
//! handshake answered directly is one hyper parses too, to the same path, and its bytes start
//! with a complete head; what is left to hyper is exactly the bytes read, a prefix of the input.
#![no_main]

use std::sync::OnceLock;

use chanx::__fuzz::{FirstRequest, first_request};
use chanx::messages::{Ping, Pong};
use chanx::{Router, Scope};
use libfuzzer_sys::fuzz_target;

struct Room;

#[chanx::consumer]
impl Room {
    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }
}

fuzz_target!(|data: &[u8]| {
    static ROUTER: OnceLock<Router> = OnceLock::new();
    let router = ROUTER.get_or_init(|| {
        Router::new()
            .route("/ws/room/{room}/", |_: &Scope| Room)
            .with_settings(chanx::Settings::default().allowed_origins(["https://app.example.com"]))
    });
    let Some((&cut, bytes)) = data.split_first() else { return };
    let whole = first_request(router, &[bytes]);
    let size = usize::from(cut % 65).max(1);
    let chunks: Vec<&[u8]> = bytes.chunks(size).collect();
    let pieces = first_request(router, &chunks);
    // Read in pieces, less may be read past the head; all the same, it is hyper's.
    match (&pieces, &whole) {
        (FirstRequest::Http(read), FirstRequest::Http(_)) => assert!(bytes.starts_with(read)),
        _ => assert_eq!(pieces, whole, "read in {size}-byte pieces"),
    }
    match whole {
        FirstRequest::Http(read) => assert!(bytes.starts_with(&read), "hyper gets the bytes as sent"),
        FirstRequest::Upgraded { path, params } => {
            let (target, len) = hypers_target(bytes).expect("hyper parses what was upgraded");
            let uri = http::Uri::from_maybe_shared(target.into_bytes()).expect("hyper's target");
            assert_eq!(uri.path(), path);
            assert!(len <= 8 * 1024);
            let room = path.strip_prefix("/ws/room/").and_then(|p| p.strip_suffix('/')).expect("the route");
            assert_eq!(params.len(), 1);
            assert!(!room.is_empty() && !room.contains('/'), "{path}");
        }
        FirstRequest::Refused(status) => {
            hypers_target(bytes).expect("hyper parses what was refused");
            assert_eq!(status, 403, "only a foreign origin is refused here");
        }
    }
});

/// The request target and head length hyper's parser finds in `bytes`.
fn hypers_target(bytes: &[u8]) -> Option<(String, usize)> {
    let mut headers = [httparse::EMPTY_HEADER; 100];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(bytes) {
        Ok(httparse::Status::Complete(len)) => Some((request.path?.to_owned(), len)),
        _ => None,
    }
}
