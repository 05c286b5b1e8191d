//! [`Metrics`]: counters of one [`Router`](crate::Router)'s connections, readable as a
//! [`MetricsSnapshot`] or as Prometheus text.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Live counters shared by every connection of a router. Read them with
/// [`Router::metrics`](crate::Router::metrics).
///
/// Counting costs one relaxed atomic add per frame and per write batch.
///
/// ```
/// let router = chanx::Router::new();
/// let snapshot = router.metrics().snapshot();
/// assert_eq!(snapshot.connections_open, 0);
/// assert!(snapshot.to_prometheus().contains("chanx_connections_open 0"));
/// ```
#[derive(Debug, Default)]
pub struct Metrics {
    connections_opened: AtomicU64,
    connections_closed: AtomicU64,
    frames_received: AtomicU64,
    bytes_received: AtomicU64,
    frames_sent: AtomicU64,
    bytes_sent: AtomicU64,
    dropped_rate_limited: AtomicU64,
    dropped_queue_full: AtomicU64,
    refused_origin: AtomicU64,
    refused_shutting_down: AtomicU64,
    closed_slow_client: AtomicU64,
    closed_idle: AtomicU64,
    closed_too_big: AtomicU64,
    closed_auth_timeout: AtomicU64,
    closed_shutdown: AtomicU64,
    closed_by_group: AtomicU64,
    closed_inbox_overflow: AtomicU64,
    closed_protocol_error: AtomicU64,
    closed_invalid_utf8: AtomicU64,
    closed_layer_error: AtomicU64,
    closed_server_error: AtomicU64,
    closed_auth_refused: AtomicU64,
    closed_by_application: AtomicU64,
    closed_by_client: AtomicU64,
    closed_transport_error: AtomicU64,
    tcp_opened: AtomicU64,
    tcp_closed: AtomicU64,
    tcp_refused_max: AtomicU64,
    tcp_refused_per_peer: AtomicU64,
    topic_recovered: AtomicU64,
    topic_not_recovered: AtomicU64,
}

/// The counter a connection's end adds to: what [`EndReason::metric`](crate::close::EndReason::metric)
/// names, one per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Disconnect {
    SlowClient,
    Idle,
    TooBig,
    AuthTimeout,
    Shutdown,
    /// `Layer::close_group`.
    Group,
    InboxOverflow,
    ProtocolError,
    InvalidUtf8,
    /// The channel layer failed (no channel, channel dropped, a group not joined).
    LayerError,
    /// A lifecycle hook of the consumer panicked (`groups`, `post_authentication`).
    ServerError,
    AuthRefused,
    /// `Context::close`.
    Application,
    /// The client's close frame, or the end of its stream.
    ClientClosed,
    /// A transport failure without a closing handshake.
    TransportError,
}

impl Disconnect {
    /// Every counter, in the order of the Prometheus text.
    const ALL: [Disconnect; 15] = [
        Disconnect::SlowClient,
        Disconnect::Idle,
        Disconnect::TooBig,
        Disconnect::AuthTimeout,
        Disconnect::Shutdown,
        Disconnect::Group,
        Disconnect::InboxOverflow,
        Disconnect::ProtocolError,
        Disconnect::InvalidUtf8,
        Disconnect::LayerError,
        Disconnect::ServerError,
        Disconnect::AuthRefused,
        Disconnect::Application,
        Disconnect::ClientClosed,
        Disconnect::TransportError,
    ];

    /// The Prometheus series: its metric name and its `reason` label.
    pub(crate) fn series(self) -> (&'static str, &'static str) {
        const SERVER: &str = "chanx_disconnects_total";
        const CLIENT: &str = "chanx_client_disconnects_total";
        match self {
            Disconnect::SlowClient => (SERVER, "slow_client"),
            Disconnect::Idle => (SERVER, "idle_timeout"),
            Disconnect::TooBig => (SERVER, "message_too_big"),
            Disconnect::AuthTimeout => (SERVER, "authentication_timeout"),
            Disconnect::Shutdown => (SERVER, "shutdown"),
            Disconnect::Group => (SERVER, "close_group"),
            Disconnect::InboxOverflow => (SERVER, "inbox_overflow"),
            Disconnect::ProtocolError => (SERVER, "protocol_error"),
            Disconnect::InvalidUtf8 => (SERVER, "invalid_utf8"),
            Disconnect::LayerError => (SERVER, "layer_error"),
            Disconnect::ServerError => (SERVER, "server_error"),
            Disconnect::AuthRefused => (SERVER, "authentication_refused"),
            Disconnect::Application => (SERVER, "application"),
            Disconnect::ClientClosed => (CLIENT, "close_frame"),
            Disconnect::TransportError => (CLIENT, "transport_error"),
        }
    }
}

