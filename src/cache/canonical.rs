//! The canonical encoding every fingerprint hashes (part of recipe version
//! [`FINGERPRINT_VERSION`](super::FINGERPRINT_VERSION); see `docs/fingerprint.md`).
//!
//! It is JSON with no whitespace, where:
//! - object keys are sorted by their UTF-8 bytes, at every level;
//! - strings are JSON strings: `"` and `\` escaped, `\b \f \n \r \t` in their short form, other
//!   control characters below U+0020 as `\u00xx` (lowercase hex), everything else raw UTF-8;
//! - numbers: integers as decimal digits; floats in Rust's shortest round-trip decimal form
//!   without exponent (`0.1`, `1e21` as `1000000000000000000000`), an integral float written
//!   like the integer (`1.0` as `1`, so TOML `1` and `1.0` agree), `-0` as `0`, and the
//!   non-finite values as the strings `"NaN"`, `"inf"`, `"-inf"`;
//! - `None` is `null`.
//!
//! Nothing here depends on the platform, the locale, or the order a map was built in.
//! Changing any rule changes every fingerprint: bump the version.

use std::io::Write as _;

/// Appends a JSON string literal.
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 0xf) as usize]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

pub(crate) fn write_f64(out: &mut Vec<u8>, f: f64) {
    if f.is_nan() {
        write_str(out, "NaN");
    } else if f.is_infinite() {
        write_str(out, if f > 0.0 { "inf" } else { "-inf" });
    } else if f == 0.0 {
        // Both zeros.
        out.push(b'0');
    } else {
        // `Display` for f64 is the shortest representation that round-trips, never uses an
        // exponent and prints integral values without a fraction.
        let _ = write!(out, "{f}");
    }
}

pub(crate) fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    // Hot (every scenario fingerprint writes a repeat index): no formatting machinery.
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

pub(crate) fn write_i64(out: &mut Vec<u8>, n: i64) {
    let _ = write!(out, "{n}");
}

pub(crate) fn write_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => write_str(out, s),
        None => out.extend_from_slice(b"null"),
    }
}

pub(crate) fn write_opt_f64(out: &mut Vec<u8>, f: Option<f64>) {
    match f {
        Some(f) => write_f64(out, f),
        None => out.extend_from_slice(b"null"),
    }
}

/// Any JSON value, objects with sorted keys.
pub(crate) fn write_value(out: &mut Vec<u8>, value: &serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                write_u64(out, u);
            } else if let Some(i) = n.as_i64() {
                write_i64(out, i);
            } else {
                write_f64(out, n.as_f64().unwrap_or(f64::NAN));
            }
        }
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_str(out, key);
                out.push(b':');
                write_value(out, &map[key]);
            }
            out.push(b'}');
        }
    }
}

pub(crate) fn write_opt_value(out: &mut Vec<u8>, value: Option<&serde_json::Value>) {
    match value {
        Some(v) => write_value(out, v),
        None => out.extend_from_slice(b"null"),
    }
}

/// A map whose keys are already sorted (a `BTreeMap<String, _>` iterates in byte order).
pub(crate) fn write_sorted_map<'a, V: 'a>(
    out: &mut Vec<u8>,
    entries: impl IntoIterator<Item = (&'a String, &'a V)>,
    mut write: impl FnMut(&mut Vec<u8>, &V),
) {
    out.push(b'{');
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, k);
        out.push(b':');
        write(out, v);
    }
    out.push(b'}');
}

/// Writes `"key":` (with a leading comma unless `first`).
pub(crate) fn key(out: &mut Vec<u8>, first: bool, key: &str) {
    if !first {
        out.push(b',');
    }
    write_str(out, key);
    out.push(b':');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn enc(v: &serde_json::Value) -> String {
        let mut out = Vec::new();
        write_value(&mut out, v);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn canonical_encoding_table() {
        let cases: &[(serde_json::Value, &str)] = &[
            (json!(null), "null"),
            (json!(true), "true"),
            (json!(1), "1"),
            (json!(-3), "-3"),
            (json!(0), "0"),
            (json!(10), "10"),
            (json!(u64::MAX), "18446744073709551615"),
            (json!(i64::MIN), "-9223372036854775808"),
            (json!(1.0), "1"),
            (json!(0.1), "0.1"),
            (json!(-0.0), "0"),
            (json!(1e21), "1000000000000000000000"),
            (json!(2.5e-7), "0.00000025"),
            (json!("a\"b\\c\nd\u{1}é"), "\"a\\\"b\\\\c\\nd\\u0001é\""),
            (
                json!({"b": 1, "a": {"d": [1, 2], "c": null}}),
                "{\"a\":{\"c\":null,\"d\":[1,2]},\"b\":1}",
            ),
        ];
        for (value, want) in cases {
            assert_eq!(enc(value), *want, "encoding {value}");
        }
    }

    #[test]
    fn strings_match_serde_json_escaping() {
        for s in [
            "plain",
            "quote\"",
            "tab\there",
            "\u{7f}\u{1f}\u{0}",
            "日本語",
            "\\u0041",
        ] {
            let mut out = Vec::new();
            write_str(&mut out, s);
            assert_eq!(
                String::from_utf8(out).expect("utf-8"),
                serde_json::to_string(s).expect("json")
            );
        }
    }

    #[test]
    fn non_finite_floats_are_strings() {
        let mut out = Vec::new();
        write_f64(&mut out, f64::NAN);
        write_f64(&mut out, f64::INFINITY);
        write_f64(&mut out, f64::NEG_INFINITY);
        assert_eq!(
            String::from_utf8(out).expect("utf-8"),
            "\"NaN\"\"inf\"\"-inf\""
        );
    }
}
