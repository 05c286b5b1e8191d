use chanx::Message;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Message, Serialize, Deserialize, JsonSchema)]
#[message(action = "job_done")]
struct JobDone {
    payload: u32,
}

#[derive(Message, Serialize, Deserialize, JsonSchema)]
#[message(action = "job_done")]
struct JobFinished {
    payload: u32,
}

struct JobsConsumer;

#[chanx::consumer]
impl JobsConsumer {
    #[event_handler]
    async fn done(&self, _event: JobDone) {}

    #[event_handler]
    async fn finished(&self, _event: JobFinished) {}
}

fn main() {}
