//! [`Signal`]: a one-shot flag one task waits for beside its other work.
//!
//! The connection loop waits for several rare events (a close asked by a handler, an inbox
//! overflow, a close asked through the layer) beside its frames. A `tokio::sync::Notify`
//! future takes a lock on each poll while it waits; a `Signal` costs one atomic load and an
//! [`AtomicWaker`] registration, so waiting for rare events stays cheap.
//! [`PollGate`] goes further for any poll function (an inbox's `poll_recv`, a timer) or future
//! ([`PollGate::gate`], such as the shutdown `watch`): it is polled again only once it has woken
//! its task. The gates of one task can share one word ([`PollGate::another`]), a bit each, so
//! that checking all of them on a turn of its loop reads one cache line, not one per source:
//! with hundreds of connections, each turn finds the others' state cold.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

/// Raised at most once; one task at a time waits for it (the connection's own task).
#[derive(Debug, Default)]
pub(crate) struct Signal {
    raised: AtomicBool,
    waker: AtomicWaker,
}

impl Signal {
    /// Raises the flag and wakes the waiting task; `false` when it was already raised.
    pub(crate) fn raise(&self) -> bool {
        let first = !self.raised.swap(true, Ordering::AcqRel);
        self.waker.wake();
        first
    }

    pub(crate) fn is_raised(&self) -> bool {
        self.raised.load(Ordering::Acquire)
    }

    /// `registered`: the waker this future registered last; registering again is skipped while
    /// the task's waker is the same (the usual case: a task keeps its waker).
    fn poll_raised(&self, cx: &mut Context<'_>, registered: &mut Option<Waker>) -> Poll<()> {
        if self.is_raised() {
            return Poll::Ready(());
        }
        if registered.as_ref().is_some_and(|waker| waker.will_wake(cx.waker())) {
            return Poll::Pending;
        }
        self.waker.register(cx.waker());
        *registered = Some(cx.waker().clone());
        // Raised between the check and the registration: the wake may have gone to an old waker.
        if self.is_raised() { Poll::Ready(()) } else { Poll::Pending }
    }

    /// Resolves once the flag is raised. Only one task may wait at a time: a second waiter
    /// takes the wake-up from the first.
    pub(crate) fn raised(&self) -> impl Future<Output = ()> + '_ {
        let mut registered = None;
        std::future::poll_fn(move |cx| self.poll_raised(cx, &mut registered))
    }
}

/// A future polled through a gate: see [`PollGate::gate`].
pub(crate) struct Gated<F> {
    inner: Pin<Box<F>>,
    gate: PollGate,
}

impl<F: Future> Future for Gated<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let inner = &mut this.inner;
        this.gate.poll(cx, |cx| inner.as_mut().poll(cx))
    }
}

/// Skips the polls of something that cannot have made progress: what it returns `Pending` for
/// has registered the gate's waker, which opens the gate before waking the task, so while the
/// gate is closed nothing happened and the poll would be wasted. For the receivers a connection
/// loop polls on every turn although most turns were woken by something else (an mpsc
/// `poll_recv` looks at its queue and registers a waker each time).
pub(crate) struct PollGate {
    word: Arc<Word>,
    /// This gate's bit of the word: set while it is open.
    bit: u32,
    /// The waker the gated poll sees: it opens the gate, then wakes the task.
    waker: Waker,
    /// The task's waker at the last poll.
    task: Option<Waker>,
}

/// The open gates of one task, a bit each, and the task to wake when one opens.
struct Word {
    open: AtomicU32,
    /// The bits handed out so far.
    taken: AtomicU32,
    task: Mutex<Option<Waker>>,
}

/// What a gated poll registers: it opens its gate, then wakes the task.
struct Opener {
    word: Arc<Word>,
    bit: u32,
}

impl Wake for Opener {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.word.open.fetch_or(self.bit, Ordering::Release);
        if let Some(task) = self.word.task.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
            task.wake_by_ref();
        }
    }
}

