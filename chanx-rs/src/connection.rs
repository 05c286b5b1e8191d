//! The socket side of a connection: one task that reads client frames, runs handlers (bounded),
//! feeds channel events one at a time, writes queued frames in batches, keeps the heartbeat and
//! the limits, and closes cleanly.
//!
//! [`Socket::serve`] is a small state machine: its `select!` only routes each event to a named
//! step ([`Session::on_frame`], [`Session::on_inbox`], [`Session::on_idle`],
//! [`Socket::on_written`], ...), and each step says what comes next as a [`Flow`]. Most
//! wake-ups are a client frame or a group message on a connection with nothing else going on:
//! [`Socket::poll_hot`] takes those through the same steps without a turn of the `select!`. How
//! the connection then ends (close frame, counter) is decided in [`crate::close`].

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{self, Poll, ready};
use std::time::Duration;

use futures_util::future::OptionFuture;
use futures_util::stream::FuturesUnordered;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior, Sleep};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage, Utf8Bytes};

use crate::close::EndReason;
use crate::context::Connection;
use crate::dispatch::{self, Answer, Dispatch, GROUP_COMPLETE_FRAME};
use crate::layer::{ChannelReceiver, LayerBody, LayerMessage};
use crate::metrics::{DropReason, Metrics};
use crate::settings::TokenBucket;
use crate::signal::PollGate;
use crate::validation::ValidationError;
use crate::{Context, Settings, envelope, shutdown, topic};

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

/// A client frame being handled; it ends with the frames the loop writes for it.
type Handler<'a> = dispatch::Handling<'a>;

/// The WebSocket protocol configuration derived from the settings.
pub(crate) fn ws_config(settings: &Settings) -> WebSocketConfig {
    WebSocketConfig::default()
        // tungstenite zero-fills the whole read buffer before each read, so its size is resident
        // memory of every connection; it grows on demand for larger messages.
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(settings.max_message_size))
        .max_frame_size(Some(settings.max_message_size))
}

/// What a step of the loop tells it to do next.
#[derive(Debug, PartialEq)]
enum Flow {
    /// Keep serving.
    Continue,
    /// Stop serving: the connection ends for this reason.
    End(EndReason),
}

/// The frames waiting to be written, in order. Handlers' `ctx.send`s and other tasks' go through
/// the bounded `queue`; the frames the loop makes itself (group frames taken from the inbox,
/// handler replies) are kept in `own`, behind everything queued before them, so that they skip
/// the queue and the wake-up of this same task that sending through it costs.
struct Outbox {
    own: VecDeque<Utf8Bytes>,
    queue: mpsc::Receiver<Utf8Bytes>,
    /// Most turns of the loop find the queue as it was: its polls are skipped until it wakes us.
    queue_gate: PollGate,
    /// The most frames waiting in all, as for the queue alone: a client further behind is slow.
    capacity: usize,
}

impl Outbox {
    fn new(queue: mpsc::Receiver<Utf8Bytes>, capacity: usize) -> Self {
        Outbox { own: VecDeque::new(), queue, queue_gate: PollGate::new(), capacity: capacity.max(1) }
    }

    /// Adds a frame the loop made, after every frame queued so far. Full: the client is not
    /// keeping up, and the frame is dropped.
    fn push(&mut self, frame: Utf8Bytes) -> Result<(), Full> {
        // What is in the queue was sent first: it goes first. (`is_empty` first: an empty
        // `try_recv`, the usual case, costs several times more.)
        while !self.queue.is_empty()
            && let Ok(earlier) = self.queue.try_recv()
        {
            self.own.push_back(earlier);
        }
        if self.own.len() >= self.capacity {
            return Err(Full);
        }
        self.own.push_back(frame);
        Ok(())
    }

    /// The next frame to write, if one is waiting.
    fn try_next(&mut self) -> Option<Utf8Bytes> {
        self.own.pop_front().or_else(|| if self.queue.is_empty() { None } else { self.queue.try_recv().ok() })
    }

    /// Waits for the next frame to write.
    fn poll_next(&mut self, cx: &mut task::Context<'_>) -> Poll<Option<Utf8Bytes>> {
        match self.own.pop_front() {
            Some(frame) => Poll::Ready(Some(frame)),
            None => self.queue_gate.poll(cx, |cx| self.queue.poll_recv(cx)),
        }
    }

    /// Drops every waiting frame: nothing more can be written.
    fn discard(&mut self) {
        self.own.clear();
        while self.queue.try_recv().is_ok() {}
    }
}

/// The outbox is full: the client is not keeping up.
#[derive(Debug, PartialEq)]
struct Full;

/// The socket and the batch being written to it. The batch is polled in place by the loop, so
/// a write costs neither a boxed future nor a fresh `Vec`. The socket is not split into halves
/// (each poll of a half takes a lock): the one task that owns it polls its writes and its
/// reads side by side ([`poll_io`](Self::poll_io)), so a write blocked on a client that
/// stopped reading does not stop the loop from reading, running handlers and noticing the
/// outbound queue fill up.
struct Writer {
    ws: WebSocket,
    /// Frames of the current batch not yet handed to the socket; flushed once they all are.
    batch: VecDeque<WsMessage>,
    /// Frames and payload bytes of the current batch, counted once it is flushed.
    size: (usize, usize),
    /// A batch was started and is not flushed yet.
    busy: bool,
    /// The heartbeat came while a batch was being written: the next batch starts with a ping.
    ping_due: bool,
    /// The connection's, when its frames are logged.
    frame_log: Option<Arc<crate::frame_log::FrameLog>>,
}

impl Writer {
    fn new(ws: WebSocket) -> Self {
        Writer { ws, batch: VecDeque::new(), size: (0, 0), busy: false, ping_due: false, frame_log: None }
    }

    /// Starts a batch: a ping when `ping`, then `first` and more queued frames, up to
    /// [`WRITE_BATCH`] in all.
    fn start(&mut self, outbox: &mut Outbox, first: Option<Utf8Bytes>, ping: bool) {
        debug_assert!(!self.busy, "one batch at a time");
        self.batch.clear();
        if ping {
            self.batch.push_back(WsMessage::Ping(Default::default()));
        }
        self.batch.extend(first.map(WsMessage::Text));
        while self.batch.len() < WRITE_BATCH {
            let Some(frame) = outbox.try_next() else { break };
            self.batch.push_back(WsMessage::Text(frame));
        }
        self.size = (self.batch.len(), self.batch.iter().map(WsMessage::len).sum());
        self.busy = true;
        if let Some(log) = &self.frame_log {
            log.sent(self.batch.iter().filter_map(|frame| match frame {
                WsMessage::Text(text) => Some(text),
                _ => None,
            }));
        }
    }

    /// Hands the batch to the socket, then flushes once. Ready when it is written, or failed.
    fn poll_write(&mut self, cx: &mut task::Context<'_>, metrics: &Metrics) -> Poll<Result<(), WsError>> {
        while !self.batch.is_empty() {
            ready!(self.ws.poll_ready_unpin(cx))?;
            if let Some(frame) = self.batch.pop_front() {
                self.ws.start_send_unpin(frame)?;
            }
        }
        ready!(self.ws.poll_flush_unpin(cx))?;
        self.busy = false;
        metrics.sent(self.size.0, self.size.1);
        Poll::Ready(Ok(()))
    }

    /// The end of the batch in flight (when `self.busy`), else the next client frame (when
    /// `reading`): one poll of the socket for both, which a `select!` could not borrow twice.
    fn poll_io(&mut self, cx: &mut task::Context<'_>, metrics: &Metrics, reading: bool) -> Poll<SocketIo> {
        if self.busy
            && let Poll::Ready(written) = self.poll_write(cx, metrics)
        {
            return Poll::Ready(SocketIo::Written(written));
        }
        if reading {
            return self.ws.poll_next_unpin(cx).map(SocketIo::Read);
        }
        Poll::Pending
    }
}

/// What [`Writer::poll_io`] found.
enum SocketIo {
    /// The batch in flight was written, or failed.
    Written(Result<(), WsError>),
    /// A client frame, the end of the stream or a read error.
    Read(Option<Result<WsMessage, WsError>>),
}

pub(crate) struct Socket<'s> {
    writer: Writer,
    outbox: Outbox,
    conn: Arc<Connection>,
    settings: &'s Settings,
    shutdown: watch::Receiver<bool>,
    /// Why the connection ends, once that is settled; `None` while it is open.
    end: Option<EndReason>,
    /// The transport failed, or a write was abandoned: nothing more can be written.
    broken: bool,
}

impl<'s> Socket<'s> {
    pub(crate) fn new(
        ws: WebSocket,
        outbound: mpsc::Receiver<Utf8Bytes>,
        conn: Arc<Connection>,
        settings: &'s Settings,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let outbox = Outbox::new(outbound, settings.outbound_capacity);
        let writer = Writer { frame_log: conn.frame_log.clone(), ..Writer::new(ws) };
        Socket { writer, outbox, conn, settings, shutdown, end: None, broken: false }
    }

    /// Closes a socket before any consumer code ran.
    pub(crate) async fn close_unstarted(mut ws: WebSocket, reason: EndReason, metrics: &Metrics) {
        reason.count(metrics);
        let _ = ws.close(reason.close_frame().map(close_frame)).await;
    }

    /// Settles why the connection ends and counts it; the first reason wins.
    fn end(&mut self, reason: EndReason) {
        if self.end.is_some() {
            return;
        }
        self.broken |= reason == EndReason::TransportError;
        reason.count(&self.conn.metrics);
        tracing::debug!(channel = %self.conn.channel_name, ?reason, "the connection ends");
        self.end = Some(reason);
    }

    /// Whether frames can still be written: the transport works and the server, not the
    /// client, is the one closing (if anyone is).
    fn writable(&self) -> bool {
        !self.broken && self.end.as_ref().is_none_or(|reason| reason.close_frame().is_some())
    }

