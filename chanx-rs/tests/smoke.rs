use chanx::messages::{COMPLETE, Ping, Pong};
use chanx::testing::WebsocketCommunicator;
use chanx::{Router, Scope};
use serde_json::json;
use std::time::Duration;

struct EchoConsumer;

#[chanx::consumer]
impl EchoConsumer {
    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }
}

#[tokio::test]
async fn smoke() {
    let router = Router::new().route("/ws/echo/", |_: &Scope| EchoConsumer);
    let mut comm = WebsocketCommunicator::connect(&router, "/ws/echo/").await;
    comm.send_message(&Ping {}).await;
    let replies = comm.receive_all_messages(COMPLETE, Duration::from_secs(1)).await;
    assert_eq!(replies, [json!({"action": "pong", "payload": null})]);
    comm.send_text("nope").await;
    let e = comm.receive_json().await;
    println!("{e}");
    comm.disconnect().await;
}
