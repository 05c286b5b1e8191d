use chanx::messages::{Ping, Pong};

struct TwiceConsumer;

#[chanx::consumer(log_ignored = ["streaming"])]
impl chanx::Consumer for TwiceConsumer {
    const LOG_IGNORED_ACTIONS: &'static [&'static str] = &["streaming"];

    #[ws_handler]
    async fn ping(&self, _msg: Ping) -> Pong {
        Pong {}
    }
}

fn main() {}