/// Why a handshake was answered with an error status instead of an upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Origin,
    ShuttingDown,
}

/// Why a frame was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropReason {
    RateLimited,
    QueueFull,
}

/// See [`Metrics::connection_opened`].
pub(crate) struct OpenConnection(Arc<Metrics>);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        add(&self.0.connections_closed, 1);
    }
}

/// See [`Metrics::tcp_opened`].
#[derive(Debug)]
pub(crate) struct OpenTcp(Arc<Metrics>);

impl Drop for OpenTcp {
    fn drop(&mut self) {
        add(&self.0.tcp_closed, 1);
    }
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Metrics {
    /// Counts a connection as open until the returned guard is dropped (however the connection
    /// task ends, cancelled included).
    pub(crate) fn connection_opened(self: &Arc<Self>) -> OpenConnection {
        add(&self.connections_opened, 1);
        OpenConnection(self.clone())
    }

    /// Counts an accepted TCP connection as open until the guard is dropped.
    pub(crate) fn tcp_opened(self: &Arc<Self>) -> OpenTcp {
        add(&self.tcp_opened, 1);
        OpenTcp(self.clone())
    }

    pub(crate) fn tcp_refused_max_connections(&self) {
        add(&self.tcp_refused_max, 1);
    }

    pub(crate) fn tcp_refused_per_peer(&self) {
        add(&self.tcp_refused_per_peer, 1);
    }

    /// A subscribe with `since` to a history topic: recovered or not.
    pub(crate) fn recovery(&self, recovered: bool) {
        add(if recovered { &self.topic_recovered } else { &self.topic_not_recovered }, 1);
    }

    pub(crate) fn received(&self, bytes: usize) {
        add(&self.frames_received, 1);
        add(&self.bytes_received, bytes as u64);
    }

    pub(crate) fn sent(&self, frames: usize, bytes: usize) {
        add(&self.frames_sent, frames as u64);
        add(&self.bytes_sent, bytes as u64);
    }

    pub(crate) fn dropped(&self, reason: DropReason) {
        add(
            match reason {
                DropReason::RateLimited => &self.dropped_rate_limited,
                DropReason::QueueFull => &self.dropped_queue_full,
            },
            1,
        );
    }

    pub(crate) fn refused(&self, reason: Refusal) {
        add(
            match reason {
                Refusal::Origin => &self.refused_origin,
                Refusal::ShuttingDown => &self.refused_shutting_down,
            },
            1,
        );
    }

    pub(crate) fn closed_for(&self, reason: Disconnect) {
        add(
            match reason {
                Disconnect::SlowClient => &self.closed_slow_client,
                Disconnect::Idle => &self.closed_idle,
                Disconnect::TooBig => &self.closed_too_big,
                Disconnect::AuthTimeout => &self.closed_auth_timeout,
                Disconnect::Shutdown => &self.closed_shutdown,
                Disconnect::Group => &self.closed_by_group,
                Disconnect::InboxOverflow => &self.closed_inbox_overflow,
                Disconnect::ProtocolError => &self.closed_protocol_error,
                Disconnect::InvalidUtf8 => &self.closed_invalid_utf8,
                Disconnect::LayerError => &self.closed_layer_error,
                Disconnect::ServerError => &self.closed_server_error,
                Disconnect::AuthRefused => &self.closed_auth_refused,
                Disconnect::Application => &self.closed_by_application,
                Disconnect::ClientClosed => &self.closed_by_client,
                Disconnect::TransportError => &self.closed_transport_error,
            },
            1,
        );
    }

    /// The counters as they are now. Each is read on its own, so a snapshot taken under load may
    /// be off by the frames of the last instant.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        let opened = read(&self.connections_opened);
        let tcp_opened = read(&self.tcp_opened);
        MetricsSnapshot {
            connections_open: opened.saturating_sub(read(&self.connections_closed)),
            connections_total: opened,
            frames_received: read(&self.frames_received),
            bytes_received: read(&self.bytes_received),
            frames_sent: read(&self.frames_sent),
            bytes_sent: read(&self.bytes_sent),
            frames_dropped_rate_limited: read(&self.dropped_rate_limited),
            frames_dropped_queue_full: read(&self.dropped_queue_full),
            handshakes_refused_origin: read(&self.refused_origin),
            handshakes_refused_shutting_down: read(&self.refused_shutting_down),
            slow_client_disconnects: read(&self.closed_slow_client),
            idle_timeouts: read(&self.closed_idle),
            message_too_big_closes: read(&self.closed_too_big),
            authentication_timeouts: read(&self.closed_auth_timeout),
            shutdown_closes: read(&self.closed_shutdown),
            group_closes: read(&self.closed_by_group),
            inbox_overflow_closes: read(&self.closed_inbox_overflow),
            protocol_error_closes: read(&self.closed_protocol_error),
            invalid_utf8_closes: read(&self.closed_invalid_utf8),
            layer_error_closes: read(&self.closed_layer_error),
            server_error_closes: read(&self.closed_server_error),
            authentication_refusals: read(&self.closed_auth_refused),
            application_closes: read(&self.closed_by_application),
            client_closes: read(&self.closed_by_client),
            transport_errors: read(&self.closed_transport_error),
            tcp_connections_open: tcp_opened.saturating_sub(read(&self.tcp_closed)),
            tcp_refused_max_connections: read(&self.tcp_refused_max),
            tcp_refused_per_peer: read(&self.tcp_refused_per_peer),
            topic_recoveries: read(&self.topic_recovered),
            topic_recoveries_failed: read(&self.topic_not_recovered),
        }
    }
}

