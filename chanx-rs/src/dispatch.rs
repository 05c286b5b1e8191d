//! The runtime behind the code `#[consumer]` generates: decoding by action, handler outcomes,
//! error frames, completion frames and panic capture. Generated code stays one call per arm;
//! everything here is compiled once for all consumers.

use std::any::Any;
use std::fmt::Display;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;

use futures_util::FutureExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::consumer::Handlers;
use crate::envelope::{Body, BodyRepr};
use crate::messages::ErrorMessage;
use crate::validation::{self, ValidationError};
use crate::{Context, Message, envelope};

/// A boxed handler invocation.
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>;

/// A frame for the client, serialized or not yet.
#[derive(Debug)]
pub struct Reply(pub(crate) envelope::Frame);

/// What came of handling one message or event.
#[derive(Debug)]
pub enum Outcome {
    /// Handled; the frame (if any) goes back to this connection's client.
    Reply(Option<Reply>),
    /// The handler returned an error (or panicked); the text is logged, never sent.
    Failed(String),
    /// The message did not decode into the handler's input type.
    Invalid(ValidationError),
}

/// What a handler may return: `()`, a message, `Option` of one, or a `Result` of those whose error
/// is logged and answered with `{"detail": "Failed to process message for <action>"}`.
#[diagnostic::on_unimplemented(
    message = "a chanx handler cannot return `{Self}`",
    note = "return (), a message type, Option<Message> or Result<_, E> with E: Display"
)]
pub trait IntoOutcome {
    /// Converts the handler's result.
    fn into_outcome(self) -> Outcome;
}

impl IntoOutcome for () {
    fn into_outcome(self) -> Outcome {
        Outcome::Reply(None)
    }
}

impl<M: Message> IntoOutcome for M {
    fn into_outcome(self) -> Outcome {
        // Straight to text, not through a `Value`, for the usual shapes of message.
        match envelope::encode(&self) {
            Ok(frame) => Outcome::Reply(Some(Reply(frame))),
            Err(err) => Outcome::Failed(format!("could not encode the reply: {err}")),
        }
    }
}

impl<T: IntoOutcome> IntoOutcome for Option<T> {
    fn into_outcome(self) -> Outcome {
        self.map_or(Outcome::Reply(None), IntoOutcome::into_outcome)
    }
}

impl<T: IntoOutcome, E: Display> IntoOutcome for Result<T, E> {
    fn into_outcome(self) -> Outcome {
        match self {
            Ok(value) => value.into_outcome(),
            Err(err) => Outcome::Failed(err.to_string()),
        }
    }
}

/// Decodes a client's message object into `M`; errors are located under the action.
pub fn decode<M: Message>(body: Body<'_>) -> Result<M, Outcome> {
    decode_body(body, M::ACTION).map_err(Outcome::Invalid)
}

/// [`decode`] into any type; errors are located under `prefix`.
pub(crate) fn decode_body<T: serde::de::DeserializeOwned>(body: Body<'_>, prefix: &str) -> Result<T, ValidationError> {
    match body.0 {
        BodyRepr::Text { text, .. } => match serde_json::from_str::<T>(text) {
            Ok(message) => Ok(message),
            // Invalid input is decoded again from the parsed object, which locates the error
            // as for any other frame (the text is valid JSON: it was walked when it was kept).
            Err(_) => validation::decode_value(&serde_json::from_str::<Value>(text).unwrap_or_default(), prefix),
        },
        BodyRepr::Object(map) => validation::decode_value(&Value::Object(map), prefix),
    }
}

/// [`decode`] from a borrow: an event's data is shared by every connection a group send
/// reaches, and each decodes its own message from it without copying it first.
pub fn decode_event<M: Message>(body: &Value) -> Result<M, Outcome> {
    validation::decode_value(body, M::ACTION).map_err(Outcome::Invalid)
}

/// The handler of a `passthrough` event: forward it to the client unchanged.
pub fn passthrough<M: Message>(body: &Value) -> Outcome {
    match decode_event::<M>(body) {
        Ok(event) => event.into_outcome(),
        Err(invalid) => invalid,
    }
}

/// Boxes a handler invocation.
pub fn boxed<'a>(future: impl Future<Output = Outcome> + Send + 'a) -> HandlerFuture<'a> {
    Box::pin(future)
}

/// String equality usable in constants (the duplicate-action check).
pub const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Fails to compile, at the user's type, when a handler's message is not a [`Message`].
pub const fn assert_message<M: Message>() {}

/// Implemented by `#[consumer]` for each event a consumer handles, so that
/// `Consumer::broadcast_event` only accepts those.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no #[event_handler] (or passthrough) for `{E}`",
    note = "add an #[event_handler] taking `{E}`, or send it with Layer::broadcast_event"
)]
pub trait HandlesEvent<E> {}

/// The part of [`Handlers`] the connection loop needs, object-safe, so that the loop and the
/// functions below are compiled once rather than once per consumer.
pub(crate) trait Dispatch: Send + Sync {
    fn message_actions(&self) -> &'static [&'static str];
    fn route_message<'a>(&'a self, ctx: Context, action: &str, body: Body<'_>) -> Option<HandlerFuture<'a>>;
    fn route_event<'a>(&'a self, ctx: Context, action: &str, body: &'a Value) -> Option<HandlerFuture<'a>>;
}

