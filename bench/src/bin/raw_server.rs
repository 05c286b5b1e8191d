//! The baselines: raw tokio-tungstenite servers doing the bench consumer's work (see
//! examples/bench.rs): `ping` is answered with `pong`, `broadcast` is relayed to every
//! connection (all are in group `bench`), and `join`/`leave` add the connection to a named group
//! and take it out again, each answered with `joined`/`left`.
//!
//! Two designs, picked with `--style`:
//!
//! - `tuned` (the default): written the way a competent engineer who cares about speed and memory
//!   writes it. An 8 KiB read buffer (`--read-buffer` changes it); `TCP_NODELAY`; one task per
//!   connection that both reads and writes (no split, no lock between the halves); frames parsed
//!   into a typed struct, each reply serialized straight to a string; the group is a
//!   `tokio::sync::broadcast` channel, so a broadcast is serialized once and shared by every
//!   member; the writes of one wake-up are fed into tungstenite's buffer and flushed once.
//! - `examples`: the shape of tokio-tungstenite's own examples, with its default configuration
//!   (a 128 KiB read buffer, which tungstenite zero-fills before every read): an unbounded channel
//!   per peer, `forward` into the split sink, one locked map of peers, replies built as
//!   `serde_json::Value`.
//!
//! ```sh
//! cargo run --release -p chanx-bench --bin raw_server -- --addr 127.0.0.1:8081 [--style examples] [--read-buffer 8192]
//! ```

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::{SinkExt, StreamExt, future};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Frames written before one flush, at most.
const WRITE_BATCH: usize = 64;
/// Group messages a member may fall behind by before it misses some (chanx's inbox holds 256).
const GROUP_CAPACITY: usize = 1024;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.windows(2).find(|w| w[0] == name).map(|w| w[1].clone());
    let addr = arg("--addr").unwrap_or_else(|| "127.0.0.1:8081".to_owned());
    let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
    let read_buffer: Option<usize> =
        arg("--read-buffer").map(|b| b.parse().map_err(|e| invalid(format!("--read-buffer: {e}")))).transpose()?;
    let style = arg("--style").unwrap_or_else(|| "tuned".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("raw tokio-tungstenite server ({style}) on ws://{}/", listener.local_addr()?);
    match style.as_str() {
        "tuned" => {
            let config = WebSocketConfig::default().read_buffer_size(read_buffer.unwrap_or(8 * 1024));
            tuned::run(listener, config).await
        }
        "examples" => {
            let config = read_buffer.map(|bytes| WebSocketConfig::default().read_buffer_size(bytes));
            examples::run(listener, config).await
        }
        other => Err(invalid(format!("--style {other}: tuned or examples"))),
    }
}

/// A client frame: only what the protocol reads.
#[derive(Deserialize)]
struct Inbound<'a> {
    #[serde(borrow)]
    action: Cow<'a, str>,
    #[serde(default)]
    payload: Value,
}

/// A server frame.
#[derive(Serialize)]
struct Outbound<'a> {
    action: &'a str,
    payload: &'a Value,
}

fn frame(action: &str, payload: &Value) -> Utf8Bytes {
    // Serializing a struct of a str and a Value cannot fail.
    Utf8Bytes::from(serde_json::to_string(&Outbound { action, payload }).unwrap_or_default())
}

/// Named groups joined with `join` (membership only: the benchmark times joining and leaving).
#[derive(Default)]
struct Groups(Mutex<HashMap<String, HashSet<u64>>>);

impl Groups {
    fn join(&self, group: &str, id: u64) {
        let mut groups = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match groups.get_mut(group) {
            Some(members) => {
                members.insert(id);
            }
            None => {
                groups.insert(group.to_owned(), HashSet::from([id]));
            }
        }
    }

    fn leave(&self, group: &str, id: u64) {
        let mut groups = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(members) = groups.get_mut(group) {
            members.remove(&id);
            if members.is_empty() {
                groups.remove(group);
            }
        }
    }
}

fn group_of(payload: &Value) -> Option<&str> {
    payload.get("group").and_then(Value::as_str)
}

mod tuned {
    use super::*;

    struct Shared {
        bench: broadcast::Sender<Utf8Bytes>,
        groups: Groups,
    }

