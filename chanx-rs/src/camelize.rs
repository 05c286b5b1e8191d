//! snake_case ↔ camelCase conversion of JSON object keys at the socket edge.
//!
//! The rules are those of pyhumps, which chanx uses, so a chanx client sees the same keys from a
//! chanx-rs server: `user_name` ↔ `userName`, `user_id_2` → `userId2`, `_private` and `__dunder__`
//! untouched, acronyms folded on the way in (`HTTPResponse` → `http_response`, `userID` → `user_id`).
//! Only keys change; values (such as `action` literals) never do.
//!
//! Keys are a peer's input, up to a whole frame long: each conversion takes time linear in the
//! key's length, whatever its shape (runs of separators, capitals or digits of any length).

use std::borrow::Cow;

use serde_json::{Map, Value};

/// Converts every object key in `value`, recursively, to camelCase.
///
/// Time is linear in the size of `value`; objects whose keys are all already camelCase are left
/// in place rather than rebuilt.
///
/// ```
/// use serde_json::json;
/// let mut frame = json!({"action": "new_message", "payload": {"user_name": "ada", "tags": [{"is_new": true}]}});
/// chanx::camelize::camelize_keys(&mut frame);
/// assert_eq!(frame, json!({"action": "new_message", "payload": {"userName": "ada", "tags": [{"isNew": true}]}}));
/// ```
pub fn camelize_keys(value: &mut Value) {
    convert_keys(value, &camelized);
}

/// Converts every object key in `value`, recursively, to snake_case.
///
/// Time is linear in the size of `value`; objects whose keys are all already snake_case are left
/// in place rather than rebuilt.
///
/// ```
/// use serde_json::json;
/// let mut frame = json!({"payload": {"userName": "ada", "HTTPStatus": 200}});
/// chanx::camelize::decamelize_keys(&mut frame);
/// assert_eq!(frame, json!({"payload": {"user_name": "ada", "http_status": 200}}));
/// ```
pub fn decamelize_keys(value: &mut Value) {
    convert_keys(value, &decamelized);
}

/// Converts the keys of every object in `value`; `convert` answers `None` for a key that stays.
fn convert_keys(value: &mut Value, convert: &dyn Fn(&str) -> Option<String>) {
    match value {
        Value::Object(map) => {
            map.values_mut().for_each(|inner| convert_keys(inner, convert));
            // Objects whose keys all stay, the usual case for frames in the expected convention,
            // are kept; the others are rebuilt once, from the first key that changes.
            let Some((first, renamed)) = map.keys().enumerate().find_map(|(i, key)| convert(key).map(|new| (i, new)))
            else {
                return;
            };
            let old = std::mem::take(map);
            let mut new = Map::with_capacity(old.len());
            let mut renamed = Some(renamed);
            for (index, (key, inner)) in old.into_iter().enumerate() {
                let key = match index {
                    i if i < first => key,
                    i if i == first => renamed.take().unwrap_or(key),
                    _ => convert(&key).unwrap_or(key),
                };
                new.insert(key, inner);
            }
            *map = new;
        }
        Value::Array(items) => items.iter_mut().for_each(|item| convert_keys(item, convert)),
        _ => {}
    }
}

/// The camelCase key, or `None` when it is the key itself. Keys of lowercase letters and digits
/// (`action`, `payload`) are known to stay without converting them.
fn camelized(key: &str) -> Option<String> {
    if key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) {
        return None;
    }
    let converted = camelize(key);
    (converted != key).then_some(converted)
}

/// The snake_case key, or `None` when it is the key itself. Keys of lowercase letters, digits
/// and separators (`user_name`) are known to stay without converting them.
fn decamelized(key: &str) -> Option<String> {
    if key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || is_separator(b)) {
        return None;
    }
    let converted = decamelize(key);
    (converted != key).then_some(converted)
}

/// Whether decamelizing keeps `key` as it is.
pub(crate) fn key_stays(key: &str) -> bool {
    decamelized(key).is_none()
}

fn is_separator(b: u8) -> bool {
    b == b'_' || b == b'-'
}

/// Python's `str.isupper()`: at least one uppercase character, and no lowercase or titlecase one.
fn is_upper(s: &str) -> bool {
    if s.is_ascii() {
        let bytes = s.as_bytes();
        return !bytes.iter().any(u8::is_ascii_lowercase) && bytes.iter().any(u8::is_ascii_uppercase);
    }
    let mut cased = false;
    for c in s.chars() {
        if c.is_lowercase() || is_titlecase(c) {
            return false;
        }
        cased |= c.is_uppercase();
    }
    cased
}

