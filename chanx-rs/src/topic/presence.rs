//! Presence: who follows a topic, for topics that opt in with
//! [`#[topic(presence = Entry)]`](super::Topic::PRESENCE).
//!
//! Each subscribed connection whose [`Topic::presence`](super::Topic::presence) hook gives an
//! entry is listed under its channel name. The list belongs to the layer's [`PresenceStore`]:
//! in Redis for a `RedisLayer`, shared by every process (`layer/redis_presence.rs`), else in
//! this process.
//!
//! Frames (each carries `topic`):
//! - `presence_state` `{"members": [{"id": ..., "entry": ...}, ...]}`: after `subscribed`, and as
//!   the answer (with `ref`) to a `presence` request;
//! - `presence_join` / `presence_leave` `{"id": ..., "entry": ...}`: to the other subscribers.
//!
//! A subscriber joins the topic's group before it reads the list, so it misses no join; it may
//! see a member both in the list and in a join, so clients apply joins and leaves by `id`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use serde_json::{Value, json};

use crate::Context;
use crate::layer::{LayerBody, LayerMessage};
use crate::messages::ErrorMessage;

/// The bounds of one presence topic ([`Topic::MAX_PRESENCE`](super::Topic::MAX_PRESENCE) and
/// [`Topic::MAX_PRESENCE_ENTRY_BYTES`](super::Topic::MAX_PRESENCE_ENTRY_BYTES)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PresenceLimits {
    /// The most entries listed.
    pub(crate) max_entries: usize,
    /// The largest entry, in bytes of JSON.
    pub(crate) max_entry_bytes: usize,
}

/// One listed member: its id (a channel name) and its entry as JSON text.
pub(crate) type Member = (String, String);

/// The presence lists of every presence topic reached through one [`Layer`](crate::Layer): in
/// Redis for a [`RedisLayer`](crate::layer::RedisLayer), shared by all its processes, else in
/// this process.
pub(crate) enum PresenceStore {
    /// In this process.
    Memory(MemoryPresence),
    /// In Redis, with this process's members refreshed on an interval.
    #[cfg(feature = "redis")]
    Redis(std::sync::Arc<in_redis::RedisPresence>),
}

impl std::fmt::Debug for PresenceStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PresenceStore::Memory(_) => "PresenceStore::Memory",
            #[cfg(feature = "redis")]
            PresenceStore::Redis(_) => "PresenceStore::Redis",
        })
    }
}

impl PresenceStore {
    /// The store for a layer's backend: in Redis for a `RedisLayer`, else in memory (with a
    /// warning at the first join when the backend is shared by processes, as `RedisCoreLayer`
    /// is: its processes do not see each other's members).
    pub(crate) fn for_backend(backend: &dyn std::any::Any) -> Self {
        #[cfg(feature = "redis")]
        if let Some(layer) = backend.downcast_ref::<crate::layer::RedisLayer>() {
            return PresenceStore::Redis(in_redis::RedisPresence::new(layer.clone()));
        }
        let in_process = backend.is::<crate::layer::MemoryLayer>();
        PresenceStore::Memory(MemoryPresence {
            members: Mutex::default(),
            in_process,
            warn_once: std::sync::Once::new(),
        })
    }
}

/// The presence entries of every presence topic, in this process: by group, then by channel
/// name (ordered, so lists are stable). Each layer has its own, so two apps (or two test
/// "processes") in one process do not see each other's members.
pub(crate) struct MemoryPresence {
    members: Mutex<HashMap<String, BTreeMap<String, Value>>>,
    /// Whether the layer's backend is in this process only (then nothing is missing).
    in_process: bool,
    warn_once: std::sync::Once,
}

