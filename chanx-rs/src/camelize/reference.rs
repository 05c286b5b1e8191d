//! The previous implementation, kept as a test oracle: a direct transcription of pyhumps'
//! regular expressions, simple to check by eye but quadratic in a run of separators, so it is
//! only ever run on short keys.

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

pub(super) fn camelize(key: &str) -> String {
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

pub(super) fn decamelize(key: &str) -> String {
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
