//! Where a field is in a document's text, from the parser's own positions (saphyr-parser's
//! events): the line of the key of `spec.containers[1].image`, or of the second item of
//! `containers` when that item has no `image`. Only ever run to place a message, so it costs
//! nothing on a run without problems.

use saphyr_parser::{Event, Parser};

use crate::util::shown;

/// Where the parser is, one level of the document.
enum Level {
    /// In a mapping: the key being read (`None` when it is not a scalar), with its line, and
    /// whether the next node is a key.
    Map {
        key: Option<(String, usize)>,
        want_key: bool,
    },
    /// In a sequence: the index of the next item.
    Seq { next: usize },
}

/// The path of the node about to start, as kure shows paths (`a.b[2].c`, keys escaped as
/// [`shown`] escapes them), and the line that names it (its key's, or its own for an item);
/// `None` under a key that is not a scalar.
fn path_here(levels: &[Level], line: usize) -> Option<(String, usize)> {
    let mut path = String::new();
    let mut at = line;
    for level in levels {
        match level {
            Level::Map { key, .. } => {
                let (k, l) = key.as_ref()?;
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&shown(k));
                at = *l;
            }
            Level::Seq { next } => {
                path.push_str(&format!("[{next}]"));
                at = line;
            }
        }
    }
    Some((path, at))
}

/// A node of the current level is complete.
fn done(levels: &mut [Level]) {
    match levels.last_mut() {
        Some(Level::Map { want_key, .. }) => *want_key = true,
        Some(Level::Seq { next }) => *next += 1,
        None => {}
    }
}

/// The 1-based line (within `text`) of the deepest node on `path` (e.g.
/// `spec.containers[1].image`) that the first document of `text` has; `None` when it has none
/// of it, or does not parse.
pub(crate) fn locate(text: &str, path: &str) -> Option<usize> {
    let mut levels: Vec<Level> = Vec::new();
    // (length of the path matched, its line)
    let mut best: Option<(usize, usize)> = None;
    // Inside a key that is a mapping or a sequence: how deep.
    let mut in_key = 0usize;
    let mut parser = Parser::new_from_str(text);
    while let Some(Ok((event, span))) = parser.next_event() {
        let line = span.start.line();
        if in_key > 0 {
            match event {
                Event::MappingStart(..) | Event::SequenceStart(..) => in_key += 1,
                Event::MappingEnd | Event::SequenceEnd => {
                    in_key -= 1;
                    if in_key == 0 {
                        if let Some(Level::Map { key, want_key }) = levels.last_mut() {
                            *key = None;
                            *want_key = false;
                        }
                    }
                }
                _ => {}
            }
            continue;
        }
        match event {
            Event::DocumentEnd => break,
            Event::MappingEnd | Event::SequenceEnd => {
                levels.pop();
                done(&mut levels);
                continue;
            }
            Event::MappingStart(..)
            | Event::SequenceStart(..)
            | Event::Scalar(..)
            | Event::Alias(..) => {}
            _ => continue,
        }
        if let Some(Level::Map { key, want_key }) = levels.last_mut() {
            if *want_key {
                *want_key = false;
                match &event {
                    Event::Scalar(v, ..) => *key = Some((v.to_string(), line)),
                    Event::MappingStart(..) | Event::SequenceStart(..) => in_key = 1,
                    _ => *key = None,
                }
                continue;
            }
        }
        if let Some((here, at)) = path_here(&levels, line) {
            let on_path = !here.is_empty()
                && path.starts_with(&here)
                && matches!(path.as_bytes().get(here.len()), None | Some(b'.' | b'['));
            if on_path && best.is_none_or(|(len, _)| here.len() > len) {
                best = Some((here.len(), at));
            }
        }
        match event {
            Event::MappingStart(..) => levels.push(Level::Map {
                key: None,
                want_key: true,
            }),
            Event::SequenceStart(..) => levels.push(Level::Seq { next: 0 }),
            _ => done(&mut levels),
        }
    }
    best.map(|(_, line)| line)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "apiVersion: v1\nkind: AppWorkload\nmetadata:\n  name: web\nspec:\n  containers:\n    - name: a\n      image: x\n    - name: b\n      image: y\n  \"odd.key\": {x: 1,\n    y: 2}\n  ? [complex, key]\n  : 3\n  after: 4\n";

    #[test]
    fn every_field_is_found_on_its_own_line() {
        for (path, line) in [
            ("kind", 2),
            ("metadata.name", 4),
            ("spec", 5),
            ("spec.containers", 6),
            ("spec.containers[0]", 7),
            ("spec.containers[0].image", 8),
            // The second item's field, not the first's (the old line search found line 8).
            ("spec.containers[1].image", 10),
            ("spec.containers[1]", 9),
            // A field that is not there: the deepest part that is.
            ("spec.containers[1].imagee", 9),
            ("spec.containers[5].image", 6),
            ("spec.nothing", 5),
            // A key with a dot, in a flow mapping over two lines.
            ("spec.odd.key.y", 12),
            ("spec.after", 15),
        ] {
            assert_eq!(locate(DOC, path), Some(line), "{path}");
        }
        assert_eq!(locate(DOC, "nothing"), None);
        assert_eq!(locate("a: [1,\n", "a"), Some(1));
        assert_eq!(locate(": : :\n", "a"), None);
    }
}