impl MemoryPresence {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<String, BTreeMap<String, Value>>) -> T) -> T {
        f(&mut self.members.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn members(&self, group: &str) -> Vec<Value> {
        self.with(|all| {
            all.get(group)
                .map(|m| m.iter().map(|(id, entry)| json!({"id": id, "entry": entry})).collect())
                .unwrap_or_default()
        })
    }

    /// Lists `me` with `entry` unless the topic already has `cap` others; whether it is listed.
    fn join(&self, group: &str, me: &str, entry: Value, cap: usize) -> bool {
        if !self.in_process {
            self.warn_once.call_once(|| {
                tracing::warn!(
                    "topic presence is kept per process with this channel layer: each process lists only \
                     its own connections (a RedisLayer shares the lists; docs/topics.md, \"Presence\")"
                );
            });
        }
        self.with(|all| {
            let members = all.entry(group.to_owned()).or_default();
            // Beyond the cap the connection follows the topic but is not listed.
            let room = members.len() < cap || members.contains_key(me);
            if room {
                members.insert(me.to_owned(), entry);
            }
            room
        })
    }

    fn leave(&self, group: &str, me: &str) -> Option<Value> {
        self.with(|all| {
            let members = all.get_mut(group)?;
            let entry = members.remove(me);
            if members.is_empty() {
                all.remove(group);
            }
            entry
        })
    }
}

/// The `presence_state` frame of `members`.
fn state_frame(members: Vec<Value>) -> Value {
    json!({"action": "presence_state", "payload": {"members": members}})
}

/// `{"id", "entry"}` of members read from Redis, in id order; an entry over `max_entry_bytes`
/// or that is not JSON (not written by chanx-rs) is listed as `null`.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
fn member_values(mut members: Vec<Member>, max_entry_bytes: usize) -> Vec<Value> {
    members.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    members.dedup_by(|a, b| a.0 == b.0);
    members.into_iter().map(|(id, entry)| json!({"id": id, "entry": entry_value(&entry, max_entry_bytes)})).collect()
}

fn entry_value(entry: &str, max_entry_bytes: usize) -> Value {
    if entry.len() > max_entry_bytes {
        return Value::Null;
    }
    serde_json::from_str(entry).unwrap_or(Value::Null)
}

/// Tells the client of `reply` that its presence list could not be read.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
fn send_unavailable(reply: &Context, group: &str, err: impl std::fmt::Display) {
    tracing::warn!(%group, error = %err, "could not read a topic's presence list");
    let _ = reply.send(&ErrorMessage::detail("Failed to process message for presence"));
}

/// Sends the list of `group` to the client of `reply` (which carries the topic and `ref`).
pub(crate) async fn send_state(reply: &Context, group: &str, limits: Option<PresenceLimits>) {
    let Some(limits) = limits else { return };
    match reply.layer().presence() {
        PresenceStore::Memory(memory) => {
            let _ = reply.send_json(state_frame(memory.members(group)));
        }
        #[cfg(feature = "redis")]
        PresenceStore::Redis(store) => match store.state(group, limits).await {
            Ok(members) => {
                let _ = reply.send_json(state_frame(member_values(members, limits.max_entry_bytes)));
            }
            Err(err) => send_unavailable(reply, group, err),
        },
    }
    let _ = limits;
}

/// The JSON text of `entry` when it is within `max_entry_bytes`; else `None` (unlisted), logged.
fn bounded_entry(entry: Option<Value>, max_entry_bytes: usize) -> Option<(Value, String)> {
    let entry = entry?;
    let text = serde_json::to_string(&entry).ok()?;
    if text.len() > max_entry_bytes {
        tracing::warn!(
            bytes = text.len(),
            max_entry_bytes,
            "a presence entry is over MAX_PRESENCE_ENTRY_BYTES; the connection follows the topic unlisted"
        );
        return None;
    }
    Some((entry, text))
}

/// Lists the subscriber of `tctx` with `entry` (unless the topic already has its cap of
/// entries, or the entry is over its byte cap), sends it the list and tells the others it
/// joined. Returns whether it was listed.
pub(crate) async fn join(tctx: &Context, group: &str, entry: Option<Value>, limits: PresenceLimits) -> bool {
    let me = tctx.channel_name();
    let entry = bounded_entry(entry, limits.max_entry_bytes);
    match tctx.layer().presence() {
        PresenceStore::Memory(memory) => {
            let listed = entry.clone().is_some_and(|(entry, _)| memory.join(group, me, entry, limits.max_entries));
            let _ = tctx.send_json(state_frame(memory.members(group)));
            if let Some((entry, _)) = entry.filter(|_| listed) {
                announce(tctx.layer(), group, tctx.topic().unwrap_or_default(), "presence_join", me, entry).await;
            }
            listed
        }
        #[cfg(feature = "redis")]
        PresenceStore::Redis(store) => {
            let topic = tctx.topic().unwrap_or_default();
            let text = entry.as_ref().map(|(_, text)| text.as_str());
            match store.join(group, topic, me, text, limits).await {
                Ok(joined) => {
                    let _ = tctx.send_json(state_frame(member_values(joined.members, limits.max_entry_bytes)));
                    store.announce_gone(group, topic, joined.gone, limits.max_entry_bytes).await;
                    if let Some((entry, _)) = entry.filter(|_| joined.listed) {
                        announce(tctx.layer(), group, topic, "presence_join", me, entry).await;
                    }
                    joined.listed
                }
                Err(err) => {
                    // The refresh lists it (and announces the join) once Redis answers again.
                    send_unavailable(tctx, group, err);
                    false
                }
            }
        }
    }
}

/// Removes the subscriber of `tctx` from the list of `group` and tells the others it left.
pub(crate) async fn leave(tctx: &Context, group: &str) {
    let me = tctx.channel_name();
    let topic = tctx.topic().unwrap_or_default();
    let removed = match tctx.layer().presence() {
        PresenceStore::Memory(memory) => memory.leave(group, me),
        #[cfg(feature = "redis")]
        PresenceStore::Redis(store) => store.leave(group, me).await,
    };
    if let Some(entry) = removed {
        announce(tctx.layer(), group, topic, "presence_leave", me, entry).await;
    }
}

/// A join or leave of member `id`, as a group message for every subscriber but `id`.
fn change(topic: &str, action: &str, id: &str, entry: Value) -> LayerMessage {
    let frame = json!({"action": action, "payload": {"id": id, "entry": entry}, "topic": topic});
    LayerMessage::new(LayerBody::GroupMessage {
        message: frame,
        exclude_current: true,
        from_channel: Some(id.to_owned()),
    })
}

/// Sends a join or leave of member `id` to the other subscribers of `group`.
async fn announce(layer: &crate::Layer, group: &str, topic: &str, action: &str, id: &str, entry: Value) {
    if let Err(err) = layer.group_send(group, change(topic, action, id, entry)).await {
        tracing::warn!(%group, error = %err, "could not send a presence change");
    }
}

/// Presence in Redis: what this process keeps to refresh its members, and the refresh task.
#[cfg(feature = "redis")]
pub(crate) mod in_redis {
    use std::collections::{BTreeMap, HashMap, HashSet};
    use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};

