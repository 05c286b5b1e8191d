//! Helpers shared by the examples and the end-to-end tests: command-line parsing for the
//! examples, and a real-socket client for tests.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::time::Duration;

use chanx::testing::{MemoryConnector, MemoryListener};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{self, HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};

// The guides' examples, compiled so that they stay true (here rather than in `chanx`, whose
// package does not hold docs/).
#[cfg(doctest)]
#[doc = include_str!("../../docs/production.md")]
mod production_guide {}
#[cfg(doctest)]
#[doc = include_str!("../../docs/authentication.md")]
mod authentication_guide {}
#[cfg(doctest)]
#[doc = include_str!("../../docs/layers.md")]
mod layers_guide {}
#[cfg(doctest)]
#[doc = include_str!("../../docs/asyncapi.md")]
mod asyncapi_guide {}
#[cfg(doctest)]
#[doc = include_str!("../../docs/topics.md")]
mod topics_guide {}

/// The `--addr HOST:PORT` argument of an example, or `default`.
pub fn addr_arg(default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2).find(|w| w[0] == "--addr").map_or_else(|| default.to_owned(), |w| w[1].clone())
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).init();
}

/// Serves `router` on a free port of 127.0.0.1 in the background; returns its address.
pub async fn spawn_server(router: chanx::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    // Not on SIGTERM or Ctrl-C: a test process keeps its default signal handling.
    tokio::spawn(chanx::serve(listener, router).with_graceful_shutdown(std::future::pending()).into_future());
    addr
}

