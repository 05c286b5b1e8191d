//! One connection's subscriptions, and the handling of the frames and pushes addressed to them.
//!
//! Subscribing, unsubscribing, and finding the subscription of a frame or push are hash-map
//! operations: they cost the same however many topics the connection follows.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use futures_util::FutureExt;
use serde_json::{Map, Value, json};

use super::history::{Admit, Seam, Since};
use super::{DynTopic, TopicErrorReason, TopicType};
use crate::Context;
use crate::context::Connection;
use crate::dispatch::{self, panic_text};
use crate::messages::{ErrorMessage, Subscribed, Unsubscribed};

/// The bounds on one connection's topics.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TopicLimits {
    pub(crate) max_topics: usize,
    pub(crate) max_topic_length: usize,
    /// The global completion setting, which topics follow unless they set their own.
    pub(crate) completion: bool,
}

/// One subscription: the topic's value, its group and its completion setting. It holds no
/// `Context`: the connection holds its subscriptions, and a context (which holds the connection)
/// here would make a cycle that a connection task dropped midway would leak.
struct Subscription {
    handler: Box<dyn DynTopic>,
    topic: Arc<str>,
    group: String,
    completion: bool,
    /// Holds live pushes while a subscribe with `since` replays history.
    seam: Seam,
    /// The bounds of the topic's presence, when it keeps presence (the `presence` request is
    /// answered).
    presence: Option<super::PresenceLimits>,
    /// Whether `on_subscribe` was started: set while the subscription is current, so that one
    /// ended before (during its replay) runs neither hook, never `on_unsubscribe` first.
    started: AtomicBool,
}

#[derive(Default)]
struct State {
    active: HashMap<Arc<str>, Arc<Subscription>>,
    /// Subscribes under way (authorizing, joining), counted against the limit.
    pending: usize,
    /// How many subscriptions share each group (two topics may clean to one group name).
    groups: HashMap<String, usize>,
    /// The connection has ended: a subscribe finishing now undoes itself.
    closed: bool,
    /// How many `reauthorize` messages or revocations found no subscription: a subscribe whose
    /// `authorize` was running meanwhile runs it again, since the answer may predate the change.
    reauthorized: u64,
}

/// The topics a connection hosts and follows.
pub(crate) struct Subscriptions {
    types: &'static [TopicType],
    limits: TopicLimits,
    /// The topic of a standalone route, which un-addressed frames go to.
    default_topic: OnceLock<String>,
    state: Mutex<State>,
    /// Held while a topic's group is joined or left with the map updated, so that a subscribe
    /// and an unsubscribe of one group cannot interleave into "subscribed, not in the group".
    group_changes: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Subscriptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriptions").field("types", &self.types).field("limits", &self.limits).finish()
    }
}

impl Subscriptions {
    pub(crate) fn new(types: &'static [TopicType], limits: TopicLimits) -> Self {
        Subscriptions {
            types,
            limits,
            default_topic: OnceLock::new(),
            state: Mutex::default(),
            group_changes: tokio::sync::Mutex::new(()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn default_topic(&self) -> Option<String> {
        self.default_topic.get().cloned()
    }

    /// Whether every frame goes to a topic (a standalone topic route), which reads it as a map.
    pub(crate) fn has_default_topic(&self) -> bool {
        self.default_topic.get().is_some()
    }

    fn get(&self, topic: &str) -> Option<Arc<Subscription>> {
        self.state().active.get(topic).cloned()
    }

    /// Ends every subscription (the connection is over) and runs their `on_unsubscribe`; the
    /// groups are left with the connection's others.
    pub(crate) async fn close(&self, ctx: &Context) {
        let ended: Vec<Arc<Subscription>> = {
            let mut state = self.state();
            state.closed = true;
            state.groups.clear();
            state.active.drain().map(|(_, sub)| sub).collect()
        };
        for sub in ended {
            let tctx = ctx.for_topic(sub.topic.clone());
            if sub.started.load(Ordering::SeqCst) {
                run_hook(sub.handler.on_unsubscribe(&tctx), "on_unsubscribe").await;
            }
            if sub.presence.is_some() {
                super::presence::leave(&tctx, &sub.group).await;
            }
        }
    }
}

/// A subscribe counted against the limit until it ends, however it ends (a cancelled future too).
struct Reservation<'a>(&'a Subscriptions);

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.pending = state.pending.saturating_sub(1);
    }
}

/// Sends chanx's topic error frame: `{"reason": ..., "detail": ...}`.
fn send_error(ctx: &Context, reason: TopicErrorReason, detail: String) {
    tracing::warn!(topic = ctx.topic(), reason = reason.as_str(), %detail, "Topic error");
    let _ = ctx.send(&ErrorMessage { payload: json!({"reason": reason.as_str(), "detail": detail}) });
}

