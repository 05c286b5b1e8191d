//! [`CaptureLayer`]: a channel layer that records every send and group send.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use serde_json::Value;

use crate::Layer;
use crate::layer::{ChannelLayer, ChannelReceiver, LayerBody, LayerError, LayerMessage, MemoryLayer};

/// Where a captured message was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// To every member of a group.
    Group(String),
    /// To one connection's channel.
    Channel(String),
}

/// One captured send.
#[derive(Debug, Clone, PartialEq)]
pub struct Captured {
    /// Where it went.
    pub target: Target,
    /// What was sent.
    pub body: LayerBody,
}

impl Captured {
    /// The event of a `send_event` / `broadcast_event`, if this is one.
    pub fn event(&self) -> Option<&Value> {
        match &self.body {
            LayerBody::ChannelEvent { event_data } => Some(event_data),
            _ => None,
        }
    }

    /// The topic, event and `seq` of a [`Topic::broadcast`](crate::Topic::broadcast), if this is one.
    pub fn topic_broadcast(&self) -> Option<CapturedTopicBroadcast> {
        match &self.body {
            LayerBody::TopicEvent { topic, seq, event_data } => {
                Some(CapturedTopicBroadcast { topic: topic.clone(), event: event_data.clone(), seq: *seq })
            }
            _ => None,
        }
    }
}

/// One captured [`Topic::broadcast`](crate::Topic::broadcast), as chanx's
/// `capture_topic_broadcasts` records it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct CapturedTopicBroadcast {
    /// The topic, such as `room:lobby`.
    pub topic: String,
    /// The event's frame.
    pub event: Value,
    /// The `seq` it was sent with.
    pub seq: Option<i64>,
}

/// Records every [`send`](ChannelLayer::send) and [`group_send`](ChannelLayer::group_send) made
/// through it, and forwards them to an in-memory layer unless suppressed. Clones share records.
///
/// ```
/// use chanx::{Layer, testing::{CaptureLayer, Target}};
/// # #[derive(chanx::Message, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
/// # #[message(action = "job_done")] struct JobDone { payload: u32 }
/// # tokio::runtime::Builder::new_current_thread().build().expect("rt").block_on(async {
/// let capture = CaptureLayer::suppressing();
/// let layer = Layer::new(capture.clone());
/// layer.broadcast_event(["jobs"], &JobDone { payload: 1 }).await?;
/// let sent = capture.captured();
/// assert_eq!(sent[0].target, Target::Group("jobs".into()));
/// assert_eq!(sent[0].event(), Some(&serde_json::json!({"action": "job_done", "payload": 1})));
/// # Ok::<(), chanx::layer::LayerError>(()) });
/// ```
#[derive(Clone, Debug, Default)]
pub struct CaptureLayer {
    inner: Arc<MemoryLayer>,
    records: Arc<Mutex<Vec<Captured>>>,
    suppress: bool,
}

impl CaptureLayer {
    /// Records and delivers.
    pub fn forwarding() -> Self {
        CaptureLayer::default()
    }

    /// Records without delivering sends and group sends (channels and groups still work).
    pub fn suppressing() -> Self {
        CaptureLayer { suppress: true, ..CaptureLayer::default() }
    }

    /// Everything captured so far, in order.
    pub fn captured(&self) -> Vec<Captured> {
        self.records.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The events captured so far (`send_event` and `broadcast_event`), with their targets.
    pub fn events(&self) -> Vec<(Target, Value)> {
        self.captured().into_iter().filter_map(|c| c.event().cloned().map(|e| (c.target, e))).collect()
    }

    /// The topic broadcasts captured so far, in order.
    ///
    /// ```
    /// use chanx::{Topic, testing::CaptureLayer};
    /// # #[derive(chanx::Message, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    /// # #[message(action = "shouted")] struct Shouted { payload: String }
    /// #[derive(Default)]
    /// struct RoomTopic;
    /// #[chanx::topic(pattern = "room:{name}")]
    /// impl RoomTopic {
    ///     #[event_handler]
    ///     async fn shouted(&self, event: Shouted) -> Shouted {
    ///         event
    ///     }
    /// }
    /// # tokio::runtime::Builder::new_current_thread().build().expect("rt").block_on(async {
    /// let capture = CaptureLayer::suppressing();
    /// RoomTopic::broadcast(&capture.layer(), "room:lobby", &Shouted { payload: "hi".into() }, Some(1)).await?;
    /// let sent = capture.topic_broadcasts();
    /// assert_eq!((sent[0].topic.as_str(), sent[0].seq), ("room:lobby", Some(1)));
    /// assert_eq!(capture.captured()[0].target, chanx::testing::Target::Group("RoomTopic.room-lobby".into()));
    /// # Ok::<(), chanx::layer::LayerError>(()) });
    /// ```
    pub fn topic_broadcasts(&self) -> Vec<CapturedTopicBroadcast> {
        self.captured().iter().filter_map(Captured::topic_broadcast).collect()
    }

    /// A [`Layer`] handle over this capture.
    pub fn layer(&self) -> Layer {
        Layer::new(self.clone())
    }

    fn record(&self, target: Target, message: &LayerMessage) {
        let captured = Captured { target, body: message.body().clone() };
        self.records.lock().unwrap_or_else(PoisonError::into_inner).push(captured);
    }
}

#[async_trait]
impl ChannelLayer for CaptureLayer {
    async fn new_channel(&self) -> Result<ChannelReceiver, LayerError> {
        self.inner.new_channel().await
    }

    async fn close_channel(&self, channel: &str) -> Result<(), LayerError> {
        self.inner.close_channel(channel).await
    }

    async fn send(&self, channel: &str, message: LayerMessage) -> Result<(), LayerError> {
        self.record(Target::Channel(channel.to_owned()), &message);
        if self.suppress { Ok(()) } else { self.inner.send(channel, message).await }
    }

    async fn group_add(&self, group: &str, channel: &str) -> Result<(), LayerError> {
        self.inner.group_add(group, channel).await
    }

    async fn group_discard(&self, group: &str, channel: &str) -> Result<(), LayerError> {
        self.inner.group_discard(group, channel).await
    }

    async fn group_send(&self, group: &str, message: LayerMessage) -> Result<(), LayerError> {
        self.record(Target::Group(group.to_owned()), &message);
        if self.suppress { Ok(()) } else { self.inner.group_send(group, message).await }
    }
}
