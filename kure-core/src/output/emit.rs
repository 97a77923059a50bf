//! A small, fast YAML emitter for JSON values: block style, keys in map order (sorted, since
//! serde_json maps are ordered by key), two-space indentation, sequences at their key's
//! indentation (as kubectl prints them).
//!
//! Written here because rendering through yaml_serde cost more than validating and generating
//! an application together. Strings are quoted whenever a YAML 1.1 or 1.2 parser could read
//! them as anything but that string (kubectl's parser is YAML 1.1: `yes`, `on`, `1:20` are not
//! strings there); a test round-trips tricky values through yaml_serde.

use serde_json::Value;

/// One object as YAML (keys sorted: serde_json maps are ordered by key).
pub fn object_yaml(object: &Value) -> Result<String, crate::Error> {
    Ok(to_string(object))
}

/// Renders one value as a YAML document (no `---`), ending in a newline.
pub fn to_string(v: &Value) -> String {
    let mut out = String::with_capacity(1024);
    match v {
        Value::Object(m) if !m.is_empty() => write_map(&mut out, m, 0),
        Value::Array(a) if !a.is_empty() => write_seq(&mut out, a, 0),
        scalar => {
            // A block scalar's lines are indented: at column 0 they would end it.
            write_scalar(&mut out, scalar, 2);
            out.push('\n');
        }
    }
    out
}

pub(super) fn indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

/// Longest key written as an implicit key (`key: value`): YAML readers refuse implicit keys
/// over 1024 characters, so longer ones are written explicitly (`? key` then `: value`).
pub(super) const IMPLICIT_KEY_MAX: usize = 1000;

fn write_map(out: &mut String, m: &serde_json::Map<String, Value>, level: usize) {
    let mut first = true;
    for (k, v) in m {
        if !first {
            indent(out, level);
        }
        first = false;
        if k.len() > IMPLICIT_KEY_MAX {
            out.push_str("? ");
            write_double_quoted(out, k);
            out.push('\n');
            indent(out, level);
            out.push(':');
            match v {
                // Under an explicit `:`, a sequence is indented (not compact at the key's
                // column).
                Value::Array(a) if !a.is_empty() => {
                    out.push('\n');
                    indent(out, level + 2);
                    write_seq(out, a, level + 2);
                }
                _ => write_child(out, v, level),
            }
            continue;
        }
        write_string(out, k, level, true);
        out.push(':');
        write_child(out, v, level);
    }
}

/// A value after `key:` or `- `: nested blocks go on the next lines.
fn write_child(out: &mut String, v: &Value, level: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            indent(out, level + 2);
            write_map(out, m, level + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            indent(out, level);
            write_seq(out, a, level);
        }
        scalar => {
            out.push(' ');
            write_scalar(out, scalar, level + 2);
            out.push('\n');
        }
    }
}

fn write_seq(out: &mut String, a: &[Value], level: usize) {
    let mut first = true;
    for item in a {
        if !first {
            indent(out, level);
        }
        first = false;
        out.push_str("- ");
        match item {
            Value::Object(m) if !m.is_empty() => write_map(out, m, level + 2),
            Value::Array(inner) if !inner.is_empty() => write_seq(out, inner, level + 2),
            scalar => {
                write_scalar(out, scalar, level + 2);
                out.push('\n');
            }
        }
    }
}

fn write_scalar(out: &mut String, v: &Value, level: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) if n.is_f64() => write_float(out, &n.to_string()),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(out, s, level, false),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

/// A float as both YAML 1.1 and 1.2 read one: YAML 1.1 needs a dot in the mantissa and a sign
/// on the exponent (`1e+16` is a string there), so `1e16` is written `1.0e+16`.
pub(super) fn write_float(out: &mut String, shortest: &str) {
    match shortest.split_once(['e', 'E']) {
        None => out.push_str(shortest),
        Some((mantissa, exponent)) => {
            out.push_str(mantissa);
            if !mantissa.contains('.') {
                out.push_str(".0");
            }
            out.push('e');
            if !exponent.starts_with(['+', '-']) {
                out.push('+');
            }
            out.push_str(exponent);
        }
    }
}

