//! Decoding a message popped from Redis by the core layer (channels_redis's `RedisChannelLayer`
//! format after its random prefix: msgpack with an `__asgi_channel__` naming its channels).
//!
//! Invariants: no panic and no stack overflow, whatever the nesting; a message that decodes
//! encodes again for the same channels, and that encoding decodes to the same channels and body;
//! its JSON parts serialize and camelize (what a consumer does with them next).
#![no_main]

use chanx::__fuzz::{decode_redis_core_message, encode_redis_core_message};
use chanx::layer::LayerBody;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok((channels, body)) = decode_redis_core_message(data) else { return };
    let names: Vec<&str> = channels.iter().map(String::as_str).collect();
    let bytes = encode_redis_core_message(&body, &names).expect("a decoded message encodes");
    let (again_channels, again) = decode_redis_core_message(&bytes).expect("an encoded message decodes");
    assert_eq!(again_channels, channels);
    assert_eq!(again, body);
    let mut frame = match body {
        LayerBody::GroupMessage { message, .. } => message,
        LayerBody::ChannelEvent { event_data } => event_data,
        _ => return,
    };
    serde_json::to_string(&frame).expect("a decoded message serializes as JSON");
    chanx::camelize::camelize_keys(&mut frame);
});
