use chanx::messages::{Ping, Pong};

#[derive(Default)]
struct RoomTopic;

#[chanx::topic(pattern = "room:{name}")]
impl RoomTopic {
    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }

    #[ws_handler]
    async fn ping_again(&self, _msg: Ping) -> Pong {
        Pong {}
    }
}

fn main() {}
