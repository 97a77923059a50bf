//! A fast path for decoding the YAML that application specs are made of: block mappings and
//! sequences of plain or simply quoted scalars.
//!
//! yaml_serde needs about 60-80 us for a 25-line spec, more than validating, generating and
//! rendering it together. This parser handles only the unambiguous subset and answers `None`
//! for anything else (anchors, tags, block or multi-line scalars, flow collections other than
//! `[]`/`{}`, escapes, duplicate keys, and any plain scalar whose type a YAML parser could
//! read differently, such as `1.0`, `yes`, `0x10`); the caller then uses yaml_serde, whose
//! result and error messages stay the reference. A differential test checks that whenever this
//! parser answers, it answers exactly what yaml_serde does.

use serde_json::{Map, Number, Value};

use crate::input::problem::{Problem, MAX_DEPTH};

struct Line<'a> {
    indent: usize,
    text: &'a str,
    /// 1-based line number in `text`.
    no: usize,
}

/// Parses `text` if it is in the supported subset: `Ok(None)` when it is not (the caller
/// then uses the reference parser). A duplicate key, or nesting deeper than
/// [`MAX_DEPTH`], is a problem at once: the lines are known here.
pub(crate) fn parse(text: &str) -> Result<Option<Value>, Problem> {
    if !plain_characters(text.as_bytes()) {
        return Ok(None);
    }
    let mut lines = Vec::new();
    for (no, raw) in text.lines().enumerate() {
        let body = raw.trim_start_matches(' ');
        let trimmed = body.trim_end_matches(' ');
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if trimmed.starts_with(['%', '&', '*', '!', '|', '>', '?', '@', '`'])
            || trimmed == "---"
            || trimmed == "..."
        {
            return Ok(None);
        }
        lines.push(Line {
            indent: raw.len() - body.len(),
            text: trimmed,
            no: no + 1,
        });
    }
    if lines.is_empty() {
        return Ok(None);
    }
    let mut p = Parser {
        lines,
        i: 0,
        depth: 0,
        problem: None,
    };
    let indent = p.lines[0].indent;
    let v = p.node(indent);
    if let Some(problem) = p.problem {
        return Err(problem);
    }
    Ok(v.filter(|_| p.i == p.lines.len()))
}

/// Whether `text` holds only characters this parser reads as YAML does: no tab (YAML's rules
/// for tabs next to indentation and indicators are subtle), no other control character but
/// line feed (YAML refuses them anywhere, comments included), no carriage return but in CRLF
/// (a lone CR breaks a line in YAML, not in [`str::lines`]), no DEL, no C1 control (NEL among
/// them), no line or paragraph separator (line breaks to libyaml), no byte order mark or
/// noncharacter inside the text. (Whitespace is only ` ` here, as in YAML:
/// never Rust's Unicode whitespace, such as a no-break space.)
fn plain_characters(text: &[u8]) -> bool {
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'\n' | b' '..=b'~' | 0xC3..=0xDF | 0xE0 | 0xE1 | 0xE3..=0xEE | 0xF0..=0xF4 => {}
            // U+2000..U+2FFF: U+2028 and U+2029 break lines in YAML 1.1 (libyaml).
            0xE2 if !matches!(
                (text.get(i + 1), text.get(i + 2)),
                (Some(0x80), Some(0xA8 | 0xA9))
            ) => {}
            b'\r' if text.get(i + 1) == Some(&b'\n') => {}
            // U+0080..U+00BF: C1 controls at 0x80..0x9F.
            0xC2 if text.get(i + 1).is_some_and(|b| *b >= 0xA0) => {}
            // U+F000..U+FFFF: U+FEFF (BOM), U+FFFE and U+FFFF.
            0xEF if !matches!(
                (text.get(i + 1), text.get(i + 2)),
                (Some(0xBB), Some(0xBF)) | (Some(0xBF), Some(0xBE | 0xBF))
            ) => {}
            0x80..=0xBF => {}
            _ => return false,
        }
        i += 1;
    }
    true
}

struct Parser<'a> {
    lines: Vec<Line<'a>>,
    i: usize,
    /// Collections open around the current line.
    depth: usize,
    /// Set, with `None` returned, when the input certainly has a problem.
    problem: Option<Problem>,
}

fn is_seq_item(t: &str) -> bool {
    t == "-" || t.starts_with("- ")
}

impl<'a> Parser<'a> {
    fn node(&mut self, indent: usize) -> Option<Value> {
        let line = self.lines.get(self.i)?;
        if line.indent != indent {
            return None;
        }
        if is_seq_item(line.text) {
            self.seq(indent)
        } else {
            self.map(indent)
        }
    }