    /// Runs `future` to completion while writing the frames it queues. The writes are polled
    /// beside it, so a client that does not read blocks neither the future nor its end (the
    /// batch still in flight is then finished by the serve loop or [`finish`](Self::finish)).
    /// Frames queued after the transport failed are discarded, so the future still finishes
    /// (its side effects matter).
    pub(crate) async fn drive<F: Future>(&mut self, future: F) -> F::Output {
        tokio::pin!(future);
        let metrics = self.conn.metrics.clone();
        loop {
            tokio::select! {
                biased;
                out = &mut future => return out,
                written = poll_fn(|cx| self.writer.poll_write(cx, &metrics)), if self.writer.busy && !self.broken => {
                    if let Flow::End(reason) = self.on_written(written) {
                        self.end(reason);
                    }
                }
                Some(frame) = poll_fn(|cx| self.outbox.poll_next(cx)), if !self.writer.busy || self.broken => {
                    if self.writable() {
                        self.on_outbound(frame);
                    } else {
                        self.outbox.discard();
                    }
                }
            }
        }
    }

    /// Finishes the batch in flight, if any; a failure means the client is gone.
    async fn complete_write(&mut self) {
        if !self.writer.busy || self.broken {
            return;
        }
        let (writer, metrics) = (&mut self.writer, &self.conn.metrics);
        if let Err(err) = poll_fn(|cx| writer.poll_write(cx, metrics)).await {
            tracing::debug!(error = %err, "write failed; the client is gone");
            self.broken = true;
            self.end(EndReason::TransportError);
        }
    }

    /// Writes `first` and whatever else is queued (after the batch in flight), then flushes once.
    async fn write_batch(&mut self, first: Utf8Bytes) {
        self.complete_write().await;
        if !self.writable() {
            self.outbox.discard();
            return;
        }
        self.writer.start(&mut self.outbox, Some(first), false);
        self.complete_write().await;
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
        let mut session = Session::new(consumer, ctx, self.conn.clone(), self.settings, completion, max_in_flight);
        let mut heartbeat = self.settings.heartbeat_interval.map(|period| {
            let mut interval = tokio::time::interval_at(Instant::now() + period, period);
            interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
            interval
        });
        // The idle timer is re-armed lazily: reading a frame only records the time.
        let idle = tokio::time::sleep(session.idle_timeout.unwrap_or(Duration::from_secs(3600)));
        // Made once, not on every turn of the loop: each would cost a lock.
        let conn = self.conn.clone();
        let metrics = conn.metrics.clone();
        // The `select!` polls every source on every turn, but most turns were woken by something
        // else: the polls of all but the socket are skipped until they wake the task. Their
        // gates share the outbox's word, so a turn checks them all in one cache line.
        let gate = || self.outbox.queue_gate.another();
        let (mut inbox_gate, mut heartbeat_gate, mut idle_gate) = (gate(), gate(), gate());
        let (mut end_gate, shutdown_gate) = (gate(), gate());
        // What the hot path leaves to the `select!`: every source but the socket, the inbox, the
        // outbound queue and the work in flight (the close asked through the layer only matters
        // during an event, when the path is not taken).
        let cold = end_gate.bit()
            | shutdown_gate.bit()
            | if heartbeat.is_some() { heartbeat_gate.bit() } else { 0 }
            | if session.idle_timeout.is_some() { idle_gate.bit() } else { 0 };
        let close_requested = conn.close_requested();
        let mut shutdown = self.shutdown.clone();
        let shutdown = shutdown::triggered(&mut shutdown, shutdown_gate);
        let overflow = inbox.overflow();
        let overflowed = overflow.occurred();
        let close_request = inbox.close_request();
        let close_asked = close_request.requested();
        tokio::pin!(idle, close_requested, shutdown, overflowed, close_asked);
        // The select only routes: each branch is one step, which says whether to go on.
        while self.end.is_none() {
            if session.is_quiet() {
                let hot = poll_fn(|cx| self.poll_hot(cx, &mut session, inbox, &mut inbox_gate, &metrics, cold)).await;
                if let Flow::End(reason) = hot {
                    self.end(reason);
                    break;
                }
            }
            let reading = session.reading();
            let flow = tokio::select! {
                biased;
                // A close asked by a handler, or the layer dropped a message for us: the
                // client's view has a hole, so it must reconnect and re-sync rather than go on
                // without knowing (and is told so, even during a shutdown). One gate for both:
                // they are rare.
                reason = poll_fn(|cx| end_gate.poll(cx, |cx| match close_requested.as_mut().poll(cx) {
                    Poll::Ready(reason) => Poll::Ready(reason),
                    Poll::Pending => overflowed.as_mut().poll(cx).map(|()| EndReason::InboxOverflow),
                })) => Flow::End(reason),
                () = &mut shutdown => Flow::End(EndReason::Shutdown),
                (code, reason) = &mut close_asked, if session.event.is_some() => {
                    session.on_close_during_event(code, &reason)
                }
                Some(frame) = poll_fn(|cx| self.outbox.poll_next(cx)), if !self.writer.busy => self.on_outbound(frame),
                Some(answer) = session.handlers.next(), if !session.handlers.is_empty() => {
                    match poll_fn(|cx| Poll::Ready(self.reap_write(cx, &metrics))).await {
                        Flow::Continue => self.on_answer(answer),
                        end => end,
                    }
                }
                Some(()) = OptionFuture::from(session.event.as_mut()), if session.event.is_some() => {
                    session.event = None;
                    Flow::Continue
                }
                message = poll_fn(|cx| inbox_gate.poll(cx, |cx| inbox.poll_recv(cx))), if session.event.is_none() => {
                    match poll_fn(|cx| Poll::Ready(self.reap_write(cx, &metrics))).await {
                        Flow::Continue => session.on_inbox(message, inbox, &mut self.outbox),
                        end => end,
                    }
                }
                // The end of a write, then a client frame. After the inbox's branch, so that
                // reading cannot starve it; the steps that push reap a finished write first.
                io = poll_fn(|cx| self.writer.poll_io(cx, &metrics, reading)), if self.writer.busy || reading => {
                    self.on_io(&mut session, io)
                }
                Some(_) = poll_fn(|cx| match heartbeat.as_mut() {
                    Some(interval) => heartbeat_gate.poll(cx, |cx| interval.poll_tick(cx)).map(Some),
                    None => Poll::Ready(None),
                }), if heartbeat.is_some() => self.on_heartbeat(),
                // The timer is only reset after it fired (the gate is open then), so the reset
                // deadline is always registered by the next poll.
                () = poll_fn(|cx| idle_gate.poll(cx, |cx| idle.as_mut().poll(cx))), if session.idle_timeout.is_some() => {
                    session.on_idle(idle.as_mut(), Instant::now())
                }
            };
            let flow = match flow {
                // What the step made ready goes out in this same wake-up, not in later turns.
                Flow::Continue => poll_fn(|cx| Poll::Ready(self.advance(&mut session, inbox, cx, &metrics))).await,
                end => end,
            };
            if let Flow::End(reason) = flow {
                self.end(reason);
            }
        }
        // A write still in flight gets the close timeout; a client that stopped reading never
        // lets it finish, and is then dropped without a closing handshake.
        if self.writer.busy && !self.broken {
            let deadline = self.settings.close_timeout;
            let (writer, metrics) = (&mut self.writer, &self.conn.metrics);
            if !matches!(tokio::time::timeout(deadline, poll_fn(|cx| writer.poll_write(cx, metrics))).await, Ok(Ok(())))
            {
                tracing::debug!("the pending write did not complete; dropping the connection");
                self.broken = true;
            }
        }
        let Session { mut handlers, started, event, .. } = session;
        handlers.extend(started);
        if handlers.is_empty() && event.is_none() {
            return;
        }
        // Let work in flight finish (its frames are still written while the socket is open).
        let conn = self.conn.clone();
        let drain = async {
            let mut handlers = handlers;
            while let Some(answer) = handlers.next().await {
                for frame in answer.frames() {
                    // A full queue closes the connection inside `enqueue`.
                    let _ = conn.enqueue(frame);
                }
            }
            if let Some(event) = event {
                event.await;
            }
        };
        let timeout = self.settings.drain_timeout;
        // Boxed: only a connection ending with work in flight needs its state.
        if tokio::time::timeout(timeout, Box::pin(self.drive(drain))).await.is_err() {
            tracing::warn!(?timeout, "handlers still running after the drain timeout were cancelled");
        }
    }

    /// The hot path: while no work is in flight and none of the `cold` sources woke the task,
    /// client frames and layer messages are handled here, each with its [`advance`](Self::advance),
    /// without a turn of the `select!` (which polls, or checks the gate of, every source). Most
    /// wake-ups are one of these two, so a round trip costs one poll of the socket that reads
    /// the frame and one that finds nothing, instead of two turns of the whole loop. `Ready`
    /// when the `select!` has to take over (or the connection ends), `Pending` when nothing is
    /// ready.
    fn poll_hot(
        &mut self,
        cx: &mut task::Context<'_>,
        session: &mut Session<'_>,
        inbox: &mut ChannelReceiver,
        inbox_gate: &mut PollGate,
        metrics: &Metrics,
        cold: u32,
    ) -> Poll<Flow> {
        loop {
            if self.outbox.queue_gate.any_open(cold) || !session.is_quiet() {
                return Poll::Ready(Flow::Continue);
            }
            // In the `select!`'s order: what handlers sent, then the inbox, so that reading
            // cannot starve it, then the socket.
            let flow = if !self.writer.busy
                && let Poll::Ready(Some(frame)) = self.outbox.poll_next(cx)
            {
                self.on_outbound(frame)
            } else if let Poll::Ready(message) = inbox_gate.poll(cx, |cx| inbox.poll_recv(cx)) {
                match self.reap_write(cx, metrics) {
                    Flow::Continue => session.on_inbox(message, inbox, &mut self.outbox),
                    end => end,
                }
            } else {
                let io = ready!(self.writer.poll_io(cx, metrics, session.reading()));
                self.on_io(session, io)
            };
            match flow {
                Flow::Continue => {
                    if let Flow::End(reason) = self.advance(session, inbox, cx, metrics) {
                        return Poll::Ready(Flow::End(reason));
                    }
                }
                end => return Poll::Ready(end),
            }
        }
    }