    use super::{Member, PresenceLimits, change, entry_value};
    use crate::layer::{ChannelLayer, LayerError, RedisLayer};

    /// What one join read: whether the member is listed, the list, and the expired members it
    /// removed (to announce).
    pub(crate) struct Joined {
        pub(crate) listed: bool,
        pub(crate) members: Vec<Member>,
        pub(crate) gone: Vec<Member>,
    }

    /// This process's side of one presence topic.
    struct LocalTopic {
        topic: String,
        limits: PresenceLimits,
        /// Every local subscriber, listed or not: while there is one, this process sweeps the
        /// topic's expired members and announces their leaves.
        subscribers: HashSet<String>,
        /// The local members to keep listed, with their entries: refreshed on every tick, and
        /// listed again (with a join) if Redis lost them.
        mine: BTreeMap<String, String>,
    }

    /// The presence store of one layer on a [`RedisLayer`].
    pub(crate) struct RedisPresence {
        layer: RedisLayer,
        local: Mutex<HashMap<String, LocalTopic>>,
        /// Held (shared) by each join and leave while it reaches Redis and the local table,
        /// and (exclusive) by the refresh of a topic, so that a refresh never lists again a
        /// member that has just left.
        changes: tokio::sync::RwLock<()>,
        refresher: OnceLock<()>,
        this: Weak<RedisPresence>,
    }

    impl RedisPresence {
        pub(crate) fn new(layer: RedisLayer) -> Arc<Self> {
            Arc::new_cyclic(|this| RedisPresence {
                layer,
                local: Mutex::default(),
                changes: tokio::sync::RwLock::new(()),
                refresher: OnceLock::new(),
                this: this.clone(),
            })
        }

        fn local(&self) -> std::sync::MutexGuard<'_, HashMap<String, LocalTopic>> {
            self.local.lock().unwrap_or_else(PoisonError::into_inner)
        }

        /// Starts the refresh task at the first join (inside the runtime that serves it).
        fn start_refresher(&self) {
            self.refresher.get_or_init(|| {
                let every = self.layer.presence_refresh_interval();
                tokio::spawn(refresh_loop(self.this.clone(), every));
            });
        }