/// Serves `router` on a [`MemoryListener`] in the background, until `stop` resolves; the
/// connector that reaches it, and the server's task. Nothing touches the OS, so a test using it
/// can run on tokio's paused clock.
pub fn spawn_memory_server(
    router: chanx::Router,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> (MemoryConnector, tokio::task::JoinHandle<std::io::Result<()>>) {
    let (listener, connector) = MemoryListener::new();
    (connector, tokio::spawn(chanx::serve(listener, router).with_graceful_shutdown(stop).into_future()))
}

/// Waits until `condition` holds, checking it each time every task of the test's runtime waits
/// (for IO or a timer); panics after [`WAIT`] naming `what`.
///
/// For tests on tokio's paused clock over a [`MemoryListener`]: there a 1 ms sleep ends only
/// once nothing else can run, so each check sees the server settled, and the wait costs no real
/// time. It stands in for a notification the server does not give (a connection's place under a
/// cap is released when its task drops it, with nothing to await).
pub async fn settled(what: &str, mut condition: impl FnMut() -> bool) {
    let waited = tokio::time::timeout(WAIT, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    assert!(waited.await.is_ok(), "waited {WAIT:?} for {what}");
}

/// Returns once every other task of the test's runtime waits for IO or a timer, on tokio's
/// paused clock (over a [`MemoryListener`]): a request written before it has reached its
/// handler after it. Costs 1 ms of virtual time, no real time.
pub async fn all_idle() {
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// What a [`Client`] speaks over: a TCP socket or an in-memory pipe.
trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A WebSocket client over a real TCP socket or a [`MemoryListener`]'s pipe.
pub struct Client {
    ws: WebSocketStream<Box<dyn Io>>,
}

/// How long a client waits for a frame before failing the test.
pub const WAIT: Duration = Duration::from_secs(5);

impl Client {
    /// Connects to `ws://{addr}{path}`.
    pub async fn connect(addr: SocketAddr, path: &str) -> Client {
        Client::connect_with(addr, path, &[]).await.unwrap_or_else(|e| panic!("connecting to {addr}{path} failed: {e}"))
    }

    /// Connects with extra request headers, such as `Origin`.
    pub async fn connect_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Result<Client, WsError> {
        let stream = tokio::time::timeout(WAIT, tokio::net::TcpStream::connect(addr))
            .await
            .unwrap_or_else(|_| panic!("connecting to {addr} timed out"))
            .map_err(WsError::Io)?;
        Client::handshake(Box::new(stream), &format!("ws://{addr}{path}"), headers).await
    }

    /// Connects to `path` over a new pipe of `connector`.
    pub async fn connect_memory(connector: &MemoryConnector, path: &str) -> Client {
        Client::connect_memory_with(connector, path, &[])
            .await
            .unwrap_or_else(|e| panic!("connecting to {path} failed: {e}"))
    }

    /// Connects to `path` over a new pipe of `connector`, with extra request headers.
    pub async fn connect_memory_with(
        connector: &MemoryConnector,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Client, WsError> {
        let stream = connector.connect().map_err(WsError::Io)?;
        Client::handshake(Box::new(stream), &format!("ws://localhost{path}"), headers).await
    }

    async fn handshake(stream: Box<dyn Io>, url: &str, headers: &[(&str, &str)]) -> Result<Client, WsError> {
        let mut request = url.into_client_request()?;
        for (name, value) in headers {
            let name = HeaderName::try_from(*name).map_err(http::Error::from)?;
            let value = HeaderValue::try_from(*value).map_err(http::Error::from)?;
            request.headers_mut().insert(name, value);
        }
        let connected = tokio::time::timeout(WAIT, tokio_tungstenite::client_async(request, stream)).await;
        let (ws, _) = connected.unwrap_or_else(|_| panic!("the handshake with {url} timed out"))?;
        Ok(Client { ws })
    }

    /// Keeps reading (so pings are answered) for `duration`; panics if the server closes.
    pub async fn stay_open_for(&mut self, duration: Duration) {
        let deadline = tokio::time::Instant::now() + duration;
        while let Ok(frame) = tokio::time::timeout_at(deadline, self.ws.next()).await {
            match frame {
                Some(Ok(WsMessage::Close(frame))) => panic!("closed by the server: {frame:?}"),
                Some(Ok(_)) => {}
                Some(Err(err)) => panic!("the connection failed: {err}"),
                None => panic!("the connection ended"),
            }
        }
    }

    /// Sends a JSON frame.
    pub async fn send_json(&mut self, value: &Value) {
        self.ws.send(WsMessage::text(value.to_string())).await.expect("send");
    }

    /// Sends a raw frame.
    pub async fn send(&mut self, message: WsMessage) {
        self.ws.send(message).await.expect("send");
    }

    /// The next JSON text frame.
    pub async fn receive_json(&mut self) -> Value {
        loop {
            match self.next().await {
                WsMessage::Text(text) => return serde_json::from_str(&text).expect("JSON frame"),
                WsMessage::Close(frame) => panic!("closed while waiting for a frame: {frame:?}"),
                _ => {}
            }
        }
    }

    /// The close code the server closes with (other frames are skipped).
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await.expect("a close within the wait") {
                Some(Ok(WsMessage::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// The close code and reason the server closes with (other frames are skipped); `None`
    /// when the connection ends without a close frame.
    pub async fn close_frame(&mut self) -> Option<(u16, String)> {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await.expect("a close within the wait") {
                Some(Ok(WsMessage::Close(frame))) => return frame.map(|f| (u16::from(f.code), f.reason.to_string())),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// The next frame of any kind (pings included); panics after [`WAIT`] or if the stream ends.
    pub async fn next(&mut self) -> WsMessage {
        tokio::time::timeout(WAIT, self.ws.next())
            .await
            .expect("a frame within the wait")
            .expect("the stream is open")
            .expect("a valid frame")
    }

    /// Closes the connection.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// The Redis to test against: `CHANX_TEST_REDIS_URL`, else `redis://127.0.0.1:6379`. `None`
/// (with the reason printed) when it does not answer, unless `CHANX_REQUIRE_SERVICES=1`, which
/// turns that into a failure so that nothing skips silently in CI.
pub async fn test_redis_url() -> Option<String> {
    let url = std::env::var("CHANX_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let reachable = async {
        let client = redis::Client::open(url.as_str())?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    };
    match tokio::time::timeout(Duration::from_secs(2), reachable).await {
        Ok(Ok(_)) => Some(url),
        outcome => skip_or_fail(&format!("Redis at {url} is unreachable: {outcome:?}")),
    }
}

/// Prints why a test is skipped and returns `None`, or panics under `CHANX_REQUIRE_SERVICES=1`.
pub fn skip_or_fail<T>(reason: &str) -> Option<T> {
    if std::env::var("CHANX_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
        panic!("{reason} (CHANX_REQUIRE_SERVICES=1)");
    }
    eprintln!("skipped: {reason}");
    None
}

/// A key prefix no other test uses, so tests can share one Redis.
pub fn unique_prefix(test: &str) -> String {
    format!("test.{test}.{}.", uuid::Uuid::new_v4().simple())
}

/// Messages the end-to-end tests share.
pub mod messages {
    use chanx::Message;
    use schemars::JsonSchema;
    use serde::{Deserialize, Serialize};

    /// Asks a connection for its channel name.
    #[derive(Message, Serialize, Deserialize, JsonSchema, Debug)]
    #[message(action = "whoami")]
    pub struct WhoAmI {}

    /// The answer to [`WhoAmI`]: the channel name.
    #[derive(Message, Serialize, Deserialize, JsonSchema, Debug)]
    #[message(action = "you_are")]
    pub struct YouAre {
        /// The channel name.
        pub payload: String,
    }

    /// A line of chat from a client, relayed as is to its groups.
    #[derive(Message, Serialize, Deserialize, JsonSchema, Debug)]
    #[message(action = "say")]
    pub struct Say {
        /// The text.
        pub payload: String,
    }

    /// A line of chat.
    #[derive(Message, Serialize, Deserialize, JsonSchema, Debug)]
    #[message(action = "said")]
    pub struct Said {
        /// The text.
        pub payload: String,
    }

    /// An event: a background job finished.
    #[derive(Message, Serialize, Deserialize, JsonSchema, Debug)]
    #[message(action = "job_done")]
    pub struct JobDone {
        /// The job's number.
        pub payload: u32,
    }

    /// The client's view of [`JobDone`].
    #[derive(Message, Serialize, Deserialize, JsonSchema, Debug)]
    #[message(action = "job_status")]
    pub struct JobStatus {
        /// What happened.
        pub payload: String,
    }
}

/// A consumer the layer tests share: it joins the groups named by its `groups` query parameter
/// (comma-separated), tells its channel name (`whoami`), relays `say` to its groups, and answers
/// `job_done` events.
pub struct Member;

#[chanx::consumer]
impl chanx::Consumer for Member {
    fn groups(&self, ctx: &chanx::Context) -> Vec<String> {
        ctx.scope().query("groups").unwrap_or_default().split(',').map(str::to_owned).collect()
    }

    #[ws_handler(output = [messages::Say])]
    async fn say(&self, ctx: &chanx::Context, msg: messages::Say) -> Result<(), chanx::layer::LayerError> {
        ctx.broadcast_message(&msg).await
    }

    #[ws_handler]
    async fn whoami(&self, ctx: &chanx::Context, _msg: messages::WhoAmI) -> messages::YouAre {
        messages::YouAre { payload: ctx.channel_name().to_owned() }
    }

    #[event_handler]
    async fn job_done(&self, event: messages::JobDone) -> messages::JobStatus {
        messages::JobStatus { payload: format!("job {} done", event.payload) }
    }
}

/// Compares `actual` with the committed file `tests/golden/{name}`. With `CHANX_BLESS=1` the file
/// is (re)written instead; review the diff before committing it.
pub fn assert_golden(name: &str, actual: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var("CHANX_BLESS").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().expect("a folder")).expect("create tests/golden");
        std::fs::write(&path, actual).expect("write the golden file");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} is missing ({e}); run with CHANX_BLESS=1 to create it", path.display()));
    if expected != actual {
        let line = expected.lines().zip(actual.lines()).position(|(a, b)| a != b).map_or(0, |i| i + 1);
        panic!(
            "{} differs from the generated output, first at line {line}; run with CHANX_BLESS=1 to update it and review the diff",
            path.display()
        );
    }
}

/// A `redis-server` of our own, killed when dropped.
pub struct OwnRedis {
    child: std::process::Child,
    /// Its port.
    pub port: u16,
}

impl OwnRedis {
    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts `redis-server` on `port` (no persistence); `None` (or a failure under
    /// `CHANX_REQUIRE_SERVICES=1`) when it cannot start.
    pub fn start(port: u16) -> Option<OwnRedis> {
        let spawned = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        match spawned {
            Ok(child) => Some(OwnRedis { child, port }),
            Err(err) => skip_or_fail(&format!("cannot start redis-server: {err}")),
        }
    }

    /// Waits until it answers `PING`.
    pub async fn wait_ready(&self) {
        let url = format!("redis://127.0.0.1:{}", self.port);
        for _ in 0..100 {
            if let Ok(client) = redis::Client::open(url.as_str())
                && let Ok(mut conn) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING").query_async::<String>(&mut conn).await.is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server on port {} did not come up", self.port);
    }

    /// Stops it now.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}
