//! How a connection ends: which errors and decisions close the socket, with which close frame,
//! counted as what.
//!
//! Every path that ends a connection (the read loop, the limits, the deadlines, authentication,
//! the channel layer, shutdown, the application) names its [`EndReason`] here, and the socket
//! code only asks it for its [close frame](EndReason::close_frame) and its
//! [counter](EndReason::metric). No other file writes a close code. docs/protocol.md's table of
//! close codes is checked against this file by a test.

use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::error::ProtocolError;

use crate::metrics::{Disconnect, Metrics};

/// The WebSocket close codes chanx uses, and why.
pub mod close_code {
    /// A normal close, by either side.
    pub const NORMAL: u16 = 1000;
    /// The server is going away (shutdown).
    pub const GOING_AWAY: u16 = 1001;
    /// The client broke the WebSocket protocol (a bad frame, an unmasked frame, ...).
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// A text frame that is not valid UTF-8 (IANA's "invalid frame payload data").
    pub const INVALID_PAYLOAD: u16 = 1007;
    /// A policy limit was crossed, such as the outbound queue of a client that stopped reading.
    pub const POLICY_VIOLATION: u16 = 1008;
    /// A frame or message was larger than the configured limit.
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The server could not go on with the connection: its channel layer failed.
    pub const INTERNAL_ERROR: u16 = 1011;
    /// The client sent nothing, not even a pong, within the idle timeout. The Python `websockets`
    /// server (under uvicorn, where chanx runs) uses the same code for its keepalive timeout.
    pub const IDLE_TIMEOUT: u16 = 1011;
    /// The connection's channel-layer inbox overflowed: it could not keep up with the events and
    /// group messages sent to it, and some were lost. IANA's "try again later" (a temporary
    /// condition on the server side): the client should reconnect and re-sync its state, since it
    /// missed messages.
    pub const INBOX_OVERFLOW: u16 = 1013;
    /// Authentication did not finish within its deadline (4000 + HTTP 408).
    pub const AUTHENTICATION_TIMEOUT: u16 = 4408;
    /// Authentication failed with a status outside 400–599 (failures inside it close with 4000 + status).
    pub const UNAUTHENTICATED: u16 = 4401;

    /// The longest close reason a close frame holds, in bytes (125 bytes of payload minus the code).
    pub const MAX_REASON_BYTES: usize = 123;

    /// Refused authentication closes with this plus the HTTP status.
    const AUTHENTICATION_BASE: u16 = 4000;
    /// The codes for applications: registered (3000–3999) and private (4000–4999).
    pub(crate) const APPLICATION: std::ops::RangeInclusive<u16> = 3000..=4999;

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
        code == NORMAL || APPLICATION.contains(&code)
    }

    /// Whether a close frame may carry `code`, as tungstenite's clients check it: RFC 6455 keeps
    /// 0–999, 1004–1006, 1015 and the unassigned codes up to 2999 off the wire (tungstenite also
    /// refuses 1014), and a client fails the connection on them instead of reading the close.
    pub(crate) fn is_sendable(code: u16) -> bool {
        tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::from(code).is_allowed()
    }

    /// The close code of a connection whose authentication was refused with HTTP `status`:
    /// 4000 + the status when it is 400–599, else [`UNAUTHENTICATED`].
    pub(crate) fn authentication_refused(status: u16) -> u16 {
        if (400..600).contains(&status) { AUTHENTICATION_BASE + status } else { UNAUTHENTICATED }
    }
}

use close_code::*;

/// Why a connection ended. Each reason knows its close frame and the counter it adds to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EndReason {
    /// The consumer finished and nobody asked for a close.
    Normal,
    /// The client sent a close frame (tungstenite answers it) or ended the stream.
    ClientClosed,
    /// The transport failed: a reset without closing handshake, a failed read or write. Nothing
    /// more can be written.
    TransportError,
    /// A client frame or message over `max_message_size`.
    TooBig,
    /// The client broke the WebSocket protocol.
    ProtocolError,
    /// A client text frame that is not UTF-8.
    InvalidUtf8,
    /// The client stopped reading and its outbound queue filled up.
    SlowClient,
    /// The channel-layer inbox dropped a message for this connection.
    InboxOverflow,
    /// Nothing from the client, not even a pong, within `idle_timeout`.
    Idle,
    /// The server is shutting down.
    Shutdown,
    /// The layer could not give the connection a channel.
    LayerUnavailable,
    /// The layer dropped the connection's channel.
    LayerClosed,
    /// Joining one of the consumer's groups failed (an invalid name, a layer error).
    GroupJoinFailed,
    /// A lifecycle hook of the consumer panicked (`groups`, `post_authentication`).
    ServerError,
    /// The authenticator refused with this HTTP status and text.
    AuthenticationRefused { status: u16, text: String },
    /// Authentication did not finish within `authentication_timeout`.
    AuthenticationTimedOut,
    /// [`Context::close`](crate::Context::close): the application's code and reason, made
    /// sendable by [`EndReason::application`].
    Application { code: u16, reason: String },
    /// [`Layer::close_group`](crate::Layer::close_group), made sendable by [`EndReason::group`].
    Group { code: u16, reason: String },
}