        pub(crate) async fn join(
            &self,
            group: &str,
            topic: &str,
            me: &str,
            entry: Option<&str>,
            limits: PresenceLimits,
        ) -> Result<Joined, LayerError> {
            self.start_refresher();
            let _shared = self.changes.read().await;
            {
                let mut local = self.local();
                let here = local.entry(group.to_owned()).or_insert_with(|| LocalTopic {
                    topic: topic.to_owned(),
                    limits,
                    subscribers: HashSet::new(),
                    mine: BTreeMap::new(),
                });
                here.subscribers.insert(me.to_owned());
                if let Some(entry) = entry {
                    here.mine.insert(me.to_owned(), entry.to_owned());
                }
            }
            let joined = self.layer.presence_sync(group, limits, entry.map(|entry| (me, entry))).await?;
            if !joined.listed
                && let Some(here) = self.local().get_mut(group)
            {
                // Over the cap: it follows unlisted, and is not listed later either.
                here.mine.remove(me);
            }
            Ok(joined)
        }

        /// Removes `me`; its entry when it was listed (to announce).
        pub(crate) async fn leave(&self, group: &str, me: &str) -> Option<serde_json::Value> {
            let _shared = self.changes.read().await;
            let limits = {
                let mut local = self.local();
                let here = local.get_mut(group)?;
                here.subscribers.remove(me);
                let was_mine = here.mine.remove(me).is_some();
                let limits = here.limits;
                if here.subscribers.is_empty() {
                    local.remove(group);
                }
                if !was_mine {
                    return None;
                }
                limits
            };
            match self.layer.presence_leave(group, me).await {
                Ok(entry) => entry.map(|entry| entry_value(&entry, limits.max_entry_bytes)),
                Err(err) => {
                    // Its entry expires and is swept (and announced) by a live process.
                    tracing::warn!(%group, error = %err, "could not remove a presence entry from Redis");
                    None
                }
            }
        }

        pub(crate) async fn state(&self, group: &str, limits: PresenceLimits) -> Result<Vec<Member>, LayerError> {
            let joined = self.layer.presence_sync(group, limits, None).await?;
            let topic = self.local().get(group).map(|here| here.topic.clone());
            if let Some(topic) = topic {
                self.announce_gone(group, &topic, joined.gone, limits.max_entry_bytes).await;
            }
            Ok(joined.members)
        }

        /// Sends the leave of each member swept from `group`'s list.
        pub(crate) async fn announce_gone(&self, group: &str, topic: &str, gone: Vec<Member>, max_entry_bytes: usize) {
            for (id, entry) in gone {
                let entry = entry_value(&entry, max_entry_bytes);
                self.announce(group, change(topic, "presence_leave", &id, entry)).await;
            }
        }

        async fn announce(&self, group: &str, message: crate::layer::LayerMessage) {
            if let Err(err) = self.layer.group_send(group, message).await {
                tracing::warn!(%group, error = %err, "could not send a presence change");
            }
        }

        /// Refreshes this process's members of every topic it follows, lists again those Redis
        /// lost, and sweeps the expired members of others.
        async fn refresh(&self) {
            let groups: Vec<String> = self.local().keys().cloned().collect();
            for group in groups {
                let exclusive = self.changes.write().await;
                let Some((topic, limits, mine)) = self.local().get(&group).map(|here| {
                    let mine: Vec<Member> = here.mine.iter().map(|(id, e)| (id.clone(), e.clone())).collect();
                    (here.topic.clone(), here.limits, mine)
                }) else {
                    continue;
                };
                let refreshed = self.layer.presence_refresh(&group, limits, &mine).await;
                drop(exclusive);
                match refreshed {
                    Ok((rejoined, gone)) => {
                        for id in rejoined {
                            let entry = mine.iter().find(|(m, _)| *m == id).map(|(_, e)| e.as_str()).unwrap_or("");
                            let entry = entry_value(entry, limits.max_entry_bytes);
                            self.announce(&group, change(&topic, "presence_join", &id, entry)).await;
                        }
                        self.announce_gone(&group, &topic, gone, limits.max_entry_bytes).await;
                    }
                    Err(err) => {
                        tracing::warn!(%group, error = %err, "could not refresh presence in Redis; retrying at the next interval");
                    }
                }
            }
        }
    }

    /// Refreshes every `every` while the store lives.
    async fn refresh_loop(store: Weak<RedisPresence>, every: std::time::Duration) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(store) = store.upgrade() else { return };
            store.refresh().await;
        }
    }
}