    /// The socket's side: the end of the batch in flight, or a client frame read now.
    fn on_io(&mut self, session: &mut Session<'_>, io: SocketIo) -> Flow {
        match io {
            SocketIo::Written(written) => self.on_written(written),
            SocketIo::Read(frame) => session.on_frame(frame, Instant::now()),
        }
    }

    /// A frame was queued and no write is in flight: start a batch with it (and a ping, if one
    /// is due).
    fn on_outbound(&mut self, frame: Utf8Bytes) -> Flow {
        let ping = std::mem::take(&mut self.writer.ping_due);
        self.writer.start(&mut self.outbox, Some(frame), ping);
        Flow::Continue
    }

    /// After each step: runs the handlers that can finish now, then writes what is waiting,
    /// until something has to wait. A ping is then answered within the wake-up that read it, in
    /// one turn of the loop instead of four (frame, handler, outbox, write), each of which polls
    /// every branch of the `select!`. Whatever has to wait is picked up by its own branch.
    fn advance(
        &mut self,
        session: &mut Session<'_>,
        inbox: &mut ChannelReceiver,
        cx: &mut task::Context<'_>,
        metrics: &Metrics,
    ) -> Flow {
        if let Flow::End(reason) = self.reap_write(cx, metrics) {
            return Flow::End(reason);
        }
        while let Poll::Ready(Some(answer)) = session.handlers.poll_next_unpin(cx) {
            if let Flow::End(reason) = self.on_answer(answer) {
                return Flow::End(reason);
            }
        }
        if let Flow::End(reason) = session.run_events(inbox, &mut self.outbox, cx) {
            return Flow::End(reason);
        }
        // Most handlers finish in their first poll: polled here, they never enter the set
        // (which would allocate a task node for them and poll them through its queue).
        if let Some(mut handler) = session.started.take() {
            match Pin::new(&mut handler).poll(cx) {
                Poll::Ready(answer) => {
                    if let Flow::End(reason) = self.on_answer(answer) {
                        return Flow::End(reason);
                    }
                }
                Poll::Pending => session.handlers.push(handler),
            }
        }
        self.write_ready(cx, metrics)
    }

    /// Notices a write that has ended, without waiting for one that has not, and starts the next
    /// batch, so that the frames written leave room in the outbox before a step pushes more:
    /// the `select!` notices the end of a write in its socket branch, which comes after the
    /// branches that push.
    fn reap_write(&mut self, cx: &mut task::Context<'_>, metrics: &Metrics) -> Flow {
        if self.writer.busy { self.write_ready(cx, metrics) } else { Flow::Continue }
    }

    /// Writes what is waiting until a write has to wait or nothing is left.
    fn write_ready(&mut self, cx: &mut task::Context<'_>, metrics: &Metrics) -> Flow {
        loop {
            if self.writer.busy {
                match self.writer.poll_write(cx, metrics) {
                    Poll::Ready(written) => match self.on_written(written) {
                        Flow::Continue => continue,
                        end => return end,
                    },
                    Poll::Pending => return Flow::Continue,
                }
            }
            match self.outbox.try_next() {
                Some(frame) => self.on_outbound(frame),
                None => return Flow::Continue,
            };
        }
    }

    /// A handler finished: its reply (and completion frame) go out after what it queued.
    fn on_answer(&mut self, answer: Answer) -> Flow {
        for frame in answer.frames() {
            if self.outbox.push(frame).is_err() {
                return Flow::End(slow_client(&self.conn));
            }
        }
        Flow::Continue
    }

    /// The heartbeat is due: ping now, or with the next batch when one is being written.
    fn on_heartbeat(&mut self) -> Flow {
        if self.writer.busy {
            self.writer.ping_due = true;
        } else {
            self.writer.start(&mut self.outbox, None, true);
        }
        Flow::Continue
    }

    /// A batch was written: a failure means the client is gone; otherwise a ping that came
    /// meanwhile goes out now.
    fn on_written(&mut self, written: Result<(), WsError>) -> Flow {
        if let Err(err) = written {
            tracing::debug!(error = %err, "write failed; the client is gone");
            self.broken = true;
            return Flow::End(EndReason::TransportError);
        }
        if std::mem::take(&mut self.writer.ping_due) {
            self.writer.start(&mut self.outbox, None, true);
        }
        Flow::Continue
    }

    /// Writes what is still queued, then performs the closing handshake.
    pub(crate) async fn finish(mut self) {
        if self.end.is_none() {
            let reason = self.conn.pending_close().unwrap_or(EndReason::Normal);
            self.end(reason);
        }
        if self.broken {
            return;
        }
        let deadline = self.settings.close_timeout;
        let Some(reason) = self.end.clone() else { return };
        if let Some((code, text)) = reason.close_frame() {
            tracing::debug!(code, reason = %text, "closing the connection");
            // Bounded as a whole: a client that does not read cannot hold the task.
            let _ = tokio::time::timeout(deadline, async {
                self.complete_write().await;
                while let Some(frame) = self.outbox.try_next() {
                    self.write_batch(frame).await;
                }
                if !self.writable() {
                    return;
                }
                if self.writer.ws.send(WsMessage::Close(Some(close_frame((code, text))))).await.is_ok() {
                    // Wait for the client's close frame, discarding anything else.
                    while let Some(Ok(_)) = self.writer.ws.next().await {}
                }
            })
            .await;
        } else if reason == EndReason::ClientClosed {
            // tungstenite has queued its answer to the client's close frame: flush it.
            let _ = tokio::time::timeout(deadline, SinkExt::close(&mut self.writer.ws)).await;
        }
    }
}

/// The serve loop's state besides the socket: the work in flight and the clocks. Each `on_*`
/// method is one step of the loop.
struct Session<'a> {
    consumer: &'a dyn Dispatch,
    ctx: &'a Context,
    conn: Arc<Connection>,
    completion: bool,
    max_in_flight: usize,
    /// Client frames being handled, with `started`: at most `max_in_flight`.
    handlers: FuturesUnordered<Handler<'a>>,
    /// The handler the last frame started, not polled yet: [`Socket::advance`] polls it in
    /// place, and adds it to `handlers` only if it has to wait.
    started: Option<Handler<'a>>,
    /// The channel event being handled; the inbox is not read meanwhile.
    event: Option<Task<'a>>,
    rate_limit: Option<TokenBucket>,
    idle_timeout: Option<Duration>,
    /// When the client was last heard from (or reading last resumed).
    last_seen: Instant,
}

impl<'a> Session<'a> {
    fn new(
        consumer: &'a dyn Dispatch,
        ctx: &'a Context,
        conn: Arc<Connection>,
        settings: &Settings,
        completion: bool,
        max_in_flight: usize,
    ) -> Self {
        Session {
            consumer,
            ctx,
            conn,
            completion,
            max_in_flight,
            handlers: FuturesUnordered::new(),
            started: None,
            event: None,
            rate_limit: settings.rate_limit.map(TokenBucket::new),
            idle_timeout: settings.idle_timeout,
            last_seen: Instant::now(),
        }
    }

    /// Whether no client frame and no channel event is being handled.
    fn is_quiet(&self) -> bool {
        self.handlers.is_empty() && self.started.is_none() && self.event.is_none()
    }

    /// Whether client frames are read: reading pauses while `max_in_flight` handlers run.
    fn reading(&self) -> bool {
        self.in_flight() < self.max_in_flight
    }

    /// How many client frames are being handled.
    fn in_flight(&self) -> usize {
        self.handlers.len() + usize::from(self.started.is_some())
    }

    /// Starts handling a frame; its first poll is in [`Socket::advance`].
    fn start(&mut self, handler: Handler<'a>) {
        if let Some(previous) = self.started.replace(handler) {
            self.handlers.push(previous);
        }
    }

    /// A client frame, the end of the stream (`None`) or a read error, read at `now`: a frame
    /// takes a rate-limit token, is parsed and starts its handler; invalid ones are answered
    /// with an error frame.
    fn on_frame(&mut self, frame: Option<Result<WsMessage, WsError>>, now: Instant) -> Flow {
        self.last_seen = now;
        let frame = match frame {
            Some(Ok(frame @ (WsMessage::Text(_) | WsMessage::Binary(_)))) => frame,
            Some(Ok(WsMessage::Close(_))) | None => return Flow::End(EndReason::ClientClosed),
            Some(Ok(_)) => return Flow::Continue, // ping, pong: they only prove the client is alive
            Some(Err(err)) => return Flow::End(EndReason::from_read_error(err)),
        };
        self.conn.metrics.received(frame.len());
        if self.rate_limit.as_mut().is_some_and(|bucket| !bucket.try_take(now)) {
            self.conn.metrics.dropped(DropReason::RateLimited);
            let _ = self.conn.enqueue(Utf8Bytes::from_static(RATE_LIMITED_FRAME));
            return Flow::Continue;
        }
        match frame {
            WsMessage::Text(text) => {
                match envelope::parse_text(&text, self.conn.camelize, !self.conn.topics.has_default_topic()) {
                    Ok(inbound) => {
                        if let Some(log) = &self.conn.frame_log {
                            log.received(&text, inbound.body.action());
                        }
                        let envelope = inbound.envelope;
                        // Frames for a topic (or, on a standalone topic route, every frame) go to it.
                        match envelope.topic.or_else(|| self.conn.topics.default_topic()) {
                            Some(topic) => {
                                let body = inbound.body.into_object();
                                let handler = topic::handle_frame(self.ctx.clone(), topic, envelope.reference, body);
                                self.start(dispatch::Handling::Boxed(Box::pin(handler)));
                            }
                            None => {
                                let ctx = self.ctx.replying_to(envelope.reference);
                                self.start(dispatch::handle_message(self.consumer, ctx, inbound.body, self.completion));
                            }
                        }
                    }
                    Err(errors) => {
                        if let Some(log) = &self.conn.frame_log {
                            log.received(&text, None);
                        }
                        dispatch::send_invalid(self.ctx, &errors)
                    }
                }
            }
            _ => dispatch::send_invalid(
                self.ctx,
                &[ValidationError::new("json_invalid", vec![], "Invalid JSON: binary frames are not supported")],
            ),
        }
        Flow::Continue
    }

