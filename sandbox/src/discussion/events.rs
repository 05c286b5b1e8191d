//! The forum's broadcast matrix. The service functions ([`super::service`]) call these after the
//! change is committed, so that the REST API, the pages and the admin all announce it alike; a
//! failed send is logged and the change stays.

use chanx::Layer;

use super::consumers::*;
use super::model::{Target, TopicSummary};
use crate::broadcast::{broadcast, broadcast_topic};

/// A topic was asked: every topic list gets `topic_created`.
pub async fn topic_created(layer: &Layer, topic: &TopicSummary) {
    let event = NewTopicEvent { payload: topic.clone() };
    broadcast::<DiscussionListConsumer, _>(layer, LIST_GROUP, &event).await;
}

/// A reply was posted: the topic's pages and the lists following the topic get `reply_created`.
pub async fn reply_created(layer: &Layer, reply: NewReply) {
    let group = topic_group(reply.topic_id);
    let followed = followed_topic(reply.topic_id);
    let event = NewReplyEvent { payload: reply };
    broadcast::<DiscussionTopicConsumer, _>(layer, &group, &event).await;
    broadcast_topic::<DiscussionTopic, _>(layer, &followed, &event).await;
}

/// A vote changed a count: the topic's pages and every topic list get `vote_updated`.
pub async fn vote_updated(layer: &Layer, topic: i64, target_type: Target, target_id: i64, vote_count: i64) {
    let event = VoteEvent { payload: VoteUpdate { target_type, target_id, vote_count } };
    let group = topic_group(topic);
    broadcast::<DiscussionTopicConsumer, _>(layer, &group, &event).await;
    broadcast::<DiscussionListConsumer, _>(layer, LIST_GROUP, &event).await;
}

/// An answer was accepted (`accepted`) or unaccepted: the topic's pages and every topic list get
/// `answer_accepted` or `answer_unaccepted`.
pub async fn answer_changed(layer: &Layer, change: AnswerChange, accepted: bool) {
    let group = topic_group(change.topic_id);
    if accepted {
        let event = AnswerAcceptedEvent { payload: change };
        broadcast::<DiscussionTopicConsumer, _>(layer, &group, &event).await;
        broadcast::<DiscussionListConsumer, _>(layer, LIST_GROUP, &event).await;
    } else {
        let event = AnswerUnacceptedEvent { payload: change };
        broadcast::<DiscussionTopicConsumer, _>(layer, &group, &event).await;
        broadcast::<DiscussionListConsumer, _>(layer, LIST_GROUP, &event).await;
    }
}

/// A topic's text was edited: the topic's pages and every topic list get `topic_updated`.
pub async fn topic_edited(layer: &Layer, edit: TopicEdit) {
    let group = topic_group(edit.topic_id);
    let event = TopicEditedEvent { payload: edit };
    broadcast::<DiscussionTopicConsumer, _>(layer, &group, &event).await;
    broadcast::<DiscussionListConsumer, _>(layer, LIST_GROUP, &event).await;
}

/// A topic was deleted: every topic list gets `topic_deleted`; the topic's pages get it too and
/// are closed.
pub async fn topic_deleted(layer: &Layer, deleted: DeletedTopic) {
    let group = topic_group(deleted.topic_id);
    let event = TopicDeletedEvent { payload: deleted };
    broadcast::<DiscussionListConsumer, _>(layer, LIST_GROUP, &event).await;
    broadcast::<DiscussionTopicConsumer, _>(layer, &group, &event).await;
}

/// A reply's text was edited: the topic's pages get `reply_updated` (lists show no reply text).
pub async fn reply_edited(layer: &Layer, edit: ReplyEdit) {
    let group = topic_group(edit.topic_id);
    let event = ReplyEditedEvent { payload: edit };
    broadcast::<DiscussionTopicConsumer, _>(layer, &group, &event).await;
}

/// A reply was deleted: the topic's pages and the lists following the topic get
/// `reply_deleted`, with the topic's new reply count.
pub async fn reply_deleted(layer: &Layer, deleted: DeletedReply) {
    let group = topic_group(deleted.topic_id);
    let followed = followed_topic(deleted.topic_id);
    let event = ReplyDeletedEvent { payload: deleted };
    broadcast::<DiscussionTopicConsumer, _>(layer, &group, &event).await;
    broadcast_topic::<DiscussionTopic, _>(layer, &followed, &event).await;
}
