//! Runtime settings shared by every consumer of a router, each overridable per consumer where noted.

use std::time::Duration;

/// The default of [`Settings::max_connections`].
const DEFAULT_MAX_CONNECTIONS: usize = 16_384;

/// Settings of a [`Router`](crate::Router): a builder over private fields, every default stated.
///
/// ```
/// use chanx::Settings;
/// let settings = Settings::default().camelize(true).send_completion(true);
/// assert!(settings.camelizes());
/// ```
#[derive(Clone, Debug)]
pub struct Settings {
    camelize: bool,
    send_completion: bool,
    send_authentication_message: bool,
    pub(crate) max_in_flight: usize,
    pub(crate) outbound_capacity: usize,
    pub(crate) max_message_size: usize,
    pub(crate) drain_timeout: Duration,
    pub(crate) close_timeout: Duration,
    /// Parsed once here, not at each handshake.
    allowed_origins: Vec<Origin>,
    allow_any_origin: bool,
    pub(crate) handshake_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) max_connections: Option<usize>,
    pub(crate) max_connections_per_peer: Option<usize>,
    pub(crate) authentication_timeout: Duration,
    pub(crate) heartbeat_interval: Option<Duration>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) max_topics_per_connection: usize,
    pub(crate) max_topic_length: usize,
    pub(crate) frame_log_level: Option<tracing::Level>,
    pub(crate) frame_log_ignored_actions: Vec<String>,
    pub(crate) frame_log_body_limit: Option<usize>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            camelize: false,
            send_completion: false,
            send_authentication_message: true,
            max_in_flight: 64,
            outbound_capacity: 1024,
            max_message_size: 1 << 20,
            drain_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(2),
            allowed_origins: Vec::new(),
            allow_any_origin: false,
            handshake_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: Some(DEFAULT_MAX_CONNECTIONS),
            max_connections_per_peer: None,
            authentication_timeout: Duration::from_secs(10),
            heartbeat_interval: Some(Duration::from_secs(25)),
            idle_timeout: Some(Duration::from_secs(60)),
            rate_limit: None,
            shutdown_timeout: Duration::from_secs(30),
            max_topics_per_connection: 128,
            max_topic_length: 256,
            frame_log_level: None,
            frame_log_ignored_actions: Vec::new(),
            frame_log_body_limit: None,
        }
    }
}

impl Settings {
    /// camelCase keys on the wire, both directions. Defaults to `false`; a consumer overrides it
    /// with `#[consumer(camelize = ...)]` or `const CAMELIZE`.
    pub fn camelize(mut self, on: bool) -> Self {
        self.camelize = on;
        self
    }

    /// Send `complete`, `group_complete` and `event_complete` after each unit of work. Defaults to
    /// `false` (the test communicator turns it on); overridable per consumer.
    pub fn send_completion(mut self, on: bool) -> Self {
        self.send_completion = on;
        self
    }

    /// Send the `authentication` frame when a consumer authenticates. Defaults to `true`.
    pub fn send_authentication_message(mut self, on: bool) -> Self {
        self.send_authentication_message = on;
        self
    }

    /// How many client frames of one connection are handled at once; `1` handles them strictly in
    /// order. Defaults to 64. Reading from the socket pauses while the limit is reached.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// How many frames may wait to be written to one client. A client that lets the queue fill is
    /// disconnected (close code 1008 when it can still be sent). Defaults to 1024.
    pub fn outbound_capacity(mut self, n: usize) -> Self {
        self.outbound_capacity = n.max(1);
        self
    }

    /// The largest message (and frame) a client may send; larger ones close the connection with
    /// 1009. Defaults to 1 MiB.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// How long handlers still running when the client leaves may take to finish. Defaults to 10 s.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// How long the server waits for the client to answer its close frame. Defaults to 2 s.
    pub fn close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Browser origins allowed besides the server's own. A handshake whose `Origin` is neither the
    /// origin of its `Host` header nor in this list is refused with 403 and logged. Entries are
    /// full origins such as `"https://app.example.com"` (scheme, host and port; default ports may
    /// be left out); `"https://*.example.com"` allows every subdomain (not `example.com` itself).
    /// A handshake without `Origin` (a non-browser client) is allowed: the check exists to stop
    /// other sites' pages from using a visitor's cookies, and browsers always send it.
    ///
    /// ```
    /// let settings = chanx::Settings::default().allowed_origins(["https://app.example.com", "https://*.example.org"]);
    /// ```
    pub fn allowed_origins<I>(mut self, origins: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.allowed_origins = origins
            .into_iter()
            .map(Into::into)
            .filter_map(|origin: String| {
                let parsed = Origin::parse(&origin);
                if parsed.is_none() {
                    tracing::warn!(%origin, "ignoring an allowed origin that is not scheme://host[:port]");
                }
                parsed
            })
            .collect();
        self
    }

