use chanx::messages::{Ping, Pong};

struct ChatConsumer;

#[chanx::consumer]
impl ChatConsumer {
    #[ws_handler]
    fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }

    #[ws_handler]
    async fn no_message(&self) {}
}

fn main() {}
