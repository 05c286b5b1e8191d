use chanx::messages::{Ping, Pong};

struct AssistantConsumer;

#[chanx::consumer(log_ignored = ["streaming", "", "complete streaming", "streaming"])]
impl AssistantConsumer {
    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }
}

fn main() {}