/// Runs a user hook, logging a panic instead of ending the connection.
async fn run_hook<T>(hook: impl std::future::Future<Output = T>, name: &str) -> Option<T> {
    match AssertUnwindSafe(hook).catch_unwind().await {
        Ok(out) => Some(out),
        Err(panic) => {
            tracing::error!(panic = %panic_text(&*panic), hook = name, "a topic hook panicked");
            None
        }
    }
}

/// Handles a client frame addressed to `topic` (or to the route's default topic).
/// Subscription frames and errors are sent through the context; a handler's answer is returned
/// for the connection loop to write, as for the consumer's own frames.
pub(crate) async fn handle_frame(
    ctx: Context,
    topic: String,
    reference: Option<String>,
    body: Map<String, Value>,
) -> dispatch::Answer {
    let conn = ctx.connection().clone();
    let limits = conn.topics.limits;
    if topic.len() > limits.max_topic_length {
        // Not echoed: the client's own `ref` is enough to match this answer.
        send_too_long(limits, &ctx.replying_to(reference));
        return dispatch::Answer::default();
    }
    let topic: Arc<str> = topic.into();
    let tctx = ctx.for_topic(topic.clone());
    let reply = tctx.replying_to(reference);
    match body.get("action").and_then(Value::as_str) {
        Some("subscribe") => subscribe(&conn, &tctx, &reply, Since::of(&body)).await,
        Some("unsubscribe") => unsubscribe(&conn, &tctx, &reply).await,
        action => match conn.topics.get(&topic) {
            None => send_error(&reply, TopicErrorReason::NotSubscribed, format!("Not subscribed to '{topic}'")),
            Some(sub) if sub.presence.is_some() && action == Some("presence") => {
                super::presence::send_state(&reply, &sub.group, sub.presence).await;
            }
            Some(sub) => {
                let body = crate::envelope::Body(crate::envelope::BodyRepr::Object(body));
                return dispatch::handle_message(&*sub.handler, reply, body, sub.completion).await;
            }
        },
    }
    dispatch::Answer::default()
}

/// Answers a topic over the length limit.
fn send_too_long(limits: TopicLimits, reply: &Context) {
    let detail = format!("A topic is at most {} bytes", limits.max_topic_length);
    send_error(reply, TopicErrorReason::TopicTooLong, detail);
}

/// Subscribes a standalone route's connection to the topic its path names, at connect time:
/// `subscribed` goes out with no `ref`. A path naming a topic over the length limit is refused
/// as its frames will be, so no connection follows a topic longer than the limit.
pub(crate) async fn subscribe_default(ctx: &Context, topic: String) {
    let conn = ctx.connection().clone();
    let _ = conn.topics.default_topic.set(topic.clone());
    if topic.len() > conn.topics.limits.max_topic_length {
        return send_too_long(conn.topics.limits, ctx);
    }
    let tctx = ctx.for_topic(topic.into());
    subscribe(&conn, &tctx, &tctx, None).await;
}