/// A copy of the [`Metrics`] counters at one moment. Every field counts since the router was
/// created, except `connections_open`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// WebSocket connections open now (upgraded and not yet finished).
    pub connections_open: u64,
    /// WebSocket connections opened.
    pub connections_total: u64,
    /// Text and binary frames received from clients.
    pub frames_received: u64,
    /// Payload bytes of those frames.
    pub bytes_received: u64,
    /// Text frames written to clients.
    pub frames_sent: u64,
    /// Payload bytes of those frames.
    pub bytes_sent: u64,
    /// Client frames dropped by the rate limit (each answered with an error frame).
    pub frames_dropped_rate_limited: u64,
    /// Frames not queued because the client's outbound queue was full.
    pub frames_dropped_queue_full: u64,
    /// Handshakes refused with 403 for their `Origin`.
    pub handshakes_refused_origin: u64,
    /// Handshakes refused with 503 during shutdown.
    pub handshakes_refused_shutting_down: u64,
    /// Connections closed with 1008 because their client stopped reading.
    pub slow_client_disconnects: u64,
    /// Connections closed with 1011 because the client sent nothing, not even a pong, in time.
    pub idle_timeouts: u64,
    /// Connections closed with 1009 for an oversized frame or message.
    pub message_too_big_closes: u64,
    /// Connections closed with 4408 because authentication did not finish in time.
    pub authentication_timeouts: u64,
    /// Connections closed with 1001 by a graceful shutdown.
    pub shutdown_closes: u64,
    /// Connections closed by [`Layer::close_group`](crate::Layer::close_group).
    pub group_closes: u64,
    /// Connections closed with 1013 because their channel-layer inbox overflowed (they lost
    /// events or group messages, and should reconnect and re-sync).
    pub inbox_overflow_closes: u64,
    /// Connections closed with 1002 because their client broke the WebSocket protocol.
    pub protocol_error_closes: u64,
    /// Connections closed with 1007 for a text frame that is not UTF-8.
    pub invalid_utf8_closes: u64,
    /// Connections closed with 1011 because the channel layer failed them (no channel, the
    /// channel dropped, a group that could not be joined).
    pub layer_error_closes: u64,
    /// Connections closed with 1011 because a lifecycle hook of their consumer panicked
    /// (`groups`, `post_authentication`).
    pub server_error_closes: u64,
    /// Connections closed with 4000 + status (or 4401) because their authenticator refused them.
    pub authentication_refusals: u64,
    /// Connections closed by the application with [`Context::close`](crate::Context::close).
    pub application_closes: u64,
    /// Connections ended by their client: a close frame, or the end of its stream.
    pub client_closes: u64,
    /// Connections lost to a transport error (a reset, a failed read or write) without a
    /// closing handshake.
    pub transport_errors: u64,
    /// TCP connections open now (HTTP and WebSocket), when served by [`serve`](crate::serve) or
    /// `chanx::axum::serve`: what [`Settings::max_connections`](crate::Settings::max_connections) caps.
    pub tcp_connections_open: u64,
    /// TCP connections closed right after the accept because `max_connections` were open.
    pub tcp_refused_max_connections: u64,
    /// TCP connections closed right after the accept because their address had
    /// [`Settings::max_connections_per_peer`](crate::Settings::max_connections_per_peer) open.
    pub tcp_refused_per_peer: u64,
    /// Subscribes with `since` to a history topic answered `recovered: true` (every missed
    /// push replayed).
    pub topic_recoveries: u64,
    /// Subscribes with `since` answered `recovered: false` (history too short, expired, or of
    /// another epoch): the client reloads its state.
    pub topic_recoveries_failed: u64,
}

