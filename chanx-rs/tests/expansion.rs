//! The expansion of `#[consumer]` shown in docs/architecture.md, compiled in place of the macro
//! and run through the communicator. The region between the markers is that block, byte for byte
//! (the last test checks it); chanx-macros checks that the block is what the macro emits.

use chanx::testing::WebsocketCommunicator;
use chanx::{Consumer, Context, Message, Router, Scope};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, PartialEq)]
#[message(action = "ping")]
struct Ping {}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, PartialEq)]
#[message(action = "pong")]
struct Pong {}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, PartialEq)]
#[message(action = "job_done")]
struct JobDone {
    payload: String,
}

#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, PartialEq)]
#[message(action = "job_status")]
struct JobStatus {
    payload: String,
}

struct ChatConsumer;

// BEGIN docs/architecture.md expansion
#[doc = " Real-time chat."]
impl ChatConsumer {
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }
    async fn job_done(&self, ctx: &Context, event: JobDone) -> JobStatus {
        JobStatus { payload: format!("{} done for {}", event.payload, ctx.channel_name()) }
    }
}
impl ::chanx::Consumer for ChatConsumer {
    type Authenticator = ::chanx::auth::AllowAll;
}
impl ::chanx::__private::Handlers for ChatConsumer {
    const GROUPS: &'static [&'static str] = &["lobby"];
    const MESSAGE_ACTIONS: &'static [&'static str] = &[<Ping as ::chanx::Message>::ACTION];
    fn info() -> ::chanx::ConsumerInfo {
        ::chanx::ConsumerInfo::new(
            "ChatConsumer",
            ::core::option::Option::None,
            ::core::option::Option::Some("Real-time chat."),
            &[],
            &["lobby"],
        )
        .with_handler(
            ::chanx::HandlerInfo::new(
                ::chanx::HandlerKind::Message,
                "ping",
                "ping",
                ::chanx::MessageInfo::of::<Ping>(),
            )
            .with_docs(::core::option::Option::None, ::core::option::Option::None, &[])
            .with_output(::chanx::MessageInfo::of::<Pong>()),
        )
        .with_handler(
            ::chanx::HandlerInfo::new(
                ::chanx::HandlerKind::Event,
                "job_done",
                "job_done",
                ::chanx::MessageInfo::of::<JobDone>(),
            )
            .with_docs(::core::option::Option::None, ::core::option::Option::None, &[])
            .with_output(::chanx::MessageInfo::of::<JobStatus>()),
        )
    }
    #[allow(unused_variables)]
    fn dispatch_message<'a>(
        &'a self,
        ctx: ::chanx::Context,
        action: &str,
        body: ::chanx::__private::Body<'_>,
    ) -> ::core::option::Option<::chanx::__private::HandlerFuture<'a>> {
        if action == <Ping as ::chanx::Message>::ACTION {
            return ::core::option::Option::Some(match ::chanx::__private::decode::<Ping>(body) {
                ::core::result::Result::Ok(message) => ::chanx::__private::boxed(async move {
                    ::chanx::__private::IntoOutcome::into_outcome(self.ping(message).await)
                }),
                ::core::result::Result::Err(invalid) => ::chanx::__private::boxed(::core::future::ready(invalid)),
            });
        }
        ::core::option::Option::None
    }
    #[allow(unused_variables)]
    fn dispatch_event<'a>(
        &'a self,
        ctx: ::chanx::Context,
        action: &str,
        body: &'a ::chanx::__private::Value,
    ) -> ::core::option::Option<::chanx::__private::HandlerFuture<'a>> {
        if action == <JobDone as ::chanx::Message>::ACTION {
            return ::core::option::Option::Some(match ::chanx::__private::decode_event::<JobDone>(body) {
                ::core::result::Result::Ok(message) => ::chanx::__private::boxed(async move {
                    ::chanx::__private::IntoOutcome::into_outcome(self.job_done(&ctx, message).await)
                }),
                ::core::result::Result::Err(invalid) => ::chanx::__private::boxed(::core::future::ready(invalid)),
            });
        }
        ::core::option::Option::None
    }
}
impl ::chanx::HandlesEvent<JobDone> for ChatConsumer {}
const _: () = {
    ::chanx::__private::assert_message::<Ping>();
    ::chanx::__private::assert_message::<Pong>();
    ::chanx::__private::assert_message::<JobDone>();
    ::chanx::__private::assert_message::<JobStatus>();
};
// END docs/architecture.md expansion

#[derive(Default)]
struct RoomTopic;

