//! The baseline: a minimal tokio-tungstenite server doing the bench consumer's work, written the
//! way tokio-tungstenite's own examples are. Every connection is in one group; `ping` is answered
//! with `pong`, and `broadcast` is serialized once and queued, shared, to every connection.
//! Defaults everywhere, so each connection has tungstenite's default buffers, unless
//! `--read-buffer BYTES` sets the read buffer (tungstenite zero-fills it before every read, so
//! its 128 KiB default costs memory and time).
//!
//! ```sh
//! cargo run --release -p chanx-bench --bin raw_server -- --addr 127.0.0.1:8081 [--read-buffer 4096]
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::{StreamExt, future};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

type Peers = Arc<Mutex<HashMap<u64, UnboundedSender<Message>>>>;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| args.windows(2).find(|w| w[0] == name).map(|w| w[1].clone());
    let addr = arg("--addr").unwrap_or_else(|| "127.0.0.1:8081".to_owned());
    let config = match arg("--read-buffer") {
        Some(bytes) => {
            let bytes = bytes.parse().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
            Some(WebSocketConfig::default().read_buffer_size(bytes))
        }
        None => None,
    };
    let listener = TcpListener::bind(&addr).await?;
    eprintln!("raw tokio-tungstenite server on ws://{}/", listener.local_addr()?);
    let peers = Peers::default();
    let ids = AtomicU64::new(0);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve(stream, peers.clone(), ids.fetch_add(1, Ordering::Relaxed), config));
    }
}

async fn serve(stream: TcpStream, peers: Peers, id: u64, config: Option<WebSocketConfig>) {
    let Ok(ws) = tokio_tungstenite::accept_async_with_config(stream, config).await else { return };
    let (tx, rx) = unbounded_channel();
    peers.lock().unwrap_or_else(PoisonError::into_inner).insert(id, tx.clone());
    let (outgoing, incoming) = ws.split();
    let write = tokio_stream_from(rx).map(Ok).forward(outgoing);
    let read = incoming.for_each(|message| {
        if let Ok(Message::Text(text)) = message {
            on_text(&text, &tx, &peers);
        }
        future::ready(())
    });
    tokio::pin!(write, read);
    future::select(write, read).await;
    peers.lock().unwrap_or_else(PoisonError::into_inner).remove(&id);
}

fn on_text(text: &str, me: &UnboundedSender<Message>, peers: &Peers) {
    let Ok(frame) = serde_json::from_str::<Value>(text) else { return };
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
        _ => {}
    }
}

/// An unbounded receiver as a stream.
fn tokio_stream_from<T>(mut rx: tokio::sync::mpsc::UnboundedReceiver<T>) -> impl futures_util::Stream<Item = T> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