    /// Accept every `Origin`. Off by default; turn it on only for an API no browser page with
    /// credentials can reach.
    pub fn allow_any_origin(mut self, on: bool) -> Self {
        self.allow_any_origin = on;
        self
    }

    /// How long a client may take to send the head (request line and headers) of an HTTP
    /// request, the WebSocket upgrade included: from the TCP accept, and on a keep-alive
    /// connection from the end of the previous response. Past it the TCP connection is closed,
    /// so a client sending one byte at a time, or nothing, holds no connection for long. Applies
    /// when served by [`serve`](crate::serve) or `chanx::axum::serve`. Defaults to 10 s.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How long an HTTP request may take from its head received to its response head sent:
    /// reading the body included, so a client sending its body one byte at a time holds the
    /// connection no longer than this. Past it the client gets 408 and the connection is closed.
    /// A WebSocket is not bounded by it once upgraded. Applies when served by
    /// [`serve`](crate::serve) or `chanx::axum::serve`. Defaults to 30 s.
    ///
    /// ```
    /// let settings = chanx::Settings::default().request_timeout(std::time::Duration::from_secs(5));
    /// # let _ = settings;
    /// ```
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The most TCP connections (HTTP keep-alive and WebSocket alike) open at once when served
    /// by [`serve`](crate::serve) or `chanx::axum::serve`; `None` for no cap. A connection
    /// accepted past the cap is closed at once, before anything is read from it, and counted
    /// ([`MetricsSnapshot::tcp_refused_max_connections`](crate::metrics::MetricsSnapshot::tcp_refused_max_connections)):
    /// accepting and closing keeps the kernel's backlog moving and answers the peer right away,
    /// where leaving it unaccepted would let it hang. Keep the process's file descriptor limit
    /// (`ulimit -n`) above it. At least 1. Defaults to 16,384.
    ///
    /// ```
    /// let settings = chanx::Settings::default().max_connections(Some(2_000));
    /// ```
    pub fn max_connections(mut self, max: Option<usize>) -> Self {
        // At least one; above Tokio's semaphore limit (about 2^61) it is no cap at all.
        self.max_connections = max.map(|max| max.max(1)).filter(|max| *max <= tokio::sync::Semaphore::MAX_PERMITS);
        self
    }

    /// The most TCP connections open at once from one IP address, when served by
    /// [`serve`](crate::serve) or `chanx::axum::serve`; `None` (the default) for no such cap. A
    /// connection past it is closed at once, as one past [`max_connections`](Self::max_connections)
    /// is, and counted
    /// ([`MetricsSnapshot::tcp_refused_per_peer`](crate::metrics::MetricsSnapshot::tcp_refused_per_peer)),
    /// so one host cannot take every place under the global cap. Off by default because behind
    /// a reverse proxy every connection comes from the proxy's address; set it when clients
    /// connect directly. At least 1.
    ///
    /// ```
    /// let settings = chanx::Settings::default().max_connections_per_peer(Some(64));
    /// ```
    pub fn max_connections_per_peer(mut self, max: Option<usize>) -> Self {
        self.max_connections_per_peer = max.map(|max| max.max(1));
        self
    }

    /// How long the consumer's [`Authenticator`](crate::auth::Authenticator) may take. Past it, the
    /// client gets an `authentication` frame with status 408 and the connection closes with 4408.
    /// Defaults to 10 s.
    pub fn authentication_timeout(mut self, timeout: Duration) -> Self {
        self.authentication_timeout = timeout;
        self
    }

    /// How often the server pings each client; `None` (or zero) sends no pings. Defaults to 25 s,
    /// below the usual 30–60 s idle cut-off of proxies and NATs.
    pub fn heartbeat_interval(mut self, interval: Option<Duration>) -> Self {
        // A zero period would make tokio's interval panic: it means no pings.
        self.heartbeat_interval = interval.filter(|interval| !interval.is_zero());
        self
    }

    /// How long a client may stay silent (no frame at all, pongs included) before the connection
    /// closes with 1011, as the Python `websockets` server does on a keepalive timeout. `None`
    /// never times out. Defaults to 60 s; a live client answers the heartbeat pings in time.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Log every frame received and sent, as one `tracing` event at `level` with target
    /// `chanx::frame`: fields `channel` (the connection's id), `direction` (`received` or `sent`),
    /// `action` and `bytes`, inside the connection's `websocket` span (`path`, `request_id`).
    /// `None` (the default) logs no frame and costs nothing per frame; with a level, a frame
    /// costs only a level check until a subscriber enables that level for `chanx::frame`.
    /// Frame contents are left out unless [`log_frame_bodies`](Self::log_frame_bodies) says so.
    /// chanx's `LOG_WEBSOCKET_MESSAGE`.
    ///
    /// ```
    /// let settings = chanx::Settings::default()
    ///     .log_frames(Some(tracing::Level::DEBUG))
    ///     .log_ignored_actions(["streaming"]);
    /// # let _ = settings;
    /// ```
    pub fn log_frames(mut self, level: Option<tracing::Level>) -> Self {
        self.frame_log_level = level;
        self
    }

