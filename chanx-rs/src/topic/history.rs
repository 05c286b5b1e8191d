//! History and recovery for topics: the pushes a topic keeps, their server-assigned `seq` and
//! the topic's `epoch`, and the seam between replayed and live pushes on a recovering
//! subscription.
//!
//! A topic opts in with `#[topic(history(size = 1000, ttl = "5m"))]`. Every push then goes
//! through the layer's [`HistoryStore`] (in this process, or in Redis for a `RedisLayer`: see
//! `layer/redis_history.rs`), which numbers it (+1 per push per topic) and keeps it,
//! atomically with publishing it: a push is in history if and only if it was published. A
//! `subscribe` with `payload: {"since": {"seq": N, "epoch": "…"}}` joins the topic's group
//! first, holds the live pushes that arrive meanwhile, reads history after `N`, sends
//! `subscribed` with a [`Recovery`], replays, then releases the held pushes that the replay did
//! not already deliver (by `seq`). So the client sees no gap and no duplicate at the seam.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::time::Instant;

use crate::layer::{LayerBody, LayerError, LayerMessage};

/// The longest `epoch` a client may send back; anything longer cannot be one of ours (they are
/// 32 hex digits) and is answered `recovered: false` without being looked at.
const MAX_EPOCH_LENGTH: usize = 64;

/// The most live pushes one recovering subscription holds while it replays; past it the
/// connection is closed as for an overflowing inbox (1013: reconnect to re-sync), rather than
/// growing without bound or losing a push silently.
const MAX_HELD: usize = 4096;

/// How many appends between two sweeps of the logs whose pushes all expired.
const SWEEP_EVERY: u64 = 1024;

/// How much history a topic keeps: at most `size` pushes, each for at most `ttl`. Set with
/// `#[topic(history(size = 1000, ttl = "5m"))]`, which writes [`Topic::HISTORY`](crate::Topic::HISTORY).
///
/// ```
/// use std::time::Duration;
/// let history = chanx::History::new(1000, Duration::from_secs(300));
/// assert_eq!((history.size(), history.ttl()), (1000, Duration::from_secs(300)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    size: usize,
    ttl: Duration,
}

impl History {
    /// Keeps the last `size` pushes (at least 1), each for `ttl`.
    pub const fn new(size: usize, ttl: Duration) -> Self {
        History { size: if size == 0 { 1 } else { size }, ttl }
    }

    /// The most pushes kept.
    pub const fn size(&self) -> usize {
        self.size
    }

    /// How long a push is kept.
    pub const fn ttl(&self) -> Duration {
        self.ttl
    }
}

/// The `payload` of the `subscribed` answer to a subscribe with `since`:
/// `{"recovered": true, "seq": 42, "epoch": "…"}`. When `recovered` is `false` the pushes after
/// the client's `seq` are not all kept (too old, or the epoch changed): it should reload its
/// state, then follow from `seq`.
///
/// ```
/// let answer: chanx::Recovery = serde_json::from_value(serde_json::json!(
///     {"recovered": true, "seq": 42, "epoch": "0f3a"}
/// )).expect("a recovery");
/// assert!(answer.recovered && answer.seq == 42);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub struct Recovery {
    /// Whether every push after the client's `seq` follows this answer.
    pub recovered: bool,
    /// The topic's latest `seq` when the subscription started.
    pub seq: u64,
    /// The topic's history generation: a new one means history was lost.
    pub epoch: String,
}

/// Where a client says it stopped: the `since` of its subscribe, already bounded. `None`
/// fields mean it sent something that cannot be ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Since {
    pub(crate) seq: Option<u64>,
    pub(crate) epoch: Option<String>,
}

impl Since {
    /// The `since` of a subscribe frame's body, if it asks for recovery. Linear in the frame,
    /// which the connection already bounds; an epoch longer than ours is not copied.
    pub(crate) fn of(body: &serde_json::Map<String, Value>) -> Option<Since> {
        let since = body.get("payload")?.get("since")?;
        let seq = since.get("seq").and_then(Value::as_u64);
        let epoch = since
            .get("epoch")
            .and_then(Value::as_str)
            .filter(|epoch| epoch.len() <= MAX_EPOCH_LENGTH)
            .map(str::to_owned);
        Some(Since { seq, epoch })
    }
}