impl MetricsSnapshot {
    /// The snapshot's count for one disconnect counter.
    fn disconnects(&self, counter: Disconnect) -> u64 {
        match counter {
            Disconnect::SlowClient => self.slow_client_disconnects,
            Disconnect::Idle => self.idle_timeouts,
            Disconnect::TooBig => self.message_too_big_closes,
            Disconnect::AuthTimeout => self.authentication_timeouts,
            Disconnect::Shutdown => self.shutdown_closes,
            Disconnect::Group => self.group_closes,
            Disconnect::InboxOverflow => self.inbox_overflow_closes,
            Disconnect::ProtocolError => self.protocol_error_closes,
            Disconnect::InvalidUtf8 => self.invalid_utf8_closes,
            Disconnect::LayerError => self.layer_error_closes,
            Disconnect::ServerError => self.server_error_closes,
            Disconnect::AuthRefused => self.authentication_refusals,
            Disconnect::Application => self.application_closes,
            Disconnect::ClientClosed => self.client_closes,
            Disconnect::TransportError => self.transport_errors,
        }
    }

    /// The counters in the Prometheus text exposition format, every name prefixed `chanx_`.
    ///
    /// ```
    /// let text = chanx::metrics::MetricsSnapshot::default().to_prometheus();
    /// assert!(text.contains("# TYPE chanx_frames_received_total counter"));
    /// assert!(text.contains("chanx_disconnects_total{reason=\"slow_client\"} 0"));
    /// ```
    pub fn to_prometheus(&self) -> String {
        let mut out = String::with_capacity(2048);
        let mut metric = |name: &str, kind: &str, help: &str, samples: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP chanx_{name} {help}\n# TYPE chanx_{name} {kind}");
            for (labels, value) in samples {
                let _ = writeln!(out, "chanx_{name}{labels} {value}");
            }
        };
        metric("connections_open", "gauge", "WebSocket connections open now.", &[("", self.connections_open)]);
        metric("connections_total", "counter", "WebSocket connections opened.", &[("", self.connections_total)]);
        metric("frames_received_total", "counter", "Frames received from clients.", &[("", self.frames_received)]);
        metric("bytes_received_total", "counter", "Payload bytes received from clients.", &[("", self.bytes_received)]);
        metric("frames_sent_total", "counter", "Frames written to clients.", &[("", self.frames_sent)]);
        metric("bytes_sent_total", "counter", "Payload bytes written to clients.", &[("", self.bytes_sent)]);
        metric(
            "frames_dropped_total",
            "counter",
            "Frames dropped, by reason.",
            &[
                ("{reason=\"rate_limited\"}", self.frames_dropped_rate_limited),
                ("{reason=\"queue_full\"}", self.frames_dropped_queue_full),
            ],
        );
        metric(
            "handshakes_refused_total",
            "counter",
            "WebSocket handshakes refused, by reason.",
            &[
                ("{reason=\"origin\"}", self.handshakes_refused_origin),
                ("{reason=\"shutting_down\"}", self.handshakes_refused_shutting_down),
            ],
        );
        metric(
            "tcp_connections_open",
            "gauge",
            "TCP connections open now (HTTP and WebSocket).",
            &[("", self.tcp_connections_open)],
        );
        metric(
            "tcp_connections_refused_total",
            "counter",
            "TCP connections closed right after the accept, by reason.",
            &[
                ("{reason=\"max_connections\"}", self.tcp_refused_max_connections),
                ("{reason=\"max_connections_per_peer\"}", self.tcp_refused_per_peer),
            ],
        );
        metric(
            "topic_recoveries_total",
            "counter",
            "Subscribes asking to recover a history topic, by result.",
            &[
                ("{result=\"recovered\"}", self.topic_recoveries),
                ("{result=\"not_recovered\"}", self.topic_recoveries_failed),
            ],
        );
        // One `reason` label per disconnect counter, named where the counter is (`Disconnect::series`).
        let labels: Vec<(Disconnect, String)> =
            Disconnect::ALL.into_iter().map(|d| (d, format!("{{reason=\"{}\"}}", d.series().1))).collect();
        let samples = |family: &str| -> Vec<(&str, u64)> {
            labels
                .iter()
                .filter(|(d, _)| d.series().0 == family)
                .map(|(d, label)| (label.as_str(), self.disconnects(*d)))
                .collect()
        };
        metric(
            "disconnects_total",
            "counter",
            "Connections closed by the server for a limit, a deadline or the application, by reason.",
            &samples("chanx_disconnects_total"),
        );
        metric(
            "client_disconnects_total",
            "counter",
            "Connections ended by the client, by reason: its close frame, or a transport error without one.",
            &samples("chanx_client_disconnects_total"),
        );
        out
    }
}