async fn subscribe(conn: &Arc<Connection>, tctx: &Context, reply: &Context, since: Option<Since>) {
    let subs = &conn.topics;
    let topic = tctx.topic().unwrap_or_default();
    let reservation = {
        let mut state = subs.state();
        if state.active.contains_key(topic) {
            drop(state);
            // Confirmed again; on_subscribe does not run twice.
            let _ = reply.send(&Subscribed {});
            return;
        }
        if state.active.len() + state.pending >= subs.limits.max_topics {
            drop(state);
            let detail = format!("A connection follows at most {} topics", subs.limits.max_topics);
            return send_error(reply, TopicErrorReason::TooManyTopics, detail);
        }
        state.pending += 1;
        Reservation(subs)
    };
    let Some((kind, params)) = subs.types.iter().find_map(|t| t.parse(topic).map(|p| (t, p))) else {
        return send_error(reply, TopicErrorReason::UnknownTopic, format!("Unknown topic '{topic}'"));
    };
    let Some(handler) = run_hook(async { (kind.create)(tctx, &params) }, "new").await else {
        return send_error(reply, TopicErrorReason::Unauthorized, format!("Not allowed to subscribe to '{topic}'"));
    };
    let group = super::safe_group_name(Some(kind.type_name), &[topic]);
    // The group is joined (and counted) before `authorize` runs, so that a `reauthorize` sent
    // while it runs reaches this connection, which then asks `authorize` again.
    {
        let _changing = subs.group_changes.lock().await;
        if let Err(err) = conn.join_group(&group).await {
            tracing::error!(%topic, %group, error = %err, "could not join a topic's group");
            let _ = reply.send(&ErrorMessage::detail("Failed to process message for subscribe"));
            return;
        }
        *subs.state().groups.entry(group.clone()).or_default() += 1;
    }
    let authorized = loop {
        let seen = subs.state().reauthorized;
        let authorized = run_hook(handler.authorize(tctx, &params), "authorize").await == Some(true);
        if !authorized || subs.state().reauthorized == seen {
            break authorized;
        }
    };
    if !authorized {
        let _changing = subs.group_changes.lock().await;
        release_group(conn, &group).await;
        return send_error(reply, TopicErrorReason::Unauthorized, format!("Not allowed to subscribe to '{topic}'"));
    }
    let changing = subs.group_changes.lock().await;
    let completion = kind.completion.unwrap_or(subs.limits.completion);
    let topic_name: Arc<str> = Arc::from(topic);
    // Recovery: live pushes are held from the moment the subscription is found by them.
    let recovery = kind.history.zip(since);
    let seam = if recovery.is_some() { Seam::holding() } else { Seam::default() };
    let presence = kind.presence;
    let sub = Arc::new(Subscription {
        handler,
        topic: topic_name.clone(),
        group: group.clone(),
        completion,
        seam,
        presence,
        started: AtomicBool::new(false),
    });
    let first = {
        let mut state = subs.state();
        if state.closed {
            None
        } else if state.active.contains_key(topic) {
            // Another subscribe of the same topic won the race: confirm, keep that one.
            Some(false)
        } else {
            state.active.insert(topic_name, sub.clone());
            Some(true)
        }
    };
    match first {
        None => {
            let _ = conn.leave_group(&group).await;
        }
        Some(false) => release_group(conn, &group).await,
        Some(true) => {}
    }
    drop(changing);
    drop(reservation);
    if let Some(first) = first {
        match recovery.filter(|_| first) {
            Some((kept, since)) => {
                let (answer, missed) = conn.layer.history().since(&group, kept, &since).await;
                sub.seam.replaying(&answer.epoch);
                conn.metrics.recovery(answer.recovered);
                let _ = reply.send_json(json!({"action": "subscribed", "payload": answer}));
                // An unsubscribe or revocation during the replay ends it: nothing replayed
                // follows `unsubscribed` (but the push whose handler is running).
                let current = || subs.get(topic).is_some_and(|now| Arc::ptr_eq(&now, &sub));
                let mut replayed = answer.seq;
                // Room for a push and its completion frame, and one more the handler may send.
                // A stalled client is being closed: nothing more goes out, so no gap does either.
                let room = 3;
                let mut stalled = false;
                for (seq, event_data) in missed {
                    stalled = !conn.outbound_room(room).await;
                    if stalled || !current() {
                        break;
                    }
                    replayed = seq;
                    let push = tctx.pushing(i64::try_from(seq).ok());
                    dispatch::handle_event(&*sub.handler, push, &event_data, completion).await;
                }
                while !stalled && current() {
                    let held = sub.seam.release(replayed);
                    if held.is_empty() {
                        break;
                    }
                    for (seq, event_data) in held {
                        stalled = !conn.outbound_room(room).await;
                        if stalled || !current() {
                            break;
                        }
                        dispatch::handle_event(&*sub.handler, tctx.pushing(seq), &event_data, completion).await;
                    }
                }
            }
            None => {
                let _ = reply.send(&Subscribed {});
            }
        }
        if first {
            if let Some(limits) = presence {
                let entry = run_hook(async { sub.handler.presence(tctx) }, "presence").await.flatten();
                super::presence::join(tctx, &group, entry, limits).await;
                // Unsubscribed or closed meanwhile, after its leave ran: do not stay listed.
                if !subs.get(topic).is_some_and(|now| Arc::ptr_eq(&now, &sub)) {
                    super::presence::leave(tctx, &group).await;
                }
            }
            let started = {
                let state = subs.state();
                let current = state.active.get(topic).is_some_and(|now| Arc::ptr_eq(now, &sub));
                sub.started.store(current, Ordering::SeqCst);
                current
            };
            if started {
                run_hook(sub.handler.on_subscribe(tctx), "on_subscribe").await;
            }
        }
    }
}

/// Uncounts one use of `group` by a subscribe that did not become a subscription, and leaves it
/// when nothing else uses it. The caller holds `group_changes`.
async fn release_group(conn: &Arc<Connection>, group: &str) {
    let unused = {
        let mut state = conn.topics.state();
        let count = state.groups.entry(group.to_owned()).or_default();
        *count = count.saturating_sub(1);
        let unused = *count == 0;
        if unused {
            state.groups.remove(group);
        }
        unused && !state.closed
    };
    if unused {
        let _ = conn.leave_group(group).await;
    }
}

