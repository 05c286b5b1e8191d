//! Decoding a message another process published on Redis (msgpack, as channels_redis writes it).
//!
//! Invariants: no panic and no stack overflow, whatever the nesting; a message that decodes
//! encodes again, and that encoding decodes to the same message; its JSON parts serialize and
//! camelize (what a consumer does with them next).
#![no_main]

use chanx::__fuzz::{decode_redis_message, encode_redis_message};
use chanx::layer::LayerBody;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = decode_redis_message(data) else { return };
    let bytes = encode_redis_message(&body).expect("a decoded message encodes");
    let again = decode_redis_message(&bytes).expect("an encoded message decodes");
    assert_eq!(again, body);
    let mut frame = match body {
        LayerBody::GroupMessage { message, .. } => message,
        LayerBody::ChannelEvent { event_data } => event_data,
        _ => return,
    };
    serde_json::to_string(&frame).expect("a decoded message serializes as JSON");
    chanx::camelize::camelize_keys(&mut frame);
});
