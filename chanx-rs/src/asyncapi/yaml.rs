//! A block-style YAML rendering of a JSON value. Every string is written as a JSON string, which
//! YAML reads the same, so no value can be mistaken for another type (`"yes"`, `"1.0"`, `"null"`).

use std::fmt::Write as _;

use serde_json::Value;

/// `value` as a YAML document.
pub(crate) fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0),
        scalar => {
            out.push_str(&inline(scalar));
            out.push('\n');
        }
    }
    out
}

fn inline(value: &Value) -> String {
    match value {
        Value::Object(map) if map.is_empty() => "{}".to_owned(),
        Value::Array(items) if items.is_empty() => "[]".to_owned(),
        // JSON strings, numbers, booleans and null are YAML flow scalars with the same meaning.
        scalar => scalar.to_string(),
    }
}

fn is_block(value: &Value) -> bool {
    matches!(value, Value::Object(map) if !map.is_empty()) || matches!(value, Value::Array(items) if !items.is_empty())
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, indent: usize) {
    for (key, value) in map {
        let key = Value::String(key.clone());
        let _ = write!(out, "{:indent$}{key}:", "");
        write_value(out, value, indent);
    }
}

fn write_seq(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        let _ = write!(out, "{:indent$}-", "");
        write_value(out, item, indent);
    }
}

fn write_value(out: &mut String, value: &Value, indent: usize) {
    if is_block(value) {
        out.push('\n');
        match value {
            Value::Object(map) => write_map(out, map, indent + 2),
            Value::Array(items) => write_seq(out, items, indent + 2),
            _ => {}
        }
    } else {
        let _ = writeln!(out, " {}", inline(value));
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn nested_values_render_in_block_style() {
        let value = json!({"a": {"b": [1, {"c": "yes"}], "d": {}}, "e": [], "f": null, "g": "line\nbreak"});
        assert_eq!(
            to_yaml(&value),
            "\"a\":\n  \"b\":\n    - 1\n    -\n      \"c\": \"yes\"\n  \"d\": {}\n\"e\": []\n\"f\": null\n\"g\": \"line\\nbreak\"\n"
        );
    }
}