impl PollGate {
    /// A gate with a word of its own.
    pub(crate) fn new() -> Self {
        let word = Arc::new(Word { open: AtomicU32::new(0), taken: AtomicU32::new(0), task: Mutex::new(None) });
        Self::in_word(word)
    }

    /// Another gate in this one's word, for a source the same task polls.
    ///
    /// # Panics
    ///
    /// When the word has no bit left (32 gates).
    pub(crate) fn another(&self) -> Self {
        Self::in_word(self.word.clone())
    }

    fn in_word(word: Arc<Word>) -> Self {
        let index = word.taken.fetch_add(1, Ordering::Relaxed);
        assert!(index < u32::BITS, "a gate word holds {} gates", u32::BITS);
        let bit = 1 << index;
        // Open until its first poll: a source never polled may be ready.
        word.open.fetch_or(bit, Ordering::Release);
        let waker = Waker::from(Arc::new(Opener { word: word.clone(), bit }));
        PollGate { word, bit, waker, task: None }
    }

    /// This gate's bit in its word, for [`any_open`](Self::any_open).
    pub(crate) fn bit(&self) -> u32 {
        self.bit
    }

    /// Whether any gate of this word among `bits` is open: a source behind it may be ready.
    #[inline(always)]
    pub(crate) fn any_open(&self, bits: u32) -> bool {
        self.word.open.load(Ordering::Acquire) & bits != 0
    }

    /// `future`, polled only when it woke its task (or the task's waker changed): a future that
    /// is pending says so by arranging a wake-up, so polls without one are skipped. For futures
    /// that are polled far more often than they make progress, in a loop's `select!`.
    pub(crate) fn gate<F: Future>(self, future: F) -> Gated<F> {
        Gated { inner: Box::pin(future), gate: self }
    }