    /// Actions whose frames (either direction) are not logged by
    /// [`log_frames`](Self::log_frames), for every consumer; each consumer adds its own with
    /// `const LOG_IGNORED_ACTIONS` in `impl Consumer`. chanx's `LOG_IGNORED_ACTIONS`. Empty by
    /// default.
    pub fn log_ignored_actions<I>(mut self, actions: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.frame_log_ignored_actions = actions.into_iter().map(Into::into).collect();
        self
    }

    /// Include up to `max_bytes` of each logged frame's text (cut at a character boundary) as
    /// the `body` field. `None` (the default) logs no contents: frames carry users' data.
    ///
    /// ```
    /// let settings = chanx::Settings::default().log_frames(Some(tracing::Level::TRACE)).log_frame_bodies(Some(512));
    /// # let _ = settings;
    /// ```
    pub fn log_frame_bodies(mut self, max_bytes: Option<usize>) -> Self {
        self.frame_log_body_limit = max_bytes;
        self
    }

    /// Limits how many frames each client may send; frames over the limit are dropped and
    /// answered with an error frame (`{"detail": "Rate limit exceeded; message dropped"}`).
    /// No limit by default.
    ///
    /// ```
    /// use chanx::{RateLimit, Settings};
    /// let settings = Settings::default().rate_limit(Some(RateLimit::per_second(20).burst(40)));
    /// ```
    pub fn rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.rate_limit = limit;
        self
    }

    /// How long a graceful shutdown waits for connections to finish (each first gets its
    /// [`drain_timeout`](Self::drain_timeout) and [`close_timeout`](Self::close_timeout)).
    /// Defaults to 30 s.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// How many topics one connection may follow at once. A `subscribe` beyond it is answered
    /// with the error reason `too_many_topics` (the socket stays open). Defaults to 128.
    ///
    /// ```
    /// let settings = chanx::Settings::default().max_topics_per_connection(16);
    /// ```
    pub fn max_topics_per_connection(mut self, n: usize) -> Self {
        self.max_topics_per_connection = n;
        self
    }

    /// The longest topic a client may address, in bytes. A frame for a longer topic is
    /// answered with the error reason `topic_too_long` (the socket stays open), and so is a
    /// connection to a standalone topic route whose path names one. Defaults to 256.
    pub fn max_topic_length(mut self, bytes: usize) -> Self {
        self.max_topic_length = bytes;
        self
    }

    /// Whether keys are camelized by default ([`camelize`](Self::camelize)).
    pub fn camelizes(&self) -> bool {
        self.camelize
    }

    /// Whether completion frames are sent by default ([`send_completion`](Self::send_completion)).
    pub fn sends_completion(&self) -> bool {
        self.send_completion
    }

    pub(crate) fn sends_authentication_message(&self) -> bool {
        self.send_authentication_message
    }

    /// Whether a handshake with this `Origin` header value and `Host` may proceed.
    pub(crate) fn allows_origin(&self, origin: &str, host: Option<&str>) -> bool {
        if self.allow_any_origin {
            return true;
        }
        let Some(origin) = Origin::parse(origin) else { return false };
        host.is_some_and(|host| origin.authority_eq(host))
            || self.allowed_origins.iter().any(|allowed| allowed.admits(&origin))
    }
}

/// A serialized origin, lowercased, with the scheme's default port made explicit.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    fn parse(text: &str) -> Option<Origin> {
        let text = text.trim().to_ascii_lowercase();
        let (scheme, authority) = text.split_once("://")?;
        let default_port = match scheme {
            "http" | "ws" => 80,
            "https" | "wss" => 443,
            _ => return None,
        };
        let (host, port) = split_port(authority.trim_end_matches('/'))?;
        if host.is_empty() {
            return None;
        }
        Some(Origin { scheme: scheme.to_owned(), host: host.to_owned(), port: port.unwrap_or(default_port) })
    }

    /// Whether this allow-list entry admits `origin`: equal, or, for a `*.` host, a subdomain.
    fn admits(&self, origin: &Origin) -> bool {
        match self.host.strip_prefix("*.") {
            Some(domain) => {
                self.scheme == origin.scheme
                    && self.port == origin.port
                    && origin.host.strip_suffix(domain).is_some_and(|sub| sub.len() > 1 && sub.ends_with('.'))
            }
            None => self == origin,
        }
    }

    /// Same host and port as a `Host` header. The scheme is not compared: behind a TLS-terminating
    /// proxy the server cannot know it, and the host is what a foreign page cannot fake.
    fn authority_eq(&self, host_header: &str) -> bool {
        let host_header = host_header.trim().to_ascii_lowercase();
        let Some((host, port)) = split_port(&host_header) else { return false };
        let default_port = if matches!(self.scheme.as_str(), "https" | "wss") { 443 } else { 80 };
        host == self.host && port.unwrap_or(default_port) == self.port
    }
}

