//! HS256 JSON Web Token verification, with the default length limit and without one (so that
//! decoding megabyte tokens is exercised too).
//!
//! Invariants: no panic; a token over the limit is refused as too long, and one under it gets
//! the same answer with and without the limit; a token is accepted only when it is three
//! base64url parts whose header says HS256 and whose signature is the HMAC-SHA256 of the first
//! two under the key (checked here with an independent implementation); a token chanx signs
//! verifies to its claims, and the same token with any one byte changed is refused.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chanx::auth::{JwtError, JwtHs256};
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sha2::Sha256;

/// The key the seed tokens are signed with (fuzz/seeds.py).
const KEY: &[u8] = b"chanx-fuzz-key-0123456789abcdef!";
/// `JwtHs256::max_len`'s default.
const DEFAULT_MAX_LEN: usize = 8 * 1024;

fuzz_target!(|data: &[u8]| {
    let jwt = JwtHs256::<Value>::new(KEY).require_exp(false).max_len(usize::MAX);
    match data.split_first() {
        // Sign claims taken from the input, then tamper with one byte.
        Some((mode, rest)) if mode % 4 == 0 && rest.len() >= 3 => {
            let (position, replacement, claims) = (u16::from_be_bytes([rest[0], rest[1]]), rest[2], &rest[3..]);
            signed_then_tampered(&jwt, claims, usize::from(position), replacement);
        }
        // Verify the input as a token.
        _ => {
            let token = String::from_utf8_lossy(data);
            let verified = jwt.verify(&token);
            if verified.is_ok() {
                assert!(genuine(&token), "accepted a token that is not signed with the key: {token:?}");
            }
            let limited = JwtHs256::<Value>::new(KEY).require_exp(false).verify(&token);
            if token.len() > DEFAULT_MAX_LEN {
                assert!(matches!(limited, Err(JwtError::TooLong(n)) if n == token.len()), "{limited:?}");
            } else {
                assert_eq!(limited.ok(), verified.ok(), "the limit changed the answer for {token:?}");
            }
        }
    }
});

fn signed_then_tampered(jwt: &JwtHs256<Value>, claims: &[u8], position: usize, replacement: u8) {
    let claims = match serde_json::from_slice::<Value>(claims) {
        Ok(Value::Object(mut object)) => {
            // Timestamps would make the outcome depend on the clock.
            object.remove("exp");
            object.remove("nbf");
            Value::Object(object)
        }
        Ok(other) if !other.is_object() => serde_json::json!({ "sub": other }),
        _ => serde_json::json!({ "sub": String::from_utf8_lossy(claims) }),
    };
    let token = jwt.sign(&claims).expect("claims that are JSON always sign");
    // What verification reads back is the claims as JSON text would give them.
    let expected: Value = serde_json::from_str(&claims.to_string()).expect("JSON text reads back");
    assert_eq!(jwt.verify(&token).expect("a token chanx signed verifies"), expected);
    let mut tampered = token.clone().into_bytes();
    let position = position % tampered.len();
    if tampered[position] == replacement {
        return;
    }
    tampered[position] = replacement;
    let tampered = String::from_utf8_lossy(&tampered);
    assert!(jwt.verify(&tampered).is_err(), "accepted {token:?} with byte {position} changed: {tampered:?}");
}

/// Whether `token` is `header.payload.signature` with an HS256 header and the right MAC.
fn genuine(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, _payload, signature] = parts[..] else { return false };
    let Ok(header) = URL_SAFE_NO_PAD.decode(header) else { return false };
    let Ok(header) = serde_json::from_slice::<Value>(&header) else { return false };
    if header["alg"] != "HS256" {
        return false;
    }
    let Ok(signature) = URL_SAFE_NO_PAD.decode(signature) else { return false };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(KEY) else { return false };
    mac.update(&token.as_bytes()[..token.rfind('.').unwrap_or(0)]);
    mac.verify_slice(&signature).is_ok()
}