pub(super) fn write_string(out: &mut String, s: &str, level: usize, is_key: bool) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else if needs_double_quotes(s) || (is_key && s.contains('\n')) {
        write_double_quoted(out, s);
    } else if s.contains('\n') && !is_key {
        write_literal(out, s, level);
    } else {
        out.push('\'');
        out.push_str(&s.replace('\'', "''"));
        out.push('\'');
    }
}

/// A character written escaped: a control character (C0, DEL, C1 with NEL), a line or
/// paragraph separator (YAML 1.1 line breaks, which a parser folds inside quotes), a byte order
/// mark, or a noncharacter YAML does not allow raw.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
        )
}

fn needs_double_quotes(s: &str) -> bool {
    s.chars().any(|c| c != '\n' && needs_escape(c))
        // Only line breaks: a literal block of empty lines reads as "".
        || (s.contains('\n') && s.trim_matches('\n').is_empty())
        || (s.contains('\n')
            && (s
                .lines()
                .find(|l| !l.is_empty())
                .is_some_and(|l| l.starts_with([' ', '\t']))
                || s.lines().any(|l| l.ends_with([' ', '\t']))))
}

/// A double-quoted scalar with YAML's escapes. (Not a JSON string: JSON leaves DEL, C1
/// controls, U+2028 and U+2029 raw, and YAML parsers fold or refuse them.)
pub(super) fn write_double_quoted(out: &mut String, s: &str) {
    use std::fmt::Write;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_literal(out: &mut String, s: &str, level: usize) {
    let trailing = s.len() - s.trim_end_matches('\n').len();
    out.push('|');
    match trailing {
        0 => out.push('-'),
        1 => {}
        _ => out.push('+'),
    }
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            indent(out, level);
            out.push_str(line);
        }
    }
}

fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if s.len() > 200
        || first.is_whitespace()
        || s.ends_with(char::is_whitespace)
        || "?:,[]{}#&*!|>'\"%@`".contains(first)
        || (first == '-' && !s[1..].starts_with(|c: char| c.is_ascii_alphabetic()))
        || crate::util::has_colon_space_or_space_hash(s)
        // At the start of a line, `...` ends the document.
        || s.starts_with("...")
        || s.ends_with(':')
        || !s
            .chars()
            .all(|c| c == ' ' || c.is_ascii_graphic() || (!c.is_ascii() && c.is_alphanumeric()))
    {
        return false;
    }
    !resolves_to_non_string(s)
}

/// Whether a YAML 1.1 or 1.2 parser would read `s` as a null, boolean, number or timestamp,
/// or (YAML 1.1) as the merge key `<<` or the value key `=`.
fn resolves_to_non_string(s: &str) -> bool {
    const WORDS: [&str; 16] = [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", ".inf", ".nan", "-.inf",
        "+.inf", "<<", "=",
    ];
    if s.len() <= 5 && WORDS.iter().any(|w| w.eq_ignore_ascii_case(s)) {
        return true;
    }
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    let first = body.chars().next().unwrap_or(' ');
    // Every number, sexagesimal number and timestamp starts with a digit or a dot; quoting all
    // such strings that are made only of number characters is simple and safe.
    if body.matches('.').count() >= 2 && !body.contains(':') {
        // Versions such as 4.11.3: no YAML number has two dots.
        return false;
    }
    if first.is_ascii_digit() || first == '.' {
        return body
            .chars()
            .all(|c| c.is_ascii_hexdigit() || "._:+-xXoO ".contains(c))
            || body.starts_with(|c: char| c.is_ascii_digit()) && looks_like_timestamp(body);
    }
    false
}

