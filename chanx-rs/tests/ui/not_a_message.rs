struct NotAMessage {
    payload: u32,
}

struct ChatConsumer;

#[chanx::consumer]
impl ChatConsumer {
    #[ws_handler]
    async fn chat(&self, _msg: NotAMessage) {}
}

fn main() {}