impl EndReason {
    /// A close request that came through a channel layer, possibly from another process that did
    /// not check it: an invalid code becomes 1000 and a long reason is cut at a character
    /// boundary. The connection still closes, since a close often means that access ended.
    pub(crate) fn group(code: u16, reason: &str) -> Self {
        let code = if is_application_close_code(code) { code } else { NORMAL };
        EndReason::Group { code, reason: crate::validation::prefix_within(reason, MAX_REASON_BYTES).to_owned() }
    }

    /// A close asked for by the application's own code, which may pass a code no close frame
    /// may carry (1006, 0) or a reason built from what a peer sent: such a code becomes 1000 and
    /// a long reason is cut at a character boundary, so the client reads a close frame rather
    /// than failing on an invalid one. Any code a client may receive is kept (1008, 1011, 4403).
    pub(crate) fn application(code: u16, reason: &str) -> Self {
        let sendable = if is_sendable(code) { code } else { NORMAL };
        if sendable != code {
            tracing::warn!(code, "Context::close with a code no close frame may carry; closing with 1000");
        }
        let reason = crate::validation::prefix_within(reason, MAX_REASON_BYTES).to_owned();
        EndReason::Application { code: sendable, reason }
    }

    /// What a failed read of a client frame means.
    pub(crate) fn from_read_error(err: WsError) -> Self {
        match err {
            WsError::Capacity(err) => {
                tracing::info!(error = %err, "client frame over the size limit");
                EndReason::TooBig
            }
            // The client vanished without a close frame: nothing to answer.
            WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
                tracing::debug!("the client left without a closing handshake");
                EndReason::TransportError
            }
            WsError::Protocol(err) => {
                tracing::info!(error = %err, "WebSocket protocol error");
                EndReason::ProtocolError
            }
            WsError::Utf8(_) => EndReason::InvalidUtf8,
            err => {
                tracing::debug!(error = %err, "read failed; the client is gone");
                EndReason::TransportError
            }
        }
    }

    /// The close frame the server sends, or `None` when it sends none of its own (the client
    /// closed, and tungstenite answers; or the transport failed).
    pub(crate) fn close_frame(&self) -> Option<(u16, &str)> {
        // Every reason fits a frame, whoever wrote it (an authenticator sets its status text).
        self.unchecked_close_frame()
            .map(|(code, text)| (code, crate::validation::prefix_within(text, MAX_REASON_BYTES)))
    }

    fn unchecked_close_frame(&self) -> Option<(u16, &str)> {
        Some(match self {
            EndReason::ClientClosed | EndReason::TransportError => return None,
            EndReason::Normal => (NORMAL, ""),
            EndReason::TooBig => (MESSAGE_TOO_BIG, "message too big"),
            EndReason::ProtocolError => (PROTOCOL_ERROR, "protocol error"),
            EndReason::InvalidUtf8 => (INVALID_PAYLOAD, "invalid UTF-8"),
            EndReason::SlowClient => (POLICY_VIOLATION, "outbound queue full"),
            EndReason::InboxOverflow => (INBOX_OVERFLOW, "inbox overflow: reconnect to re-sync"),
            EndReason::Idle => (IDLE_TIMEOUT, "keepalive timeout"),
            EndReason::Shutdown => (GOING_AWAY, "server shutting down"),
            EndReason::LayerUnavailable => (INTERNAL_ERROR, "channel layer unavailable"),
            EndReason::LayerClosed => (INTERNAL_ERROR, "channel layer closed"),
            EndReason::GroupJoinFailed => (INTERNAL_ERROR, "could not join group"),
            EndReason::ServerError => (INTERNAL_ERROR, "internal server error"),
            EndReason::AuthenticationRefused { status, text } => (authentication_refused(*status), text),
            // The text of status 408, as the `authentication` frame says.
            EndReason::AuthenticationTimedOut => (AUTHENTICATION_TIMEOUT, "Request Timeout"),
            EndReason::Application { code, reason } | EndReason::Group { code, reason } => (*code, reason),
        })
    }

    /// The counter this end adds to; `None` for a normal end.
    pub(crate) fn metric(&self) -> Option<Disconnect> {
        Some(match self {
            EndReason::Normal => return None,
            EndReason::ClientClosed => Disconnect::ClientClosed,
            EndReason::TransportError => Disconnect::TransportError,
            EndReason::TooBig => Disconnect::TooBig,
            EndReason::ProtocolError => Disconnect::ProtocolError,
            EndReason::InvalidUtf8 => Disconnect::InvalidUtf8,
            EndReason::SlowClient => Disconnect::SlowClient,
            EndReason::InboxOverflow => Disconnect::InboxOverflow,
            EndReason::Idle => Disconnect::Idle,
            EndReason::Shutdown => Disconnect::Shutdown,
            EndReason::LayerUnavailable | EndReason::LayerClosed | EndReason::GroupJoinFailed => Disconnect::LayerError,
            EndReason::ServerError => Disconnect::ServerError,
            EndReason::AuthenticationRefused { .. } => Disconnect::AuthRefused,
            EndReason::AuthenticationTimedOut => Disconnect::AuthTimeout,
            EndReason::Application { .. } => Disconnect::Application,
            EndReason::Group { .. } => Disconnect::Group,
        })
    }

    /// Counts this end in `metrics`. Called once per connection, where its end is settled.
    pub(crate) fn count(&self, metrics: &Metrics) {
        if let Some(metric) = self.metric() {
            metrics.closed_for(metric);
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio_tungstenite::tungstenite::error::CapacityError;

    use super::*;

    #[test]
    fn requests_from_other_processes_are_made_sendable() {
        assert_eq!(EndReason::group(4403, "revoked"), EndReason::Group { code: 4403, reason: "revoked".into() });
        assert_eq!(EndReason::group(1006, ""), EndReason::Group { code: NORMAL, reason: String::new() });
        let EndReason::Group { reason, .. } = EndReason::group(4000, &"é".repeat(100)) else { unreachable!() };
        assert_eq!(reason.len(), 122);
    }

    #[test]
    fn application_closes_are_made_sendable() {
        assert_eq!(EndReason::application(4403, "gone"), EndReason::Application { code: 4403, reason: "gone".into() });
        // The protocol codes a server may send are the application's to use too.
        assert_eq!(EndReason::application(POLICY_VIOLATION, "").close_frame(), Some((POLICY_VIOLATION, "")));
        for forbidden in [0, 999, 1004, 1005, 1006, 1014, 1015, 2999, 5000] {
            assert_eq!(EndReason::application(forbidden, "x").close_frame(), Some((NORMAL, "x")), "{forbidden}");
        }
        let EndReason::Application { reason, .. } = EndReason::application(4000, &"é".repeat(100)) else {
            unreachable!()
        };
        assert_eq!(reason.len(), 122);
    }

    #[test]
    fn every_close_reason_fits_a_frame() {
        let long = EndReason::AuthenticationRefused { status: 403, text: "x".repeat(500) };
        assert_eq!(long.close_frame().map(|(_, text)| text.len()), Some(MAX_REASON_BYTES));
    }

    #[test]
    fn read_errors_map_to_their_close() {
        let too_big = WsError::Capacity(CapacityError::MessageTooLong { size: 2, max_size: 1 });
        assert_eq!(EndReason::from_read_error(too_big).close_frame(), Some((MESSAGE_TOO_BIG, "message too big")));
        let reset = WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake);
        assert_eq!(EndReason::from_read_error(reset), EndReason::TransportError);
        let unmasked = WsError::Protocol(ProtocolError::UnmaskedFrameFromClient);
        assert_eq!(EndReason::from_read_error(unmasked).close_frame(), Some((PROTOCOL_ERROR, "protocol error")));
        assert_eq!(EndReason::from_read_error(WsError::Utf8("x".into())).metric(), Some(Disconnect::InvalidUtf8));
        assert_eq!(EndReason::from_read_error(WsError::ConnectionClosed).close_frame(), None);
    }

    #[test]
    fn refused_authentication_closes_with_4000_plus_its_status() {
        let refused = |status| EndReason::AuthenticationRefused { status, text: "t".into() }.close_frame().map(|f| f.0);
        assert_eq!(
            (refused(403), refused(500), refused(302), refused(600)),
            (Some(4403), Some(4500), Some(4401), Some(4401))
        );
        assert_eq!(EndReason::AuthenticationTimedOut.close_frame().map(|f| f.0), Some(authentication_refused(408)));
    }

    /// One of each reason, with the code, reason and counter cells docs/protocol.md shows for it.
    /// The match makes a new variant fail to compile here until it is documented.
    fn documented() -> Vec<[String; 3]> {
        let reasons = [
            EndReason::Normal,
            EndReason::ClientClosed,
            EndReason::TransportError,
            EndReason::Shutdown,
            EndReason::ProtocolError,
            EndReason::InvalidUtf8,
            EndReason::SlowClient,
            EndReason::TooBig,
            EndReason::Idle,
            EndReason::LayerUnavailable,
            EndReason::LayerClosed,
            EndReason::GroupJoinFailed,
            EndReason::ServerError,
            EndReason::InboxOverflow,
            EndReason::AuthenticationRefused { status: 403, text: "Forbidden".into() },
            EndReason::AuthenticationRefused { status: 302, text: "Found".into() },
            EndReason::AuthenticationTimedOut,
            EndReason::Application { code: 4000, reason: "bye".into() },
            EndReason::Group { code: 4403, reason: "access revoked".into() },
        ];
        let cell = |text: &str| if text.is_empty() { "—".to_owned() } else { format!("`{text}`") };
        reasons
            .iter()
            .map(|reason| {
                let (code, text) = match reason.close_frame() {
                    None => ("none".to_owned(), "—".to_owned()),
                    Some((code, text)) => (code.to_string(), cell(text)),
                };
                // The rows whose code or reason depends on the request say so instead of the example's.
                let (code, text) = match reason {
                    EndReason::AuthenticationRefused { status: 403, .. } => {
                        assert_eq!(code, "4403");
                        ("4000 + status".to_owned(), "the status text".to_owned())
                    }
                    EndReason::AuthenticationRefused { .. } => (code, "the status text".to_owned()),
                    EndReason::Application { .. } => (
                        "the application's (1000 if no close frame may carry it)".to_owned(),
                        "the application's, cut to 123 bytes".to_owned(),
                    ),
                    EndReason::Group { .. } => {
                        ("1000, 3000–4999".to_owned(), "the application's, cut to 123 bytes".to_owned())
                    }
                    EndReason::Normal
                    | EndReason::ClientClosed
                    | EndReason::TransportError
                    | EndReason::TooBig
                    | EndReason::ProtocolError
                    | EndReason::InvalidUtf8
                    | EndReason::SlowClient
                    | EndReason::InboxOverflow
                    | EndReason::Idle
                    | EndReason::Shutdown
                    | EndReason::LayerUnavailable
                    | EndReason::LayerClosed
                    | EndReason::GroupJoinFailed
                    | EndReason::ServerError
                    | EndReason::AuthenticationTimedOut => (code, text),
                };
                let metric = match reason.metric() {
                    None => "—".to_owned(),
                    Some(metric) => {
                        let (family, label) = metric.series();
                        format!("`{family}{{reason=\"{label}\"}}`")
                    }
                };
                [code, text, metric]
            })
            .collect()
    }

    /// The rows of the table under `## Close codes`: code, reason and counter cells.
    fn table_in_docs() -> Vec<[String; 3]> {
        let docs = include_str!("../../docs/protocol.md");
        let section = docs.split("\n## Close codes\n").nth(1).expect("docs/protocol.md has a `## Close codes` section");
        section
            .lines()
            .skip_while(|line| !line.starts_with('|'))
            .take_while(|line| line.starts_with('|'))
            .skip(2) // the header and its separator
            .map(|line| {
                let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
                assert_eq!(cells.len(), 4, "a close code row has 4 cells: {line}");
                [cells[0].to_owned(), cells[1].to_owned(), cells[3].to_owned()]
            })
            .collect()
    }

    #[test]
    fn the_close_code_table_in_the_docs_is_this_file() {
        assert_eq!(table_in_docs(), documented(), "docs/protocol.md's close codes differ from close.rs");
    }
}