/// One kept push: its `seq`, when it was pushed, and the layer message that carried it (shared
/// with the publish, so keeping it costs no copy).
struct Entry {
    seq: u64,
    at: Instant,
    message: LayerMessage,
}

/// One topic's history.
struct Log {
    epoch: Arc<str>,
    last_seq: u64,
    entries: VecDeque<Entry>,
    /// Last publish or read, so that a log nobody uses can be dropped by the sweep.
    touched: Instant,
    /// The topic's time to live, as of its last publish or read.
    ttl: Duration,
}

impl Log {
    fn new(epoch: Arc<str>, now: Instant) -> Self {
        Log { epoch, last_seq: 0, entries: VecDeque::new(), touched: now, ttl: Duration::ZERO }
    }

    fn prune(&mut self, history: History, now: Instant) {
        self.ttl = history.ttl;
        while self.entries.len() > history.size
            || self.entries.front().is_some_and(|e| now.saturating_duration_since(e.at) > history.ttl)
        {
            self.entries.pop_front();
        }
    }
}

fn new_epoch() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// The pushes replayed to a recovering subscription: `(seq, event_data)` in order.
pub(crate) type Missed = Vec<(u64, Value)>;

/// The history of every history topic reached through one [`Layer`](crate::Layer): in Redis
/// for a [`RedisLayer`](crate::layer::RedisLayer), shared by all its processes, else kept in
/// this process. Both are read through the same [`Seam`].
#[derive(Debug)]
pub(crate) enum HistoryStore {
    /// In this process.
    Memory(MemoryHistory),
    /// In Redis, beside the layer's pub/sub (`layer/redis_history.rs`).
    #[cfg(feature = "redis")]
    Redis(crate::layer::RedisLayer),
}

impl HistoryStore {
    /// The store for a layer's backend: Redis's own for a `RedisLayer`, else in memory.
    pub(crate) fn for_backend(backend: &dyn std::any::Any) -> Self {
        #[cfg(feature = "redis")]
        if let Some(redis) = backend.downcast_ref::<crate::layer::RedisLayer>() {
            return HistoryStore::Redis(redis.clone());
        }
        let _ = backend;
        HistoryStore::Memory(MemoryHistory::default())
    }

    /// Numbers `event_data`, publishes it to `group` (with `send` when in memory) and keeps it:
    /// the push is kept only if it was published, and the `seq` is used only then.
    pub(crate) async fn publish<F, Fut>(
        &self,
        group: &str,
        history: History,
        topic: &str,
        event_data: Value,
        send: F,
    ) -> Result<u64, LayerError>
    where
        F: FnOnce(LayerMessage) -> Fut,
        Fut: std::future::Future<Output = Result<(), LayerError>>,
    {
        match self {
            HistoryStore::Memory(memory) => memory.publish(group, history, topic, event_data, send).await,
            #[cfg(feature = "redis")]
            HistoryStore::Redis(redis) => redis.history_publish(group, history, topic, event_data).await,
        }
    }

    /// The epoch `group`'s pushes are numbered under now; `None` when Redis cannot say.
    pub(crate) async fn epoch(&self, group: &str) -> Option<String> {
        match self {
            HistoryStore::Memory(memory) => Some(memory.epoch(group).await.to_string()),
            #[cfg(feature = "redis")]
            HistoryStore::Redis(redis) => redis.history_epoch(group).await,
        }
    }

    /// What a client that stopped at `since` missed on `group`, and the answer to send it.
    /// When Redis cannot be read, the answer is `recovered: false` (the client reloads) and the
    /// failure is logged.
    pub(crate) async fn since(&self, group: &str, history: History, since: &Since) -> (Recovery, Missed) {
        match self {
            HistoryStore::Memory(memory) => memory.since(group, history, since).await,
            #[cfg(feature = "redis")]
            HistoryStore::Redis(redis) => match redis.history_since(group, history, since).await {
                Ok(answer) => answer,
                Err(err) => {
                    tracing::warn!(%group, error = %err, "could not read a topic's history from Redis");
                    (Recovery { recovered: false, seq: 0, epoch: String::new() }, Vec::new())
                }
            },
        }
    }
}