impl<C: Handlers> Dispatch for C {
    fn message_actions(&self) -> &'static [&'static str] {
        C::MESSAGE_ACTIONS
    }

    fn route_message<'a>(&'a self, ctx: Context, action: &str, body: Body<'_>) -> Option<HandlerFuture<'a>> {
        self.dispatch_message(ctx, action, body)
    }

    fn route_event<'a>(&'a self, ctx: Context, action: &str, body: &'a Value) -> Option<HandlerFuture<'a>> {
        self.dispatch_event(ctx, action, body)
    }
}

pub(crate) const GROUP_COMPLETE_FRAME: Utf8Bytes =
    Utf8Bytes::from_static(r#"{"action":"group_complete","payload":null}"#);
const COMPLETE_FRAME: &str = r#"{"action":"complete","payload":null}"#;
const EVENT_COMPLETE_FRAME: &str = r#"{"action":"event_complete","payload":null}"#;

/// A completion frame: static, not built again on every call (unless it echoes a `ref`).
fn send_completion(ctx: &Context, frame: &'static str) {
    let _ = ctx.send_frame(envelope::Frame::Static(frame));
}

fn error_frame(payload: Value) -> Value {
    // ErrorMessage always serializes.
    envelope::to_frame(&ErrorMessage { payload }).unwrap_or(Value::Null)
}

/// Sends an error frame for invalid input, with no completion after it.
pub(crate) fn send_invalid(ctx: &Context, errors: &[ValidationError]) {
    // A full queue already closes the connection; nothing more to do with the error here.
    let _ = ctx.send_json(error_frame(validation::to_payload(errors)));
}

pub(crate) fn panic_text(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = panic.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked".to_owned()
    }
}

/// Runs a handler, turning a panic into [`Outcome::Failed`].
async fn run_caught(future: HandlerFuture<'_>) -> Outcome {
    match AssertUnwindSafe(future).catch_unwind().await {
        Ok(outcome) => outcome,
        Err(panic) => Outcome::Failed(panic_text(panic.as_ref())),
    }
}

/// What is left to write once a client frame is handled: the handler's reply and the
/// completion frame, in that order, after whatever the handler queued through its [`Context`].
/// Returned rather than queued so that the connection loop writes them itself, with no trip
/// through the outbound queue and no wake-up of its own task.
#[derive(Debug, Default)]
pub(crate) struct Answer {
    reply: Option<Utf8Bytes>,
    complete: Option<Utf8Bytes>,
}

impl Answer {
    /// The frames, in the order they are written.
    pub(crate) fn frames(self) -> impl Iterator<Item = Utf8Bytes> {
        self.reply.into_iter().chain(self.complete)
    }
}

/// Handles one decoded client frame: route by action, run, answer, complete. Error frames go
/// through `ctx` (they are rare); the reply and the completion frame are the [`Handling`]'s
/// output. Routing and decoding happen now, so the frame's text is not kept.
pub(crate) fn handle_message<'a>(
    consumer: &'a dyn Dispatch,
    ctx: Context,
    body: Body<'_>,
    completion: bool,
) -> Handling<'a> {
    let known = consumer.message_actions();
    if known.is_empty() {
        tracing::error!("No message handlers registered on this consumer");
        let _ = ctx.send(&ErrorMessage::detail("Failed to process message"));
        return Handling::Done(Answer::default());
    }
    // The action as one of the consumer's own (`&'static`), so it is not copied per frame.
    let action: std::borrow::Cow<'static, str> = match &body.0 {
        BodyRepr::Text { action, .. } => known_or_owned(action, known),
        BodyRepr::Object(map) => match map.get("action") {
            Some(Value::String(action)) => known_or_owned(action, known),
            None | Some(Value::Null) => {
                send_invalid(
                    &ctx,
                    &[ValidationError::new(
                        "union_tag_not_found",
                        vec![],
                        "Unable to extract tag using discriminator 'action'",
                    )],
                );
                return Handling::Done(complete(&ctx, None, completion));
            }
            // A non-string tag is quoted as JSON, as pydantic does; cut short like any quote.
            Some(other) => other.to_string().into(),
        },
    };
    // Routing decodes the message: user code (a `Deserialize`) that may panic.
    let routed = std::panic::catch_unwind(AssertUnwindSafe(|| consumer.route_message(ctx.clone(), &action, body)));
    let future = match routed {
        Ok(Some(future)) => future,
        Ok(None) => {
            send_invalid(&ctx, &[unknown_action(&action, known)]);
            return Handling::Done(complete(&ctx, None, completion));
        }
        Err(panic) => boxed(std::future::ready(Outcome::Failed(panic_text(panic.as_ref())))),
    };
    Handling::Running(Running { future, ctx, action, completion })
}