    /// A layer message (`None`: the layer dropped the channel), and those already waiting
    /// behind it, up to a write batch, so that group messages are written together. Stops at a
    /// channel event, which becomes the next sequential task, and at a close request.
    fn on_inbox(&mut self, message: Option<LayerMessage>, inbox: &mut ChannelReceiver, outbox: &mut Outbox) -> Flow {
        let Some(mut message) = message else { return Flow::End(EndReason::LayerClosed) };
        for taken in 1.. {
            match on_layer_message(self.consumer, self.ctx, &self.conn, message, self.completion, outbox) {
                Next::Continue => {}
                Next::Event(task) => {
                    self.event = Some(task);
                    break;
                }
                Next::Close(reason) => return Flow::End(reason),
            }
            // Checked before taking another, which would otherwise be lost.
            if taken == WRITE_BATCH {
                break;
            }
            match inbox.try_recv() {
                Some(next) => message = next,
                None => break,
            }
        }
        Flow::Continue
    }

    /// Runs the channel event taken from the inbox, if it can finish now (a topic push's handler
    /// returns its frame in its first poll), and goes on reading the inbox behind it, up to
    /// [`WRITE_BATCH`] events. A burst of pushes is then handled in one turn of the loop and
    /// written as one batch, instead of a turn (every branch of the `select!` polled) and a
    /// write per push. Events still run one at a time, in order: the next message is taken
    /// only once the event before it finished. One that has to wait is left to its branch.
    /// Their frames wait for the write after the burst, so a small outbound capacity takes
    /// fewer at a time (a quarter of it), not to close as slow a client that is not.
    fn run_events(&mut self, inbox: &mut ChannelReceiver, outbox: &mut Outbox, cx: &mut task::Context<'_>) -> Flow {
        for _ in 0..WRITE_BATCH.min(outbox.capacity / 4).max(1) {
            let Some(event) = self.event.as_mut() else { return Flow::Continue };
            if event.as_mut().poll(cx).is_pending() {
                return Flow::Continue;
            }
            self.event = None;
            let Some(message) = inbox.try_recv() else { return Flow::Continue };
            if let Flow::End(reason) = self.on_inbox(Some(message), inbox, outbox) {
                return Flow::End(reason);
            }
        }
        Flow::Continue
    }

    /// Access ended while an event runs, so the inbox is not being read: close now, not when
    /// the event ends. (Otherwise the close is taken in order from the inbox.)
    fn on_close_during_event(&mut self, code: u16, reason: &str) -> Flow {
        let reason = EndReason::group(code, reason);
        tracing::info!(?reason, "closing the connection: asked through the layer during an event");
        // Whatever the event would still send is not for this client any more.
        self.event = None;
        Flow::End(reason)
    }

    /// The idle timer fired at `now`: end the connection if the client was silent for the whole
    /// timeout, else re-arm `timer` for the deadline its last frame set.
    fn on_idle(&mut self, timer: Pin<&mut Sleep>, now: Instant) -> Flow {
        let Some(timeout) = self.idle_timeout else { return Flow::Continue };
        // While the handler limit pauses reading, the silence is ours, not the client's.
        if !self.reading() {
            self.last_seen = now;
        }
        let deadline = self.last_seen + timeout;
        if deadline <= now {
            tracing::info!(?timeout, "the client sent nothing in time");
            return Flow::End(EndReason::Idle);
        }
        timer.reset(deadline);
        Flow::Continue
    }
}

/// What the loop does after a layer message.
enum Next<'a> {
    /// Take the next one.
    Continue,
    /// Run this channel event, then take the next one.
    Event(Task<'a>),
    /// Close the connection ([`Layer::close_group`](crate::Layer::close_group)).
    Close(EndReason),
}

/// Group messages are written at once; channel events become the next sequential task; a
/// close request closes.
fn on_layer_message<'a>(
    consumer: &'a dyn Dispatch,
    ctx: &Context,
    conn: &Connection,
    message: LayerMessage,
    completion: bool,
    outbox: &mut Outbox,
) -> Next<'a> {
    match message.body() {
        LayerBody::GroupMessage { message: frame, exclude_current, from_channel } => {
            if *exclude_current && from_channel.as_deref() == Some(ctx.channel_name()) {
                return Next::Continue;
            }
            let frame = message.group_frame(frame, conn.camelize);
            if outbox.push(frame).is_err() || (completion && outbox.push(GROUP_COMPLETE_FRAME).is_err()) {
                return Next::Close(slow_client(conn));
            }
            Next::Continue
        }
        // The event is borrowed from the message, which every member of a group send shares:
        // the task holds the message (one reference count), not a copy of the event.
        LayerBody::ChannelEvent { .. } => {
            let ctx = ctx.clone();
            Next::Event(Box::pin(async move {
                if let LayerBody::ChannelEvent { event_data } = message.body() {
                    dispatch::handle_event(consumer, ctx, event_data, completion).await;
                }
            }))
        }
        LayerBody::TopicEvent { topic, seq, event_data } => {
            match topic::on_topic_event(ctx, topic, *seq, event_data, &message) {
                Some(task) => Next::Event(Box::pin(task)),
                None => Next::Continue,
            }
        }
        LayerBody::TopicReauthorize { topic } => Next::Event(Box::pin(topic::reauthorize(ctx.clone(), topic.clone()))),
        LayerBody::CloseConnection { code, reason } => {
            let reason = EndReason::group(*code, reason);
            tracing::info!(channel = %ctx.channel_name(), ?reason, "closing the connection: asked through the layer");
            Next::Close(reason)
        }
    }
}

/// The outbox is full: the client is not keeping up. Counted as [`Connection::enqueue`] counts
/// a full queue.
fn slow_client(conn: &Connection) -> EndReason {
    conn.metrics.dropped(DropReason::QueueFull);
    tracing::warn!(channel = %conn.channel_name, "outbound queue full; disconnecting a slow client");
    EndReason::SlowClient
}

