use chanx::messages::{Ping, Pong};

struct ChatConsumer;

#[chanx::consumer(nmae = "chat")]
impl ChatConsumer {
    #[ws_handler(sumary = "typo")]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }
}

fn main() {}
