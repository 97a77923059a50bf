//! Where a field is in a document's text, from the parser's own positions (saphyr-parser's
//! events): the line of the key of `spec.containers[1].image`, or of the second item of
//! `containers` when that item has no `image`. Only ever run to place a message, so it costs
//! nothing on a run without problems.

use saphyr_parser::{Event, Parser};

use crate::util::shown;

/// Where the parser is, one level of the document.
struct Level {
    /// The path of this collection when it lies on a wanted path (`Some("")` for the root);
    /// `None` when nothing below it is wanted, so nothing below is looked at.
    path: Option<String>,
    kind: Kind,
}

enum Kind {
    /// In a mapping: the key being read (shown as messages show it; `None` when not a scalar,
    /// or not on a wanted path) with its place, and whether the next node is a key.
    Map {
        key: Option<(String, Place)>,
        want_key: bool,
    },
    /// In a sequence: the index of the next item.
    Seq { next: usize },
}

/// A node of the current level is complete.
fn done(levels: &mut [Level]) {
    match levels.last_mut().map(|l| &mut l.kind) {
        Some(Kind::Map { want_key, .. }) => *want_key = true,
        Some(Kind::Seq { next }) => *next += 1,
        None => {}
    }
}

/// A 1-based line and column (in characters).
pub(crate) type Place = (usize, usize);

/// Whether `path` is `here` or lies below it.
fn on(path: &str, here: &str) -> bool {
    path.starts_with(here) && matches!(path.as_bytes().get(here.len()), None | Some(b'.' | b'['))
}

/// The 1-based line and column (within `text`) of the deepest node on `path` (e.g.
/// `spec.containers[1].image`) that the first document of `text` has; `None` when it has none
/// of it, or does not parse.
#[cfg(test)]
pub(crate) fn locate(text: &str, path: &str) -> Option<Place> {
    locate_all(text, &[path]).pop().flatten()
}

/// [`locate`] for several paths in one pass over the document: only nodes on a wanted path
/// are looked at, so the cost is the parse plus the length of the paths.
pub(crate) fn locate_all(text: &str, paths: &[&str]) -> Vec<Option<Place>> {
    // Per path: (length matched, its place).
    let mut best: Vec<Option<(usize, Place)>> = vec![None; paths.len()];
    let mut levels: Vec<Level> = Vec::new();
    // Inside a key that is a mapping or a sequence: how deep.
    let mut in_key = 0usize;
    let mut parser = Parser::new_from_str(text);
    while let Some(Ok((event, span))) = parser.next_event() {
        let line = (span.start.line(), span.start.col() + 1);
        if in_key > 0 {
            match event {
                Event::MappingStart(..) | Event::SequenceStart(..) => in_key += 1,
                Event::MappingEnd | Event::SequenceEnd => {
                    in_key -= 1;
                    if in_key == 0 {
                        if let Some(Kind::Map { key, want_key }) =
                            levels.last_mut().map(|l| &mut l.kind)
                        {
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
        if let Some(level) = levels.last_mut() {
            let watched = level.path.is_some();
            if let Kind::Map { key, want_key } = &mut level.kind {
                if *want_key {
                    *want_key = false;
                    *key = None;
                    match &event {
                        Event::Scalar(v, ..) if watched => *key = Some((shown(v), line)),
                        Event::MappingStart(..) | Event::SequenceStart(..) => in_key = 1,
                        _ => {}
                    }
                    continue;
                }
            }
        }
        // The path of the node starting here, if its parent is on a wanted path.
        let here: Option<(String, Place)> = match levels.last() {
            None => Some((String::new(), line)),
            Some(Level { path: None, .. }) => None,
            Some(Level {
                path: Some(parent),
                kind,
            }) => match kind {
                Kind::Map {
                    key: Some((k, at)), ..
                } => Some((
                    if parent.is_empty() {
                        k.clone()
                    } else {
                        format!("{parent}.{k}")
                    },
                    *at,
                )),
                Kind::Map { key: None, .. } => None,
                Kind::Seq { next } => Some((format!("{parent}[{next}]"), line)),
            },
        };
        let mut wanted = false;
        if let Some((here, at)) = &here {
            for (path, best) in paths.iter().zip(best.iter_mut()) {
                if here.is_empty() || !on(path, here) {
                    wanted |= here.is_empty();
                    continue;
                }
                wanted = true;
                if best.is_none_or(|(len, _)| here.len() > len) {
                    *best = Some((here.len(), *at));
                }
            }
        }
        let path = here.map(|(p, _)| p).filter(|_| wanted);
        match event {
            Event::MappingStart(..) => levels.push(Level {
                path,
                kind: Kind::Map {
                    key: None,
                    want_key: true,
                },
            }),
            Event::SequenceStart(..) => levels.push(Level {
                path,
                kind: Kind::Seq { next: 0 },
            }),
            _ => done(&mut levels),
        }
    }
    best.into_iter()
        .map(|b| b.map(|(_, place)| place))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "apiVersion: v1\nkind: AppWorkload\nmetadata:\n  name: web\nspec:\n  containers:\n    - name: a\n      image: x\n    - name: b\n      image: y\n  \"odd.key\": {x: 1,\n    y: 2}\n  ? [complex, key]\n  : 3\n  after: 4\n";

    #[test]
    fn every_field_is_found_on_its_own_line_and_column() {
        for (path, place) in [
            ("kind", (2, 1)),
            ("metadata.name", (4, 3)),
            ("spec", (5, 1)),
            ("spec.containers", (6, 3)),
            ("spec.containers[0]", (7, 7)),
            ("spec.containers[0].image", (8, 7)),
            // The second item's field, not the first's (the old line search found line 8).
            ("spec.containers[1].image", (10, 7)),
            ("spec.containers[1]", (9, 7)),
            // A field that is not there: the deepest part that is.
            ("spec.containers[1].imagee", (9, 7)),
            ("spec.containers[5].image", (6, 3)),
            ("spec.nothing", (5, 1)),
            // A key with a dot, in a flow mapping over two lines.
            ("spec.odd.key.y", (12, 5)),
            ("spec.after", (15, 3)),
        ] {
            assert_eq!(locate(DOC, path), Some(place), "{path}");
        }
        assert_eq!(locate(DOC, "nothing"), None);
        // Many paths in one pass give what each gives alone.
        let paths = ["spec.containers[1].image", "kind", "nothing", "spec.after"];
        assert_eq!(
            locate_all(DOC, &paths),
            paths.iter().map(|p| locate(DOC, p)).collect::<Vec<_>>()
        );
        assert_eq!(locate("a: [1,\n", "a"), Some((1, 1)));
        assert_eq!(locate(": : :\n", "a"), None);
    }
}
