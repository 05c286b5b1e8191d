//! The socket side of a connection: one task that reads client frames, runs handlers (bounded),
//! feeds channel events one at a time, writes queued frames in batches, keeps the heartbeat and
//! the limits, and closes cleanly.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::OptionFuture;
use futures_util::stream::{FuturesUnordered, SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::ProtocolError;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage, Utf8Bytes};

use crate::context::Connection;
use crate::dispatch::{self, Dispatch, GROUP_COMPLETE_FRAME};
use crate::layer::{ChannelReceiver, LayerBody, LayerMessage};
use crate::metrics::{CloseReason, DropReason};
use crate::settings::TokenBucket;
use crate::validation::ValidationError;
use crate::{Context, Settings, close_code, envelope, shutdown};

/// Any byte stream a WebSocket can run over: TCP after an HTTP upgrade, or an in-memory pipe in
/// the test communicator. Boxed so each consumer's connection code is compiled once.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

pub(crate) type WebSocket = WebSocketStream<Box<dyn Io>>;

/// The read buffer of each connection.
const READ_BUFFER: usize = 2 * 1024;

/// The most frames written before one flush.
const WRITE_BATCH: usize = 64;

/// The answer to a client frame over the rate limit.
const RATE_LIMITED_FRAME: &str = r#"{"action":"error","payload":{"detail":"Rate limit exceeded; message dropped"}}"#;

type Task<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// The WebSocket protocol configuration derived from the settings.
pub(crate) fn ws_config(settings: &Settings) -> WebSocketConfig {
    WebSocketConfig::default()
        // tungstenite zero-fills the whole read buffer before each read, so its size is resident
        // memory of every connection; it grows on demand for larger messages.
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(settings.get_max_message_size()))
        .max_frame_size(Some(settings.get_max_message_size()))
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    Open,
    /// The client sent a close frame; tungstenite answers it.
    ClientClosed,
    /// The server decided to close with this code and reason.
    Closing(u16, String),
    /// The transport failed; nothing more can be written.
    Broken,
}

type Sink = SplitSink<WebSocket, WsMessage>;

/// A batch of frames being written and flushed; it owns the sink until it is done.
type Write = Pin<Box<dyn Future<Output = (Sink, Result<(), WsError>)> + Send>>;

pub(crate) struct Socket<'s> {
    // Split so that a write blocked on a client that stopped reading does not stop the loop from
    // reading, running handlers and noticing the outbound queue fill up.
    // `None` while a write owns it, or once a write was abandoned.
    sink: Option<Sink>,
    stream: SplitStream<WebSocket>,
    outbound: mpsc::Receiver<Utf8Bytes>,
    conn: Arc<Connection>,
    settings: &'s Settings,
    shutdown: watch::Receiver<bool>,
    state: State,
}

impl<'s> Socket<'s> {
    pub(crate) fn new(
        ws: WebSocket,
        outbound: mpsc::Receiver<Utf8Bytes>,
        conn: Arc<Connection>,
        settings: &'s Settings,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let (sink, stream) = ws.split();
        Socket { sink: Some(sink), stream, outbound, conn, settings, shutdown, state: State::Open }
    }

    /// Closes a socket before any consumer code ran.
    pub(crate) async fn close_unstarted(mut ws: WebSocket, code: u16, reason: &str) {
        let _ = ws.close(Some(close_frame(code, reason))).await;
    }

    /// Runs `future` to completion while writing the frames it queues. Frames queued after the
    /// transport failed are discarded, so the future still finishes (its side effects matter).
    pub(crate) async fn drive<F: Future>(&mut self, future: F) -> Option<F::Output> {
        tokio::pin!(future);
        loop {
            tokio::select! {
                biased;
                out = &mut future => return Some(out),
                Some(frame) = self.outbound.recv() => self.write_batch(frame).await,
            }
        }
    }

    /// Writes `first` and whatever else is queued, then flushes once.
    async fn write_batch(&mut self, first: Utf8Bytes) {
        let (Some(sink), true) = (self.sink.as_mut(), writable(&self.state)) else {
            while self.outbound.try_recv().is_ok() {}
            return;
        };
        let batch = take_batch(&mut self.outbound, Some(first), false);
        if let Err(err) = write_frames(sink, batch, &self.conn).await {
            tracing::debug!(error = %err, "write failed; the client is gone");
            self.state = State::Broken;
        }
    }

