//! What a provision copy (副本) may hold, stated once: every copy accepted (over the API or from
//! a CSV file) must fit, as part of any answer built from accepted copies, through every hop of
//! the linkage. An answer carries at most `wire::MAX_ITEMS_PER_QUERY` items; the provider seals it
//! (base64), signs it in an envelope (base64 again), and the hub wraps that envelope in the one
//! it relays (base64 a third time): the relayed message is about 2.4 times the answer's JSON.
//! [`MAX_FIELDS_BYTES`] keeps that under [`MAX_MESSAGE_BYTES`], the body limit of the hub's and
//! the platforms' network listeners, with room to spare; [`MAX_FIELDS_DEPTH`] keeps the deepest
//! answer far inside the JSON parser's nesting limit (128). The test
//! `largest_accepted_answer_fits_every_hop` (crates/crypto/tests) builds the largest answer and
//! checks both.

use serde_json::{Map, Value};

/// Bytes of a copy's `fields` as compact JSON, at most.
pub const MAX_FIELDS_BYTES: usize = 16 << 10;

/// Levels of objects and arrays in a copy's `fields`, the `fields` object itself counted.
pub const MAX_FIELDS_DEPTH: usize = 16;

/// Body limit of the network listeners (hub and platforms): queries, answers, relays, notices.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// Why a copy's fields are refused: which limit, never the values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldsError {
    #[error("fields take {0} bytes as JSON; at most {MAX_FIELDS_BYTES}")]
    TooLarge(usize),
    #[error("fields nest more than {MAX_FIELDS_DEPTH} levels of objects and arrays")]
    TooDeep,
    #[error("fields are empty")]
    Empty,
}

/// Checks a copy's fields against the limits of the answer path.
pub fn check_fields(fields: &Map<String, Value>) -> Result<(), FieldsError> {
    if fields.is_empty() {
        return Err(FieldsError::Empty);
    }
    if fields.values().any(|v| depth(v) + 1 > MAX_FIELDS_DEPTH) {
        return Err(FieldsError::TooDeep);
    }
    let bytes = serde_json::to_vec(fields).map_or(usize::MAX, |v| v.len());
    if bytes > MAX_FIELDS_BYTES {
        return Err(FieldsError::TooLarge(bytes));
    }
    Ok(())
}

/// Levels of objects and arrays in `v` (a scalar is 0).
fn depth(v: &Value) -> usize {
    // Iterative: a value nested deeper than the stack allows must be refused, not overflow it.
    let mut deepest = 0;
    let mut stack = vec![(v, 0usize)];
    while let Some((v, d)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(a) => Box::new(a.iter()),
            Value::Object(o) => Box::new(o.values()),
            _ => continue,
        };
        deepest = deepest.max(d + 1);
        if deepest > MAX_FIELDS_DEPTH {
            return deepest;
        }
        stack.extend(children.map(|c| (c, d + 1)));
    }
    deepest
}

/// The largest `fields` [`check_fields`] accepts that serialize the longest: `depth` levels deep
/// and filled with a string of characters JSON must escape, for tests of the answer path.
pub fn largest_fields() -> Map<String, Value> {
    let mut fields = Map::new();
    // Nest MAX_FIELDS_DEPTH - 1 objects under the fields object, then fill the innermost with
    // one string as long as the byte limit leaves room for.
    let wrap = |inner: Value| -> Value {
        let mut v = inner;
        for _ in 0..MAX_FIELDS_DEPTH - 1 {
            let mut o = Map::new();
            o.insert("x".into(), v);
            v = Value::Object(o);
        }
        v
    };
    let overhead = serde_json::to_vec(&{
        let mut m = Map::new();
        m.insert("f".into(), wrap(Value::String(String::new())));
        m
    })
    .map_or(0, |v| v.len());
    // Each `"` serializes as two bytes.
    let room = (MAX_FIELDS_BYTES - overhead) / 2;
    fields.insert("f".into(), wrap(Value::String("\"".repeat(room))));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn fields_within_the_limits_are_accepted_and_the_largest_is_at_them() {
        assert_eq!(check_fields(&map(json!({"tax": 1, "note": "課税"}))), Ok(()));
        let largest = largest_fields();
        assert_eq!(check_fields(&largest), Ok(()));
        let bytes = serde_json::to_vec(&largest).unwrap().len();
        assert!(bytes <= MAX_FIELDS_BYTES && bytes > MAX_FIELDS_BYTES - 4, "{bytes}");
    }

    #[test]
    fn fields_too_large_too_deep_or_empty_are_refused_without_their_values() {
        let big = map(json!({"note": "x".repeat(MAX_FIELDS_BYTES)}));
        let e = check_fields(&big).unwrap_err();
        assert!(matches!(e, FieldsError::TooLarge(_)));
        assert!(!e.to_string().contains("xxx"));
        let mut deep = json!(1);
        for _ in 0..MAX_FIELDS_DEPTH {
            deep = json!([deep]);
        }
        assert_eq!(check_fields(&map(json!({ "a": deep }))), Err(FieldsError::TooDeep));
        let mut ok = json!(1);
        for _ in 0..MAX_FIELDS_DEPTH - 1 {
            ok = json!([ok]);
        }
        assert_eq!(check_fields(&map(json!({ "a": ok }))), Ok(()));
        assert_eq!(check_fields(&Map::new()), Err(FieldsError::Empty));
    }

    #[test]
    fn a_value_nested_far_deeper_than_the_stack_is_refused_not_overflowed() {
        let mut v = Value::Null;
        for _ in 0..100_000 {
            v = Value::Array(vec![v]);
        }
        let mut m = Map::new();
        m.insert("a".into(), v);
        assert_eq!(check_fields(&m), Err(FieldsError::TooDeep));
        // Dropping it recursively would overflow the stack too: take it apart by hand.
        let mut v = m.remove("a");
        while let Some(Value::Array(mut a)) = v {
            v = a.pop();
        }
    }
}
