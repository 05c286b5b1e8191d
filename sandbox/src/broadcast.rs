//! Broadcasting an event to one consumer's sockets in a group, from an HTTP handler or a
//! background task.
//!
//! Failed broadcasts are logged, not returned: the change behind each one is already saved, and
//! pages show it on their next load.

use chanx::{Consumer, HandlesEvent, Layer, Message};

/// Sends `event` to the sockets of consumer `C` in `group`, as in
/// `broadcast::<ChatDetailConsumer, _>(&layer, &group, &event).await`; a failure is logged with
/// the group and the event's action. Naming `C` makes an event that `C` has no handler for a
/// compile error rather than a frame nobody reads.
pub async fn broadcast<C, E>(layer: &Layer, group: &str, event: &E)
where
    C: Consumer + HandlesEvent<E>,
    E: Message,
{
    if let Err(err) = C::broadcast_event_to(layer, &[group], event).await {
        tracing::warn!(error = %err, group, action = E::ACTION, "broadcast failed");
    }
}