/// `host[:port]`, with IPv6 literals in brackets. `None` for a malformed port.
fn split_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let port_start = match authority.rfind(':') {
        Some(i) if !authority[i..].contains(']') => i,
        _ => return Some((authority, None)),
    };
    let port = authority[port_start + 1..].parse().ok()?;
    Some((&authority[..port_start], Some(port)))
}

/// A per-connection token bucket: `per_second` frames on average, bursts of up to `burst`.
///
/// ```
/// let limit = chanx::RateLimit::per_second(10).burst(50);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    per_second: f64,
    burst: f64,
}

impl RateLimit {
    /// `rate` frames per second, with bursts of as many (at least one).
    pub fn per_second(rate: u32) -> Self {
        let rate = f64::from(rate.max(1));
        RateLimit { per_second: rate, burst: rate }
    }

    /// Allows bursts of up to `frames` (at least one) above the average rate.
    pub fn burst(mut self, frames: u32) -> Self {
        self.burst = f64::from(frames.max(1));
        self
    }
}

/// The running state of a [`RateLimit`] for one connection.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    limit: RateLimit,
    tokens: f64,
    refilled: tokio::time::Instant,
}

impl TokenBucket {
    pub(crate) fn new(limit: RateLimit) -> Self {
        TokenBucket { limit, tokens: limit.burst, refilled: tokio::time::Instant::now() }
    }

    /// Takes a token if one is left.
    pub(crate) fn try_take(&mut self, now: tokio::time::Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.limit.per_second).min(self.limit.burst);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn same_origin_as_host_is_allowed() {
        let settings = Settings::default();
        assert!(settings.allows_origin("http://localhost:8000", Some("localhost:8000")));
        assert!(settings.allows_origin("https://Example.com", Some("example.com")));
        assert!(settings.allows_origin("https://example.com", Some("example.com:443")));
        assert!(settings.allows_origin("http://[::1]:8000", Some("[::1]:8000")));
    }

    #[test]
    fn foreign_and_malformed_origins_are_refused() {
        let settings = Settings::default();
        assert!(!settings.allows_origin("http://evil.com", Some("localhost:8000")));
        assert!(!settings.allows_origin("http://localhost:9000", Some("localhost:8000")));
        assert!(!settings.allows_origin("null", Some("localhost:8000")));
        assert!(!settings.allows_origin("http://localhost:8000", None));
        assert!(!settings.allows_origin("ftp://localhost:8000", Some("localhost:8000")));
        assert!(!settings.allows_origin("http://localhost:99999", Some("localhost:99999")));
        assert!(!settings.allows_origin("http://", Some("")));
    }

    #[test]
    fn allow_list_and_wildcard() {
        let settings = Settings::default().allowed_origins(["https://app.example.com", "https://*.example.org"]);
        assert!(settings.allows_origin("https://app.example.com:443", Some("api.example.com")));
        assert!(!settings.allows_origin("http://app.example.com", Some("api.example.com")));
        assert!(settings.allows_origin("https://a.example.org", Some("api.example.com")));
        assert!(settings.allows_origin("https://a.b.example.org", Some("api.example.com")));
        for foreign in
            ["https://example.org", "https://evilexample.org", "http://a.example.org", "https://a.example.org:8443"]
        {
            assert!(!settings.allows_origin(foreign, Some("api.example.com")), "{foreign}");
        }
        assert!(Settings::default().allow_any_origin(true).allows_origin("null", None));
    }

    #[test]
    fn token_bucket_allows_bursts_then_the_rate() {
        let start = tokio::time::Instant::now();
        let mut bucket = TokenBucket::new(RateLimit::per_second(10).burst(3));
        bucket.refilled = start;
        assert_eq!((0..5).filter(|_| bucket.try_take(start)).count(), 3);
        assert!(bucket.try_take(start + Duration::from_millis(100)));
        assert!(!bucket.try_take(start + Duration::from_millis(150)));
        assert_eq!((0..10).filter(|_| bucket.try_take(start + Duration::from_secs(60))).count(), 3);
    }
}