/// The history of every history topic reached through one [`Layer`](crate::Layer), kept in
/// this process. Logs are keyed by the topic's group name; each has its own lock, held across
/// numbering, publishing and keeping a push, so pushes reach every subscriber in `seq` order.
///
/// Only a publish makes a log: a recovering subscribe to a topic that has none is answered from
/// `fresh_epoch`, the epoch the topic's first log will take, so peers cannot grow the map by
/// subscribing to topics nobody publishes to. The sweep draws a new `fresh_epoch` whenever it
/// drops a log, so a log made again after a sweep never reuses an epoch a client may hold.
pub(crate) struct MemoryHistory {
    logs: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Log>>>>,
    fresh_epoch: Mutex<Arc<str>>,
    appends: AtomicU64,
}

impl Default for MemoryHistory {
    fn default() -> Self {
        MemoryHistory {
            logs: Mutex::default(),
            fresh_epoch: Mutex::new(new_epoch().into()),
            appends: AtomicU64::new(0),
        }
    }
}

impl std::fmt::Debug for MemoryHistory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryHistory").finish_non_exhaustive()
    }
}

impl MemoryHistory {
    fn logs(&self) -> MutexGuard<'_, HashMap<String, Arc<tokio::sync::Mutex<Log>>>> {
        self.logs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fresh_epoch(&self) -> Arc<str> {
        self.fresh_epoch.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// `group`'s log, made on its first publish.
    fn log(&self, group: &str) -> Arc<tokio::sync::Mutex<Log>> {
        let mut logs = self.logs();
        if let Some(log) = logs.get(group) {
            return log.clone();
        }
        let log = Arc::new(tokio::sync::Mutex::new(Log::new(self.fresh_epoch(), Instant::now())));
        logs.insert(group.to_owned(), log.clone());
        log
    }

    /// Numbers `event_data`, publishes it to `group` with `send`, and keeps it: the push is kept
    /// only if it was published, and the `seq` is used only then. Returns the `seq`.
    pub(crate) async fn publish<F, Fut>(
        &self,
        group: &str,
        history: History,
        topic: &str,
        event_data: Value,
        send: F,
    ) -> Result<u64, LayerError>
    where
        F: FnOnce(LayerMessage) -> Fut,
        Fut: std::future::Future<Output = Result<(), LayerError>>,
    {
        if self.appends.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep();
        }
        let log = self.log(group);
        let mut log = log.lock().await;
        let now = Instant::now();
        let seq = log.last_seq + 1;
        let body = LayerBody::TopicEvent {
            topic: topic.to_owned(),
            seq: Some(i64::try_from(seq).unwrap_or(i64::MAX)),
            event_data,
        };
        let message = LayerMessage::new(body);
        send(message.clone()).await?;
        log.last_seq = seq;
        log.touched = now;
        log.entries.push_back(Entry { seq, at: now, message });
        log.prune(history, now);
        Ok(seq)
    }

    /// The epoch of `group`'s log, or the one its first log will take.
    async fn epoch(&self, group: &str) -> Arc<str> {
        let log = self.logs().get(group).cloned();
        match log {
            Some(log) => log.lock().await.epoch.clone(),
            None => self.fresh_epoch(),
        }
    }

    /// What a client that stopped at `since` missed on `group`, and the answer to send it. A
    /// topic without a log has had no push: the answer carries the epoch its first log will
    /// take, so a first subscriber learns the epoch later pushes are numbered under.
    pub(crate) async fn since(&self, group: &str, history: History, since: &Since) -> (Recovery, Missed) {
        let Some(log) = self.logs().get(group).cloned() else {
            let epoch = self.fresh_epoch();
            let recovered = since.epoch.as_deref() == Some(&*epoch) && since.seq == Some(0);
            return (Recovery { recovered, seq: 0, epoch: epoch.to_string() }, Vec::new());
        };
        let mut log = log.lock().await;
        let now = Instant::now();
        log.touched = now;
        log.prune(history, now);
        let latest = log.last_seq;
        let oldest_kept = log.entries.front().map_or(latest + 1, |e| e.seq);
        let recovered = since.epoch.as_deref() == Some(&*log.epoch)
            && since.seq.is_some_and(|seq| seq <= latest && seq + 1 >= oldest_kept);
        let missed = if recovered {
            let after = since.seq.unwrap_or(latest);
            log.entries
                .iter()
                .filter(|e| e.seq > after)
                .filter_map(|e| match e.message.body() {
                    LayerBody::TopicEvent { event_data, .. } => Some((e.seq, event_data.clone())),
                    _ => None,
                })
                .collect()
        } else {
            Vec::new()
        };
        (Recovery { recovered, seq: latest, epoch: log.epoch.to_string() }, missed)
    }