    /// Step 5 of the lifecycle: frames and events until either side closes, a limit is crossed,
    /// or the server shuts down.
    pub(crate) async fn serve(
        &mut self,
        consumer: &dyn Dispatch,
        ctx: &Context,
        inbox: &mut ChannelReceiver,
        completion: bool,
        max_in_flight: usize,
    ) {
        let camelize = self.conn.camelize;
        let metrics = self.conn.metrics.clone();
        let mut handlers: FuturesUnordered<Task<'_>> = FuturesUnordered::new();
        let mut event: Option<Task<'_>> = None;
        let mut writing: Option<Write> = None;
        let mut heartbeat = self.settings.get_heartbeat_interval().map(|period| {
            let mut interval = tokio::time::interval_at(Instant::now() + period, period);
            interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
            interval
        });
        let mut ping_due = false;
        let mut rate_limit = self.settings.get_rate_limit().map(TokenBucket::new);
        // The idle timer is re-armed lazily: reading a frame only records the time.
        let idle_timeout = self.settings.get_idle_timeout();
        let mut last_seen = Instant::now();
        let idle = tokio::time::sleep(idle_timeout.unwrap_or(Duration::from_secs(3600)));
        // Made once, not on every turn of the loop: each would cost a lock.
        let conn = self.conn.clone();
        let close_requested = conn.close_requested();
        let mut shutdown = self.shutdown.clone();
        let shutdown = shutdown::triggered(&mut shutdown);
        let overflow = inbox.overflow();
        let overflowed = overflow.occurred();
        let close_request = inbox.close_request();
        let close_asked = close_request.requested();
        tokio::pin!(idle, close_requested, shutdown, overflowed, close_asked);
        while self.state == State::Open {
            tokio::select! {
                biased;
                (code, reason) = &mut close_requested => self.state = State::Closing(code, reason),
                () = &mut shutdown => {
                    metrics.closed_for(CloseReason::Shutdown);
                    self.state = State::Closing(close_code::GOING_AWAY, "server shutting down".into());
                }
                // The layer dropped a message for us: the client's view has a hole, so it must
                // reconnect and re-sync rather than go on without knowing.
                () = &mut overflowed => {
                    metrics.closed_for(CloseReason::InboxOverflow);
                    self.state = State::Closing(close_code::INBOX_OVERFLOW, "inbox overflow: reconnect to re-sync".into());
                }
                // Access ended while an event runs, so the inbox is not being read: close now,
                // not when the event ends. Otherwise the close is taken in order from the inbox.
                (code, reason) = &mut close_asked, if event.is_some() => {
                    let (code, reason) = close_code::sanitize(code, &reason);
                    tracing::info!(code, %reason, "closing the connection: asked through the layer during an event");
                    metrics.closed_for(CloseReason::Group);
                    // Whatever the event would still send is not for this client any more.
                    event = None;
                    self.state = State::Closing(code, reason);
                }
                Some((sink, written)) = OptionFuture::from(writing.as_mut()), if writing.is_some() => {
                    writing = None;
                    self.sink = Some(sink);
                    if let Err(err) = written {
                        tracing::debug!(error = %err, "write failed; the client is gone");
                        self.state = State::Broken;
                    } else if std::mem::take(&mut ping_due) {
                        writing = self.start_write(None, true);
                    }
                }
                Some(frame) = self.outbound.recv(), if writing.is_none() => {
                    writing = self.start_write(Some(frame), std::mem::take(&mut ping_due));
                }
                Some(()) = handlers.next(), if !handlers.is_empty() => {}
                Some(()) = OptionFuture::from(event.as_mut()), if event.is_some() => event = None,
                message = inbox.recv(), if event.is_none() => {
                    let Some(mut message) = message else {
                        self.state = State::Closing(1011, "channel layer closed".into());
                        continue;
                    };
                    // Take the group messages already waiting too, so that they are written
                    // together; stop at an event, which runs as the next sequential task, and
                    // at a close, which ends the loop.
                    for _ in 0..WRITE_BATCH {
                        match on_layer_message(consumer, ctx, &self.conn, message, completion) {
                            Next::Continue => {}
                            Next::Event(task) => {
                                event = Some(task);
                                break;
                            }
                            Next::Close(code, reason) => {
                                metrics.closed_for(CloseReason::Group);
                                self.state = State::Closing(code, reason);
                                break;
                            }
                        }
                        match inbox.try_recv() {
                            Some(next) => message = next,
                            None => break,
                        }
                    }
                }
                frame = self.stream.next(), if handlers.len() < max_in_flight => {
                    last_seen = Instant::now();
                    let frame = match frame {
                        Some(Ok(frame @ (WsMessage::Text(_) | WsMessage::Binary(_)))) => frame,
                        Some(Ok(WsMessage::Close(_))) | None => {
                            self.state = State::ClientClosed;
                            continue;
                        }
                        Some(Ok(_)) => continue, // ping, pong: they only prove the client is alive
                        Some(Err(err)) => {
                            self.state = read_error_state(err, &metrics);
                            continue;
                        }
                    };
                    metrics.received(frame.len());
                    if rate_limit.as_mut().is_some_and(|bucket| !bucket.try_take(last_seen)) {
                        metrics.dropped(DropReason::RateLimited);
                        let _ = self.conn.enqueue(Utf8Bytes::from_static(RATE_LIMITED_FRAME));
                        continue;
                    }
                    match frame {
                        WsMessage::Text(text) => match envelope::parse_text(&text, camelize) {
                            Ok(inbound) => {
                                let ctx = ctx.replying_to(inbound.envelope.reference);
                                handlers.push(Box::pin(dispatch::handle_message(consumer, ctx, inbound.body, completion)));
                            }
                            Err(errors) => dispatch::send_invalid(ctx, &errors),
                        },
                        _ => dispatch::send_invalid(ctx, &[ValidationError::new(
                            "json_invalid",
                            vec![],
                            "Invalid JSON: binary frames are not supported",
                        )]),
                    }
                }
                _ = OptionFuture::from(heartbeat.as_mut().map(Interval::tick)), if heartbeat.is_some() => {
                    if writing.is_none() {
                        writing = self.start_write(None, true);
                    } else {
                        ping_due = true;
                    }
                }
                () = &mut idle, if idle_timeout.is_some() => {
                    let now = Instant::now();
                    // While the handler limit pauses reading, the silence is ours, not the client's.
                    if handlers.len() >= max_in_flight {
                        last_seen = now;
                    }
                    let deadline = last_seen + idle_timeout.unwrap_or_default();
                    if deadline <= now {
                        tracing::info!(timeout = ?idle_timeout, "the client sent nothing in time; closing with 1011");
                        metrics.closed_for(CloseReason::Idle);
                        self.state = State::Closing(close_code::IDLE_TIMEOUT, "keepalive timeout".into());
                    } else {
                        idle.as_mut().reset(deadline);
                    }
                }
            }
        }
        // A write still in flight gets the close timeout; a client that stopped reading never
        // lets it finish, and is then dropped without a closing handshake.
        if let Some(write) = writing.take() {
            let deadline = self.settings.get_close_timeout();
            match tokio::time::timeout(deadline, write).await {
                Ok((sink, Ok(()))) => self.sink = Some(sink),
                _ => {
                    tracing::debug!("the pending write did not complete; dropping the connection");
                    self.state = State::Broken;
                }
            }
        }
        if handlers.is_empty() && event.is_none() {
            return;
        }
        // Let work in flight finish (its frames are still written while the socket is open).
        let drain = async {
            while handlers.next().await.is_some() {}
            if let Some(event) = event {
                event.await;
            }
        };
        let timeout = self.settings.get_drain_timeout();
        if tokio::time::timeout(timeout, self.drive(drain)).await.is_err() {
            tracing::warn!(?timeout, "handlers still running after the drain timeout were cancelled");
        }
    }