    pub(super) async fn run(listener: TcpListener, config: WebSocketConfig) -> std::io::Result<()> {
        let shared = Arc::new(Shared { bench: broadcast::channel(GROUP_CAPACITY).0, groups: Groups::default() });
        let mut ids = 0u64;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            ids += 1;
            tokio::spawn(serve(stream, shared.clone(), ids, config));
        }
    }

    async fn serve(stream: TcpStream, shared: Arc<Shared>, id: u64, config: WebSocketConfig) {
        let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else { return };
        let mut group = shared.bench.subscribe();
        let mut joined: HashSet<String> = HashSet::new();
        'conn: loop {
            let mut fed = 0;
            tokio::select! {
                biased;
                frame = ws.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        if let Some(reply) = on_text(&text, &shared, id, &mut joined) {
                            if ws.feed(Message::Text(reply)).await.is_err() {
                                break;
                            }
                            fed += 1;
                        }
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                    Some(Ok(_)) => {}
                },
                message = group.recv() => match message {
                    Ok(message) => {
                        if ws.feed(Message::Text(message)).await.is_err() {
                            break;
                        }
                        fed += 1;
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                },
            }
            if fed == 0 {
                continue;
            }
            // Whatever else the group has ready leaves in the same write.
            while fed < WRITE_BATCH {
                match group.try_recv() {
                    Ok(message) => {
                        if ws.feed(Message::Text(message)).await.is_err() {
                            break 'conn;
                        }
                        fed += 1;
                    }
                    Err(broadcast::error::TryRecvError::Lagged(_)) => {}
                    Err(_) => break,
                }
            }
            if ws.flush().await.is_err() {
                break;
            }
        }
        for name in joined {
            shared.groups.leave(&name, id);
        }
    }

    fn on_text(text: &str, shared: &Shared, id: u64, joined: &mut HashSet<String>) -> Option<Utf8Bytes> {
        let frame: Inbound<'_> = serde_json::from_str(text).ok()?;
        match &*frame.action {
            "ping" => Some(super::frame("pong", &Value::Null)),
            "broadcast" => {
                // Serialized once; every member's queue shares it.
                let _ = shared.bench.send(super::frame("broadcast", &frame.payload));
                None
            }
            "join" => {
                let name = group_of(&frame.payload)?;
                if joined.insert(name.to_owned()) {
                    shared.groups.join(name, id);
                }
                Some(super::frame("joined", &Value::Null))
            }
            "leave" => {
                let name = group_of(&frame.payload)?;
                if joined.remove(name) {
                    shared.groups.leave(name, id);
                }
                Some(super::frame("left", &Value::Null))
            }
            _ => None,
        }
    }
}

/// The previous baseline, as tokio-tungstenite's examples write a chat server.
mod examples {
    use super::*;

    type Peers = Arc<Mutex<HashMap<u64, UnboundedSender<Message>>>>;

    pub(super) async fn run(listener: TcpListener, config: Option<WebSocketConfig>) -> std::io::Result<()> {
        let peers = Peers::default();
        let groups = Arc::new(Groups::default());
        let ids = AtomicU64::new(0);
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let id = ids.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(serve(stream, peers.clone(), groups.clone(), id, config));
        }
    }

    async fn serve(stream: TcpStream, peers: Peers, groups: Arc<Groups>, id: u64, config: Option<WebSocketConfig>) {
        let Ok(ws) = tokio_tungstenite::accept_async_with_config(stream, config).await else { return };
        let (tx, rx) = unbounded_channel();
        peers.lock().unwrap_or_else(PoisonError::into_inner).insert(id, tx.clone());
        let (outgoing, incoming) = ws.split();
        let write = tokio_stream_from(rx).map(Ok).forward(outgoing);
        let joined = Mutex::new(HashSet::new());
        let read = incoming.for_each(|message| {
            if let Ok(Message::Text(text)) = message {
                on_text(&text, &tx, &peers, &groups, id, &joined);
            }
            future::ready(())
        });
        tokio::pin!(write, read);
        future::select(write, read).await;
        peers.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
        for name in joined.into_inner().unwrap_or_else(PoisonError::into_inner) {
            groups.leave(&name, id);
        }
    }

    fn on_text(
        text: &str,
        me: &UnboundedSender<Message>,
        peers: &Peers,
        groups: &Groups,
        id: u64,
        joined: &Mutex<HashSet<String>>,
    ) {
        let Ok(frame) = serde_json::from_str::<Value>(text) else { return };
        let mut joined = joined.lock().unwrap_or_else(PoisonError::into_inner);
        match frame.get("action").and_then(Value::as_str) {
            Some("ping") => {
                let _ = me.send(Message::text(json!({"action": "pong", "payload": null}).to_string()));
            }
            Some("broadcast") => {
                let relay = json!({"action": "broadcast", "payload": frame.get("payload")}).to_string();
                let relay = Message::text(relay);
                for peer in peers.lock().unwrap_or_else(PoisonError::into_inner).values() {
                    let _ = peer.send(relay.clone());
                }
            }
            Some("join") => {
                if let Some(name) = frame.get("payload").and_then(group_of) {
                    if joined.insert(name.to_owned()) {
                        groups.join(name, id);
                    }
                    let _ = me.send(Message::text(json!({"action": "joined", "payload": null}).to_string()));
                }
            }
            Some("leave") => {
                if let Some(name) = frame.get("payload").and_then(group_of) {
                    if joined.remove(name) {
                        groups.leave(name, id);
                    }
                    let _ = me.send(Message::text(json!({"action": "left", "payload": null}).to_string()));
                }
            }
            _ => {}
        }
    }

    /// An unbounded receiver as a stream.
    fn tokio_stream_from<T>(mut rx: tokio::sync::mpsc::UnboundedReceiver<T>) -> impl futures_util::Stream<Item = T> {
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }
}