fn known_or_owned(action: &str, known: &[&'static str]) -> std::borrow::Cow<'static, str> {
    match known.iter().find(|known| **known == action) {
        Some(known) => (*known).into(),
        None => action.to_owned().into(),
    }
}

/// A client frame being handled: its output is the frames left to write. Not boxed, so that a
/// handler finishing in its first poll (most do) costs one allocation, its own future's.
pub(crate) enum Handling<'a> {
    /// Answered without a handler (no such action, no handlers).
    Done(Answer),
    /// A handler is running.
    Running(Running<'a>),
    /// A frame handled elsewhere: a topic's.
    Boxed(Pin<Box<dyn Future<Output = Answer> + Send + 'a>>),
}

pub(crate) struct Running<'a> {
    future: HandlerFuture<'a>,
    ctx: Context,
    action: std::borrow::Cow<'static, str>,
    completion: bool,
}

impl Future for Handling<'_> {
    type Output = Answer;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Answer> {
        use std::task::Poll;
        match &mut *self {
            Handling::Done(answer) => Poll::Ready(std::mem::take(answer)),
            Handling::Boxed(future) => future.as_mut().poll(cx),
            Handling::Running(running) => {
                let outcome = match std::panic::catch_unwind(AssertUnwindSafe(|| running.future.as_mut().poll(cx))) {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(outcome)) => outcome,
                    Err(panic) => Outcome::Failed(panic_text(panic.as_ref())),
                };
                Poll::Ready(running.finish(outcome))
            }
        }
    }
}

impl Running<'_> {
    /// The handler's outcome as frames: its reply, or an error frame sent through `ctx`.
    fn finish(&self, outcome: Outcome) -> Answer {
        let (ctx, action) = (&self.ctx, &self.action);
        let reply = match outcome {
            Outcome::Reply(Some(Reply(frame))) => Some(ctx.render(frame)),
            Outcome::Reply(None) => None,
            Outcome::Invalid(error) => {
                send_invalid(ctx, &[error]);
                None
            }
            Outcome::Failed(reason) => {
                tracing::error!(%action, %reason, "Handler error for action '{action}'");
                let _ = ctx.send(&ErrorMessage::detail(format!("Failed to process message for {action}")));
                None
            }
        };
        complete(ctx, reply, self.completion)
    }
}

fn complete(ctx: &Context, reply: Option<Utf8Bytes>, completion: bool) -> Answer {
    Answer { reply, complete: completion.then(|| ctx.render(envelope::Frame::Static(COMPLETE_FRAME))) }
}

/// The error for an action no handler takes; a long action is quoted cut short.
fn unknown_action(action: &str, known: &[&str]) -> ValidationError {
    let mut known: Vec<&str> = known.to_vec();
    known.sort_unstable();
    let expected: Vec<String> = known.iter().map(|a| format!("'{a}'")).collect();
    ValidationError::new(
        "union_tag_invalid",
        vec![],
        format!(
            "Input tag '{}' found using 'action' does not match any of the expected tags: {}",
            validation::bounded_echo(action),
            expected.join(", ")
        ),
    )
}

/// Handles one channel event: route by action, run, answer, complete. Failures are only logged:
/// an event is not the client's doing.
/// The event is borrowed: one group send's data serves every member it reaches.
pub(crate) async fn handle_event(consumer: &dyn Dispatch, ctx: Context, event_data: &Value, completion: bool) {
    let action = match event_data.get("action") {
        Some(Value::String(action)) => action.clone(),
        _ => {
            tracing::error!("Channel event validation failed: the event has no string action");
            return;
        }
    };
    // Routing decodes the event: user code (a `Deserialize`) that may panic.
    let routed = std::panic::catch_unwind(AssertUnwindSafe(|| consumer.route_event(ctx.clone(), &action, event_data)));
    let future = match routed {
        Ok(Some(future)) => future,
        Ok(None) => {
            tracing::error!(%action, "Channel event validation failed: no event handler for this action");
            return;
        }
        Err(panic) => boxed(std::future::ready(Outcome::Failed(panic_text(panic.as_ref())))),
    };
    match run_caught(future).await {
        Outcome::Reply(Some(Reply(frame))) => {
            let _ = ctx.send_frame(frame);
        }
        Outcome::Reply(None) => {}
        Outcome::Invalid(error) => {
            tracing::error!(%action, error = ?error, "Channel event validation failed");
            return;
        }
        Outcome::Failed(reason) => tracing::error!(%action, %reason, "Event handler error for action '{action}'"),
    }
    if completion {
        send_completion(&ctx, EVENT_COMPLETE_FRAME);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_action_is_quoted_cut_short() {
        let error = unknown_action(&"x".repeat(1 << 20), &["ping", "echo"]);
        assert_eq!(error.kind, "union_tag_invalid");
        assert!(error.msg.ends_with("…' found using 'action' does not match any of the expected tags: 'echo', 'ping'"));
        assert!(error.msg.len() < 400, "{} bytes", error.msg.len());
        let short = unknown_action("pong", &["ping"]);
        assert_eq!(short.msg, "Input tag 'pong' found using 'action' does not match any of the expected tags: 'ping'");
    }
}
