//! The two ways a client's text frame is parsed: kept as its text, when nothing in it needs
//! taking out or renaming, and decoded straight from it; or parsed into a `Value` first.
//!
//! Invariants: no panic; the two ways agree on every frame the first takes (the envelope, the
//! object, and the message or validation error a handler's input gets), and refuse the same
//! frames with the same errors.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte chooses the consumer: even, one that does not camelize; odd, one that does.
    let Some((selector, rest)) = data.split_first() else { return };
    if let Ok(text) = std::str::from_utf8(rest) {
        chanx::__fuzz::check_frame_paths(text, selector % 2 == 1);
    }
});