    /// Enters a collection: `None` (with the problem set) past the depth limit.
    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let line = self.lines.get(self.i).map_or(1, |l| l.no);
            self.problem = Some(Problem::TooDeep { line });
            return None;
        }
        Some(())
    }

    /// The value of `key:` with nothing after the colon: a nested block, a sequence at the
    /// key's indentation, or null.
    fn block_value(&mut self, indent: usize) -> Option<Value> {
        match self.lines.get(self.i) {
            Some(next) if next.indent > indent => self.node(next.indent),
            Some(next) if next.indent == indent && is_seq_item(next.text) => self.seq(indent),
            _ => Some(Value::Null),
        }
    }

    fn map(&mut self, indent: usize) -> Option<Value> {
        self.enter()?;
        let mut m = Map::new();
        let start = self.i;
        while let Some(line) = self.lines.get(self.i) {
            if line.indent < indent {
                break;
            }
            if line.indent > indent || is_seq_item(line.text) {
                return None;
            }
            let (key, rest) = split_key(line.text)?;
            if m.contains_key(&key) {
                // Rare: find the first occurrence among this mapping's own lines.
                let first = self.lines[start..self.i]
                    .iter()
                    .filter(|l| l.indent == indent && !is_seq_item(l.text))
                    .find(|l| split_key(l.text).is_some_and(|(k, _)| k == key))
                    .map_or(line.no, |l| l.no);
                self.problem = Some(Problem::Duplicate {
                    key,
                    first,
                    second: line.no,
                });
                return None;
            }
            self.i += 1;
            let value = if rest.is_empty() {
                self.block_value(indent)?
            } else {
                let v = scalar(rest)?;
                if self.lines.get(self.i).is_some_and(|n| n.indent > indent) {
                    return None; // a multi-line plain scalar
                }
                v
            };
            m.insert(key, value);
        }
        self.depth -= 1;
        Some(Value::Object(m))
    }

    fn seq(&mut self, indent: usize) -> Option<Value> {
        self.enter()?;
        let mut items = Vec::new();
        while let Some(line) = self.lines.get(self.i) {
            if line.indent < indent || (line.indent == indent && !is_seq_item(line.text)) {
                break;
            }
            if line.indent > indent {
                return None;
            }
            let rest = line.text.strip_prefix('-')?;
            let inner = rest.trim_start_matches(' ');
            if inner.is_empty() {
                self.i += 1;
                items.push(match self.lines.get(self.i) {
                    Some(next) if next.indent > indent => self.node(next.indent)?,
                    _ => Value::Null,
                });
                continue;
            }
            if is_seq_item(inner) {
                return None; // `- - x`
            }
            let item_indent = indent + 1 + (rest.len() - inner.len());
            if split_key(inner).is_some() {
                // `- key: value`: a mapping whose first line starts after the dash.
                self.lines[self.i] = Line {
                    indent: item_indent,
                    text: inner,
                    no: line.no,
                };
                items.push(self.map(item_indent)?);
            } else {
                self.i += 1;
                items.push(scalar(inner)?);
                if self.lines.get(self.i).is_some_and(|n| n.indent > indent) {
                    return None;
                }
            }
        }
        self.depth -= 1;
        Some(Value::Array(items))
    }
}

/// Splits `key: rest` / `key:`; `None` when the line is not a simple mapping entry.
fn split_key(t: &str) -> Option<(String, &str)> {
    let (key, after) = if t.starts_with(['\'', '"']) {
        let (k, used) = quoted(t)?;
        (k, &t[used..])
    } else {
        let end = match t.find(": ") {
            Some(e) => e,
            None if t.ends_with(':') => t.len() - 1,
            None => return None,
        };
        let k = &t[..end];
        if k.is_empty() || crate::util::has_space_hash(k) || k.ends_with(' ') || !plain_is_string(k)
        {
            return None;
        }
        (k.to_owned(), &t[end..])
    };
    // YAML limits an implicit key to 1024 characters (yaml_serde refuses longer ones).
    if t.len() - after.len() > 1024 {
        return None;
    }
    let after = after.strip_prefix(':')?;
    if !(after.is_empty() || after.starts_with(' ')) {
        return None;
    }
    let rest = after.trim_start_matches(' ');
    let rest = if rest.starts_with('#') { "" } else { rest };
    Some((key, rest))
}

/// A quoted scalar at the start of `t`: (value, bytes used). Single-line, no escapes.
fn quoted(t: &str) -> Option<(String, usize)> {
    let q = t.chars().next()?;
    let body = &t[1..];
    if q == '"' {
        let end = body.find('"')?;
        let s = &body[..end];
        if s.contains('\\') {
            return None;
        }
        return Some((s.to_owned(), end + 2));
    }
    let mut out = String::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if chars.peek().is_some_and(|(_, n)| *n == '\'') {
                chars.next();
                out.push('\'');
                continue;
            }
            return Some((out, i + 2));
        }
        out.push(c);
    }
    None
}

