use chanx::Message;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Message, Serialize, Deserialize, JsonSchema)]
#[message(action = "chat")]
struct Chat {
    payload: String,
    topic: String,
}

#[derive(Message, Serialize, Deserialize, JsonSchema)]
#[message(action = "ping")]
struct Ping;

fn main() {}