    /// Drops the logs nobody published to or read for their time to live, whose pushes all
    /// expired: their topic's next push starts a new epoch, which recovering clients are told.
    fn sweep(&self) {
        let now = Instant::now();
        let mut logs = self.logs();
        let before = logs.len();
        logs.retain(|_, log| match log.try_lock() {
            Ok(log) => {
                let fresh = |at: Instant| now.saturating_duration_since(at) <= log.ttl;
                fresh(log.touched) || log.entries.back().is_some_and(|e| fresh(e.at))
            }
            Err(_) => true,
        });
        if logs.len() < before {
            *self.fresh_epoch.lock().unwrap_or_else(PoisonError::into_inner) = new_epoch().into();
        }
    }
}

/// A live push: its `seq` (if any) and its event.
pub(crate) type Push = (Option<i64>, Value);

/// The live pushes of one subscription as they meet its replay of history: held back while it
/// replays, then delivered, each `seq` at most once. A push can reach the connection after the
/// replay already delivered it (it was in flight from the layer when history was read), so a
/// recovering subscription keeps dropping pushes at or below the last `seq` it delivered, not
/// only those held at the seam — unless the topic's history was lost since (a new epoch numbers
/// from 1 again), which [`Seam::is_duplicate`] asks the store.
///
/// A plain subscription (no recovery, the [`Default`]) holds and deduplicates nothing: its seam
/// has no state, so every push of a fan-out is admitted without taking a lock.
#[derive(Default)]
pub(crate) struct Seam(Option<Mutex<SeamState>>);

struct SeamState {
    /// The pushes held while replaying; `None` once live.
    held: Option<Vec<Push>>,
    /// The last `seq` delivered (`None`: no deduplication, once the epoch changed).
    delivered: Option<i64>,
    /// The epoch the replay was read under.
    epoch: Option<String>,
}

/// What to do with a live push.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Deliver it now.
    Deliver,
    /// Held (copied) until the replay is over.
    Held,
    /// At or below the last `seq` delivered: a push the replay delivered, or the first of a new
    /// epoch; [`Seam::is_duplicate`] tells which.
    MaybeDuplicate,
    /// Too many held: the subscription cannot keep up, and the connection must end.
    Overflow,
}

impl Seam {
    /// A seam holding live pushes from the start, for a recovering subscription.
    pub(crate) fn holding() -> Self {
        Seam(Some(Mutex::new(SeamState { held: Some(Vec::new()), delivered: Some(0), epoch: None })))
    }

