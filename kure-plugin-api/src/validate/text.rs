//! Words for people: "did you mean" suggestions, and hostile text (from a spec, a schema or a
//! plugin) made safe to show.

/// Levenshtein distance, for "did you mean" suggestions.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(!ca.eq_ignore_ascii_case(cb));
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate closest to `word`, if it is close enough to be a plausible typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    if word.len() > 128 {
        return None; // no plausible typo, and the distance is quadratic
    }
    candidates
        .into_iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= (c.len().max(word.len()) / 2).max(2))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Hostile text made safe to show: control characters escaped (no terminal escapes reach the
/// screen), and at most about 120 characters, ending in `…` when cut.
pub fn shown(text: &str) -> String {
    shown_max(text, 120)
}

/// [`shown`] for a whole message from a plugin or a worker (a paragraph, not a name): cut at
/// 2000 characters.
pub fn shown_message(text: &str) -> String {
    shown_max(text, 2000)
}

/// A path for a message: control characters escaped, never cut.
pub fn shown_path(path: &std::path::Path) -> String {
    match path.to_str() {
        Some(text) => shown_max(text, usize::MAX),
        None => shown_max(&path.display().to_string(), usize::MAX),
    }
}

/// A character that must not reach a terminal raw: a control character, a line or paragraph
/// separator, or an invisible (zero-width) or bidirectional-formatting character that makes
/// text read differently from what it is.
pub fn hostile(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{feff}'
        )
}

/// [`shown`] cut at `max` characters.
pub fn shown_max(text: &str, max: usize) -> String {
    // Most text is shown as it is: one copy.
    if (text.len() <= max || text.chars().count() <= max) && !text.chars().any(hostile) {
        return text.to_owned();
    }
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        if hostile(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_max_escapes_and_cuts_by_characters() {
        assert_eq!(shown_max("plain.yaml", 10), "plain.yaml");
        assert_eq!(shown_max("plain.yaml", 9), "plain.yam…");
        // Cut by characters, not bytes: four 2-byte characters fit in 4.
        assert_eq!(shown_max("éééé", 4), "éééé");
        assert_eq!(shown_max("ééééé", 4), "éééé…");
        assert_eq!(shown_max("a\u{1b}[2Jb", 100), "a\\u{1b}[2Jb");
        assert_eq!(shown_max("a\u{202e}b", 100), "a\\u{202e}b");
        // Invisible and bidirectional-formatting characters, and line separators.
        for c in [
            '\u{061c}', '\u{2028}', '\u{2029}', '\u{2060}', '\u{2064}', '\u{feff}',
        ] {
            assert!(hostile(c), "{:?}", c);
            assert_eq!(
                shown(&format!("a{c}b")),
                format!("a{}b", c.escape_default())
            );
        }
        assert!(!hostile('é') && !hostile('→'));
        assert_eq!(shown_max("ab\ncd", 3), "ab\\n…");
        assert_eq!(
            shown_path(std::path::Path::new("dir/\u{1b}]0;x\u{7}.yaml")),
            "dir/\\u{1b}]0;x\\u{7}.yaml"
        );
    }
}
