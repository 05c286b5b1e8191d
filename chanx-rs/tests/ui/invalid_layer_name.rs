use chanx::messages::{Ping, Pong};

struct JobsConsumer;

#[chanx::consumer(layer = "job queue")]
impl JobsConsumer {
    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }
}

fn main() {}