/// A scalar value after `key: ` or `- `.
fn scalar(t: &str) -> Option<Value> {
    if t.starts_with(['\'', '"']) {
        let (s, used) = quoted(t)?;
        let rest = t[used..].trim_start_matches(' ');
        return (rest.is_empty() || (rest.starts_with('#') && t[used..].starts_with(' ')))
            .then_some(Value::String(s));
    }
    if t == "[]" {
        return Some(Value::Array(Vec::new()));
    }
    if t == "{}" {
        return Some(Value::Object(Map::new()));
    }
    // Strip a trailing comment.
    let t = match t.find(" #") {
        Some(i) => t[..i].trim_end_matches(' '),
        None => t,
    };
    match t {
        "true" => return Some(Value::Bool(true)),
        "false" => return Some(Value::Bool(false)),
        "null" | "~" => return Some(Value::Null),
        _ => {}
    }
    if let Some(n) = plain_int(t) {
        return Some(Value::Number(n));
    }
    plain_is_string(t).then(|| Value::String(t.to_owned()))
}

/// `0`, `42`, `-7`: decimal integers without leading zeros that fit an i64.
fn plain_int(t: &str) -> Option<Number> {
    let digits = t.strip_prefix('-').unwrap_or(t);
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    t.parse::<i64>().ok().map(Number::from)
}

/// Whether a plain scalar is certainly a string to every YAML parser: it starts with a letter
/// or `/` (so it is no number, date or special float), is no null or boolean word in any
/// spelling, and contains nothing that would end or change a plain scalar.
fn plain_is_string(t: &str) -> bool {
    let Some(first) = t.chars().next() else {
        return false;
    };
    if first.is_ascii_digit() {
        // `100m`, `128Mi`, `1h30m`: a letter that no number syntax (hex, octal, binary,
        // exponent, inf, nan) uses makes it a string everywhere.
        if !t
            .chars()
            .any(|c| c.is_ascii_alphabetic() && !"aAbBcCdDeEfFoOxXiInNtTyY".contains(c))
        {
            return false;
        }
    } else if !(first.is_ascii_alphabetic() || first == '/' || first == '_') {
        return false;
    }
    if t.len() <= 5
        && ["y", "n", "yes", "no", "on", "off", "true", "false", "null"]
            .iter()
            .any(|w| w.eq_ignore_ascii_case(t))
    {
        return false;
    }
    !crate::util::has_colon_space_or_space_hash(t)
        && !t.ends_with(':')
        && t.chars().all(|c| {
            c == ' '
                || (c.is_ascii_graphic() && !matches!(c, '{' | '}' | '[' | ']' | ',' | '"'))
                || (!c.is_ascii() && c.is_alphanumeric())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(text: &str) -> Option<Value> {
        yaml_serde::from_str::<Value>(text).ok()
    }

    /// Whenever the fast path answers, it answers what yaml_serde does.
    fn agree(text: &str) -> bool {
        match parse(text) {
            Ok(Some(v)) => {
                assert_eq!(
                    Some(&v),
                    reference(text).as_ref(),
                    "fast path differs on:\n{text}"
                );
                true
            }
            _ => false,
        }
    }

    fn corpus() -> Vec<String> {
        let mut docs: Vec<String> = [
            include_str!("../../../examples/shop.yaml"),
            include_str!("../../../examples/postgres.yaml"),
            include_str!("../../../examples/ingress-nginx.yaml"),
            include_str!("../../../examples/podinfo.yaml"),
            include_str!("../../../examples/terraform-network.yaml"),
            include_str!("../../../examples/terraform-dns.yaml"),
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        docs.push("a:\n- 1\n- b: 2\n  c:\n  - x\n-\n  - nested\nd: {}\ne: []\nf: ~\ng: 'it''s'\nh: \"dq\"  # c\n".to_owned());
        docs
    }

    #[test]
    fn accepts_typical_specs_and_matches_yaml_serde() {
        let shop = include_str!("../../../examples/shop.yaml");
        assert!(agree(shop), "the fast path should take a typical spec");
        for d in corpus() {
            agree(&d);
        }
    }

    #[test]
    fn mutated_scalars_never_diverge() {
        let mut accepted = 0;
        for base in corpus() {
            let lines: Vec<&str> = base.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                let Some(colon) = line.find(": ") else {
                    continue;
                };
                for t in crate::fuzz::TRICKY_SCALARS {
                    let mut m: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
                    m[i] = format!("{}: {t}", &line[..colon]);
                    if agree(&(m.join("\n") + "\n")) {
                        accepted += 1;
                    }
                }
            }
        }
        assert!(
            accepted > 100,
            "the mutation test exercised too little ({accepted})"
        );
    }
}
