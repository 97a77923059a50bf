//! A file's YAML documents, each with the line it starts on.
//!
//! The parser decides where documents begin and end: saphyr-parser's events carry the
//! position of every `---` and `...` marker, and each document's text is the lines between
//! them (directives before a `---` belong to no document's text). Each text is then parsed on
//! its own, on the worker that has it.
//!
//! Most files are plain: no directive, no `...`, no line break but `\n`. There, a document
//! marker is a line that is `---` or starts with `--- ` (YAML forbids such a line inside any
//! scalar or collection), and the fast split finds the same documents by looking at line
//! starts, many times faster than running the parser over the file on one thread (`make bench`,
//! `input` rows). The `yaml` fuzz target holds the fast split to the parser's answer.

use std::borrow::Cow;

use saphyr_parser::{Event, Parser};

use crate::input::problem::Problem;

/// One document: its first line (1-based; the line after a bare `---`, or the `---` line when
/// the document starts on it), and its text from that line.
pub(crate) type Piece = (usize, String);

/// The documents of `text`, in order. A document may be blank (only comments): the decoder
/// skips those. An error is a stream the parser cannot split (a syntax error outside what
/// the fast split can see), with its line.
pub(crate) fn documents(text: &str) -> Result<Vec<Piece>, Problem> {
    let text = unambiguous(text)?;
    match fast(&text) {
        Some(pieces) => Ok(pieces),
        None => reference(&text),
    }
}

/// `text` without the byte-order mark it may start with, if nothing in it reads differently
/// to different YAML readers: a byte-order mark anywhere else (yaml_serde reads it as text,
/// saphyr-parser as a mark), and NEL, LS and PS (line breaks in YAML 1.1, which yaml_serde
/// follows, and not in YAML 1.2, which saphyr-parser follows) are refused, naming the line.
/// Write them as escapes in a double-quoted string (`"\u2028"`) instead.
///
/// `\r\n` and a lone `\r` become `\n`: YAML normalizes every line break in content to `\n`,
/// so the document says the same, and lines are counted one way.
pub(crate) fn unambiguous(text: &str) -> Result<Cow<'_, str>, Problem> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = if text.contains('\r') {
        Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        Cow::Borrowed(text)
    };
    let line_of = |at: usize| Some(text[..at].matches('\n').count() + 1);
    let column_of = |at: usize| {
        let start = text[..at].rfind('\n').map_or(0, |n| n + 1);
        Some(text[start..at].chars().count() + 1)
    };
    // All four are outside ASCII: most files are ASCII, which is checked a word at a time.
    let odd = if text.is_ascii() {
        None
    } else {
        text.find(['\u{feff}', '\u{85}', '\u{2028}', '\u{2029}'])
    };
    if let Some(at) = odd {
        let c = text[at..].chars().next().unwrap_or_default();
        let message = if c == '\u{feff}' {
            "a byte-order mark (U+FEFF) after the start of the file: YAML readers disagree on what it means there; remove it".to_owned()
        } else {
            format!(
                "the character U+{0:04X} is a line break to some YAML readers and not to others, so what the document says is unclear; write it as \"\\u{0:04X}\" inside a double-quoted string, or remove it",
                c as u32
            )
        };
        return Err(Problem::Syntax {
            line: line_of(at),
            column: column_of(at),
            message,
        });
    }
    // A %TAG directive changes what the tags of the document after it mean; each document is
    // read on its own, without it (kure specs use no tags).
    let tag = if text.starts_with("%TAG") {
        Some(0)
    } else {
        text.find("\n%TAG").map(|at| at + 1)
    };
    if let Some(at) = tag {
        return Err(Problem::Syntax {
            line: line_of(at),
            column: Some(1),
            message: "a %TAG directive: kure reads each document on its own and specs use no tags; remove it".to_owned(),
        });
    }
    Ok(text)
}

/// What YAML counts as white space (Rust's `trim` also removes other Unicode spaces, which
/// YAML reads as text).
pub(crate) const YAML_SPACE: [char; 2] = [' ', '\t'];

/// A line YAML reads as nothing: spaces and tabs (not other Unicode spaces, which are text),
/// and maybe a comment.
pub(crate) fn blank_line(line: &str) -> bool {
    let rest = line.trim_start_matches(YAML_SPACE);
    rest.is_empty() || rest.starts_with('#')
}

/// A document with nothing in it but blank lines and comments.
pub(crate) fn is_blank(text: &str) -> bool {
    text.lines().all(blank_line)
}

/// Whether the fast split reads `text` (already through [`unambiguous`], so only `\n` line
/// breaks and none of the characters it refuses) as the parser does: no directive and no
/// document-end marker.
fn plain(text: &str) -> bool {
    !text.starts_with('%')
        && !text.starts_with("...")
        && !text.contains("\n%")
        && !text.contains("\n...")
}

/// A document-start marker line: `---` alone or followed by a space or tab (and maybe content).
fn marker(line: &str) -> bool {
    line == "---" || line.starts_with("--- ") || line.starts_with("---\t")
}

/// What follows a marker on its line, if it is content (not blank, not a comment).
fn content_after_marker(line: &str) -> Option<&str> {
    // Only spaces and tabs are white space to YAML: a no-break space after `---` is content.
    line.strip_prefix("---")
        .map(|r| r.trim_matches(YAML_SPACE))
        .filter(|r| !r.is_empty() && !r.starts_with('#'))
}

