use chanx::messages::{Ping, Pong};

struct ChatConsumer;

#[chanx::consumer]
impl ChatConsumer {
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
