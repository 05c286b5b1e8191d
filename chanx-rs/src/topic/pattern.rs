//! Topic patterns such as `room:{name}`: matching a topic string against one, as chanx's compiled
//! regular expression does (each `{param}` is `[^:]+`, greedy, the whole string must match), in
//! time polynomial in the topic's length however the topic is built.

use std::collections::HashSet;

/// One piece of a pattern: literal text or a `{name}` placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Piece<'p> {
    Literal(&'p str),
    Param(&'p str),
}

/// The pieces of a pattern `#[topic]` has checked: every `{` opens a `{name}` placeholder of
/// word characters, and two placeholders are never adjacent.
fn pieces(pattern: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else { break };
        if open > 0 {
            out.push(Piece::Literal(&rest[..open]));
        }
        out.push(Piece::Param(&rest[open + 1..open + close]));
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Literal(rest));
    }
    out
}

/// The placeholders of `pattern`, in order: `["name"]` for `room:{name}`.
pub(crate) fn parameter_names(pattern: &str) -> Vec<&str> {
    pieces(pattern)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Param(name) => Some(name),
            Piece::Literal(_) => None,
        })
        .collect()
}

/// The parameters of `topic` when it matches `pattern`, in the pattern's order; `None` otherwise.
///
/// Like Python's `re.match("^room:(?P<name>[^:]+)$")`, a placeholder takes the longest run
/// without `:` that lets the rest match. Positions that failed once are remembered, so a topic
/// built to make the search backtrack costs at most pieces × length² steps, never more.
pub(crate) fn parse<'p>(pattern: &'p str, topic: &str) -> Option<Vec<(&'p str, String)>> {
    let pieces = pieces(pattern);
    let mut failed = HashSet::new();
    let mut found = Vec::new();
    matches(&pieces, 0, topic, 0, &mut failed, &mut found).then(|| {
        found.reverse();
        found
    })
}

fn matches<'p>(
    pieces: &[Piece<'p>],
    i: usize,
    topic: &str,
    at: usize,
    failed: &mut HashSet<(usize, usize)>,
    found: &mut Vec<(&'p str, String)>,
) -> bool {
    let Some(piece) = pieces.get(i) else { return at == topic.len() };
    if failed.contains(&(i, at)) {
        return false;
    }
    let rest = &topic[at..];
    let ok = match *piece {
        Piece::Literal(text) => rest.starts_with(text) && matches(pieces, i + 1, topic, at + text.len(), failed, found),
        Piece::Param(name) => {
            // The longest run without ':' first, as a greedy `[^:]+` tries it.
            let run = rest.find(':').unwrap_or(rest.len());
            let next = pieces.get(i + 1);
            let mut ok = false;
            for end in (1..=run).rev() {
                if !rest.is_char_boundary(end) {
                    continue;
                }
                // Only ends where the next literal starts (or the topic ends) can match.
                let fits = match next {
                    Some(Piece::Literal(text)) => rest[end..].starts_with(text),
                    Some(Piece::Param(_)) => true,
                    None => end == rest.len(),
                };
                if fits && matches(pieces, i + 1, topic, at + end, failed, found) {
                    found.push((name, rest[..end].to_owned()));
                    ok = true;
                    break;
                }
            }
            ok
        }
    };
    if !ok {
        failed.insert((i, at));
    }
    ok
}

/// `pattern` with each placeholder replaced by the parameter of that name, or the first name
/// `param` has no value for.
pub(crate) fn fill(pattern: &str, mut param: impl FnMut(&str) -> Option<String>) -> Result<String, &str> {
    let mut out = String::with_capacity(pattern.len() + 16);
    for piece in pieces(pattern) {
        match piece {
            Piece::Literal(text) => out.push_str(text),
            Piece::Param(name) => out.push_str(&param(name).ok_or(name)?),
        }
    }
    Ok(out)
}

/// Whether two patterns match the same topics: equal once placeholder names are ignored
/// (`room:{name}` and `room:{id}`). Evaluated at compile time for the topics a consumer hosts.
pub const fn same_shape(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] == b'{' && b[j] == b'{' {
            while i < a.len() && a[i] != b'}' {
                i += 1;
            }
            while j < b.len() && b[j] != b'}' {
                j += 1;
            }
        } else if a[i] != b[j] {
            return false;
        }
        i += 1;
        j += 1;
    }
    i >= a.len() && j >= b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pattern: &'static str, topic: &str) -> Option<Vec<(&'static str, String)>> {
        parse(pattern, topic)
    }

    #[test]
    fn a_parameter_is_a_run_without_colons() {
        assert_eq!(params("room:{name}", "room:lobby"), Some(vec![("name", "lobby".into())]));
        assert_eq!(params("room:{name}", "room:a:b"), None);
        assert_eq!(params("room:{name}", "room:"), None);
        assert_eq!(params("room:{name}", "rooms:x"), None);
        assert_eq!(params("room:{name}", "room:é ✓"), Some(vec![("name", "é ✓".into())]));
        assert_eq!(params("lobby", "lobby"), Some(vec![]));
        assert_eq!(params("lobby", "lobby2"), None);
    }

    #[test]
    fn parameters_are_greedy_as_in_python() {
        // re.match(r"^(?P<a>[^:]+)-(?P<b>[^:]+)$", "x-y-z") gives a="x-y", b="z".
        assert_eq!(params("{a}-{b}", "x-y-z"), Some(vec![("a", "x-y".into()), ("b", "z".into())]));
        assert_eq!(
            params("chat:{org}:{room}", "chat:acme:ops"),
            Some(vec![("org", "acme".into()), ("room", "ops".into())])
        );
    }

    #[test]
    fn a_topic_built_to_backtrack_is_answered_quickly() {
        // As long as topics may be (Settings::max_topic_length): without the memo, billions of steps.
        let topic = format!("{}!", "a-".repeat(127));
        assert_eq!(params("{a}-{b}-{c}-{d}-{e}-{f}.", &topic), None);
    }

    #[test]
    fn patterns_are_filled_from_route_parameters() {
        let by = |name: &str| (name == "name").then(|| "lobby".to_owned());
        assert_eq!(fill("room:{name}", by), Ok("room:lobby".to_owned()));
        assert_eq!(fill("room:{id}", by), Err("id"));
        assert_eq!(parameter_names("chat:{org}:{room}"), ["org", "room"]);
    }

    #[test]
    fn shapes_ignore_parameter_names() {
        assert!(same_shape("room:{name}", "room:{id}"));
        assert!(!same_shape("room:{name}", "rooms:{name}"));
        assert!(!same_shape("room:{name}", "room:{name}:x"));
        assert!(same_shape("lobby", "lobby"));
    }
}
