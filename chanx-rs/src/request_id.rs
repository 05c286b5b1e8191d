//! Request ids: the `x-request-id` a client or a proxy sent, when it is safe to copy into logs
//! and spans, else a new one.
//!
//! A client chooses its header, and the id is written into every log line of its request or
//! connection: an unbounded or arbitrary one could flood the logs, or forge what looks like other
//! requests' lines. So an id is kept only when it is short and plain.

/// The longest request id kept, in bytes.
pub const MAX_LEN: usize = 128;

/// Whether `id` is kept as it is: 1 to [`MAX_LEN`] bytes of ASCII letters, digits and `-_.:/+=@`
/// (UUIDs, base64 and the ids of common proxies and tracers; no spaces, quotes or control
/// characters, which could forge or break a log line).
///
/// ```
/// use chanx::request_id::is_acceptable;
///
/// assert!(is_acceptable("4bf92f3577b34da6a3ce929d0e0e4736"));
/// assert!(is_acceptable("trace-me_42.1"));
/// assert!(!is_acceptable(""));
/// assert!(!is_acceptable("id with spaces"));
/// assert!(!is_acceptable(&"x".repeat(129)));
/// ```
pub fn is_acceptable(id: &str) -> bool {
    (1..=MAX_LEN).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(&b))
}

/// The id to log for a request whose `x-request-id` header is `header`: the header when it is
/// [acceptable](is_acceptable), else a new UUID.
///
/// ```
/// use chanx::request_id::from_header;
///
/// assert_eq!(from_header(Some("trace-me-42")), "trace-me-42");
/// let fresh = from_header(Some("\"},{\"level\":\"ERROR\""));
/// assert_eq!(fresh.len(), 36, "a new UUID: {fresh}");
/// assert_ne!(from_header(None), from_header(None));
/// ```
pub fn from_header(header: Option<&str>) -> String {
    match header {
        Some(id) if is_acceptable(id) => id.to_owned(),
        _ => uuid::Uuid::new_v4().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_or_unusual_ids_are_replaced() {
        let longest = "a".repeat(MAX_LEN);
        assert_eq!(from_header(Some(&longest)), longest);
        for hostile in ["a".repeat(MAX_LEN + 1), "a b".into(), "a\u{7f}".into(), "é".into(), "a\"b".into(), "{}".into()]
        {
            let replaced = from_header(Some(&hostile));
            assert!(replaced != hostile && uuid::Uuid::parse_str(&replaced).is_ok(), "{hostile:?} -> {replaced}");
        }
    }
}