    fn lock(&self) -> Option<MutexGuard<'_, SeamState>> {
        self.0.as_ref().map(|state| state.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Records the epoch the replay is read under, for [`Seam::is_duplicate`].
    pub(crate) fn replaying(&self, epoch: &str) {
        if let Some(mut state) = self.lock() {
            state.epoch = Some(epoch.to_owned());
        }
    }

    /// Whether a push [`Admit::MaybeDuplicate`] returned is one the replay delivered: yes while
    /// `group`'s epoch is still the replay's. When history was lost since, the topic numbers
    /// from 1 again under a new epoch: the push is new, and no later one is taken for a
    /// duplicate (pushes reach a subscriber in `seq` order, so every push the replay delivered
    /// came before this one). Pushes of one subscription are handled one at a time, so none is
    /// admitted meanwhile.
    pub(crate) async fn is_duplicate(&self, store: &HistoryStore, group: &str) -> bool {
        let Some(replayed_under) = self.lock().and_then(|state| state.epoch.clone()) else { return true };
        let now = store.epoch(group).await;
        if now.is_some_and(|now| now != replayed_under) {
            if let Some(mut state) = self.lock() {
                state.delivered = None;
            }
            return false;
        }
        true
    }

    /// A live push: delivered, held while replaying, or dropped as already delivered. Only a
    /// held push is copied; the caller copies one it delivers (a member that drops a push, or
    /// a plain subscription's, costs no copy here).
    pub(crate) fn admit(&self, seq: Option<i64>, event_data: &Value) -> Admit {
        let Some(mut state) = self.lock() else { return Admit::Deliver };
        let SeamState { held, delivered, .. } = &mut *state;
        match held {
            Some(held) if held.len() >= MAX_HELD => Admit::Overflow,
            Some(held) => {
                held.push((seq, event_data.clone()));
                Admit::Held
            }
            None => match (delivered.as_mut(), seq) {
                (Some(last), Some(seq)) if seq <= *last => Admit::MaybeDuplicate,
                (Some(last), Some(seq)) => {
                    *last = seq;
                    Admit::Deliver
                }
                _ => Admit::Deliver,
            },
        }
    }

    /// The pushes held so far that are after `replayed` and after every push delivered so far,
    /// for the caller to deliver now, in order. When none are held, the seam opens: later pushes
    /// are delivered live, after these. A plain seam holds none.
    pub(crate) fn release(&self, replayed: u64) -> Vec<Push> {
        let Some(mut state) = self.lock() else { return Vec::new() };
        let replayed = i64::try_from(replayed).unwrap_or(i64::MAX);
        let mut last = state.delivered.map_or(replayed, |last| last.max(replayed));
        let held = state.held.as_mut().map(std::mem::take).unwrap_or_default();
        if held.is_empty() {
            state.held = None;
        }
        let fresh: Vec<Push> = held
            .into_iter()
            .filter(|(seq, _)| match seq {
                Some(seq) if *seq <= last => false,
                Some(seq) => {
                    last = *seq;
                    true
                }
                None => true,
            })
            .collect();
        if state.delivered.is_some() {
            state.delivered = Some(last);
        }
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn since(seq: u64, epoch: &str) -> Since {
        Since { seq: Some(seq), epoch: Some(epoch.to_owned()) }
    }

    async fn push(store: &MemoryHistory, history: History, n: u64) -> u64 {
        store
            .publish("g", history, "t", json!({"action": "a", "payload": n}), |_| async { Ok(()) })
            .await
            .expect("published")
    }

    #[tokio::test(start_paused = true)]
    async fn numbers_keeps_and_recovers_by_seq_and_epoch() {
        let store = MemoryHistory::default();
        let history = History::new(3, Duration::from_secs(60));
        let (first, _) = store.since("g", history, &since(0, "")).await;
        assert_eq!((first.recovered, first.seq), (false, 0));
        for n in 1..=5 {
            assert_eq!(push(&store, history, n).await, n);
        }
        let (answer, missed) = store.since("g", history, &since(3, &first.epoch)).await;
        assert_eq!((answer.recovered, answer.seq, answer.epoch.as_str()), (true, 5, first.epoch.as_str()));
        assert_eq!(missed.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(), [4, 5]);
        // Only three are kept: seq 1 missed 2, which is gone.
        assert!(!store.since("g", history, &since(1, &first.epoch)).await.0.recovered);
        assert!(store.since("g", history, &since(2, &first.epoch)).await.0.recovered);
        // Another epoch, a seq from the future, garbage: not recovered.
        assert!(!store.since("g", history, &since(4, "other")).await.0.recovered);
        assert!(!store.since("g", history, &since(6, &first.epoch)).await.0.recovered);
        assert!(!store.since("g", history, &Since { seq: None, epoch: None }).await.0.recovered);
    }

    #[tokio::test(start_paused = true)]
    async fn pushes_expire_after_their_ttl() {
        let store = MemoryHistory::default();
        let history = History::new(100, Duration::from_secs(10));
        push(&store, history, 1).await;
        let epoch = store.since("g", history, &since(0, "")).await.0.epoch;
        tokio::time::advance(Duration::from_secs(11)).await;
        push(&store, history, 2).await;
        let (gone, _) = store.since("g", history, &since(0, &epoch)).await;
        assert!(!gone.recovered);
        let (kept, missed) = store.since("g", history, &since(1, &epoch)).await;
        assert!(kept.recovered && missed.len() == 1);
    }

    #[tokio::test(start_paused = true)]
    async fn subscribers_make_no_logs_and_a_log_made_again_has_a_new_epoch() {
        let store = MemoryHistory::default();
        let history = History::new(10, Duration::from_secs(10));
        // A peer asking for many topics nobody publishes to leaves nothing behind.
        for n in 0..1000 {
            store.since(&format!("g{n}"), history, &since(0, "")).await;
        }
        assert!(store.logs().is_empty());
        // The first subscriber learns the epoch the first push is numbered under, and recovers it.
        let (first, _) = store.since("g", history, &since(0, "")).await;
        push(&store, history, 1).await;
        let (answer, missed) = store.since("g", history, &since(0, &first.epoch)).await;
        assert!(answer.recovered && missed.len() == 1, "{answer:?}");
        // Unused past its ttl, the log is swept at a later publish; made again, it is a new epoch.
        tokio::time::advance(Duration::from_secs(11)).await;
        for _ in 0..SWEEP_EVERY {
            store.publish("other", history, "t", json!({}), |_| async { Ok(()) }).await.expect("published");
        }
        assert!(!store.logs().contains_key("g"));
        push(&store, history, 1).await;
        let (again, _) = store.since("g", history, &since(1, &first.epoch)).await;
        assert!(!again.recovered && again.epoch != first.epoch, "{again:?}");
    }

    #[tokio::test]
    async fn a_failed_publish_is_neither_kept_nor_numbered() {
        let store = MemoryHistory::default();
        let history = History::new(10, Duration::from_secs(10));
        let failed = store
            .publish("g", history, "t", json!({}), |_| async { Err(LayerError::ChannelNotFound("c".into())) })
            .await;
        assert!(failed.is_err());
        assert_eq!(push(&store, history, 1).await, 1);
    }

    #[test]
    fn the_seam_drops_what_the_replay_delivered() {
        let seam = Seam::holding();
        for seq in [3, 4, 5] {
            assert_eq!(seam.admit(Some(seq), &json!(seq)), Admit::Held);
        }
        let released: Vec<_> = seam.release(4).into_iter().map(|(seq, _)| seq).collect();
        assert_eq!(released, [Some(5)]);
        assert!(seam.release(5).is_empty());
        assert_eq!(seam.admit(Some(6), &json!(6)), Admit::Deliver);
        // A push the replay delivered, still in flight when the seam opened, is dropped too.
        assert_eq!(seam.admit(Some(6), &json!(6)), Admit::MaybeDuplicate);
        assert_eq!(seam.admit(Some(7), &json!(7)), Admit::Deliver);
        assert_eq!(seam.admit(None, &json!(8)), Admit::Deliver, "a push without seq is not deduplicated");
        // A plain subscription holds and deduplicates nothing, and has no state to lock.
        let plain = Seam::default();
        assert!(plain.0.is_none());
        assert_eq!(plain.admit(Some(1), &json!(1)), Admit::Deliver);
        assert_eq!(plain.admit(Some(1), &json!(1)), Admit::Deliver);
        assert!(plain.release(5).is_empty());
    }

    #[tokio::test]
    async fn a_push_at_or_below_the_replay_is_new_once_the_epoch_changed() {
        let store = HistoryStore::Memory(MemoryHistory::default());
        // Irrefutable without the `redis` feature, which adds the other variant.
        #[allow(irrefutable_let_patterns)]
        let HistoryStore::Memory(memory) = &store else { unreachable!() };
        let history = History::new(10, Duration::from_secs(10));
        push(memory, history, 1).await;
        let (answer, _) = memory.since("g", history, &since(0, "")).await;
        let seam = Seam::holding();
        seam.replaying(&answer.epoch);
        assert!(seam.release(1).is_empty());
        assert_eq!(seam.admit(Some(1), &json!(1)), Admit::MaybeDuplicate);
        assert!(seam.is_duplicate(&store, "g").await, "same epoch: the replay delivered it");
        // Another epoch (the history was lost): the push is new, and so are the next ones.
        seam.replaying("a lost epoch");
        assert!(!seam.is_duplicate(&store, "g").await);
        assert_eq!(seam.admit(Some(1), &json!(1)), Admit::Deliver);
    }

    #[test]
    fn a_seam_holds_a_bounded_number_of_pushes() {
        let seam = Seam::holding();
        for seq in 0..MAX_HELD {
            assert_eq!(seam.admit(i64::try_from(seq).ok(), &Value::Null), Admit::Held);
        }
        assert_eq!(seam.admit(None, &Value::Null), Admit::Overflow);
    }

    #[test]
    fn since_is_bounded() {
        let body = |since: Value| {
            json!({"action": "subscribe", "payload": {"since": since}}).as_object().cloned().expect("an object")
        };
        assert_eq!(Since::of(&body(json!({"seq": 3, "epoch": "e"}))), Some(since(3, "e")));
        let long = Since::of(&body(json!({"seq": -1, "epoch": "x".repeat(65)}))).expect("a since");
        assert_eq!(long, Since { seq: None, epoch: None });
        let plain = json!({"action": "subscribe", "payload": null}).as_object().cloned().expect("an object");
        assert_eq!(Since::of(&plain), None);
    }
}