    /// Runs `poll` with the gate's waker, unless the gate is closed: then `Pending` at once.
    /// That check is inlined: the connection loop makes it for its sources on every turn, and
    /// most find the gate closed.
    #[inline(always)]
    pub(crate) fn poll<T>(&mut self, cx: &mut Context<'_>, poll: impl FnOnce(&mut Context<'_>) -> Poll<T>) -> Poll<T> {
        let closed = self.word.open.load(Ordering::Acquire) & self.bit == 0;
        if closed && self.task.as_ref().is_some_and(|task| task.will_wake(cx.waker())) {
            return Poll::Pending;
        }
        self.poll_open(cx, poll)
    }

    /// The gate is open, or the task is new: the bit is cleared before the poll, so a wake
    /// during it opens the gate again.
    #[inline(never)]
    fn poll_open<T>(&mut self, cx: &mut Context<'_>, poll: impl FnOnce(&mut Context<'_>) -> Poll<T>) -> Poll<T> {
        if !self.task.as_ref().is_some_and(|task| task.will_wake(cx.waker())) {
            // Set before the bit is cleared: a wake after the clear finds the new task.
            let mut task = self.word.task.lock().unwrap_or_else(PoisonError::into_inner);
            if !task.as_ref().is_some_and(|task| task.will_wake(cx.waker())) {
                *task = Some(cx.waker().clone());
            }
            drop(task);
            self.task = Some(cx.waker().clone());
        }
        self.word.open.fetch_and(!self.bit, Ordering::AcqRel);
        let polled = poll(&mut Context::from_waker(&self.waker));
        if polled.is_ready() {
            // Nothing was registered: there may be more, so the next poll goes through.
            self.word.open.fetch_or(self.bit, Ordering::Release);
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_gated_future_still_ends_when_it_is_woken() {
        let (tx, mut rx) = tokio::sync::watch::channel(false);
        let waiter = tokio::spawn(async move {
            let mut polls = 0;
            let changed = PollGate::new().gate(async move { rx.wait_for(|v| *v).await.map(|_| ()) });
            tokio::pin!(changed);
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(1));
            loop {
                tokio::select! {
                    biased;
                    done = &mut changed => return (done.is_ok(), polls),
                    _ = tick.tick() => polls += 1,
                }
            }
        });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        tx.send_replace(true);
        let (done, polls) = waiter.await.expect("the waiter ends");
        assert!(done && polls > 1);
    }

    #[tokio::test]
    async fn a_gated_receiver_sees_every_message_and_its_end() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u32>();
        let reader = tokio::spawn(async move {
            let mut gate = PollGate::new();
            let mut got = Vec::new();
            while let Some(n) = std::future::poll_fn(|cx| gate.poll(cx, |cx| rx.poll_recv(cx))).await {
                got.push(n);
            }
            got
        });
        for n in 0..3 {
            tx.send(n).expect("open");
            tokio::task::yield_now().await;
        }
        tx.send(3).expect("open");
        tx.send(4).expect("open");
        drop(tx);
        assert_eq!(reader.await.expect("the reader ends"), [0, 1, 2, 3, 4]);
    }

    #[test]
    fn a_closed_gate_skips_the_poll_until_a_wake() {
        let waker = futures_util::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let (mut gate, mut polls) = (PollGate::new(), 0);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let mut poll = |gate: &mut PollGate, cx: &mut Context<'_>| {
            gate.poll(cx, |cx| {
                polls += 1;
                rx.poll_recv(cx)
            })
        };
        assert!(poll(&mut gate, &mut cx).is_pending());
        assert!(poll(&mut gate, &mut cx).is_pending());
        tx.send(()).expect("open");
        assert!(poll(&mut gate, &mut cx).is_ready());
        assert!(poll(&mut gate, &mut cx).is_pending());
        assert_eq!(polls, 3, "the second poll was skipped, the one after a message was not");
    }

    #[test]
    fn gates_that_share_a_word_open_one_at_a_time() {
        let woken = Arc::new(Counter::default());
        let waker = Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        let (first_tx, mut first_rx) = tokio::sync::mpsc::unbounded_channel::<u8>();
        let (second_tx, mut second_rx) = tokio::sync::mpsc::unbounded_channel::<u8>();
        let mut first = PollGate::new();
        let mut second = first.another();
        let (mut first_polls, mut second_polls) = (0, 0);
        let mut poll_both = |first: &mut PollGate, second: &mut PollGate, cx: &mut Context<'_>| {
            let a = first.poll(cx, |cx| {
                first_polls += 1;
                first_rx.poll_recv(cx)
            });
            let b = second.poll(cx, |cx| {
                second_polls += 1;
                second_rx.poll_recv(cx)
            });
            (a, b)
        };
        assert_eq!(poll_both(&mut first, &mut second, &mut cx), (Poll::Pending, Poll::Pending));
        second_tx.send(2).expect("open");
        assert_eq!(woken.0.load(Ordering::Relaxed), 1, "the task is woken through the shared word");
        assert_eq!(poll_both(&mut first, &mut second, &mut cx), (Poll::Pending, Poll::Ready(Some(2))));
        first_tx.send(1).expect("open");
        assert_eq!(poll_both(&mut first, &mut second, &mut cx), (Poll::Ready(Some(1)), Poll::Pending));
        assert_eq!(poll_both(&mut first, &mut second, &mut cx), (Poll::Pending, Poll::Pending));
        assert_eq!((first_polls, second_polls), (3, 3), "each gate is skipped while its own bit is clear");
    }

    /// A task waker that counts its wake-ups.
    #[derive(Default)]
    struct Counter(std::sync::atomic::AtomicUsize);

    impl Wake for Counter {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[tokio::test]
    async fn a_raise_wakes_the_waiter_and_later_waits_end_at_once() {
        let signal = std::sync::Arc::new(Signal::default());
        let waiter = tokio::spawn({
            let signal = signal.clone();
            async move { signal.raised().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        assert!(signal.raise());
        waiter.await.expect("the waiter ends");
        assert!(!signal.raise(), "raised once");
        signal.raised().await;
    }
}