/// Unicode's titlecase letters (category Lt, Unicode 14), which Rust has no predicate for.
fn is_titlecase(c: char) -> bool {
    matches!(
        u32::from(c),
        0x1C5 | 0x1C8 | 0x1CB | 0x1F2 | 0x1F88..=0x1F8F | 0x1F98..=0x1F9F | 0x1FA8..=0x1FAF | 0x1FBC | 0x1FCC | 0x1FFC
    )
}

/// Python's `str.isnumeric()`.
fn is_numeric(s: &str) -> bool {
    !s.is_empty() && s.chars().all(char::is_numeric)
}

/// What Python's `\s` matches: Unicode whitespace, and the four information separators.
fn is_python_space(c: char) -> bool {
    c.is_whitespace() || ('\x1c'..='\x1f').contains(&c)
}

/// pyhumps removes whitespace before converting (but returns an all-caps or numeric key as is).
fn without_whitespace(key: &str) -> Cow<'_, str> {
    let has_space = if key.is_ascii() {
        key.bytes().any(|b| is_python_space(char::from(b)))
    } else {
        key.chars().any(is_python_space)
    };
    if has_space { Cow::Owned(key.chars().filter(|c| !is_python_space(*c)).collect()) } else { Cow::Borrowed(key) }
}

/// One key to camelCase, as pyhumps' `camelize`, in one pass.
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
    let mut out = String::with_capacity(s.len());
    let Some(first) = s.chars().next() else {
        return out;
    };
    let first_two_end = s.char_indices().nth(2).map_or(s.len(), |(i, _)| i);
    if is_upper(&s[..first_two_end]) {
        out.push(first);
    } else {
        out.extend(first.to_lowercase());
    }
    // pyhumps' `(?<=[^\-_])[\-_]+[^\-_]`, each match replaced by its last character uppercased:
    // a run of separators after a word character, and the character that follows it. A run at
    // the start, or one that ends the key, stays. Lowercasing the first character cannot turn it
    // into a separator, so the lookbehind reads the key itself.
    let bytes = s.as_bytes();
    let mut i = first.len_utf8();
    while i < bytes.len() {
        if separators_after_word(bytes, i) {
            let run_end = i + bytes[i..].iter().take_while(|b| is_separator(**b)).count();
            match s[run_end..].chars().next() {
                Some(next) => {
                    out.extend(next.to_uppercase());
                    i = run_end + next.len_utf8();
                }
                None => {
                    out.push_str(&s[i..]);
                    i = bytes.len();
                }
            }
        } else {
            // Copy up to the next run of separators that follows a word character (an ASCII
            // byte, so a character boundary).
            let mut end = i + 1;
            while end < bytes.len() && !separators_after_word(bytes, end) {
                end += 1;
            }
            out.push_str(&s[i..end]);
            i = end;
        }
    }
    out
}

/// Whether a run of separators after a word character starts at `i` (`i > 0`): where pyhumps'
/// `(?<=[^\-_])[\-_]+` can match.
fn separators_after_word(bytes: &[u8], i: usize) -> bool {
    is_separator(bytes[i]) && !is_separator(bytes[i - 1])
}

/// One key to snake_case, as pyhumps' `decamelize`, in time linear in its length.
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
    let fixed = fix_abbreviations(&s);
    if fixed.is_ascii() { separate_words(&fixed, true) } else { separate_words(&fixed, false).to_lowercase() }
}

/// The zero of each run of ten decimal digits (category Nd, Unicode 14): what Python's `\d`
/// matches in a `str` pattern.
const DECIMAL_ZEROS: [u32; 66] = [
    0x30, 0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66, 0xDE6, 0xE50, 0xED0,
    0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620,
    0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10, 0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0,
    0x112F0, 0x11450, 0x114D0, 0x11650, 0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x16A60,
    0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E950, 0x1FBF0,
];

fn is_decimal_digit(c: char) -> bool {
    let c = u32::from(c);
    if c < 0x80 {
        return (0x30..=0x39).contains(&c);
    }
    let index = DECIMAL_ZEROS.partition_point(|zero| *zero <= c);
    index > 0 && c - DECIMAL_ZEROS[index - 1] < 10
}

/// pyhumps' `[A-Z\d]`.
fn is_upper_or_digit(c: char) -> bool {
    c.is_ascii_uppercase() || is_decimal_digit(c)
}