/// The fast split of text that went through [`unambiguous`]: `None` when it is not
/// [`plain`].
pub(crate) fn fast(text: &str) -> Option<Vec<Piece>> {
    if !plain(text) {
        return None;
    }
    let mut out = Vec::new();
    let mut start = 1;
    let mut cur = String::new();
    // Lines keep their `\n`: a last line without one (in a block scalar, that is the
    // scalar's end) stays without one.
    for (i, raw) in text.split_inclusive('\n').enumerate() {
        let line = raw.strip_suffix('\n').unwrap_or(raw);
        if !marker(line) {
            cur.push_str(raw);
            continue;
        }
        out.push((start, std::mem::take(&mut cur)));
        start = i + 2;
        if content_after_marker(line).is_some() {
            // `--- value` starts a document on the marker line itself; the marker stays, so
            // that the text is a document on its own (`--- |` begins a block scalar).
            start = i + 1;
            cur.push_str(raw);
        }
    }
    out.push((start, cur));
    Some(out)
}

/// The parser's split: each document's lines, from its events' positions.
pub(crate) fn reference(text: &str) -> Result<Vec<Piece>, Problem> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let line_at = |n: usize| lines.get(n.wrapping_sub(1)).copied().unwrap_or("");
    // (first line, last line if it ended with `...`), per document.
    let mut docs: Vec<(usize, Option<usize>)> = Vec::new();
    // The line of each document's `---`, for the end of the document before it.
    let mut markers: Vec<Option<usize>> = Vec::new();
    let mut previous_end = 0;
    let mut parser = Parser::new_from_str(text);
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|e| Problem::Syntax {
            line: Some(e.marker().line()),
            column: Some(e.marker().col() + 1),
            message: e.info().to_owned(),
        })?;
        match event {
            Event::DocumentStart(true) => {
                let m = span.start.line();
                let first = if content_after_marker(line_at(m).trim_end_matches('\n')).is_some() {
                    m
                } else {
                    m + 1
                };
                docs.push((first, None));
                markers.push(Some(m));
            }
            Event::DocumentStart(false) => {
                docs.push((previous_end + 1, None));
                markers.push(None);
            }
            Event::DocumentEnd => {
                let l = span.start.line();
                if line_at(l).starts_with("...") {
                    if let Some(d) = docs.last_mut() {
                        d.1 = Some(l);
                    }
                    previous_end = l;
                } else {
                    previous_end = l.saturating_sub(1);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::with_capacity(docs.len());
    for (k, &(first, end)) in docs.iter().enumerate() {
        // A document's text stops before its `...` (alone, an empty document's `...` is not
        // YAML to every reader) or before the next `---`.
        let last = end
            .or_else(|| markers.get(k + 1).copied().flatten())
            .map_or(lines.len(), |l| l - 1);
        out.push((first, (first..=last).map(line_at).collect()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn non_blank(pieces: Vec<Piece>) -> Vec<Piece> {
        pieces.into_iter().filter(|(_, t)| !is_blank(t)).collect()
    }

    #[test]
    fn the_fast_split_finds_what_the_parser_finds() {
        for text in [
            "a: 1\n",
            "a: 1\n---\nb: 2\n",
            "# lead\n---\na: 1\n---\n# only a comment\n---\nb:\n  - x\n---\n",
            "--- {a: 1}\n--- |\n  text\n---\nc: 3",
            "a: |\n  one\n---\nb: 2\n",
            "---   # comment\na: 1\n",
        ] {
            assert_eq!(
                non_blank(fast(text).expect("plain")),
                non_blank(reference(text).expect("parses")),
                "{text:?}"
            );
        }
    }

    #[test]
    fn the_parser_splits_what_the_fast_split_does_not_read() {
        let text = "a: 1\n...\n%YAML 1.2\n---\nb: 2\n...\n---\nc: 3\n";
        assert_eq!(fast(text), None);
        assert_eq!(
            non_blank(reference(text).unwrap()),
            vec![
                (1, "a: 1\n".to_owned()),
                (5, "b: 2\n".to_owned()),
                (8, "c: 3\n".to_owned())
            ]
        );
        // Each piece parses on its own as what it is in the stream.
        for (_, t) in reference(text).unwrap() {
            assert!(crate::input::parse::parse(&t).is_ok(), "{t:?}");
        }
        // An empty document ended by `...`; a no-break space after `---` is content; a %TAG
        // directive is refused.
        assert_eq!(
            non_blank(reference("a: 1\n---\n...\n").unwrap()),
            vec![(1, "a: 1\n".to_owned())]
        );
        let nbsp = "--- \u{a0}\nx\n";
        assert_eq!(
            fast(nbsp),
            Some(vec![(1, String::new()), (1, nbsp.to_owned())])
        );
        assert_eq!(
            non_blank(reference(nbsp).unwrap()),
            vec![(1, nbsp.to_owned())]
        );
        assert!(matches!(
            documents("a: 1\n%TAG !! tag:example.com,2000:\n---\nx: !!int '3'\n"),
            Err(Problem::Syntax { line: Some(2), .. })
        ));
        assert!(matches!(
            documents("a: 1\r\r\u{2028}\n"),
            Err(Problem::Syntax { line: Some(3), .. })
        ));
        // A stream the parser refuses names the line.
        let bad = "a: 1\n...\nb: [1,\n";
        assert!(matches!(
            reference(bad),
            Err(Problem::Syntax { line: Some(_), .. })
        ));
    }
}
