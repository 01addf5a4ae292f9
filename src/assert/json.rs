//! Finding JSON in a model's output: models wrap it in code fences and prose, so the JSON
//! checks and the judge-reply parser both look for it the same way.

use serde_json::Value;

/// At most this many candidate start positions are tried in prose, so a pathological output
/// full of brackets costs bounded time.
const MAX_PROSE_ATTEMPTS: usize = 2_000;

/// The whole output, trimmed, parsed as JSON (any JSON value: `0` and `"x"` included).
pub fn parse_whole(output: &str) -> Result<Value, serde_json::Error> {
    serde_json::from_str(output.trim())
}

/// The first JSON found in `output`, in this order: the whole trimmed output; the body of
/// the first ```` ```json ```` fence that parses; the body of any other fence that parses;
/// the first `{...}` or `[...]` in the prose that parses.
pub fn extract(output: &str) -> Option<Value> {
    if let Ok(v) = parse_whole(output) {
        return Some(v);
    }
    let fences = fences(output);
    // ```json fences first, then any other fence.
    let json_first = fences
        .iter()
        .filter(|(lang, _)| lang.eq_ignore_ascii_case("json"));
    let others = fences
        .iter()
        .filter(|(lang, _)| !lang.eq_ignore_ascii_case("json"));
    if let Some(v) = json_first
        .chain(others)
        .find_map(|(_, body)| serde_json::from_str(body.trim()).ok())
    {
        return Some(v);
    }
    first_in_prose(output)
}

/// Code fences as `(language, body)`. An unclosed fence runs to the end of the text, as
/// models cut off by `max_tokens` leave them.
fn fences(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("```") {
        let after = &rest[start + 3..];
        let (info, body_start) = match after.find('\n') {
            Some(nl) => (after[..nl].trim(), &after[nl + 1..]),
            None => ("", after),
        };
        // An info string with spaces or braces is not a language tag: `{"a":1}` on the
        // fence line itself.
        let (lang, body_start) =
            if info.contains(|c: char| c.is_whitespace() || c == '{' || c == '[') {
                ("", after)
            } else {
                (info, body_start)
            };
        match body_start.find("```") {
            Some(end) => {
                out.push((lang.to_string(), body_start[..end].to_string()));
                rest = &body_start[end + 3..];
            }
            None => {
                out.push((lang.to_string(), body_start.to_string()));
                break;
            }
        }
    }
    out
}

/// The first `{` or `[` from which a complete JSON value parses (trailing text ignored).
fn first_in_prose(text: &str) -> Option<Value> {
    let mut attempts = 0;
    for (i, c) in text.char_indices() {
        if c != '{' && c != '[' {
            continue;
        }
        attempts += 1;
        if attempts > MAX_PROSE_ATTEMPTS {
            return None;
        }
        let mut stream = serde_json::Deserializer::from_str(&text[i..]).into_iter::<Value>();
        if let Some(Ok(v)) = stream.next() {
            return Some(v);
        }
    }
    None
}

/// Equality as JSON values, where numbers compare by value (`1` equals `1.0`).
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => x == y,
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// Looks up a dotted path (`a.b.0.c`, optional leading `$` or `$.`, `a[0]` accepted as
/// `a.0`). A numeric segment indexes an array, or names a key of an object. On failure,
/// returns the segment where the lookup stopped.
pub fn lookup<'v>(root: &'v Value, path: &str) -> Result<&'v Value, String> {
    let normalized = path.replace('[', ".").replace(']', "");
    let trimmed = normalized.trim();
    let trimmed = trimmed.strip_prefix('$').unwrap_or(trimmed);
    let mut current = root;
    for segment in trimmed.split('.').filter(|s| !s.is_empty()) {
        let next = match current {
            Value::Object(map) => map.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        match next {
            Some(v) => current = v,
            None => return Err(segment.to_string()),
        }
    }
    Ok(current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn extract_finds_json_in_all_its_disguises() {
        let cases: &[(&str, Option<Value>)] = &[
            (r#"{"a": 1}"#, Some(json!({"a": 1}))),
            ("  [1, 2]\n", Some(json!([1, 2]))),
            ("0", Some(json!(0))),
            (
                "Here you go:\n```json\n{\"name\": \"Ann\"}\n```\nDone.",
                Some(json!({"name": "Ann"})),
            ),
            ("```\n{\"x\": true}\n```", Some(json!({"x": true}))),
            ("```JSON\n[3]\n```", Some(json!([3]))),
            (
                "```python\nprint(1)\n```\n```json\n{\"b\": 2}\n```",
                Some(json!({"b": 2})),
            ),
            (
                "The answer is {\"age\": 42} as requested.",
                Some(json!({"age": 42})),
            ),
            ("Not {this} but {\"that\": 1}", Some(json!({"that": 1}))),
            ("unclosed fence ```json\n{\"c\": 3}", Some(json!({"c": 3}))),
            ("no json here", None),
            ("{broken", None),
            ("", None),
        ];
        for (input, expected) in cases {
            assert_eq!(&extract(input), expected, "input: {input:?}");
        }
    }

    #[test]
    fn json_equal_compares_numbers_by_value() {
        assert!(json_equal(&json!(1), &json!(1.0)));
        assert!(json_equal(&json!({"a": [1, 2.0]}), &json!({"a": [1.0, 2]})));
        assert!(!json_equal(&json!(1), &json!("1")));
        assert!(!json_equal(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
    }

    #[test]
    fn lookup_follows_dotted_paths() {
        let v = json!({"a": {"b": [10, {"c": "x"}]}, "0": "zero"});
        assert_eq!(lookup(&v, "a.b.0"), Ok(&json!(10)));
        assert_eq!(lookup(&v, "$.a.b.1.c"), Ok(&json!("x")));
        assert_eq!(lookup(&v, "a.b[1].c"), Ok(&json!("x")));
        assert_eq!(lookup(&v, "0"), Ok(&json!("zero")));
        assert_eq!(lookup(&v, "$"), Ok(&v));
        assert_eq!(lookup(&v, "a.z"), Err("z".to_string()));
        assert_eq!(lookup(&v, "a.b.5"), Err("5".to_string()));
    }
}