    /// Starts writing what is queued (after `first`, and a ping when `ping`), unless the sink is gone.
    fn start_write(&mut self, first: Option<Utf8Bytes>, ping: bool) -> Option<Write> {
        let batch = take_batch(&mut self.outbound, first, ping);
        let mut sink = self.sink.take()?;
        let conn = self.conn.clone();
        Some(Box::pin(async move {
            let written = write_frames(&mut sink, batch, &conn).await;
            (sink, written)
        }))
    }

    /// Writes what is still queued, then performs the closing handshake.
    pub(crate) async fn finish(mut self) {
        if self.state == State::Open {
            let (code, reason) = self.conn.pending_close().unwrap_or((close_code::NORMAL, String::new()));
            self.state = State::Closing(code, reason);
        }
        let deadline = self.settings.get_close_timeout();
        match self.state.clone() {
            State::Closing(code, reason) => {
                tracing::debug!(code, %reason, "closing the connection");
                // Bounded as a whole: a client that does not read cannot hold the task.
                let _ = tokio::time::timeout(deadline, async {
                    while let Ok(frame) = self.outbound.try_recv() {
                        self.write_batch(frame).await;
                    }
                    let close = WsMessage::Close(Some(close_frame(code, &reason)));
                    let Some(sink) = self.sink.as_mut().filter(|_| writable(&self.state)) else { return };
                    if sink.send(close).await.is_ok() {
                        // Wait for the client's close frame, discarding anything else.
                        while let Some(Ok(_)) = self.stream.next().await {}
                    }
                })
                .await;
            }
            State::ClientClosed => {
                if let Some(sink) = self.sink.as_mut() {
                    let _ = tokio::time::timeout(deadline, sink.close()).await;
                }
            }
            State::Open | State::Broken => {}
        }
    }
}

