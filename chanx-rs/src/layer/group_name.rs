//! `safe_group_name`: the same group names as chanx, so processes in any language agree on them.

use blake2::Blake2sVar;
use blake2::digest::{Update, VariableOutput};

/// The longest group name chanx produces.
pub const MAX_GROUP_NAME_LENGTH: usize = 99;

/// Builds a valid group name from free-form parts, exactly as chanx's `safe_group_name`.
///
/// Each run of characters outside `A-Z a-z 0-9 . _ -` becomes `-` (trimmed at the ends), the
/// non-empty segments are joined with `.`, and a name longer than 99 characters keeps its first 86
/// characters, then `.` and 12 hex characters of a blake2s digest of the whole name.
///
/// ```
/// use chanx::layer::safe_group_name;
/// assert_eq!(safe_group_name(Some("notification"), &["user", "42"]), "notification.user.42");
/// assert_eq!(safe_group_name(None, &["room", "Weekly Sync!"]), "room.Weekly-Sync");
/// assert_eq!(safe_group_name(None, &["x".repeat(200).as_str()]).len(), 99);
/// ```
///
/// # Panics
///
/// When every part is empty after cleaning, as chanx raises `ValueError`: a group name is a
/// programmer's choice, not client input, so an empty one is a bug.
pub fn safe_group_name(namespace: Option<&str>, parts: &[&str]) -> String {
    let segments: Vec<String> =
        namespace.into_iter().chain(parts.iter().copied()).map(slug).filter(|s| !s.is_empty()).collect();
    let name = segments.join(".");
    assert!(!name.is_empty(), "safe_group_name() produced an empty name");
    if name.len() <= MAX_GROUP_NAME_LENGTH {
        return name;
    }
    let mut hasher = Blake2sVar::new(6).expect("6 bytes is a valid blake2s output size");
    hasher.update(name.as_bytes());
    let mut digest = [0u8; 6];
    hasher.finalize_variable(&mut digest).expect("the buffer has the requested size");
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    // The name is ASCII after slugging, so byte slicing is on a character boundary.
    format!("{}.{hex}", &name[..86])
}

fn slug(part: &str) -> String {
    let mut out = String::with_capacity(part.len());
    let mut in_run = false;
    for c in part.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            out.push(c);
            in_run = false;
        } else if !in_run {
            out.push('-');
            in_run = true;
        }
    }
    out.trim_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_match_chanx() {
        assert_eq!(safe_group_name(Some("DiscussionTopic"), &["discussion:5"]), "DiscussionTopic.discussion-5");
    }

    #[test]
    fn long_names_are_hashed_deterministically() {
        let long = "a".repeat(150);
        let name = safe_group_name(None, &[&long]);
        assert_eq!(name.len(), 99);
        assert!(name.starts_with(&"a".repeat(86)));
        // The same value as Python: blake2s(name, digest_size=6).hexdigest().
        assert!(name.ends_with(".c6ea057bd337"), "{name}");
    }
}