// BEGIN docs/architecture.md topic expansion
#[doc = " A chat room."]
impl RoomTopic {
    async fn ping(&self, ctx: &Context, _msg: Ping) -> Pong {
        let _ = ctx.topic();
        Pong {}
    }
}
impl ::chanx::Topic for RoomTopic {
    const PATTERN: &'static str = "room:{name}";
    const TYPE_NAME: &'static str = "RoomTopic";
    type PresenceEntry = ();
    fn new(_ctx: &::chanx::Context, _params: &::chanx::TopicParams) -> Self {
        <Self as ::core::default::Default>::default()
    }
}
impl ::chanx::__private::Handlers for RoomTopic {
    const GROUPS: &'static [&'static str] = &[];
    const MESSAGE_ACTIONS: &'static [&'static str] = &[<Ping as ::chanx::Message>::ACTION];
    fn info() -> ::chanx::ConsumerInfo {
        ::chanx::ConsumerInfo::new_topic(
            "RoomTopic",
            ::core::option::Option::None,
            ::core::option::Option::Some("A chat room."),
            &[],
            "room:{name}",
        )
        .with_handler(
            ::chanx::HandlerInfo::new(
                ::chanx::HandlerKind::Message,
                "ping",
                "ping",
                ::chanx::MessageInfo::of::<Ping>(),
            )
            .with_docs(::core::option::Option::None, ::core::option::Option::None, &[])
            .with_output(::chanx::MessageInfo::of::<Pong>()),
        )
    }
    #[allow(unused_variables)]
    fn dispatch_message<'a>(
        &'a self,
        ctx: ::chanx::Context,
        action: &str,
        body: ::chanx::__private::Body<'_>,
    ) -> ::core::option::Option<::chanx::__private::HandlerFuture<'a>> {
        if action == <Ping as ::chanx::Message>::ACTION {
            return ::core::option::Option::Some(match ::chanx::__private::decode::<Ping>(body) {
                ::core::result::Result::Ok(message) => ::chanx::__private::boxed(async move {
                    ::chanx::__private::IntoOutcome::into_outcome(self.ping(&ctx, message).await)
                }),
                ::core::result::Result::Err(invalid) => ::chanx::__private::boxed(::core::future::ready(invalid)),
            });
        }
        ::core::option::Option::None
    }
    #[allow(unused_variables)]
    fn dispatch_event<'a>(
        &'a self,
        ctx: ::chanx::Context,
        action: &str,
        body: &'a ::chanx::__private::Value,
    ) -> ::core::option::Option<::chanx::__private::HandlerFuture<'a>> {
        ::core::option::Option::None
    }
}
const _: () = {
    ::chanx::__private::assert_message::<Ping>();
    ::chanx::__private::assert_message::<Pong>();
};
// END docs/architecture.md topic expansion

/// Hosts the hand-expanded topic.
struct HubConsumer;

#[chanx::consumer(topics = [RoomTopic])]
impl HubConsumer {}

fn router() -> Router {
    Router::new().route("/ws/chat/", |_: &Scope| ChatConsumer).route("/ws/hub/", |_: &Scope| HubConsumer)
}

#[tokio::test]
async fn the_hand_expanded_topic_answers_its_subscribers() {
    let router = router();
    let mut client = WebsocketCommunicator::builder(&router, "/ws/hub/").send_completion(false).connect().await;
    assert_eq!(client.subscribe("room:lobby").await["action"], "subscribed");
    client.send_to_topic("room:lobby", &Ping {}, Some("1")).await;
    let pong = client.receive_topic_message::<Pong>().await;
    assert_eq!((pong.message, pong.topic.as_str(), pong.reference.as_deref()), (Pong {}, "room:lobby", Some("1")));
    assert_eq!(<RoomTopic as chanx::Topic>::group_name("room:lobby"), "RoomTopic.room-lobby");
    client.disconnect().await;
}

#[tokio::test]
async fn the_hand_expanded_consumer_answers_messages_and_events() {
    let router = router();
    // Completion frames are off, so that each answer is the next frame.
    let mut client = WebsocketCommunicator::builder(&router, "/ws/chat/").send_completion(false).connect().await;
    client.send_message(&Ping {}).await;
    assert_eq!(client.receive_message::<Pong>().await, Pong {});

    ChatConsumer::broadcast_event_to(router.layer(), &["lobby"], &JobDone { payload: "export".into() })
        .await
        .expect("sent");
    let status = client.receive_message::<JobStatus>().await;
    assert!(status.payload.starts_with("export done for "), "{status:?}");
    client.disconnect().await;
}

#[test]
fn the_hand_expanded_consumer_documents_itself() {
    use chanx::__private::Handlers;
    let info = chanx::ConsumerInfo::of::<ChatConsumer>();
    assert_eq!(info.description, Some("Real-time chat."));
    assert_eq!(ChatConsumer::GROUPS, ["lobby"]);
}

#[test]
fn this_file_holds_the_documented_expansion() {
    let doc = include_str!("../../docs/architecture.md");
    let this = include_str!("expansion.rs");
    let region = |text: &'static str, start: &str, end: &str| {
        let from = text.find(start).expect("start marker") + start.len();
        let to = from + text[from..].find(end).expect("end marker");
        &text[from..to]
    };
    let documented = region(doc, "<!-- expansion:output -->\n```rust\n", "```\n");
    let compiled = region(this, "// BEGIN docs/architecture.md expansion\n", "// END docs/architecture.md expansion");
    assert_eq!(compiled, documented, "copy the block of docs/architecture.md between the markers of this file");
    let documented = region(doc, "<!-- expansion:topic-output -->\n```rust\n", "```\n");
    let compiled =
        region(this, "// BEGIN docs/architecture.md topic expansion\n", "// END docs/architecture.md topic expansion");
    assert_eq!(compiled, documented, "copy the topic block of docs/architecture.md between the markers of this file");
}