fn looks_like_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 8 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-'
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(v: &Value) {
        let text = to_string(v);
        let back: yaml_serde::Value =
            yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
        let back = serde_json::to_value(back).expect("json");
        assert_eq!(&back, v, "round trip changed the value:\n{text}");
    }

    #[test]
    fn long_keys_are_written_explicitly_and_read_back() {
        let long = "k".repeat(2000);
        let v = json!({
            "a": {long.clone(): "x", "b": 1},
            long.clone(): [1, {"c": [long.clone()]}],
            "c": {long.clone(): {"d": 2}},
            "... x": "--- y",
        });
        let text = to_string(&v);
        assert!(text.contains("? \""), "{text}");
        assert!(text.contains("'... x'"), "{text}");
        round_trip(&v);
    }

    #[test]
    fn tricky_strings_round_trip() {
        let strings = [
            "",
            " ",
            "a",
            "true",
            "True",
            "yes",
            "no",
            "on",
            "off",
            "y",
            "n",
            "null",
            "~",
            "1",
            "-1",
            "1.5",
            "1e3",
            "0x1F",
            "0o17",
            "1_000",
            ".inf",
            "-.inf",
            ".nan",
            "1:20",
            "2024-01-02",
            "2024-01-02T03:04:05Z",
            "4.11.3",
            "1.4.2",
            "v1",
            "-",
            "- a",
            "-a",
            "a: b",
            "a:b",
            "a #b",
            "a#b",
            "#x",
            ":x",
            "x:",
            "@x",
            "`x",
            "'q'",
            "\"q\"",
            "it's",
            "[a]",
            "{a}",
            "*a",
            "&a",
            "!a",
            "|a",
            ">a",
            "%a",
            "a\tb",
            "tab\t",
            "line1\nline2",
            "line1\nline2\n",
            "ends\n\n",
            "\nleading newline",
            " lead\nx",
            "trail \nx",
            "nul\u{0}x",
            "bell\u{7}",
            // Line breaks to YAML 1.1 and characters YAML does not allow raw: escaped (JSON's
            // quoting, used before, left them raw and a parser folded NEL into a space).
            "nel\u{85}x",
            "ls\u{2028}ps\u{2029}",
            "del\u{7f}",
            "csi\u{9b}31m",
            "bom\u{feff}",
            "non\u{fffe}\u{ffff}",
            "\u{2028}\nmixed",
            "unicode ü ✓",
            "ünï",
            "http://x.y/z?a=b&c",
            "C:\\path",
            "~/x",
            "=",
            "a=b",
            ">= 1.6.0",
            "~> 1.9",
            "100m",
            "128Mi",
            "0.5",
            "+1",
            "010",
            "0b101",
            "12e",
        ];
        for s in strings {
            round_trip(&json!({ s: s, "list": [s, [s], { "k": s }] }));
        }
    }

    #[test]
    fn structures_round_trip_and_look_like_kubectl() {
        let v = json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": { "name": "web", "labels": { "app": "web" }, "annotations": {} },
            "spec": {
                "replicas": 3,
                "ratio": 0.25,
                "ok": true,
                "none": null,
                "empty": [],
                "containers": [{ "name": "c", "ports": [{ "containerPort": 80 }], "args": ["-v", "2"] }],
                "matrix": [[1, 2], [], [{ "a": 1 }]],
                "script": "#!/bin/sh\necho hi\n",
            }
        });
        round_trip(&v);
        let text = to_string(&v);
        assert!(text.starts_with("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  annotations: {}\n  labels:\n    app: web\n  name: web\n"), "{text}");
        assert!(text.contains("  containers:\n  - args:\n    - -v\n    - '2'\n    name: c\n    ports:\n    - containerPort: 80\n"), "{text}");
        assert!(
            text.contains("  script: |\n    #!/bin/sh\n    echo hi\n"),
            "{text}"
        );
    }
}
