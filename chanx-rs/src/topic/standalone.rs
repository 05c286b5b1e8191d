//! A topic on a route of its own, chanx's `Topic.as_consumer()`: connecting subscribes the
//! topic the path names, and un-addressed frames go to it.

use std::marker::PhantomData;

use super::{Topic, TopicType};
use crate::auth::Authenticator;
use crate::consumer::Handlers;
use crate::dispatch::HandlerFuture;
use crate::{Consumer, ConsumerInfo, Context};

/// The consumer of a standalone topic route: no handlers of its own, the topic as its default.
pub(crate) struct Standalone<T, A> {
    marker: PhantomData<fn() -> (T, A)>,
}

impl<T, A> Standalone<T, A> {
    pub(crate) fn new() -> Self {
        Standalone { marker: PhantomData }
    }
}

impl<T: Topic, A: Authenticator> Handlers for Standalone<T, A> {
    const GROUPS: &'static [&'static str] = &[];
    const MESSAGE_ACTIONS: &'static [&'static str] = &[];
    const TOPICS: &'static [TopicType] = &[TopicType::of::<T>()];

    fn info() -> ConsumerInfo {
        super::topic_info::<T>()
    }

    fn dispatch_message<'a>(&'a self, _: Context, _: &str, _: crate::envelope::Body<'_>) -> Option<HandlerFuture<'a>> {
        None
    }

    fn dispatch_event<'a>(&'a self, _: Context, _: &str, _: &'a serde_json::Value) -> Option<HandlerFuture<'a>> {
        None
    }

    fn default_topic(&self, ctx: &Context) -> Option<String> {
        // Router::topic checked at start-up that the route has every parameter.
        super::fill(T::PATTERN, |name| ctx.param(name).map(str::to_owned)).ok()
    }
}

impl<T: Topic, A: Authenticator> Consumer for Standalone<T, A> {
    type Authenticator = A;
}
