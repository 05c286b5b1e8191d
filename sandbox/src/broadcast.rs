//! Broadcasting an event to one consumer's sockets in a group, from an HTTP handler or a
//! background task.
//!
//! Failed broadcasts are logged, not returned: the change behind each one is already saved, and
//! pages show it on their next load.

use chanx::{Consumer, HandlesEvent, Layer, Message, Topic};

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

/// Pushes `event` to the subscribers of `topic`, a chanx topic of type `T`, as in
/// `broadcast_topic::<DiscussionTopic, _>(&layer, "discussion:5", &event).await`; a failure is
/// logged with the topic and the event's action. No `seq`: several processes may push to one
/// topic, and chanx's `seq` is only meaningful from a single writer.
pub async fn broadcast_topic<T, E>(layer: &Layer, topic: &str, event: &E)
where
    T: Topic + HandlesEvent<E>,
    E: Message,
{
    if let Err(err) = T::broadcast(layer, topic, event, None).await {
        tracing::warn!(error = %err, topic, action = E::ACTION, "topic broadcast failed");
    }
}