/// What the loop does after a layer message.
enum Next<'a> {
    /// Take the next one.
    Continue,
    /// Run this channel event, then take the next one.
    Event(Task<'a>),
    /// Close the connection ([`Layer::close_group`](crate::Layer::close_group)).
    Close(u16, String),
}

/// Group messages are written at once; channel events become the next sequential task; a
/// close request closes.
fn on_layer_message<'a>(
    consumer: &'a dyn Dispatch,
    ctx: &Context,
    conn: &Connection,
    message: LayerMessage,
    completion: bool,
) -> Next<'a> {
    match message.body() {
        LayerBody::GroupMessage { message: frame, exclude_current, from_channel } => {
            if *exclude_current && from_channel.as_deref() == Some(ctx.channel_name()) {
                return Next::Continue;
            }
            // A full queue closes the connection inside `enqueue`.
            if conn.enqueue(message.group_frame(frame, conn.camelize)).is_ok() && completion {
                let _ = conn.enqueue(GROUP_COMPLETE_FRAME);
            }
            Next::Continue
        }
        LayerBody::ChannelEvent { event_data } => {
            Next::Event(Box::pin(dispatch::handle_event(consumer, ctx.clone(), event_data.clone(), completion)))
        }
        LayerBody::CloseConnection { code, reason } => {
            let (code, reason) = close_code::sanitize(*code, reason);
            tracing::info!(channel = %ctx.channel_name(), code, %reason, "closing the connection: asked through the layer");
            Next::Close(code, reason)
        }
    }
}

fn writable(state: &State) -> bool {
    matches!(state, State::Open | State::Closing(..))
}

/// A ping when `ping`, then `first` and more queued frames, up to `WRITE_BATCH` in all.
fn take_batch(outbound: &mut mpsc::Receiver<Utf8Bytes>, first: Option<Utf8Bytes>, ping: bool) -> Vec<WsMessage> {
    let mut batch = Vec::with_capacity(if ping { 2 } else { 1 });
    if ping {
        batch.push(WsMessage::Ping(Default::default()));
    }
    batch.extend(first.map(WsMessage::Text));
    while batch.len() < WRITE_BATCH {
        let Ok(frame) = outbound.try_recv() else { break };
        batch.push(WsMessage::Text(frame));
    }
    batch
}

/// Writes the frames, then flushes once.
async fn write_frames(sink: &mut Sink, batch: Vec<WsMessage>, conn: &Connection) -> Result<(), WsError> {
    let (frames, bytes) = (batch.len(), batch.iter().map(WsMessage::len).sum());
    for frame in batch {
        sink.feed(frame).await?;
    }
    sink.flush().await?;
    conn.metrics.sent(frames, bytes);
    Ok(())
}

fn read_error_state(err: WsError, metrics: &crate::Metrics) -> State {
    match err {
        WsError::Capacity(err) => {
            tracing::info!(error = %err, "client frame over the size limit; closing with 1009");
            metrics.closed_for(CloseReason::TooBig);
            State::Closing(close_code::MESSAGE_TOO_BIG, "message too big".into())
        }
        // The client vanished without a close frame: nothing to answer.
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            tracing::debug!("the client left without a closing handshake");
            State::Broken
        }
        WsError::Protocol(err) => {
            tracing::info!(error = %err, "WebSocket protocol error; closing with 1002");
            State::Closing(1002, "protocol error".into())
        }
        WsError::Utf8(_) => State::Closing(1007, "invalid UTF-8".into()),
        err => {
            tracing::debug!(error = %err, "read failed; the client is gone");
            State::Broken
        }
    }
}

fn close_frame(code: u16, reason: &str) -> CloseFrame {
    CloseFrame { code: CloseCode::from(code), reason: Utf8Bytes::from(reason) }
}
