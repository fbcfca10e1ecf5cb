//! Read-only helpers over the merged YAML tree: typed lookups that mirror how Kamal's Ruby
//! reads `raw_config` (`present?`, `blank?`, `Array(x)`, `to_s`).

use crate::yaml::{Mapping, Node, Value};

/// Ruby's `present?`: not nil, not false, not an empty String/Array/Hash, not blank text.
pub fn present(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) | Some(Value::Bool(false)) => false,
        Some(Value::String(text)) => !text.trim().is_empty(),
        Some(Value::Sequence(items)) => !items.is_empty(),
        Some(Value::Mapping(mapping)) => !mapping.is_empty(),
        Some(_) => true,
    }
}

/// Ruby's `to_s` for a scalar (nil → "").
pub fn to_s(value: &Value) -> String {
    super::validator::key_text(value)
}

/// A String-ish scalar as text; None for nil and collections.
pub fn scalar_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Null | Value::Sequence(_) | Value::Mapping(_) | Value::Object { .. } => None,
        other => Some(to_s(other)),
    }
}

/// Ruby's `Array(x)` over a node: nil → [], Array → items, anything else → [x].
pub fn array_of(node: Option<&Node>) -> Vec<&Node> {
    match node {
        None => Vec::new(),
        Some(node) => match &node.value {
            Value::Null => Vec::new(),
            Value::Sequence(items) => items.iter().collect(),
            _ => vec![node],
        },
    }
}

/// Strings of an Array (or a lone scalar), skipping nothing: each `to_s`.
pub fn strings(node: Option<&Node>) -> Vec<String> {
    array_of(node).into_iter().map(|node| to_s(&node.value)).collect()
}

pub fn get<'a>(mapping: Option<&'a Mapping>, key: &str) -> Option<&'a Node> {
    mapping.and_then(|mapping| mapping.get(key))
}

pub fn get_value<'a>(mapping: Option<&'a Mapping>, key: &str) -> Option<&'a Value> {
    get(mapping, key).map(|node| &node.value)
}

pub fn get_mapping<'a>(mapping: Option<&'a Mapping>, key: &str) -> Option<&'a Mapping> {
    get_value(mapping, key).and_then(Value::as_mapping)
}

pub fn get_string(mapping: Option<&Mapping>, key: &str) -> Option<String> {
    scalar_text(get_value(mapping, key))
}

pub fn get_bool(mapping: Option<&Mapping>, key: &str) -> Option<bool> {
    match get_value(mapping, key) {
        Some(Value::Bool(flag)) => Some(*flag),
        _ => None,
    }
}

pub fn get_integer(mapping: Option<&Mapping>, key: &str) -> Option<i64> {
    match get_value(mapping, key) {
        Some(Value::Integer(number)) => Some(*number),
        _ => None,
    }
}

pub fn has_key(mapping: Option<&Mapping>, key: &str) -> bool {
    mapping.is_some_and(|mapping| mapping.get(key).is_some())
}

/// Keys of a mapping as text, in order.
pub fn keys(mapping: Option<&Mapping>) -> Vec<String> {
    mapping
        .map(|mapping| mapping.keys().map(|key| to_s(&key.value)).collect())
        .unwrap_or_default()
}

/// Ruby's `deep_merge` as Kamal uses it for destinations: Hashes merge recursively,
/// everything else from `overlay` replaces `base`.
pub fn deep_merge(base: &Node, overlay: &Node) -> Node {
    match (&base.value, &overlay.value) {
        (Value::Mapping(base_mapping), Value::Mapping(overlay_mapping)) => {
            let mut merged = base_mapping.clone();
            for (key, value) in &overlay_mapping.entries {
                let combined = match merged.get_value(&key.value) {
                    Some(existing) => deep_merge(existing, value),
                    None => value.clone(),
                };
                merged.insert(key.clone(), combined);
            }
            Node::new(Value::Mapping(merged), base.mark)
        }
        _ => overlay.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::Node;

    fn string(text: &str) -> Node {
        Node::synthetic(Value::String(text.into()))
    }

    fn mapping(entries: Vec<(&str, Node)>) -> Node {
        let mut mapping = Mapping::new();
        for (key, value) in entries {
            mapping.insert(string(key), value);
        }
        Node::synthetic(Value::Mapping(mapping))
    }

    #[test]
    fn deep_merge_merges_hashes_and_replaces_arrays() {
        let base = mapping(vec![
            (
                "servers",
                mapping(vec![("web", Node::synthetic(Value::Sequence(vec![string("a")])))]),
            ),
            ("service", string("app")),
        ]);
        let overlay = mapping(vec![
            (
                "servers",
                mapping(vec![("web", Node::synthetic(Value::Sequence(vec![string("b")])))]),
            ),
            ("image", string("x")),
        ]);
        let merged = deep_merge(&base, &overlay);
        let root = merged.value.as_mapping().expect("mapping");
        let web = get(get_mapping(Some(root), "servers"), "web").expect("web");
        assert_eq!(strings(Some(web)), vec!["b".to_string()]);
        assert_eq!(keys(Some(root)), vec!["servers", "service", "image"]);
    }

    #[test]
    fn present_follows_ruby() {
        assert!(!present(None));
        assert!(!present(Some(&Value::String("  ".into()))));
        assert!(!present(Some(&Value::Bool(false))));
        assert!(present(Some(&Value::Integer(0))));
    }
}