async fn unsubscribe(conn: &Arc<Connection>, tctx: &Context, reply: &Context) {
    end(conn, tctx).await;
    // Answered whether or not it was subscribed, as chanx does.
    let _ = reply.send(&Unsubscribed {});
}

/// Ends this connection's subscription to `tctx`'s topic on the server's initiative
/// ([`Context::revoke_topic`]): as an `unsubscribe` frame would, but answered with an
/// `unsubscribed` push (no `ref`) only when it was subscribed. Returns whether it was.
pub(crate) async fn revoke(tctx: &Context) -> bool {
    let conn = tctx.connection().clone();
    let ended = end(&conn, tctx).await;
    if ended {
        let _ = tctx.send(&Unsubscribed {});
    } else {
        // Perhaps a subscribe of it is authorizing: it will ask again.
        conn.topics.state().reauthorized += 1;
    }
    ended
}

/// Removes the subscription of `tctx`'s topic, runs `on_unsubscribe` and leaves the group
/// unless another subscription shares it. Returns whether it was subscribed.
async fn end(conn: &Arc<Connection>, tctx: &Context) -> bool {
    let subs = &conn.topics;
    let topic = tctx.topic().unwrap_or_default();
    let removed = {
        let mut state = subs.state();
        state.active.remove(topic).inspect(|sub| {
            let count = state.groups.entry(sub.group.clone()).or_default();
            *count = count.saturating_sub(1);
            if *count == 0 {
                state.groups.remove(&sub.group);
            }
        })
    };
    let Some(sub) = removed else { return false };
    if sub.started.load(Ordering::SeqCst) {
        run_hook(sub.handler.on_unsubscribe(tctx), "on_unsubscribe").await;
    }
    if sub.presence.is_some() {
        super::presence::leave(tctx, &sub.group).await;
    }
    let _changing = subs.group_changes.lock().await;
    // A subscribe of the same group may have come in meanwhile: then the group stays.
    let unused = !subs.state().groups.contains_key(&sub.group);
    if unused && let Err(err) = conn.leave_group(&sub.group).await {
        tracing::warn!(%topic, error = %err, "could not leave a topic's group");
    }
    true
}

/// The task for a `handle_topic_event` layer message to the connection of `ctx`, or `None` when
/// it does not follow the topic (any more): the push is dropped without error, as in chanx.
pub(crate) fn on_topic_event(
    ctx: &Context,
    topic: &str,
    seq: Option<i64>,
    event_data: &Value,
    message: &crate::layer::LayerMessage,
) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
    let Some(sub) = ctx.connection().topics.get(topic) else {
        tracing::debug!(%topic, "dropping a push for a topic this connection does not follow");
        return None;
    };
    let maybe_duplicate = match sub.seam.admit(seq, event_data) {
        Admit::Deliver => false,
        Admit::Held => return None,
        Admit::MaybeDuplicate => true,
        Admit::Overflow => {
            tracing::warn!(%topic, "too many pushes held while replaying history; closing the connection");
            ctx.connection().request_close(crate::close::EndReason::InboxOverflow);
            return None;
        }
    };
    // The event stays in the message that every subscriber shares; the task holds a reference.
    let message = message.clone();
    let ctx = ctx.for_topic(sub.topic.clone()).pushing(seq);
    Some(async move {
        if maybe_duplicate && sub.seam.is_duplicate(ctx.connection().layer.history(), &sub.group).await {
            tracing::debug!(topic = ctx.topic(), ?seq, "dropping a push the replay of history already delivered");
            return;
        }
        if let crate::layer::LayerBody::TopicEvent { event_data, .. } = message.body() {
            dispatch::handle_event(&*sub.handler, ctx, event_data, sub.completion).await;
        }
    })
}

/// Runs `authorize` again for this connection's subscription to `topic`, if any, and
/// unsubscribes it when refused ([`Topic::reauthorize`](super::Topic::reauthorize)).
pub(crate) async fn reauthorize(ctx: Context, topic: String) {
    let conn = ctx.connection().clone();
    let Some(sub) = conn.topics.get(&topic) else {
        // Perhaps a subscribe of it is authorizing: it will ask again.
        conn.topics.state().reauthorized += 1;
        return;
    };
    let Some(params) = conn.topics.types.iter().find_map(|t| t.parse(&topic)) else { return };
    let tctx = ctx.for_topic(sub.topic.clone());
    if run_hook(sub.handler.authorize(&tctx, &params), "authorize").await != Some(true) {
        tracing::info!(%topic, "a subscription is no longer authorized; unsubscribing it");
        revoke(&tctx).await;
    }
}
