//! snake_case ↔ camelCase conversion of JSON object keys at the socket edge.
//!
//! The rules are those of pyhumps, which chanx uses, so a chanx client sees the same keys from a
//! chanx-rs server: `user_name` ↔ `userName`, `user_id_2` → `userId2`, `_private` and `__dunder__`
//! untouched, acronyms folded on the way in (`HTTPResponse` → `http_response`, `userID` → `user_id`).
//! Only keys change; values (such as `action` literals) never do.

use serde_json::{Map, Value};

/// Converts every object key in `value`, recursively, to camelCase.
///
/// ```
/// use serde_json::json;
/// let mut frame = json!({"action": "new_message", "payload": {"user_name": "ada", "tags": [{"is_new": true}]}});
/// chanx::camelize::camelize_keys(&mut frame);
/// assert_eq!(frame, json!({"action": "new_message", "payload": {"userName": "ada", "tags": [{"isNew": true}]}}));
/// ```
pub fn camelize_keys(value: &mut Value) {
    convert_keys(value, &camelize);
}

/// Converts every object key in `value`, recursively, to snake_case.
///
/// ```
/// use serde_json::json;
/// let mut frame = json!({"payload": {"userName": "ada", "HTTPStatus": 200}});
/// chanx::camelize::decamelize_keys(&mut frame);
/// assert_eq!(frame, json!({"payload": {"user_name": "ada", "http_status": 200}}));
/// ```
pub fn decamelize_keys(value: &mut Value) {
    convert_keys(value, &decamelize);
}

fn convert_keys(value: &mut Value, convert: &dyn Fn(&str) -> String) {
    match value {
        Value::Object(map) => {
            let old = std::mem::take(map);
            let mut new = Map::with_capacity(old.len());
            for (key, mut inner) in old {
                convert_keys(&mut inner, convert);
                new.insert(convert(&key), inner);
            }
            *map = new;
        }
        Value::Array(items) => items.iter_mut().for_each(|item| convert_keys(item, convert)),
        _ => {}
    }
}

fn is_separator(c: char) -> bool {
    c == '_' || c == '-'
}

/// Python's `str.isupper()`: at least one cased character, and no lowercase one.
fn is_upper(s: &str) -> bool {
    s.chars().any(char::is_uppercase) && !s.chars().any(char::is_lowercase)
}

/// Python's `str.isnumeric()`.
fn is_numeric(s: &str) -> bool {
    !s.is_empty() && s.chars().all(char::is_numeric)
}