fn close_frame((code, reason): (u16, &str)) -> CloseFrame {
    CloseFrame { code: CloseCode::from(code), reason: Utf8Bytes::from(reason) }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};
    use tokio::io::DuplexStream;
    use tokio_tungstenite::tungstenite::protocol::Role;

    use super::*;
    use crate::close_code;
    use crate::dispatch::{HandlerFuture, Outcome, Reply};
    use crate::envelope::Body;
    use crate::layer::inbox;
    use crate::{Layer, RateLimit, Scope};

    /// A consumer whose message handlers do nothing and whose event handlers never end.
    struct Fake;

    impl Dispatch for Fake {
        fn message_actions(&self) -> &'static [&'static str] {
            &["ping"]
        }

        fn route_message<'a>(&'a self, _: Context, _: &str, _: Body<'_>) -> Option<HandlerFuture<'a>> {
            Some(Box::pin(async { Outcome::Reply(None) }))
        }

        fn route_event<'a>(&'a self, _: Context, _: &str, _: &'a Value) -> Option<HandlerFuture<'a>> {
            Some(Box::pin(std::future::pending()))
        }
    }

    /// A consumer that answers every frame with a pong, after sending a frame through its context.
    struct Pinger;

    const PONG: &str = r#"{"action":"pong","payload":null}"#;

    impl Dispatch for Pinger {
        fn message_actions(&self) -> &'static [&'static str] {
            &["ping"]
        }

        fn route_message<'a>(&'a self, ctx: Context, _: &str, _: Body<'_>) -> Option<HandlerFuture<'a>> {
            Some(Box::pin(async move {
                ctx.send_json(json!({"action": "before"})).expect("queued");
                Outcome::Reply(Some(Reply(envelope::Frame::Static(PONG))))
            }))
        }

        fn route_event<'a>(&'a self, _: Context, _: &str, _: &'a Value) -> Option<HandlerFuture<'a>> {
            None
        }
    }

    /// A consumer whose handlers answer a pong after as many seconds as it holds.
    struct Sleeper(u64);

    impl Dispatch for Sleeper {
        fn message_actions(&self) -> &'static [&'static str] {
            &["ping"]
        }

        fn route_message<'a>(&'a self, _: Context, _: &str, _: Body<'_>) -> Option<HandlerFuture<'a>> {
            let wait = Duration::from_secs(self.0);
            Some(Box::pin(async move {
                tokio::time::sleep(wait).await;
                Outcome::Reply(Some(Reply(envelope::Frame::Static(PONG))))
            }))
        }

        fn route_event<'a>(&'a self, _: Context, _: &str, _: &'a Value) -> Option<HandlerFuture<'a>> {
            None
        }
    }

    /// A consumer whose handlers have to wait once before they answer a pong.
    struct Yielder;

    impl Dispatch for Yielder {
        fn message_actions(&self) -> &'static [&'static str] {
            &["ping"]
        }

        fn route_message<'a>(&'a self, _: Context, _: &str, _: Body<'_>) -> Option<HandlerFuture<'a>> {
            Some(Box::pin(async {
                tokio::task::yield_now().await;
                Outcome::Reply(Some(Reply(envelope::Frame::Static(PONG))))
            }))
        }

        fn route_event<'a>(&'a self, _: Context, _: &str, _: &'a Value) -> Option<HandlerFuture<'a>> {
            None
        }
    }

    /// One connection's shared state, its context and the outbox its frames wait in.
    fn connection(capacity: usize) -> (Context, Arc<Connection>, Outbox) {
        let (outbound, queued) = mpsc::channel(capacity);
        let scope = Scope::builder("/ws/").build();
        let conn = Connection::new("specific.test!1".into(), scope, Layer::memory(), false, outbound, Arc::default());
        let conn = Arc::new(conn);
        (Context::new(conn.clone()), conn, Outbox::new(queued, capacity))
    }

    fn text(frame: &str) -> Option<Result<WsMessage, WsError>> {
        Some(Ok(WsMessage::text(frame)))
    }

    fn group_message(n: usize) -> LayerMessage {
        LayerMessage::new(LayerBody::GroupMessage {
            message: json!({"action": "n", "payload": n}),
            exclude_current: false,
            from_channel: None,
        })
    }

    fn event() -> LayerMessage {
        LayerMessage::new(LayerBody::ChannelEvent { event_data: json!({"action": "long"}) })
    }

    fn drain(outbox: &mut Outbox) -> Vec<Utf8Bytes> {
        std::iter::from_fn(|| outbox.try_next()).collect()
    }

    /// A socket over an in-memory pipe, and the client at its other end.
    async fn socket(settings: &Settings) -> (Socket<'_>, Context, WebSocketStream<DuplexStream>) {
        let (socket, ctx, client, _) = socket_with_shutdown(settings).await;
        (socket, ctx, client)
    }

    /// [`socket`], and the switch that shuts the server down.
    async fn socket_with_shutdown(
        settings: &Settings,
    ) -> (Socket<'_>, Context, WebSocketStream<DuplexStream>, watch::Sender<bool>) {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let server: Box<dyn Io> = Box::new(server);
        let ws = WebSocketStream::from_raw_socket(server, Role::Server, Some(ws_config(settings))).await;
        let client = WebSocketStream::from_raw_socket(client, Role::Client, None).await;
        let (ctx, conn, queued) = connection(settings.outbound_capacity);
        let (shut_down, shutdown) = watch::channel(false);
        (Socket::new(ws, queued.queue, conn, settings, shutdown), ctx, client, shut_down)
    }

    #[tokio::test]
    async fn a_frame_over_the_rate_limit_is_answered_and_dropped() {
        let (ctx, conn, mut queued) = connection(8);
        let settings = Settings::default().rate_limit(Some(RateLimit::per_second(1).burst(1)));
        let mut session = Session::new(&Fake, &ctx, conn.clone(), &settings, false, 4);
        let now = Instant::now();
        assert_eq!(session.on_frame(text(r#"{"action":"ping"}"#), now), Flow::Continue);
        assert_eq!(session.on_frame(text(r#"{"action":"ping"}"#), now), Flow::Continue);
        assert_eq!(session.in_flight(), 1, "only the first frame starts a handler");
        assert_eq!(drain(&mut queued), [Utf8Bytes::from_static(RATE_LIMITED_FRAME)]);
        let metrics = conn.metrics.snapshot();
        assert_eq!((metrics.frames_received, metrics.frames_dropped_rate_limited), (2, 1));
    }

    #[tokio::test]
    async fn frames_that_do_not_start_a_handler() {
        let (ctx, conn, mut queued) = connection(8);
        let mut session = Session::new(&Fake, &ctx, conn, &Settings::default(), false, 4);
        let now = Instant::now();
        assert_eq!(session.on_frame(Some(Ok(WsMessage::Pong(Default::default()))), now), Flow::Continue);
        assert_eq!(session.on_frame(text("not json"), now), Flow::Continue);
        assert_eq!(session.on_frame(Some(Ok(WsMessage::binary(vec![1]))), now), Flow::Continue);
        assert_eq!(session.in_flight(), 0);
        assert_eq!(drain(&mut queued).len(), 2, "an error frame each for the bad JSON and the binary frame");
        assert_eq!(session.on_frame(Some(Ok(WsMessage::Close(None))), now), Flow::End(EndReason::ClientClosed));
        assert_eq!(session.on_frame(None, now), Flow::End(EndReason::ClientClosed));
    }

    #[tokio::test]
    async fn a_too_big_frame_ends_with_message_too_big_and_is_counted_once() {
        let settings = Settings::default().max_message_size(16);
        let (mut socket, ctx, mut client) = socket(&settings).await;
        client.send(WsMessage::text("x".repeat(17))).await.expect("sent");
        let mut session = Session::new(&Fake, &ctx, socket.conn.clone(), &settings, false, 4);
        let flow = session.on_frame(socket.writer.ws.next().await, Instant::now());
        assert_eq!(flow, Flow::End(EndReason::TooBig));
        let Flow::End(reason) = flow else { unreachable!() };
        socket.end(reason);
        assert_eq!(socket.conn.metrics.snapshot().message_too_big_closes, 1);
        let metrics = socket.conn.metrics.clone();
        drop(session);
        // The close frame goes out while the client reads (and answers it).
        let (_, close) = tokio::join!(socket.finish(), async {
            let frame = client.next().await;
            while client.next().await.is_some() {}
            frame
        });
        let Some(Ok(WsMessage::Close(Some(frame)))) = close else { panic!("no close frame: {close:?}") };
        assert_eq!((u16::from(frame.code), frame.reason.as_str()), (close_code::MESSAGE_TOO_BIG, "message too big"));
        assert_eq!(metrics.snapshot().message_too_big_closes, 1, "counted once");
    }

    #[tokio::test(start_paused = true)]
    async fn the_idle_step_ends_a_silent_connection_and_rearms_for_a_live_one() {
        let (ctx, conn, _queued) = connection(8);
        let timeout = Duration::from_secs(10);
        let settings = Settings::default().idle_timeout(Some(timeout));
        let mut session = Session::new(&Fake, &ctx, conn, &settings, false, 1);
        let start = Instant::now();
        let timer = tokio::time::sleep(timeout);
        tokio::pin!(timer);
        tokio::time::advance(Duration::from_secs(4)).await;
        // A pong 4 s in moves the deadline to 14 s.
        session.on_frame(Some(Ok(WsMessage::Pong(Default::default()))), Instant::now());
        (&mut timer).await;
        assert_eq!(session.on_idle(timer.as_mut(), Instant::now()), Flow::Continue);
        assert_eq!(timer.deadline(), start + Duration::from_secs(14));
        (&mut timer).await;
        assert_eq!(Instant::now(), start + Duration::from_secs(14));
        assert_eq!(session.on_idle(timer.as_mut(), Instant::now()), Flow::End(EndReason::Idle));
    }

    #[tokio::test(start_paused = true)]
    async fn the_idle_step_does_not_blame_the_client_while_reading_is_paused() {
        let (ctx, conn, _queued) = connection(8);
        let timeout = Duration::from_secs(10);
        let settings = Settings::default().idle_timeout(Some(timeout));
        // One handler in flight fills `max_in_flight(1)`: the socket is not read meanwhile.
        let mut session = Session::new(&Fake, &ctx, conn, &settings, false, 1);
        session.on_frame(text(r#"{"action":"ping"}"#), Instant::now());
        assert!(!session.reading());
        let timer = tokio::time::sleep(timeout);
        tokio::pin!(timer);
        tokio::time::advance(Duration::from_secs(25)).await;
        assert_eq!(session.on_idle(timer.as_mut(), Instant::now()), Flow::Continue);
        assert_eq!(timer.deadline(), Instant::now() + timeout);
    }

    #[tokio::test]
    async fn inbox_batching_stops_at_an_event() {
        let (ctx, conn, mut queued) = connection(64);
        let mut session = Session::new(&Fake, &ctx, conn, &Settings::default(), false, 4);
        let (sender, mut receiver) = inbox("specific.test!1", 8);
        for message in [group_message(1), group_message(2), event(), group_message(3)] {
            sender.try_deliver(message).expect("delivered");
        }
        let first = receiver.recv().await;
        assert_eq!(session.on_inbox(first, &mut receiver, &mut queued), Flow::Continue);
        assert_eq!(drain(&mut queued).len(), 2, "the group messages before the event are written together");
        assert!(session.event.is_some(), "the event is the next task");
        assert!(receiver.try_recv().is_some(), "the message after the event waits for it");
    }

    /// A consumer whose event handlers answer a pong at once, or, for action `wait`, after
    /// waiting once.
    struct Events;

    impl Dispatch for Events {
        fn message_actions(&self) -> &'static [&'static str] {
            &[]
        }

        fn route_message<'a>(&'a self, _: Context, _: &str, _: Body<'_>) -> Option<HandlerFuture<'a>> {
            None
        }

        fn route_event<'a>(&'a self, _: Context, action: &str, _: &'a Value) -> Option<HandlerFuture<'a>> {
            let wait = action == "wait";
            Some(Box::pin(async move {
                if wait {
                    tokio::task::yield_now().await;
                }
                Outcome::Reply(Some(Reply(envelope::Frame::Static(PONG))))
            }))
        }
    }

    fn event_named(action: &str) -> LayerMessage {
        LayerMessage::new(LayerBody::ChannelEvent { event_data: json!({ "action": action }) })
    }

    #[tokio::test]
    async fn events_that_finish_at_once_are_run_in_one_turn_in_order() {
        let (ctx, conn, mut queued) = connection(64);
        let mut session = Session::new(&Events, &ctx, conn, &Settings::default(), false, 4);
        let (sender, mut receiver) = inbox("specific.test!1", 8);
        for message in [event(), event(), group_message(1), event()] {
            sender.try_deliver(message).expect("delivered");
        }
        let first = receiver.recv().await;
        assert_eq!(session.on_inbox(first, &mut receiver, &mut queued), Flow::Continue);
        assert!(session.event.is_some(), "the first event is the next task");
        let mut cx = task::Context::from_waker(task::Waker::noop());
        assert_eq!(session.run_events(&mut receiver, &mut queued, &mut cx), Flow::Continue);
        assert!(session.event.is_none() && receiver.try_recv().is_none(), "every message was taken");
        let written: Vec<String> = drain(&mut queued).iter().map(|f| f.as_str().to_owned()).collect();
        let n1 = r#"{"action":"n","payload":1}"#;
        assert_eq!(written, [PONG, PONG, n1, PONG], "in the order they came");
    }

    #[tokio::test]
    async fn an_event_that_waits_keeps_the_messages_behind_it_waiting() {
        let (ctx, conn, mut queued) = connection(64);
        let mut session = Session::new(&Events, &ctx, conn, &Settings::default(), false, 4);
        let (sender, mut receiver) = inbox("specific.test!1", 8);
        for message in [event_named("wait"), group_message(1)] {
            sender.try_deliver(message).expect("delivered");
        }
        let first = receiver.recv().await;
        session.on_inbox(first, &mut receiver, &mut queued);
        let mut cx = task::Context::from_waker(task::Waker::noop());
        assert_eq!(session.run_events(&mut receiver, &mut queued, &mut cx), Flow::Continue);
        assert!(session.event.is_some(), "still running");
        assert!(drain(&mut queued).is_empty(), "nothing overtook the event");
        // It finishes in its next poll; then the group message behind it is taken.
        assert_eq!(session.run_events(&mut receiver, &mut queued, &mut cx), Flow::Continue);
        assert!(session.event.is_none());
        assert_eq!(drain(&mut queued).len(), 2, "the event's pong, then the group message");
    }

    #[tokio::test]
    async fn a_small_outbound_queue_runs_fewer_events_at_a_time() {
        let (ctx, conn, mut queued) = connection(8);
        let mut session = Session::new(&Events, &ctx, conn, &Settings::default(), false, 4);
        let (sender, mut receiver) = inbox("specific.test!1", 16);
        for _ in 0..6 {
            sender.try_deliver(event()).expect("delivered");
        }
        let first = receiver.recv().await;
        session.on_inbox(first, &mut receiver, &mut queued);
        let mut cx = task::Context::from_waker(task::Waker::noop());
        assert_eq!(session.run_events(&mut receiver, &mut queued, &mut cx), Flow::Continue);
        assert_eq!(drain(&mut queued).len(), 2, "8 / 4 events in one turn");
        assert!(session.event.is_some(), "the third is the next task");
    }

    #[tokio::test]
    async fn inbox_batching_takes_a_write_batch_and_loses_nothing() {
        let (ctx, conn, mut queued) = connection(256);
        let mut session = Session::new(&Fake, &ctx, conn, &Settings::default(), false, 4);
        let (sender, mut receiver) = inbox("specific.test!1", 128);
        for n in 0..WRITE_BATCH + 6 {
            sender.try_deliver(group_message(n)).expect("delivered");
        }
        let first = receiver.recv().await;
        assert_eq!(session.on_inbox(first, &mut receiver, &mut queued), Flow::Continue);
        assert_eq!(drain(&mut queued).len(), WRITE_BATCH);
        let next = receiver.recv().await;
        assert_eq!(session.on_inbox(next, &mut receiver, &mut queued), Flow::Continue);
        let rest = drain(&mut queued);
        assert_eq!(rest.len(), 6);
        assert!(rest[5].as_str().contains(&(WRITE_BATCH + 5).to_string()), "{rest:?}");
    }

    #[tokio::test]
    async fn inbox_close_requests_and_the_end_of_the_channel() {
        let (ctx, conn, mut queued) = connection(8);
        let mut session = Session::new(&Fake, &ctx, conn, &Settings::default(), false, 4);
        let (sender, mut receiver) = inbox("specific.test!1", 8);
        sender.try_deliver(group_message(1)).expect("delivered");
        // An application code, as `close_group` takes.
        let code = close_code::UNAUTHENTICATED;
        let close = LayerBody::CloseConnection { code, reason: "revoked".into() };
        sender.try_deliver(LayerMessage::new(close)).expect("delivered");
        let first = receiver.recv().await;
        let flow = session.on_inbox(first, &mut receiver, &mut queued);
        assert_eq!(flow, Flow::End(EndReason::Group { code, reason: "revoked".into() }));
        assert_eq!(drain(&mut queued).len(), 1, "what was sent before the close is written first");
        assert_eq!(session.on_inbox(None, &mut receiver, &mut queued), Flow::End(EndReason::LayerClosed));
        assert_eq!(EndReason::LayerClosed.close_frame(), Some((close_code::INTERNAL_ERROR, "channel layer closed")));
    }

    #[tokio::test]
    async fn a_close_request_while_an_event_runs_ends_it_now() {
        let (ctx, conn, mut queued) = connection(8);
        let mut session = Session::new(&Fake, &ctx, conn, &Settings::default(), false, 4);
        let (sender, mut receiver) = inbox("specific.test!1", 8);
        sender.try_deliver(event()).expect("delivered");
        let first = receiver.recv().await;
        session.on_inbox(first, &mut receiver, &mut queued);
        assert!(session.event.is_some());
        // A server code from another process is not passed on.
        let flow = session.on_close_during_event(close_code::GOING_AWAY, "revoked");
        assert_eq!(flow, Flow::End(EndReason::Group { code: close_code::NORMAL, reason: "revoked".into() }));
        assert!(session.event.is_none(), "the event is cancelled");
    }

    #[tokio::test]
    async fn a_heartbeat_during_a_write_pings_with_the_next_batch() {
        let settings = Settings::default();
        let (mut socket, ctx, mut client) = socket(&settings).await;
        ctx.send_json(json!({"action": "a"})).expect("queued");
        let first = poll_fn(|cx| socket.outbox.poll_next(cx)).await.expect("queued");
        assert_eq!(socket.on_outbound(first), Flow::Continue);
        assert_eq!(socket.on_heartbeat(), Flow::Continue);
        assert!(socket.writer.busy && socket.writer.ping_due, "the ping waits for the batch in flight");
        let metrics = socket.conn.metrics.clone();
        let written = poll_fn(|cx| socket.writer.poll_write(cx, &metrics)).await;
        assert_eq!(socket.on_written(written), Flow::Continue);
        assert!(socket.writer.busy && !socket.writer.ping_due, "the ping went into the next batch");
        let written = poll_fn(|cx| socket.writer.poll_write(cx, &metrics)).await;
        assert_eq!(socket.on_written(written), Flow::Continue);
        assert!(matches!(client.next().await, Some(Ok(WsMessage::Text(t))) if t.as_str() == r#"{"action":"a"}"#));
        assert!(matches!(client.next().await, Some(Ok(WsMessage::Ping(_)))));
        assert_eq!(metrics.snapshot().frames_sent, 2);
    }

    /// `Context::close` takes any code and reason; what goes on the wire is a close frame a
    /// client can read: a code it may receive, a reason within 123 bytes.
    #[tokio::test]
    async fn an_application_close_that_no_frame_can_hold_is_made_sendable() {
        let settings = Settings::default();
        for (code, expected) in [
            (1006, close_code::NORMAL),
            (0, close_code::NORMAL),
            (close_code::POLICY_VIOLATION, close_code::POLICY_VIOLATION),
            (4000, 4000),
        ] {
            let (socket, ctx, mut client) = socket(&settings).await;
            // A reason built from what a peer sent, say, can be any length.
            ctx.close(code, &"é".repeat(250));
            let (_, close) = tokio::join!(socket.finish(), async {
                let frame = client.next().await;
                while client.next().await.is_some() {}
                frame
            });
            let Some(Ok(WsMessage::Close(Some(frame)))) = close else { panic!("{code}: no close frame: {close:?}") };
            assert_eq!(u16::from(frame.code), expected, "{code}");
            assert_eq!(frame.reason.as_str(), "é".repeat(61), "{code}: cut to 123 bytes at a character boundary");
        }
    }

    /// The client closes while a batch is only partly written (it was not reading): tungstenite
    /// refuses the rest of the batch (nothing may follow the peer's close), but the answer it
    /// queued on reading the close goes out with the pending flush, and the end counts once.
    #[tokio::test(start_paused = true)]
    async fn a_client_close_during_a_blocked_write_is_answered() {
        let settings = Settings::default();
        let (mut socket, ctx, mut client) = socket(&settings).await;
        let (_sender, mut receiver) = inbox("specific.test!1", 8);
        let metrics = socket.conn.metrics.clone();
        // 64 frames of 4 KiB: more than the pipe and tungstenite's write buffer hold, so the
        // batch blocks halfway.
        for n in 0..WRITE_BATCH {
            ctx.send_json(json!({"action": "big", "payload": [n, "x".repeat(4096)]})).expect("queued");
        }
        let server = async {
            socket.serve(&Fake, &ctx, &mut receiver, false, 4).await;
            socket.finish().await;
        };
        let client_side = async {
            client.send(WsMessage::Close(None)).await.expect("close sent");
            let mut frames = Vec::new();
            while let Some(frame) = client.next().await {
                frames.push(frame.map(|frame| matches!(frame, WsMessage::Close(_))));
            }
            frames
        };
        let ((), frames) = tokio::join!(server, client_side);
        assert!(frames.len() > 1 && frames.len() <= WRITE_BATCH + 1, "some text frames, then the close: {frames:?}");
        assert!(matches!(frames.last(), Some(Ok(true))), "the client's close is answered: {:?}", frames.last());
        assert_eq!(metrics.snapshot().client_closes, 1);
    }

    /// A zero heartbeat interval means no pings; tokio's `interval` would panic on it, killing
    /// every connection task as it starts serving.
    #[tokio::test(start_paused = true)]
    async fn a_zero_heartbeat_interval_sends_no_pings() {
        let settings = Settings::default().heartbeat_interval(Some(Duration::ZERO));
        let (mut socket, ctx, mut client) = socket(&settings).await;
        let (_sender, mut receiver) = inbox("specific.test!1", 8);
        let client_side = async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            client.send(WsMessage::Close(None)).await.expect("close sent");
            let mut frames = Vec::new();
            while let Some(Ok(frame)) = client.next().await {
                frames.push(frame);
            }
            frames
        };
        let server = async {
            socket.serve(&Fake, &ctx, &mut receiver, false, 4).await;
            socket.finish().await;
        };
        let ((), frames) = tokio::join!(server, client_side);
        assert!(matches!(frames.as_slice(), [WsMessage::Close(_)]), "no ping, only the close's answer: {frames:?}");
    }

    /// `drive` does not wait for a client that does not read: the future ends with a batch
    /// still in flight, and `finish` writes all of it, then the rest, before the close frame.
    #[tokio::test(start_paused = true)]
    async fn drive_leaves_a_blocked_batch_to_finish_which_writes_it_before_the_close() {
        let settings = Settings::default();
        let (mut socket, ctx, mut client) = socket(&settings).await;
        let setup = async {
            for n in 0..100 {
                ctx.send_json(json!({"action": "history", "payload": [n, "x".repeat(4096)]})).expect("queued");
                tokio::task::yield_now().await;
            }
            "set up"
        };
        let driven = tokio::time::timeout(Duration::from_secs(5), socket.drive(setup)).await;
        assert_eq!(driven.ok(), Some("set up"), "the setup waited on the client");
        assert!(socket.writer.busy, "the client has read nothing: a batch is in flight");
        ctx.end(EndReason::AuthenticationRefused { status: 403, text: "Forbidden".into() });
        let (_, frames) = tokio::join!(socket.finish(), async {
            let mut frames = Vec::new();
            while let Some(Ok(frame)) = client.next().await {
                frames.push(frame);
            }
            frames
        });
        let texts: Vec<u64> = frames
            .iter()
            .filter_map(|frame| match frame {
                WsMessage::Text(text) => serde_json::from_str::<Value>(text).ok()?["payload"][0].as_u64(),
                _ => None,
            })
            .collect();
        assert_eq!(texts, (0..100).collect::<Vec<_>>(), "every frame, in order");
        assert!(matches!(frames.last(), Some(WsMessage::Close(Some(frame))) if u16::from(frame.code) == 4403));
    }

    /// A handler that does not finish in its first poll (in `advance`) joins the handlers in
    /// flight, and its answer is written when it comes.
    #[tokio::test]
    async fn a_handler_that_has_to_wait_is_kept_until_it_answers() {
        let settings = Settings::default();
        let (mut socket, ctx, mut client) = socket(&settings).await;
        client.send(WsMessage::text(r#"{"action":"ping"}"#)).await.expect("sent");
        let mut session = Session::new(&Yielder, &ctx, socket.conn.clone(), &settings, false, 4);
        let frame = socket.writer.ws.next().await;
        assert_eq!(session.on_frame(frame, Instant::now()), Flow::Continue);
        let metrics = socket.conn.metrics.clone();
        let (_sender, mut inbox) = inbox("specific.test!1", 8);
        let flow = poll_fn(|cx| Poll::Ready(socket.advance(&mut session, &mut inbox, cx, &metrics))).await;
        assert_eq!(flow, Flow::Continue);
        assert_eq!((session.in_flight(), session.handlers.len()), (1, 1), "polled once, then kept");
        let answer = session.handlers.next().await.expect("it answers");
        assert_eq!(socket.on_answer(answer), Flow::Continue);
        let flow = poll_fn(|cx| Poll::Ready(socket.advance(&mut session, &mut inbox, cx, &metrics))).await;
        assert_eq!(flow, Flow::Continue);
        let frame = client.next().await;
        assert!(matches!(&frame, Some(Ok(WsMessage::Text(t))) if t.as_str() == PONG), "{frame:?}");
    }

    /// The step that reads a frame and the `advance` after it run the handler and write its
    /// answer, with no turn of the loop in between; what the handler sent through its context
    /// goes first.
    #[tokio::test]
    async fn a_frame_is_answered_in_the_wake_up_that_read_it() {
        let settings = Settings::default();
        let (mut socket, ctx, mut client) = socket(&settings).await;
        client.send(WsMessage::text(r#"{"action":"ping"}"#)).await.expect("sent");
        let mut session = Session::new(&Pinger, &ctx, socket.conn.clone(), &settings, false, 4);
        let frame = socket.writer.ws.next().await;
        assert_eq!(session.on_frame(frame, Instant::now()), Flow::Continue);
        let metrics = socket.conn.metrics.clone();
        let (_sender, mut inbox) = inbox("specific.test!1", 8);
        let flow = poll_fn(|cx| Poll::Ready(socket.advance(&mut session, &mut inbox, cx, &metrics))).await;
        assert_eq!(flow, Flow::Continue);
        assert!(session.in_flight() == 0 && !socket.writer.busy, "handled and written");
        assert_eq!(metrics.snapshot().frames_sent, 2);
        for expected in [r#"{"action":"before"}"#, PONG] {
            let frame = client.next().await;
            assert!(matches!(&frame, Some(Ok(WsMessage::Text(t))) if t.as_str() == expected), "{frame:?}");
        }
    }

    /// On a quiet connection a client frame and a group message are each handled in the poll
    /// that finds them, written, and the poll ends `Pending` once nothing is left, with no turn
    /// of the `select!`; a cold source that wakes the task hands the loop back to it.
    #[tokio::test]
    async fn the_hot_path_answers_frames_and_group_messages_and_yields_to_a_cold_source() {
        let settings = Settings::default();
        let (mut socket, ctx, mut client) = socket(&settings).await;
        let mut session = Session::new(&Pinger, &ctx, socket.conn.clone(), &settings, false, 4);
        let metrics = socket.conn.metrics.clone();
        let (sender, mut inbox) = inbox("specific.test!1", 8);
        let (mut inbox_gate, mut timer_gate) = (socket.outbox.queue_gate.another(), socket.outbox.queue_gate.another());
        let cold = timer_gate.bit();
        let (timer, mut timer_fired) = mpsc::unbounded_channel::<()>();
        macro_rules! hot {
            () => {
                poll_fn(|cx| {
                    Poll::Ready(socket.poll_hot(cx, &mut session, &mut inbox, &mut inbox_gate, &metrics, cold))
                })
                .await
            };
        }
        // A cold source never polled may be ready: the select goes first.
        assert_eq!(hot!(), Poll::Ready(Flow::Continue));
        // As the select's poll would, the cold source registers and closes its gate.
        let polled = poll_fn(|cx| Poll::Ready(timer_gate.poll(cx, |cx| timer_fired.poll_recv(cx)))).await;
        assert!(polled.is_pending());
        assert_eq!(hot!(), Poll::Pending, "nothing to do");

        client.send(WsMessage::text(r#"{"action":"ping"}"#)).await.expect("sent");
        sender.try_deliver(group_message(7)).expect("delivered");
        assert_eq!(hot!(), Poll::Pending, "all handled in one poll");
        assert_eq!(metrics.snapshot().frames_sent, 3, "the group frame, then the handler's two");
        for expected in [r#""payload":7"#, r#"{"action":"before"}"#, PONG] {
            let frame = client.next().await;
            assert!(matches!(&frame, Some(Ok(WsMessage::Text(t))) if t.as_str().contains(expected)), "{frame:?}");
        }

        timer.send(()).expect("open");
        assert_eq!(hot!(), Poll::Ready(Flow::Continue), "the select's turn");
    }

    /// A connection that sleeps on its hot path (nothing in flight, every other gate closed:
    /// the second round trip leaves it there) is woken by shutdown, a handler's close and an
    /// inbox overflow alike, and ends for it. No timer runs that would wake it anyway.
    #[tokio::test(start_paused = true)]
    async fn a_quiet_connection_still_ends_for_shutdown_a_close_or_an_overflow() {
        let settings = Settings::default().heartbeat_interval(None).idle_timeout(None);
        let settings: &'static Settings = Box::leak(Box::new(settings));
        for cause in [EndReason::Shutdown, EndReason::SlowClient, EndReason::InboxOverflow] {
            let (mut socket, ctx, mut client, shut_down) = socket_with_shutdown(settings).await;
            let (sender, mut receiver) = inbox("specific.test!1", 1);
            let closer = ctx.clone();
            let server = tokio::spawn(async move {
                socket.serve(&Pinger, &ctx, &mut receiver, false, 4).await;
                socket.end
            });
            for _ in 0..2 {
                client.send(WsMessage::text(r#"{"action":"ping"}"#)).await.expect("sent");
                for _ in 0..2 {
                    assert!(matches!(client.next().await, Some(Ok(WsMessage::Text(_)))));
                }
                tokio::task::yield_now().await;
            }
            match cause {
                EndReason::Shutdown => {
                    let _ = shut_down.send(true);
                }
                EndReason::InboxOverflow => {
                    // The task runs only after both: the second finds the inbox full.
                    let _ = sender.try_deliver(event());
                    let _ = sender.try_deliver(event());
                }
                _ => {
                    closer.connection().request_close(EndReason::SlowClient);
                }
            }
            let ended = tokio::time::timeout(Duration::from_secs(5), server).await;
            assert_eq!(ended.expect("woken").expect("served"), Some(cause));
        }
    }

    /// Frames the loop makes itself wait behind those queued before them, and count against
    /// the same bound as the queue.
    #[tokio::test]
    async fn the_loops_own_frames_go_after_what_was_queued_and_are_bounded() {
        let (ctx, _conn, mut outbox) = connection(3);
        ctx.send_json(json!({"action": "queued"})).expect("queued");
        outbox.push(Utf8Bytes::from_static("own")).expect("room");
        ctx.send_json(json!({"action": "later"})).expect("queued");
        assert_eq!(outbox.push(Utf8Bytes::from_static("full")), Err(Full), "three waiting: the client is behind");
        let frames = drain(&mut outbox);
        let frames: Vec<&str> = frames.iter().map(Utf8Bytes::as_str).collect();
        assert_eq!(frames, [r#"{"action":"queued"}"#, "own", r#"{"action":"later"}"#]);
    }

    #[tokio::test]
    async fn group_messages_for_a_client_that_is_behind_end_it_as_slow() {
        let (ctx, conn, mut queued) = connection(1);
        let mut session = Session::new(&Fake, &ctx, conn.clone(), &Settings::default(), false, 4);
        let (sender, mut receiver) = inbox("specific.test!1", 8);
        for n in 0..2 {
            sender.try_deliver(group_message(n)).expect("delivered");
        }
        let first = receiver.recv().await;
        assert_eq!(session.on_inbox(first, &mut receiver, &mut queued), Flow::End(EndReason::SlowClient));
        assert_eq!(conn.metrics.snapshot().frames_dropped_queue_full, 1);
    }

    /// A write that ends in the wake-up in which a group message arrives frees its room first:
    /// a client that has caught up is not closed as slow because of frames it already read.
    #[tokio::test(start_paused = true)]
    async fn a_write_that_ends_makes_room_before_the_inbox_is_taken() {
        let settings: &'static Settings = Box::leak(Box::new(Settings::default().outbound_capacity(8)));
        let (mut socket, ctx, mut client) = socket(settings).await;
        let (sender, mut receiver) = inbox("specific.test!1", 64);
        // 40 KiB each: the in-memory pipe holds 64 KiB.
        let big = |n: usize| {
            let message = json!({"action": "n", "payload": {"n": n, "fill": "x".repeat(40 * 1024)}});
            LayerMessage::new(LayerBody::GroupMessage { message, exclude_current: false, from_channel: None })
        };
        let server = tokio::spawn(async move {
            socket.serve(&Fake, &ctx, &mut receiver, false, 4).await;
            socket.end
        });
        // The first fits in the pipe, the second fills it: its write waits for the client.
        for n in 1..=2 {
            sender.try_deliver(big(n)).expect("delivered");
            tokio::task::yield_now().await;
        }
        // Eight wait behind it: the outbox is full.
        for n in 3..=10 {
            sender.try_deliver(big(n)).expect("delivered");
        }
        tokio::task::yield_now().await;
        // The client reads the first frame (and the pipe empties) as one more arrives.
        let first = client.next().await;
        assert!(matches!(&first, Some(Ok(WsMessage::Text(t))) if t.as_str().contains(r#""n":1,"#)), "{first:?}");
        sender.try_deliver(big(11)).expect("delivered");
        for n in 2..=11 {
            let frame = client.next().await;
            let expected = format!(r#""n":{n},"#);
            assert!(
                matches!(&frame, Some(Ok(WsMessage::Text(t))) if t.as_str().contains(&expected)),
                "frame {n}: {:?}",
                frame.map(|frame| frame.map(|frame| frame.len()))
            );
        }
        assert!(!server.is_finished(), "still open");
        server.abort();
    }

    /// A client that never stops sending still gets its heartbeat, a group message that arrives
    /// meanwhile still reaches it, and a close is still noticed: the socket starves neither the
    /// gated timers and inbox nor the close request.
    #[tokio::test(start_paused = true)]
    async fn a_flood_of_frames_starves_neither_the_heartbeat_nor_the_inbox() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        const FLOOD: usize = 20_000;
        let settings: &'static Settings =
            Box::leak(Box::new(Settings::default().heartbeat_interval(Some(Duration::from_secs(1)))));
        let (mut socket, ctx, client) = socket(settings).await;
        let (mut sink, mut frames) = client.split();
        let layer = Layer::memory();
        let mut receiver = layer.new_channel().await.expect("a channel");
        layer.group_add("flood", receiver.name()).await.expect("joined");
        let closer = ctx.clone();
        let server = tokio::spawn(async move { socket.serve(&Fake, &ctx, &mut receiver, false, 4).await });
        let sent = Arc::new(AtomicUsize::new(0));
        let flooder = tokio::spawn({
            let sent = sent.clone();
            async move {
                for _ in 0..FLOOD {
                    if sink.send(WsMessage::Pong(Default::default())).await.is_err() {
                        break;
                    }
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                sink
            }
        });
        while sent.load(Ordering::Relaxed) < 100 {
            tokio::task::yield_now().await;
        }
        tokio::time::advance(Duration::from_secs(2)).await;
        layer.group_send("flood", group_message(7)).await.expect("sent");
        let (mut pinged, mut grouped) = (None, None);
        while pinged.is_none() || grouped.is_none() {
            match frames.next().await {
                Some(Ok(WsMessage::Ping(_))) => pinged = Some(sent.load(Ordering::Relaxed)),
                Some(Ok(WsMessage::Text(_))) => grouped = Some(sent.load(Ordering::Relaxed)),
                Some(Ok(_)) => {}
                other => panic!("the connection ended: {other:?}"),
            }
        }
        for (what, at) in [("ping", pinged), ("group message", grouped)] {
            assert!(at.is_some_and(|at| at < FLOOD), "the {what} waited for the flood to end: {at:?}");
        }
        closer.close(4000, "enough");
        server.await.expect("the close is noticed during the flood");
        assert!(sent.load(Ordering::Relaxed) < FLOOD, "the connection ended before the flood did");
        drop(flooder.await.expect("the flooder ends"));
    }

    /// The connection future polled first by one task, then moved to another (as a server may
    /// do): the gates follow the new task's waker, so a group message and the heartbeat that
    /// come later still wake it.
    #[tokio::test(start_paused = true)]
    async fn a_connection_moved_to_another_task_is_still_woken() {
        let settings: &'static Settings =
            Box::leak(Box::new(Settings::default().heartbeat_interval(Some(Duration::from_secs(1)))));
        let (mut socket, ctx, mut client) = socket(settings).await;
        let layer = Layer::memory();
        let mut receiver = layer.new_channel().await.expect("a channel");
        layer.group_add("moved", receiver.name()).await.expect("joined");
        let mut serve = Box::pin(async move { socket.serve(&Fake, &ctx, &mut receiver, false, 4).await });
        let waker = futures_util::task::noop_waker();
        assert!(serve.as_mut().poll(&mut task::Context::from_waker(&waker)).is_pending(), "first poll elsewhere");
        let server = tokio::spawn(serve);
        tokio::task::yield_now().await;
        layer.group_send("moved", group_message(1)).await.expect("sent");
        let frame = client.next().await;
        assert!(matches!(&frame, Some(Ok(WsMessage::Text(t))) if t.as_str().contains(r#""payload":1"#)), "{frame:?}");
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(matches!(client.next().await, Some(Ok(WsMessage::Ping(_)))));
        server.abort();
    }

    /// A handler that waits after its first poll (in place) counts against the in-flight limit
    /// until it answers, and one still waiting when the connection closes is drained: its reply
    /// goes out before the close frame.
    #[tokio::test(start_paused = true)]
    async fn a_waiting_handler_holds_its_in_flight_place_and_is_drained_at_close() {
        let settings: &'static Settings = Box::leak(Box::new(Settings::default()));
        let (mut socket, ctx, mut client) = socket(settings).await;
        let conn = socket.conn.clone();
        let layer = Layer::memory();
        let mut receiver = layer.new_channel().await.expect("a channel");
        let closer = ctx.clone();
        let server = tokio::spawn(async move {
            socket.serve(&Sleeper(1), &ctx, &mut receiver, false, 1).await;
            socket.finish().await;
        });
        for _ in 0..2 {
            client.send(WsMessage::text(r#"{"action":"ping"}"#)).await.expect("sent");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(conn.metrics.snapshot().frames_received, 1, "the second frame waits for the first handler");
        let frame = client.next().await;
        assert!(matches!(&frame, Some(Ok(WsMessage::Text(t))) if t.as_str() == PONG), "{frame:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(conn.metrics.snapshot().frames_received, 2);
        closer.close(4000, "bye");
        let frame = client.next().await;
        assert!(matches!(&frame, Some(Ok(WsMessage::Text(t))) if t.as_str() == PONG), "drained: {frame:?}");
        assert!(
            matches!(client.next().await, Some(Ok(WsMessage::Close(Some(frame)))) if u16::from(frame.code) == 4000)
        );
        server.await.expect("the connection ends");
    }

    /// A handler that never finishes does not hold a closing connection past the drain timeout.
    #[tokio::test(start_paused = true)]
    async fn a_handler_that_never_answers_is_cancelled_after_the_drain_timeout() {
        let settings: &'static Settings =
            Box::leak(Box::new(Settings::default().drain_timeout(Duration::from_secs(2))));
        let (mut socket, ctx, mut client) = socket(settings).await;
        let layer = Layer::memory();
        let mut receiver = layer.new_channel().await.expect("a channel");
        let closer = ctx.clone();
        let server = tokio::spawn(async move {
            socket.serve(&Sleeper(3600), &ctx, &mut receiver, false, 1).await;
            socket.finish().await;
        });
        client.send(WsMessage::text(r#"{"action":"ping"}"#)).await.expect("sent");
        tokio::time::sleep(Duration::from_secs(1)).await;
        closer.close(4000, "bye");
        let frame = tokio::time::timeout(Duration::from_secs(3), client.next()).await;
        assert!(
            matches!(&frame, Ok(Some(Ok(WsMessage::Close(Some(close))))) if u16::from(close.code) == 4000),
            "{frame:?}"
        );
        assert!(client.next().await.is_none(), "the close handshake completes");
        server.await.expect("the connection ends");
    }

    #[tokio::test]
    async fn a_failed_write_ends_the_connection_with_nothing_more_written() {
        let settings = Settings::default();
        let (mut socket, _ctx, _client) = socket(&settings).await;
        assert!(socket.writable());
        let flow = socket.on_written(Err(WsError::ConnectionClosed));
        assert_eq!(flow, Flow::End(EndReason::TransportError));
        let Flow::End(reason) = flow else { unreachable!() };
        socket.end(reason);
        assert!(!socket.writable());
        assert_eq!(socket.conn.metrics.snapshot().transport_errors, 1);
    }
}