/// Title-cases each run of `[A-Z\d]` that is followed by another such character or the end
/// (pyhumps' `([A-Z\d]+)(?=[A-Z\d]|$)`), so `HTTPResponse` becomes `HttpResponse`: the greedy run
/// backs off one character when something else follows it. One pass: a run is title-cased when
/// it ends, and each character is looked at once more at most. Borrows when nothing changes
/// (no two capitals in a row), as in most camelCase keys.
fn fix_abbreviations(s: &str) -> Cow<'_, str> {
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut title = |out: &mut Option<String>, start: usize, end: usize| {
        let run = &s.as_bytes()[start..end];
        if run.windows(2).any(|pair| pair[0].is_ascii_alphabetic() && pair[1].is_ascii_alphabetic()) {
            let out = out.get_or_insert_with(|| String::with_capacity(s.len()));
            out.push_str(&s[copied..start]);
            push_title(out, &s[start..end]);
            copied = end;
        }
    };
    // Where the current run of `[A-Z\d]` began, and where its last character begins.
    let mut run: Option<(usize, usize)> = None;
    for (index, c) in s.char_indices() {
        if is_upper_or_digit(c) {
            run = Some((run.map_or(index, |(start, _)| start), index));
        } else if let Some((start, last)) = run.take() {
            title(&mut out, start, last);
        }
    }
    if let Some((start, _)) = run {
        title(&mut out, start, s.len());
    }
    match out {
        Some(mut out) => {
            out.push_str(&s[copied..]);
            Cow::Owned(out)
        }
        None => Cow::Borrowed(s),
    }
}

/// Python's `str.title()` on a run of ASCII capitals and decimal digits: a letter after a letter
/// is lowercased.
fn push_title(out: &mut String, run: &str) {
    let mut after_letter = false;
    for c in run.chars() {
        let letter = c.is_ascii_alphabetic();
        out.push(if letter && after_letter { c.to_ascii_lowercase() } else { c });
        after_letter = letter;
    }
}

/// Splits before each `[-_]*[A-Z]` and joins the non-empty pieces with `_` (pyhumps'
/// `_separate_words` with `([\-_]*[A-Z][^A-Z]*[\-_]*)`), lowercasing ASCII letters on the way
/// when `lowercase` (the caller lowercases anything else).
///
/// A match starts at `i` exactly when the first non-separator at or after `i` is a capital. When
/// it is not, no position up to and including that character can start one either, so the scan
/// jumps past it: a run of separators is read once, not once per position in it.
fn separate_words(s: &str, lowercase: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len() + s.len() / 2);
    let mut push = |piece: &str| {
        if !piece.is_empty() {
            if !out.is_empty() {
                out.push('_');
            }
            let from = out.len();
            out.push_str(piece);
            if lowercase {
                out[from..].make_ascii_lowercase();
            }
        }
    };
    let mut piece_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let word = i + bytes[i..].iter().take_while(|b| is_separator(**b)).count();
        match bytes.get(word) {
            Some(b) if b.is_ascii_uppercase() => {
                // The separators, the capital, then everything up to the next capital.
                let end = word + 1 + bytes[word + 1..].iter().take_while(|b| !b.is_ascii_uppercase()).count();
                push(&s[piece_start..i]);
                push(&s[i..end]);
                piece_start = end;
                i = end;
            }
            Some(_) => i = word + 1,
            None => i = word,
        }
    }
    push(&s[piece_start..]);
    out
}

