//! [`WebsocketCommunicator`]: a WebSocket client wired to a routed consumer in-process.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::DuplexStream;
use tokio::task::JoinHandle;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::connection::Io;
use crate::messages::{AuthenticationPayload, COMPLETION_ACTIONS};
use crate::{Message, Router, Scope, Settings, camelize, envelope};

/// Why a receive failed.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum ReceiveError {
    /// Nothing arrived in time.
    #[error("no frame within {0:?}")]
    Timeout(Duration),
    /// The server closed the connection, with this close code (`None`: without a close frame).
    #[error("the connection was closed (code {0:?})")]
    Closed(Option<u16>),
    /// The server sent something other than a JSON text frame.
    #[error("the server sent a frame that is not JSON text: {0}")]
    NotJson(String),
}

/// Configures a [`WebsocketCommunicator`] before connecting.
#[derive(Debug)]
pub struct CommunicatorBuilder<'r> {
    router: &'r Router,
    path: String,
    headers: Vec<(String, String)>,
    timeout: Duration,
    nothing_window: Duration,
    send_completion: bool,
}

impl CommunicatorBuilder<'_> {
    /// Adds a request header (cookies, `Authorization`, `Origin`…).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// How long each receive waits. Defaults to 1 s.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How long [`WebsocketCommunicator::receive_nothing`] listens. Defaults to 100 ms.
    pub fn nothing_window(mut self, window: Duration) -> Self {
        self.nothing_window = window;
        self
    }

    /// Whether completion frames are on (they are by default under test, as in chanx's test
    /// settings). A consumer's own `SEND_COMPLETION` still wins.
    pub fn send_completion(mut self, on: bool) -> Self {
        self.send_completion = on;
        self
    }

    /// Connects: runs the consumer's connection task and returns the client side.
    ///
    /// # Panics
    ///
    /// When no route matches the path, naming the routes there are, and when the router cannot
    /// serve its routes ([`Router::check`]: a consumer names a layer the router lacks).
    pub async fn connect(self) -> WebsocketCommunicator {
        let (path, query) = self.path.split_once('?').unwrap_or((&self.path, ""));
        let Some((route, params)) = self.router.find(path) else {
            panic!("no consumer is routed at {path:?}; the routes are {:?}", self.router.paths());
        };
        let mut scope = Scope::builder(path).query(query);
        for (name, value) in params {
            scope = scope.param(name, value);
        }
        for (name, value) in &self.headers {
            scope = scope.header(name, value);
        }
        if let Err(err) = self.router.check() {
            panic!("{err}");
        }
        let mut shared = self.router.shared(route).expect("checked: every route's layer exists");
        let settings: Settings = shared.settings.as_ref().clone().send_completion(self.send_completion);
        let camelize = route.endpoint.camelize(&settings);
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let server_io: Box<dyn Io> = Box::new(server_io);
        let client = WebSocketStream::from_raw_socket(client_io, Role::Client, None).await;
        let endpoint = route.endpoint.clone();
        let (ready, is_ready) = tokio::sync::oneshot::channel();
        shared.settings = std::sync::Arc::new(settings);
        let task = tokio::spawn(endpoint.connect(server_io, Vec::new(), scope.build(), shared, Some(ready)));
        // Connected means authenticated, in its groups and past post_authentication (or refused).
        if tokio::time::timeout(self.timeout * 5, is_ready).await.is_err() {
            panic!("the consumer at {path:?} did not finish connecting within {:?}", self.timeout * 5);
        }
        WebsocketCommunicator {
            client,
            task: Some(task),
            timeout: self.timeout,
            nothing_window: self.nothing_window,
            camelize,
            close_code: None,
            close_reason: None,
            refs: 0,
            again: Again {
                router: self.router.clone(),
                path: self.path.clone(),
                headers: self.headers.clone(),
                send_completion: self.send_completion,
            },
        }
    }
}

/// What [`WebsocketCommunicator::reconnect`] connects with again.
#[derive(Debug, Clone)]
struct Again {
    router: Router,
    path: String,
    headers: Vec<(String, String)>,
    send_completion: bool,
}

