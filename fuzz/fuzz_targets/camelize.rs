//! camelCase ↔ snake_case conversion of keys, in both directions, on any text.
//!
//! Invariants: no panic; output at most a few times the input; `decamelize` lowercases whatever
//! it does not return as is; and, on keys made of lowercase words (as pyhumps guarantees them),
//! `decamelize(camelize(k)) == k` for words of two letters or more, camelized keys are a fixed
//! point of `camelize`, snake keys one of `decamelize`. When the input is JSON, the key
//! conversion of the whole document changes keys only.
#![no_main]

use chanx::camelize::{camelize, camelize_keys, decamelize, decamelize_keys};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// Above this many bytes, only the conversions themselves run (each once), not the checks that
/// convert again: a long input is here to show that conversion is linear, and the checks would
/// only multiply its cost.
const CHECKED_LEN: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let checked = text.len() <= CHECKED_LEN;
    any_key(&text, checked);
    if checked {
        word_keys(&text);
    }
    if let Ok(document) = serde_json::from_str::<Value>(&text) {
        document_keys(&document, checked);
    }
});

fn any_key(key: &str, checked: bool) {
    let chars = key.chars().count();
    let camel = camelize(key);
    // A Unicode case mapping gives at most three characters for one.
    assert!(camel.chars().count() <= 3 * chars, "camelize grew {key:?} to {camel:?}");
    let snake = decamelize(key);
    // One `_` may be added before each character, then each may triple when lowercased.
    assert!(snake.chars().count() <= 6 * chars, "decamelize grew {key:?} to {snake:?}");
    // pyhumps lowercases the result, except for all-caps or numeric keys, returned as they are.
    assert!(snake == key || !snake.chars().any(|c| c.is_ascii_uppercase()), "decamelize({key:?}) = {snake:?}");
    if checked {
        // Converting twice never panics either (its output is a key too).
        let _ = decamelize(&camel);
        let _ = camelize(&snake);
    }
}

/// The input's runs of ASCII lowercase letters, as the words of snake and camel keys.
fn word_keys(text: &str) {
    let words: Vec<&str> = text.split(|c: char| !c.is_ascii_lowercase()).filter(|w| !w.is_empty()).collect();
    if words.is_empty() {
        return;
    }
    let snake = words.join("_");
    let camel = camelize(&snake);
    assert_eq!(decamelize(&snake), snake, "a snake key is a fixed point of decamelize");
    assert_eq!(camelize(&camel), camel, "a camel key is a fixed point of camelize");
    assert!(!camel.contains('_'), "camelize({snake:?}) = {camel:?} keeps a separator");
    // pyhumps folds one-letter words into acronyms (`a_b_c` → `aBC` → `a_bc`), so only keys of
    // longer words round-trip.
    let long: Vec<&str> = words.iter().copied().filter(|w| w.len() >= 2).collect();
    if !long.is_empty() {
        let snake = long.join("_");
        assert_eq!(decamelize(&camelize(&snake)), snake, "the round trip of a snake key");
    }
}

fn document_keys(document: &Value, checked: bool) {
    let mut camel = document.clone();
    camelize_keys(&mut camel);
    let mut snake = document.clone();
    decamelize_keys(&mut snake);
    if checked {
        same_shape(document, &camel, &camelize);
        same_shape(document, &snake, &decamelize);
    }
}

/// `converted` is `original` with each object key converted: same values, same array lengths,
/// and each key present under its converted name (two keys may convert to one name; the object
/// is then smaller).
fn same_shape(original: &Value, converted: &Value, convert: &dyn Fn(&str) -> String) {
    match (original, converted) {
        (Value::Object(before), Value::Object(after)) => {
            assert!(after.len() <= before.len());
            let distinct = after.len() == before.len();
            for (key, value) in before {
                let new_key = convert(key);
                let Some(new_value) = after.get(&new_key) else {
                    panic!("key {key:?} converted to {new_key:?} is missing from {converted}");
                };
                if distinct {
                    same_shape(value, new_value, convert);
                }
            }
        }
        (Value::Array(before), Value::Array(after)) => {
            assert_eq!(before.len(), after.len());
            for (value, new_value) in before.iter().zip(after) {
                same_shape(value, new_value, convert);
            }
        }
        (before, after) => assert_eq!(before, after, "a value changed"),
    }
}