#[cfg(test)]
mod reference;

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

    /// Short random keys over an alphabet chosen to hit Python's and Rust's Unicode differences,
    /// and 1,500-character runs, with the outputs of pyhumps 3.8.0 (see the `.py` beside it).
    #[test]
    fn agrees_with_pyhumps_on_adversarial_cases() {
        let cases: Vec<Value> =
            serde_json::from_str(include_str!("../tests/data/pyhumps_adversarial_cases.json")).expect("valid fixture");
        for case in cases {
            let key = case["key"].as_str().expect("key");
            assert_eq!(camelize(key), case["camelize"], "camelize({key:?})");
            assert_eq!(decamelize(key), case["decamelize"], "decamelize({key:?})");
        }
    }

    /// Long keys whose conversion is easy to state, checked against the old, quadratic
    /// implementation at 2,000 characters and against the same statement at 200,000.
    #[test]
    fn long_runs_convert_as_short_ones_do() {
        type Family = (fn(usize) -> String, fn(usize) -> String, fn(usize) -> String);
        let families: [Family; 8] = [
            (|n| "_".repeat(n), |n| "_".repeat(n), |n| "_".repeat(n)),
            (|n| format!("a{}b", "_".repeat(n)), |_| "aB".into(), |n| format!("a{}b", "_".repeat(n))),
            (
                |n| format!("a{}", "-_".repeat(n)),
                |n| format!("a{}", "-_".repeat(n)),
                |n| format!("a{}", "-_".repeat(n)),
            ),
            (
                |n| format!("{}x", "_A".repeat(n)),
                |n| format!("_{}x", "A".repeat(n)),
                |n| format!("_a{}x", "__a".repeat(n - 1)),
            ),
            (
                |n| format!("{}b", "A".repeat(n)),
                |n| format!("{}b", "A".repeat(n)),
                |n| format!("{}_ab", "a".repeat(n - 1)),
            ),
            (|n| format!("a{}", "A".repeat(n)), |n| format!("a{}", "A".repeat(n)), |n| format!("a_{}", "a".repeat(n))),
            (|n| format!("{}a", "7".repeat(n)), |n| format!("{}a", "7".repeat(n)), |n| format!("{}a", "7".repeat(n))),
            (|n| "x_Y".repeat(n), |n| "xY".repeat(n), |n| format!("x{}__y", "__yx".repeat(n - 1))),
        ];
        // Reports where two long strings part, rather than printing them.
        let same = |got: String, want: String, what: &str, key: &str| {
            let at = got.bytes().zip(want.bytes()).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
            assert!(
                got == want,
                "{what}({:.12}…): lengths {} and {}, parting at byte {at}",
                key,
                got.len(),
                want.len()
            );
        };
        for (key, camel, snake) in families {
            let short = key(2_000);
            same(reference::camelize(&short), camel(2_000), "the statement of camelize", &short);
            same(reference::decamelize(&short), snake(2_000), "the statement of decamelize", &short);
            let long = key(200_000);
            same(camelize(&long), camel(200_000), "camelize", &long);
            same(decamelize(&long), snake(200_000), "decamelize", &long);
        }
    }

    #[test]
    fn unchanged_objects_are_kept_and_changed_ones_keep_their_order() {
        let mut value = json!({"action": "x", "payload": {"user_name": 1, "zeta": 2, "alpha_beta": 3}});
        camelize_keys(&mut value);
        let payload = value["payload"].as_object().expect("an object");
        assert_eq!(payload.keys().collect::<Vec<_>>(), ["userName", "zeta", "alphaBeta"]);
        let mut middle = json!({"zeta": 1, "alpha": 2, "userName": 3, "omega": 4, "isNew": 5, "a_b": 6});
        decamelize_keys(&mut middle);
        let keys: Vec<&String> = middle.as_object().into_iter().flat_map(|m| m.keys()).collect();
        assert_eq!(keys, ["zeta", "alpha", "user_name", "omega", "is_new", "a_b"]);
        // Two keys that convert to one: the later value wins, at the first one's place, as before.
        let mut clash = json!({"a_b": 1, "x": 2, "aB": 3});
        camelize_keys(&mut clash);
        assert_eq!(clash.to_string(), r#"{"aB":3,"x":2}"#);
        let mut same = json!({"action": "x", "payload": {"user_name": 1}});
        let before = same.clone();
        decamelize_keys(&mut same);
        assert_eq!(same, before);
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
        fn matches_the_old_implementation_on_short_keys(key in "[_\\-aA0 ]{0,64}") {
            prop_assert_eq!(camelize(&key), reference::camelize(&key));
            prop_assert_eq!(decamelize(&key), reference::decamelize(&key));
        }

        #[test]
        fn matches_the_old_implementation_on_mixed_keys(key in "[_\\-aAzZ09 ßÉé\\t]{0,32}") {
            prop_assert_eq!(camelize(&key), reference::camelize(&key));
            prop_assert_eq!(decamelize(&key), reference::decamelize(&key));
        }

        #[test]
        fn the_fast_path_agrees_with_converting(key in "[_\\-aA0 ]{0,16}") {
            prop_assert_eq!(camelized(&key).unwrap_or_else(|| key.clone()), camelize(&key));
            prop_assert_eq!(decamelized(&key).unwrap_or_else(|| key.clone()), decamelize(&key));
        }

        #[test]
        fn single_word_keys_are_untouched(word in "[a-z]{1,10}") {
            prop_assert_eq!(camelize(&word), word.clone());
            prop_assert_eq!(decamelize(&word), word);
        }
    }
}
