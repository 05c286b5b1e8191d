use chanx::messages::{Ping, Pong};

struct ChatConsumer;

#[chanx::consumer]
impl ChatConsumer {
    #[ws_handler]
    async fn ping(&mut self, _msg: Ping) -> Pong {
        Pong {}
    }
}

fn main() {}