/// A test client for a consumer, with no TCP port: it speaks real WebSocket frames over an
/// in-memory pipe to the same connection code the server runs.
///
/// Completion frames are on by default, so each unit of work ends with a known frame, and
/// [`receive_all_messages`](Self::receive_all_messages) can stop on it instead of waiting.
///
/// ```
/// use chanx::{Router, messages::{COMPLETE, Ping, Pong}, testing::WebsocketCommunicator};
/// use serde_json::json;
/// use std::time::Duration;
///
/// struct EchoConsumer;
///
/// #[chanx::consumer]
/// impl EchoConsumer {
///     #[ws_handler]
///     async fn ping(&self, _msg: Ping) -> Pong {
///         Pong {}
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().expect("rt").block_on(async {
/// let router = Router::new().route("/ws/echo/", |_: &chanx::Scope| EchoConsumer);
/// let mut comm = WebsocketCommunicator::connect(&router, "/ws/echo/").await;
/// comm.send_message(&Ping {}).await;
/// let replies = comm.receive_all_messages(COMPLETE, Duration::from_secs(1)).await;
/// assert_eq!(replies, [json!({"action": "pong", "payload": null})]);
/// comm.disconnect().await;
/// # });
/// ```
#[derive(Debug)]
pub struct WebsocketCommunicator {
    client: WebSocketStream<DuplexStream>,
    task: Option<JoinHandle<()>>,
    timeout: Duration,
    nothing_window: Duration,
    camelize: bool,
    close_code: Option<Option<u16>>,
    close_reason: Option<String>,
    /// The last `ref` [`subscribe`](Self::subscribe) and [`unsubscribe`](Self::unsubscribe) used.
    refs: u64,
    again: Again,
}

/// One member of a presence topic, as [`WebsocketCommunicator::presence`] reads it.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[non_exhaustive]
pub struct PresenceMember<E> {
    /// The member's connection: its channel name.
    pub id: String,
    /// What the topic lists it with.
    pub entry: E,
}

/// A frame of a topic, received with [`WebsocketCommunicator::receive_topic_message`]: the
/// message, and the envelope keys it came with.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TopicMessage<M> {
    /// The message, decoded without its envelope keys.
    pub message: M,
    /// The topic it belongs to.
    pub topic: String,
    /// The `ref` of the request it answers; `None` for a push.
    pub reference: Option<String>,
    /// The `seq` of a push broadcast with one.
    pub seq: Option<i64>,
}

impl WebsocketCommunicator {
    /// Configures a communicator for `path` (which may carry a `?query`).
    pub fn builder<'r>(router: &'r Router, path: &str) -> CommunicatorBuilder<'r> {
        CommunicatorBuilder {
            router,
            path: path.to_owned(),
            headers: Vec::new(),
            timeout: Duration::from_secs(1),
            nothing_window: Duration::from_millis(100),
            send_completion: true,
        }
    }

    /// Connects to `path` with the defaults.
    pub async fn connect(router: &Router, path: &str) -> Self {
        Self::builder(router, path).connect().await
    }

    /// Sends a typed message (camelized when the consumer camelizes).
    pub async fn send_message<M: Message>(&mut self, message: &M) {
        let frame = envelope::to_frame(message).unwrap_or_else(|e| panic!("could not encode {}: {e}", M::ACTION));
        let text = envelope::render(frame, self.camelize, envelope::Echo::NONE);
        self.send_raw(WsMessage::Text(text)).await;
    }

    /// Follows `topic`: sends `{"version": 1, "topic": topic, "ref": ..., "action": "subscribe"}`
    /// and returns the next frame (`subscribed`, or an error). The refs are `"1"`, `"2"`… in the
    /// order of this communicator's `subscribe` and `unsubscribe` calls.
    ///
    /// ```
    /// # use chanx::{Router, Topic, testing::WebsocketCommunicator};
    /// # use serde_json::json;
    /// #[derive(Default)]
    /// struct RoomTopic;
    /// #[chanx::topic(pattern = "room:{name}")]
    /// impl RoomTopic {}
    ///
    /// struct Hub;
    /// #[chanx::consumer(topics = [RoomTopic])]
    /// impl Hub {}
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().expect("rt").block_on(async {
    /// let router = Router::new().route("/ws/hub/", |_: &chanx::Scope| Hub);
    /// let mut comm = WebsocketCommunicator::connect(&router, "/ws/hub/").await;
    /// assert_eq!(
    ///     comm.subscribe("room:lobby").await,
    ///     json!({"action": "subscribed", "payload": null, "version": 1, "topic": "room:lobby", "ref": "1"})
    /// );
    /// assert_eq!(comm.unsubscribe("room:lobby").await["action"], "unsubscribed");
    /// comm.disconnect().await;
    /// # });
    /// ```
    pub async fn subscribe(&mut self, topic: &str) -> Value {
        self.topic_action(topic, "subscribe").await
    }

    /// Stops following `topic`; returns the next frame (`unsubscribed`). Refs as
    /// [`subscribe`](Self::subscribe)'s.
    pub async fn unsubscribe(&mut self, topic: &str) -> Value {
        self.topic_action(topic, "unsubscribe").await
    }

    /// Follows a [history](crate::History) topic from `seq` of `epoch`: sends `subscribe` with
    /// `payload: {"since": {"seq": seq, "epoch": epoch}}` and returns the answer's
    /// [`Recovery`](crate::Recovery) (`recovered`, the latest `seq`, the `epoch`). The missed pushes follow, in
    /// order, then live ones. `since(0, "")` is a first subscribe that learns the epoch.
    ///
    /// # Panics
    ///
    /// When the answer is not `subscribed` with a recovery payload; the message quotes it.
    ///
    /// ```
    /// # use chanx::{Router, Topic, testing::WebsocketCommunicator};
    /// # #[derive(chanx::Message, serde::Serialize, serde::Deserialize, schemars::JsonSchema, Debug)]
    /// # #[message(action = "said")] struct Said { payload: String }
    /// #[derive(Default)]
    /// struct RoomTopic;
    /// #[chanx::topic(pattern = "room:{name}", history(size = 100, ttl = "5m"))]
    /// impl RoomTopic {
    ///     #[event_handler]
    ///     async fn said(&self, event: Said) -> Said { event }
    /// }
    /// # struct Hub;
    /// # #[chanx::consumer(topics = [RoomTopic])] impl Hub {}
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().expect("rt").block_on(async {
    /// let router = Router::new().route("/ws/hub/", |_: &chanx::Scope| Hub);
    /// let mut comm = WebsocketCommunicator::connect(&router, "/ws/hub/").await;
    /// let first = comm.subscribe_since("room:lobby", 0, "").await;
    /// assert!(!first.recovered);
    /// comm.reconnect().await;                       // a dropped socket: this push is missed
    /// RoomTopic::broadcast(router.layer(), "room:lobby", &Said { payload: "hi".into() }, None).await.unwrap();
    /// let again = comm.subscribe_since("room:lobby", first.seq, &first.epoch).await;
    /// assert!(again.recovered && again.seq == 1);
    /// assert_eq!(comm.receive_topic_message::<Said>().await.seq, Some(1));
    /// comm.disconnect().await;
    /// # });
    /// ```
    pub async fn subscribe_since(&mut self, topic: &str, seq: u64, epoch: &str) -> crate::Recovery {
        self.refs += 1;
        let frame = serde_json::json!({
            "version": 1, "topic": topic, "ref": self.refs.to_string(), "action": "subscribe",
            "payload": {"since": {"seq": seq, "epoch": epoch}},
        });
        self.send_json(&frame).await;
        let answer = self.receive_json().await;
        if answer["action"] != "subscribed" {
            panic!("expected `subscribed` with a recovery payload, got {answer}");
        }
        match serde_json::from_value(answer["payload"].clone()) {
            Ok(recovery) => recovery,
            Err(err) => panic!("the `subscribed` answer has no recovery payload ({err}): {answer}"),
        }
    }

    /// The members of a [presence](crate::Topic::PRESENCE) topic this connection follows: sends
    /// `presence` (with the next `ref`) and reads the `presence_state` answer, completion
    /// frames skipped, each entry as an `E`.
    ///
    /// # Panics
    ///
    /// When the next frame is not the `presence_state` answer, or an entry is not an `E`; the
    /// message quotes the frame.
    ///
    /// ```
    /// # use chanx::{Context, Router, Topic, testing::WebsocketCommunicator};
    /// #[derive(Default)]
    /// struct RoomTopic;
    /// #[chanx::topic(pattern = "room:{name}", presence = String)]
    /// impl Topic for RoomTopic {
    ///     fn presence(&self, ctx: &Context) -> Option<String> {
    ///         ctx.scope().query("name").map(str::to_owned)
    ///     }
    /// }
    /// # struct Hub;
    /// # #[chanx::consumer(topics = [RoomTopic])] impl Hub {}
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().expect("rt").block_on(async {
    /// let router = Router::new().route("/ws/hub/", |_: &chanx::Scope| Hub);
    /// let mut comm = WebsocketCommunicator::builder(&router, "/ws/hub/?name=ada").send_completion(false).connect().await;
    /// comm.subscribe("room:lobby").await;
    /// comm.receive_json().await; // the presence_state after subscribing
    /// let members = comm.presence::<String>("room:lobby").await;
    /// assert_eq!(members.iter().map(|m| m.entry.as_str()).collect::<Vec<_>>(), ["ada"]);
    /// assert!(members[0].id.contains("specific."), "ids are channel names");
    /// comm.disconnect().await;
    /// # });
    /// ```
    pub async fn presence<E: serde::de::DeserializeOwned>(&mut self, topic: &str) -> Vec<PresenceMember<E>> {
        self.refs += 1;
        let reference = self.refs.to_string();
        let frame = serde_json::json!({"version": 1, "topic": topic, "ref": reference, "action": "presence"});
        self.send_json(&frame).await;
        let answer = loop {
            let frame = self.receive_json().await;
            if frame["action"] != "group_complete" && frame["action"] != "event_complete" {
                break frame;
            }
        };
        if answer["action"] != "presence_state" || answer["ref"] != reference.as_str() {
            panic!("expected the `presence_state` answer with ref {reference}, got {answer}");
        }
        match serde_json::from_value(answer["payload"]["members"].clone()) {
            Ok(members) => members,
            Err(err) => panic!("the members are not {} entries ({err}): {answer}", std::any::type_name::<E>()),
        }
    }

    /// Connects again with the same path, headers and settings, then drops the old connection
    /// the way a network does (no closing handshake) and waits until the server has noticed
    /// (groups left, `on_unsubscribe` and `disconnect` run). The server forgets subscriptions
    /// with the socket, so pushes are missed until the next subscribe: subscribe again, with
    /// [`subscribe_since`](Self::subscribe_since) to recover them.
    ///
    /// # Panics
    ///
    /// When the old connection does not finish in time, or the new one cannot connect.
    pub async fn reconnect(&mut self) {
        let again = self.again.clone();
        let task = self.task.take();
        let mut builder = WebsocketCommunicator::builder(&again.router, &again.path)
            .timeout(self.timeout)
            .nothing_window(self.nothing_window)
            .send_completion(again.send_completion);
        for (name, value) in &again.headers {
            builder = builder.header(name, value);
        }
        // Dropping the client side ends the server's stream without a close frame.
        let old = std::mem::replace(self, builder.connect().await);
        drop(old);
        if let Some(task) = task {
            match tokio::time::timeout(self.timeout * 5, task).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => panic!("the consumer's connection task failed: {err}"),
                Err(_) => panic!("the dropped connection did not finish within {:?}", self.timeout * 5),
            }
        }
    }

    async fn topic_action(&mut self, topic: &str, action: &str) -> Value {
        self.refs += 1;
        let frame = serde_json::json!({"version": 1, "topic": topic, "ref": self.refs.to_string(), "action": action});
        self.send_json(&frame).await;
        self.receive_json().await
    }

    /// Sends a typed message to `topic`'s handlers, with `ref` when given (camelized when the
    /// consumer camelizes; the envelope keys never are).
    pub async fn send_to_topic<M: Message>(&mut self, topic: &str, message: &M, reference: Option<&str>) {
        let frame = envelope::to_frame(message).unwrap_or_else(|e| panic!("could not encode {}: {e}", M::ACTION));
        let echo = envelope::Echo { topic: Some(topic.into()), reference: reference.map(Into::into), seq: None };
        let text = envelope::render(frame, self.camelize, &echo);
        self.send_raw(WsMessage::Text(text)).await;
    }

    /// The next frame as a topic's message `M`, completion frames skipped: its envelope keys
    /// taken off (and kept in the result), keys decamelized when the consumer camelizes.
    ///
    /// # Panics
    ///
    /// When nothing arrives, the frame has no `topic`, or it is not an `M`; the message quotes
    /// the frame.
    pub async fn receive_topic_message<M: Message>(&mut self) -> TopicMessage<M> {
        let received = loop {
            let frame = self.receive_json().await;
            if !frame["action"].as_str().is_some_and(|a| COMPLETION_ACTIONS.contains(&a)) {
                break frame;
            }
        };
        let mut frame = received.clone();
        let Some(map) = frame.as_object_mut() else { panic!("receive_topic_message: {received} is not an object") };
        let Some(Value::String(topic)) = map.remove("topic") else {
            panic!("receive_topic_message: {received} carries no topic")
        };
        let reference = map.remove("ref").and_then(|r| r.as_str().map(str::to_owned));
        let seq = map.remove("seq").and_then(|s| s.as_i64());
        map.remove("version");
        if self.camelize {
            camelize::decamelize_keys(&mut frame);
        }
        assert_eq!(
            frame["action"],
            M::ACTION,
            "receive_topic_message: expected a {:?} frame, got {received}",
            M::ACTION
        );
        let message = serde_json::from_value(frame)
            .unwrap_or_else(|e| panic!("receive_topic_message: {received} is not a valid {}: {e}", M::ACTION));
        TopicMessage { message, topic, reference, seq }
    }

    /// Sends a JSON value as a text frame, unchanged.
    pub async fn send_json(&mut self, value: &Value) {
        self.send_text(&value.to_string()).await;
    }

    /// Sends a text frame, unchanged (it need not be JSON).
    pub async fn send_text(&mut self, text: &str) {
        self.send_raw(WsMessage::text(text)).await;
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.send_raw(WsMessage::binary(bytes)).await;
    }

    async fn send_raw(&mut self, message: WsMessage) {
        let sent = tokio::time::timeout(self.timeout, self.client.send(message)).await;
        match sent {
            Ok(Ok(())) => {}
            Ok(Err(err)) => panic!("could not send to the consumer (closed: {:?}): {err}", self.close_code),
            Err(_) => panic!("sending to the consumer took longer than {:?}", self.timeout),
        }
    }

    /// The next JSON frame, or why there is none within `timeout`.
    pub async fn try_receive_json(&mut self, timeout: Duration) -> Result<Value, ReceiveError> {
        if let Some(code) = self.close_code {
            return Err(ReceiveError::Closed(code));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let next = tokio::time::timeout_at(deadline, self.client.next()).await;
            let message = match next {
                Err(_) => return Err(ReceiveError::Timeout(timeout)),
                Ok(None) | Ok(Some(Err(_))) => {
                    self.close_code = Some(None);
                    return Err(ReceiveError::Closed(None));
                }
                Ok(Some(Ok(message))) => message,
            };
            match message {
                WsMessage::Text(text) => {
                    return serde_json::from_str(&text).map_err(|_| ReceiveError::NotJson(text.to_string()));
                }
                WsMessage::Close(frame) => {
                    self.close_reason = frame.as_ref().map(|f| f.reason.to_string());
                    let code = frame.map(|f| u16::from(f.code));
                    self.close_code = Some(code);
                    // Send the reply tungstenite queued, completing the closing handshake now
                    // rather than letting the server wait for it.
                    let _ = tokio::time::timeout_at(deadline, self.client.flush()).await;
                    return Err(ReceiveError::Closed(code));
                }
                WsMessage::Binary(bytes) => return Err(ReceiveError::NotJson(format!("{bytes:?}"))),
                _ => {}
            }
        }
    }

    /// The next JSON frame, exactly as the client sees it.
    ///
    /// # Panics
    ///
    /// When nothing arrives within the timeout, or the connection closes.
    pub async fn receive_json(&mut self) -> Value {
        match self.try_receive_json(self.timeout).await {
            Ok(value) => value,
            Err(err) => panic!("receive_json: {err}"),
        }
    }

    /// The next frame decoded as `M` (keys decamelized first when the consumer camelizes).
    ///
    /// # Panics
    ///
    /// When nothing arrives, or the frame is not an `M`; the message quotes the frame.
    pub async fn receive_message<M: Message>(&mut self) -> M {
        let mut frame = self.receive_json().await;
        if self.camelize {
            camelize::decamelize_keys(&mut frame);
        }
        assert_eq!(frame["action"], M::ACTION, "receive_message: expected a {:?} frame, got {frame}", M::ACTION);
        serde_json::from_value(frame.clone())
            .unwrap_or_else(|e| panic!("receive_message: {frame} is not a valid {}: {e}", M::ACTION))
    }

    /// Frames until one whose action is `stop_action`, leaving out completion frames (the stop
    /// frame is included unless it is a completion frame).
    ///
    /// # Panics
    ///
    /// When `stop_action` does not arrive within `timeout`, or the connection closes; the message
    /// lists the frames received until then.
    pub async fn receive_all_messages(&mut self, stop_action: &str, timeout: Duration) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut frames = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let frame = match self.try_receive_json(left).await {
                Ok(frame) => frame,
                Err(err) => panic!(
                    "receive_all_messages: waiting for {stop_action:?}: {err}; received so far: {}",
                    Value::Array(frames)
                ),
            };
            let action = frame["action"].as_str().unwrap_or_default().to_owned();
            if !COMPLETION_ACTIONS.contains(&action.as_str()) {
                frames.push(frame);
            }
            if action == stop_action {
                return frames;
            }
        }
    }

    /// Every frame that arrives until none has for `quiet` (completion frames included).
    pub async fn receive_all_json(&mut self, quiet: Duration) -> Vec<Value> {
        let mut frames = Vec::new();
        while let Ok(frame) = self.try_receive_json(quiet).await {
            frames.push(frame);
        }
        frames
    }

    /// `true` when nothing arrives for the communicator's nothing-window (100 ms by default).
    /// An arriving frame is consumed.
    pub async fn receive_nothing(&mut self) -> bool {
        matches!(self.try_receive_json(self.nothing_window).await, Err(ReceiveError::Timeout(_)))
    }

    /// Receives the `authentication` frame and returns its payload.
    ///
    /// # Panics
    ///
    /// When the next frame is not an `authentication` frame.
    pub async fn wait_for_auth(&mut self) -> AuthenticationPayload {
        let mut frame = self.receive_json().await;
        if self.camelize {
            camelize::decamelize_keys(&mut frame);
        }
        assert_eq!(frame["action"], "authentication", "wait_for_auth: expected an authentication frame, got {frame}");
        serde_json::from_value(frame["payload"].clone())
            .unwrap_or_else(|e| panic!("wait_for_auth: invalid authentication payload in {frame}: {e}"))
    }

    /// Asserts that the connection was authenticated with status 200.
    pub async fn assert_authenticated_status_ok(&mut self) {
        let payload = self.wait_for_auth().await;
        assert_eq!(payload.status_code, 200, "expected authentication status 200, got {payload:?}");
    }

    /// Asserts that the server closes the connection with `code`, skipping frames sent before.
    ///
    /// # Panics
    ///
    /// When no close arrives within the timeout, or it carries another code.
    pub async fn assert_closed(&mut self, code: u16) {
        let mut skipped = Vec::new();
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.try_receive_json(left).await {
                Ok(frame) => skipped.push(frame),
                Err(ReceiveError::Closed(got)) => {
                    assert_eq!(got, Some(code), "expected close code {code}, got {got:?}");
                    return;
                }
                Err(err) => {
                    panic!("assert_closed({code}): {err}; frames received meanwhile: {}", Value::Array(skipped))
                }
            }
        }
    }

    /// The reason of the server's close frame, once one was received (by
    /// [`assert_closed`](Self::assert_closed) or a receive that returned
    /// [`ReceiveError::Closed`]).
    ///
    /// ```
    /// # use chanx::{Router, testing::WebsocketCommunicator};
    /// # struct Quitter;
    /// # #[chanx::consumer]
    /// # impl chanx::Consumer for Quitter {
    /// #     async fn post_authentication(&self, ctx: &chanx::Context) { ctx.close(4000, "bye"); }
    /// # }
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().expect("rt").block_on(async {
    /// # let router = Router::new().route("/ws/quit/", |_: &chanx::Scope| Quitter);
    /// let mut comm = WebsocketCommunicator::connect(&router, "/ws/quit/").await;
    /// comm.assert_closed(4000).await;
    /// assert_eq!(comm.close_reason(), Some("bye"));
    /// # });
    /// ```
    pub fn close_reason(&self) -> Option<&str> {
        self.close_reason.as_deref()
    }

    /// Closes with 1000 and waits until the consumer has finished (groups left, `disconnect` run).
    pub async fn disconnect(mut self) {
        if self.close_code.is_none() {
            let _ = tokio::time::timeout(self.timeout, self.client.close(None)).await;
            // Read the server's answer to complete the closing handshake.
            let _ =
                tokio::time::timeout(self.timeout, async { while let Some(Ok(_)) = self.client.next().await {} }).await;
        }
        if let Some(task) = self.task.take() {
            match tokio::time::timeout(self.timeout * 5, task).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => panic!("the consumer's connection task failed: {err}"),
                Err(_) => panic!("the consumer did not finish within {:?} after disconnect", self.timeout * 5),
            }
        }
    }
}
