//! The in-memory channel layer: the default, for a single process.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock};

use super::{ChannelLayer, ChannelReceiver, DeliveryError, InboxSender, LayerError, LayerMessage, inbox};
use async_trait::async_trait;

/// The default inbox capacity of one connection.
const DEFAULT_CAPACITY: usize = 256;

/// Channels and groups of one process, in memory.
///
/// A group send costs one `try_send` per member, sharing one message. When a connection's inbox is
/// full (it is not keeping up), the message is dropped for that connection only, counted in
/// [`MemoryLayer::dropped`] and logged, and that connection is closed with
/// [`INBOX_OVERFLOW`](crate::close_code::INBOX_OVERFLOW) (1013) so that its client reconnects and
/// re-syncs; a direct [`send`](ChannelLayer::send) also returns [`LayerError::ChannelFull`].
///
/// ```
/// use chanx::layer::MemoryLayer;
/// let layer = MemoryLayer::with_capacity(1024);
/// assert_eq!(layer.dropped(), 0);
/// ```
#[derive(Debug)]
pub struct MemoryLayer {
    state: RwLock<State>,
    capacity: usize,
    dropped: AtomicU64,
}

#[derive(Debug, Default)]
struct State {
    channels: HashMap<String, Channel>,
    /// Group → member channel → its inbox, so a group send needs no second lookup.
    groups: HashMap<String, HashMap<String, InboxSender>>,
}

#[derive(Debug)]
struct Channel {
    sender: InboxSender,
    /// The groups this channel is in, so closing it touches only those (a set: joining and
    /// leaving cost the same however many groups it is in).
    groups: HashSet<String>,
}

impl State {
    fn discard(&mut self, group: &str, channel: &str) {
        if let Some(members) = self.groups.get_mut(group) {
            members.remove(channel);
            if members.is_empty() {
                self.groups.remove(group);
            }
        }
    }
}

impl Default for MemoryLayer {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl MemoryLayer {
    /// A layer whose per-connection inboxes hold `capacity` messages. Defaults to 256.
    pub fn with_capacity(capacity: usize) -> Self {
        MemoryLayer { state: RwLock::default(), capacity: capacity.max(1), dropped: AtomicU64::new(0) }
    }

    /// How many deliveries were dropped because an inbox was full or closed.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// How many connections are in `group` now.
    ///
    /// ```
    /// assert_eq!(chanx::layer::MemoryLayer::default().group_size("lobby"), 0);
    /// ```
    pub fn group_size(&self, group: &str) -> usize {
        self.read().groups.get(group).map_or(0, |members| members.len())
    }

    /// How many connections have a channel now.
    pub fn channel_count(&self) -> usize {
        self.read().channels.len()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated, so poison is harmless.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl ChannelLayer for MemoryLayer {
    async fn new_channel(&self) -> Result<ChannelReceiver, LayerError> {
        let name = format!("specific.inmemory!{}", uuid::Uuid::new_v4().simple());
        let (sender, receiver) = inbox(name.clone(), self.capacity);
        self.write().channels.insert(name, Channel { sender, groups: HashSet::new() });
        Ok(receiver)
    }

    async fn close_channel(&self, channel: &str) -> Result<(), LayerError> {
        let mut state = self.write();
        if let Some(closed) = state.channels.remove(channel) {
            for group in &closed.groups {
                state.discard(group, channel);
            }
        }
        Ok(())
    }

    async fn send(&self, channel: &str, message: LayerMessage) -> Result<(), LayerError> {
        let sender = self.read().channels.get(channel).map(|c| c.sender.clone());
        let sender = sender.ok_or_else(|| LayerError::ChannelNotFound(channel.to_owned()))?;
        sender.try_deliver(message).map_err(|err| match err {
            DeliveryError::Full => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(channel, "inbox full: message dropped, closing the connection (inbox overflow)");
                LayerError::ChannelFull(channel.to_owned())
            }
            _ => LayerError::ChannelNotFound(channel.to_owned()),
        })
    }

    async fn group_add(&self, group: &str, channel: &str) -> Result<(), LayerError> {
        let mut state = self.write();
        let entry = state.channels.get_mut(channel).ok_or_else(|| LayerError::ChannelNotFound(channel.to_owned()))?;
        if !entry.groups.contains(group) {
            entry.groups.insert(group.to_owned());
        }
        let sender = entry.sender.clone();
        match state.groups.get_mut(group) {
            Some(members) => {
                members.insert(channel.to_owned(), sender);
            }
            None => {
                state.groups.insert(group.to_owned(), HashMap::from([(channel.to_owned(), sender)]));
            }
        }
        Ok(())
    }

    async fn group_discard(&self, group: &str, channel: &str) -> Result<(), LayerError> {
        let mut state = self.write();
        if let Some(entry) = state.channels.get_mut(channel) {
            entry.groups.remove(group);
        }
        state.discard(group, channel);
        Ok(())
    }

    async fn group_send(&self, group: &str, message: LayerMessage) -> Result<(), LayerError> {
        let state = self.read();
        let Some(members) = state.groups.get(group) else { return Ok(()) };
        for (channel, sender) in members {
            if let Err(err) = sender.try_deliver(message.clone()) {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                match err {
                    DeliveryError::Full => tracing::warn!(
                        group,
                        channel,
                        "inbox full: group message dropped for one member, closing it (inbox overflow)"
                    ),
                    _ => tracing::debug!(group, channel, "group message dropped for a member that has ended"),
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::LayerBody;

    fn event() -> LayerMessage {
        LayerMessage::new(LayerBody::ChannelEvent { event_data: serde_json::json!({"action": "x"}) })
    }

    #[tokio::test]
    async fn closing_a_channel_removes_it_from_its_groups_only() {
        let layer = MemoryLayer::default();
        let mut a = layer.new_channel().await.expect("channel");
        let b = layer.new_channel().await.expect("channel");
        for group in ["one", "two"] {
            layer.group_add(group, a.name()).await.expect("add");
        }
        layer.group_add("two", b.name()).await.expect("add");
        layer.close_channel(b.name()).await.expect("close");
        assert_eq!((layer.group_size("one"), layer.group_size("two"), layer.channel_count()), (1, 1, 1));
        layer.group_send("two", event()).await.expect("send");
        assert!(a.recv().await.is_some());
        layer.group_discard("one", a.name()).await.expect("discard");
        layer.close_channel(a.name()).await.expect("close");
        assert_eq!((layer.group_size("one"), layer.group_size("two"), layer.channel_count()), (0, 0, 0));
    }

    #[tokio::test]
    async fn a_full_inbox_drops_and_counts_and_a_direct_send_says_so() {
        let layer = MemoryLayer::with_capacity(1);
        let inbox = layer.new_channel().await.expect("channel");
        layer.group_add("g", inbox.name()).await.expect("add");
        layer.group_send("g", event()).await.expect("first fits");
        layer.group_send("g", event()).await.expect("a group send does not fail for one member");
        assert_eq!(layer.dropped(), 1);
        let full = layer.send(inbox.name(), event()).await;
        assert!(matches!(full, Err(LayerError::ChannelFull(_))), "{full:?}");
        let unknown = layer.send("specific.inmemory!nobody", event()).await;
        assert!(matches!(unknown, Err(LayerError::ChannelNotFound(_))), "{unknown:?}");
    }
}
