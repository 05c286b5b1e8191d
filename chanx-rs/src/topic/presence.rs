//! Presence: who follows a topic, for topics that opt in with
//! [`Topic::PRESENCE`](super::Topic::PRESENCE).
//!
//! Each subscribed connection whose [`Topic::presence`](super::Topic::presence) hook gives an
//! entry is listed under its channel name. The list lives in this process, one per layer:
//! connections of other processes sharing a Redis or NATS layer are not listed yet.
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

/// The presence entries of every presence topic reached through one [`Layer`](crate::Layer), by
/// group, then by channel name (ordered, so lists are stable). Each layer has its own, so two
/// apps (or two test "processes") in one process do not see each other's members.
#[derive(Default)]
pub(crate) struct Members(Mutex<HashMap<String, BTreeMap<String, Value>>>);

fn with_members<T>(ctx: &Context, f: impl FnOnce(&mut HashMap<String, BTreeMap<String, Value>>) -> T) -> T {
    f(&mut ctx.layer().presence().0.lock().unwrap_or_else(PoisonError::into_inner))
}

/// The `presence_state` frame of `group`.
fn state_frame(ctx: &Context, group: &str) -> Value {
    let members: Vec<Value> = with_members(ctx, |all| {
        all.get(group)
            .map(|m| m.iter().map(|(id, entry)| json!({"id": id, "entry": entry})).collect())
            .unwrap_or_default()
    });
    json!({"action": "presence_state", "payload": {"members": members}})
}

/// Sends the list of `group` to the client of `reply` (which carries the topic and `ref`).
pub(crate) fn send_state(reply: &Context, group: &str) {
    let _ = reply.send_json(state_frame(reply, group));
}

/// Lists the subscriber of `tctx` with `entry` (unless the topic already has `cap` entries),
/// sends it the list and tells the others it joined. Returns whether it was listed.
pub(crate) async fn join(tctx: &Context, group: &str, entry: Option<Value>, cap: usize) -> bool {
    let me = tctx.channel_name().to_owned();
    let listed = entry.clone().is_some_and(|entry| {
        with_members(tctx, |all| {
            let members = all.entry(group.to_owned()).or_default();
            // Beyond the cap the connection follows the topic but is not listed.
            let room = members.len() < cap || members.contains_key(&me);
            if room {
                members.insert(me.clone(), entry);
            }
            room
        })
    });
    send_state(tctx, group);
    if listed {
        announce(tctx, group, "presence_join", entry.unwrap_or(Value::Null)).await;
    }
    listed
}

/// Removes the subscriber of `tctx` from the list of `group` and tells the others it left.
pub(crate) async fn leave(tctx: &Context, group: &str) {
    let me = tctx.channel_name();
    let removed = with_members(tctx, |all| {
        let members = all.get_mut(group)?;
        let entry = members.remove(me);
        if members.is_empty() {
            all.remove(group);
        }
        entry
    });
    if let Some(entry) = removed {
        announce(tctx, group, "presence_leave", entry).await;
    }
}

/// Sends a join or leave of this connection to the other subscribers of `group`.
async fn announce(tctx: &Context, group: &str, action: &str, entry: Value) {
    let frame = json!({
        "action": action,
        "payload": {"id": tctx.channel_name(), "entry": entry},
        "topic": tctx.topic(),
    });
    let body = LayerBody::GroupMessage {
        message: frame,
        exclude_current: true,
        from_channel: Some(tctx.channel_name().to_owned()),
    };
    if let Err(err) = tctx.layer().group_send(group, LayerMessage::new(body)).await {
        tracing::warn!(%group, error = %err, "could not send a presence change");
    }
}
