//! The WebSocket close codes chanx uses, and why.

/// A normal close, by either side.
pub const NORMAL: u16 = 1000;
/// The server is going away (shutdown).
pub const GOING_AWAY: u16 = 1001;
/// A policy limit was crossed, such as the outbound queue of a client that stopped reading.
pub const POLICY_VIOLATION: u16 = 1008;
/// The connection's channel-layer inbox overflowed: it could not keep up with the events and
/// group messages sent to it, and some were lost. IANA's "try again later" (a temporary
/// condition on the server side): the client should reconnect and re-sync its state, since it
/// missed messages.
pub const INBOX_OVERFLOW: u16 = 1013;
/// A frame or message was larger than the configured limit.
pub const MESSAGE_TOO_BIG: u16 = 1009;
/// The client sent nothing, not even a pong, within the idle timeout. The Python `websockets`
/// server (under uvicorn, where chanx runs) uses the same code for its keepalive timeout.
pub const IDLE_TIMEOUT: u16 = 1011;
/// Authentication did not finish within its deadline (4000 + HTTP 408).
pub const AUTHENTICATION_TIMEOUT: u16 = 4408;
/// Authentication failed with a status outside 400–599 (failures inside it close with 4000 + status).
pub const UNAUTHENTICATED: u16 = 4401;

/// The longest close reason a close frame holds, in bytes (125 bytes of payload minus the code).
pub const MAX_REASON_BYTES: usize = 123;

/// Whether an application may close connections with `code` through
/// [`Layer::close_group`](crate::Layer::close_group): 1000, or 3000–4999 (registered and private
/// application codes). The protocol codes 1001–1015 are left to the server, which sends them for
/// its own reasons (shutdown, limits, errors), so that a client can trust what they mean.
///
/// ```
/// use chanx::close_code::is_application_close_code;
/// assert!(is_application_close_code(1000) && is_application_close_code(4403));
/// assert!(!is_application_close_code(1001) && !is_application_close_code(1013) && !is_application_close_code(5000));
/// ```
pub fn is_application_close_code(code: u16) -> bool {
    code == NORMAL || (3000..=4999).contains(&code)
}

/// A close request that came through a channel layer, possibly from another process that did
/// not check it: an invalid code becomes 1000 and a long reason is cut at a character boundary.
/// The connection still closes, since a close often means that access ended.
pub(crate) fn sanitize(code: u16, reason: &str) -> (u16, String) {
    let code = if is_application_close_code(code) { code } else { NORMAL };
    (code, crate::validation::prefix_within(reason, MAX_REASON_BYTES).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_from_other_processes_are_made_sendable() {
        assert_eq!(sanitize(4403, "revoked"), (4403, "revoked".to_owned()));
        assert_eq!(sanitize(1006, ""), (NORMAL, String::new()));
        let (_, reason) = sanitize(4000, &"é".repeat(100));
        assert_eq!(reason.len(), 122);
    }
}
