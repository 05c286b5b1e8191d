use chanx::messages::{Ping, Pong};

struct JobsConsumer;

#[chanx::consumer(layer = "job queue")]
impl JobsConsumer {
    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }
}

struct ResultsConsumer;

#[chanx::consumer(layer = "results")]
impl chanx::Consumer for ResultsConsumer {
    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }
}

fn main() {}