/// One key to camelCase, as pyhumps' `camelize`.
///
/// ```
/// use chanx::camelize::camelize;
/// assert_eq!(camelize("user_name"), "userName");
/// assert_eq!(camelize("user_id_2"), "userId2");
/// assert_eq!(camelize("_private"), "_private");
/// assert_eq!(camelize("ABC"), "ABC");
/// ```
pub fn camelize(key: &str) -> String {
    let s = without_whitespace(key);
    if is_upper(&s) || is_numeric(&s) {
        return key.to_owned();
    }
    let chars: Vec<char> = s.chars().collect();
    let first_two: String = chars.iter().take(2).collect();
    let mut lowered: Vec<char> = Vec::with_capacity(chars.len());
    if !chars.is_empty() && !is_upper(&first_two) {
        lowered.extend(chars[0].to_lowercase());
        lowered.extend_from_slice(&chars[1..]);
    } else {
        lowered = chars;
    }
    // A run of separators that follows a non-separator and precedes one is replaced by that
    // following character, uppercased.
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < lowered.len() {
        let c = lowered[i];
        let after_word = i > 0 && !is_separator(lowered[i - 1]);
        if is_separator(c) && after_word {
            let mut j = i;
            while j < lowered.len() && is_separator(lowered[j]) {
                j += 1;
            }
            if j < lowered.len() {
                out.extend(lowered[j].to_uppercase());
                i = j + 1;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

/// One key to snake_case, as pyhumps' `decamelize`.
///
/// ```
/// use chanx::camelize::decamelize;
/// assert_eq!(decamelize("userName"), "user_name");
/// assert_eq!(decamelize("HTTPResponse"), "http_response");
/// assert_eq!(decamelize("userID"), "user_id");
/// assert_eq!(decamelize("user2Name"), "user2_name");
/// ```
pub fn decamelize(key: &str) -> String {
    let s = without_whitespace(key);
    if is_upper(&s) || is_numeric(&s) {
        return key.to_owned();
    }
    separate_words(&fix_abbreviations(&s)).to_lowercase()
}

/// pyhumps removes whitespace before converting (but returns an all-caps or numeric key as is).
fn without_whitespace(key: &str) -> String {
    key.chars().filter(|c| !c.is_whitespace()).collect()
}

fn is_upper_or_digit(c: char) -> bool {
    c.is_ascii_uppercase() || c.is_ascii_digit()
}

/// Title-cases each run of `[A-Z0-9]` that is followed by another such character or the end
/// (pyhumps' `ACRONYM_RE`), so `HTTPResponse` becomes `HttpResponse`.
fn fix_abbreviations(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if !is_upper_or_digit(chars[i]) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let mut end = i;
        while end < chars.len() && is_upper_or_digit(chars[end]) {
            end += 1;
        }
        // The greedy run backs off one character when it is followed by something else.
        let run_end = if end == chars.len() { end } else { end - 1 };
        if run_end > i {
            out.push_str(&title(&chars[i..run_end]));
            i = run_end;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

/// Python's `str.title()` on a run of ASCII uppercase letters and digits.
fn title(run: &[char]) -> String {
    let mut out = String::with_capacity(run.len());
    let mut prev_letter = false;
    for &c in run {
        if c.is_alphabetic() {
            out.push(if prev_letter { c.to_ascii_lowercase() } else { c });
            prev_letter = true;
        } else {
            out.push(c);
            prev_letter = false;
        }
    }
    out
}

/// Splits before each `[-_]*[A-Z]` and joins the pieces with `_` (pyhumps' `SPLIT_RE`).
fn separate_words(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut pieces: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut i = 0;
    while i < chars.len() {
        let mut j = i;
        while j < chars.len() && is_separator(chars[j]) {
            j += 1;
        }
        if j < chars.len() && chars[j].is_ascii_uppercase() {
            // A match: the separators, the capital, then everything up to the next capital.
            pieces.push(std::mem::take(&mut current));
            let mut end = j + 1;
            while end < chars.len() && !chars[end].is_ascii_uppercase() {
                end += 1;
            }
            pieces.push(chars[i..end].iter().collect());
            i = end;
        } else {
            current.push(chars[i]);
            i += 1;
        }
    }
    pieces.push(current);
    pieces.retain(|p| !p.is_empty());
    pieces.join("_")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn camelize_matches_pyhumps() {
        for (input, expected) in [
            ("user_name", "userName"),
            ("_private", "_private"),
            ("__dunder__", "__dunder__"),
            ("user_id_2", "userId2"),
            ("a_b_c", "aBC"),
            ("user-name", "userName"),
            ("ABC", "ABC"),
            ("already_camelCase", "alreadyCamelCase"),
            ("UserName", "userName"),
            ("trailing_", "trailing_"),
            ("123", "123"),
            ("", ""),
        ] {
            assert_eq!(camelize(input), expected, "camelize({input:?})");
        }
    }

    #[test]
    fn decamelize_matches_pyhumps() {
        for (input, expected) in [
            ("userName", "user_name"),
            ("HTTPResponse", "http_response"),
            ("userID", "user_id"),
            ("user2Name", "user2_name"),
            ("getHTTPResponseCode", "get_http_response_code"),
            ("userId2", "user_id2"),
            ("already_snake", "already_snake"),
            ("_private", "_private"),
            ("ABC", "ABC"),
            ("", ""),
        ] {
            assert_eq!(decamelize(input), expected, "decamelize({input:?})");
        }
    }

    /// 400 keys (edge cases and random ones) with the outputs of pyhumps 3.8.0 itself.
    #[test]
    fn agrees_with_pyhumps_on_recorded_cases() {
        let cases: Vec<Value> =
            serde_json::from_str(include_str!("../tests/data/pyhumps_cases.json")).expect("valid fixture");
        for case in cases {
            let key = case["key"].as_str().expect("key");
            assert_eq!(camelize(key), case["camelize"], "camelize({key:?})");
            assert_eq!(decamelize(key), case["decamelize"], "decamelize({key:?})");
        }
    }

    #[test]
    fn nested_keys_change_and_values_do_not() {
        let mut value = json!({"a_b": [{"c_d": 1}], "e_f": {"g_h": "i_j"}});
        camelize_keys(&mut value);
        assert_eq!(value, json!({"aB": [{"cD": 1}], "eF": {"gH": "i_j"}}));
    }

    proptest! {
        #[test]
        // pyhumps folds runs of one-letter words into acronyms (`a_a_a` → `aAA` → `a_aa`), so
        // the round trip holds for words of two letters or more.
        fn snake_words_round_trip(words in proptest::collection::vec("[a-z]{2,8}", 1..5)) {
            let snake = words.join("_");
            prop_assert_eq!(decamelize(&camelize(&snake)), snake);
        }

        #[test]
        fn camel_keys_are_a_fixed_point(words in proptest::collection::vec("[a-z]{1,8}", 1..5)) {
            let camel = camelize(&words.join("_"));
            prop_assert_eq!(camelize(&camel), camel.clone());
        }

        #[test]
        fn never_panics_and_keeps_values(key in "\\PC{0,16}", value in "\\PC{0,16}") {
            let mut frame = json!({ key.clone(): value.clone() });
            camelize_keys(&mut frame);
            decamelize_keys(&mut frame);
            let values: Vec<Value> = frame.as_object().into_iter().flat_map(|m| m.values().cloned()).collect();
            prop_assert_eq!(values, vec![Value::String(value)]);
        }

        #[test]
        fn single_word_keys_are_untouched(word in "[a-z]{1,10}") {
            prop_assert_eq!(camelize(&word), word.clone());
            prop_assert_eq!(decamelize(&word), word);
        }
    }
}
