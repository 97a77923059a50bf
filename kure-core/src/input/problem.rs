//! What can be wrong with the YAML of one document, whichever parser read it (the fast path
//! or the reference), and how deep a document may nest.

use crate::util::shown;

/// Deepest nesting of mappings and sequences in a spec. Real specs stay under 20.
pub(crate) const MAX_DEPTH: usize = 64;

/// A problem with the YAML of one document; lines are 1-based within the document text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Problem {
    /// Not YAML (the reference parser's message).
    Syntax {
        /// Where, if the parser said.
        line: Option<usize>,
        /// The 1-based column, if the parser said.
        column: Option<usize>,
        /// The parser's message.
        message: String,
    },
    /// A key given twice in one mapping.
    Duplicate {
        /// The key.
        key: String,
        /// The line of its first occurrence.
        first: usize,
        /// The line of the second.
        second: usize,
    },
    /// Nesting deeper than [`MAX_DEPTH`].
    TooDeep {
        /// Where the limit was crossed.
        line: usize,
    },
}

impl Problem {
    /// The line to report, within the document.
    pub(crate) fn line(&self) -> Option<usize> {
        match self {
            Self::Syntax { line, .. } => *line,
            Self::Duplicate { second, .. } => Some(*second),
            Self::TooDeep { line } => Some(*line),
        }
    }

    /// The column to report, when the parser said.
    pub(crate) fn column(&self) -> Option<usize> {
        match self {
            Self::Syntax { column, .. } => *column,
            Self::Duplicate { .. } | Self::TooDeep { .. } => None,
        }
    }

    /// The message; `offset` turns document lines into file lines.
    pub(crate) fn message(&self, offset: usize) -> String {
        match self {
            Self::Syntax { message, .. } => format!("YAML syntax error: {message}"),
            Self::Duplicate { key, first, .. } => format!(
                "duplicate key `{}`: it is also on line {}, and a key may appear once in a \
                 mapping (kure does not let the last one win); remove one of them",
                shown(key),
                first + offset
            ),
            Self::TooDeep { .. } => format!(
                "nested more than {MAX_DEPTH} levels deep: kure refuses such documents (specs \
                 need far fewer levels)"
            ),
        }
    }
}
