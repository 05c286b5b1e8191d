use chanx::Message;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Message, Serialize, Deserialize, JsonSchema)]
struct Chat {
    payload: String,
}

fn main() {}
