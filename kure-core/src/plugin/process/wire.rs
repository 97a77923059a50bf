//! The binary layout of batch frames between kure and a process-isolation worker.
//!
//! A batch carries the JSON of many apps. Embedding each app's JSON as a JSON string would
//! escape it on one side and unescape it on the other, for every request and every answer;
//! measured, that was most of what process isolation cost per app. So a batch frame holds the
//! items as length-prefixed bytes, untouched. Every other message stays a JSON frame, whose
//! first byte is `{`; a batch frame's first byte is [`BATCH`].
//!
//! All integers are little endian.
//!
//! ```text
//! request: BATCH, op (b'v' validate | b'g' generate),
//!          u32 len, apiVersion, u32 len, kind,
//!          u32 count, count × (u32 len, item JSON)
//! answer:  BATCH, u32 count, count × (u8 0 = ok | 1 = err, u32 len, bytes)
//!          ok: generate → the objects JSON the plugin returned; validate → nothing
//!          err: an ErrorPayload as JSON
//! ```
//!
//! The worker is as hostile as the plugin it runs: decoding an answer checks every length
//! against what is left, refuses a count other than the number of apps asked for before it
//! decodes anything, and fails with a message instead of panicking.

use kure_plugin_api::abi::ErrorPayload;

/// The first byte of a batch frame.
pub(crate) const BATCH: u8 = 0xB1;

/// The plugin call a batch makes for each item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BatchOp {
    Validate,
    Generate,
}

impl BatchOp {
    pub(crate) fn name(self) -> &'static str {
        match self {
            BatchOp::Generate => "generate",
            BatchOp::Validate => "validate",
        }
    }

    fn code(self) -> u8 {
        match self {
            BatchOp::Validate => b'v',
            BatchOp::Generate => b'g',
        }
    }
}

/// A decoded batch request; the items borrow the frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BatchRequest<'a> {
    pub op: BatchOp,
    pub api_version: &'a str,
    pub kind: &'a str,
    pub items: Vec<&'a [u8]>,
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    // Callers keep frames far below 4 GiB (MAX_FRAME); saturate rather than wrap.
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u32(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

/// Encodes a batch request.
pub(crate) fn encode_request(
    op: BatchOp,
    api_version: &str,
    kind: &str,
    items: &[String],
) -> Vec<u8> {
    let size =
        12 + api_version.len() + kind.len() + items.iter().map(|i| i.len() + 4).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.push(BATCH);
    out.push(op.code());
    put_str(&mut out, api_version);
    put_str(&mut out, kind);
    put_u32(&mut out, items.len());
    for item in items {
        put_u32(&mut out, item.len());
        out.extend_from_slice(item.as_bytes());
    }
    out
}

/// Reads a frame front to back; every read checks what is left.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if self.buf.len() < n {
            return Err(format!(
                "the frame ends inside {what} ({n} bytes announced, {} left)",
                self.buf.len()
            ));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn u8(&mut self, what: &str) -> Result<u8, String> {
        Ok(self.bytes(1, what)?[0])
    }

    fn u32(&mut self, what: &str) -> Result<usize, String> {
        let b = self.bytes(4, what)?;
        usize::try_from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .map_err(|_| format!("{what} does not fit this machine"))
    }

    fn str(&mut self, what: &str) -> Result<&'a str, String> {
        let n = self.u32(what)?;
        std::str::from_utf8(self.bytes(n, what)?).map_err(|_| format!("{what} is not UTF-8"))
    }

    /// A count of items that each take at least `min` bytes: never more than could fit.
    fn count(&mut self, min: usize) -> Result<usize, String> {
        let n = self.u32("the item count")?;
        if n > self.buf.len() / min.max(1) {
            return Err(format!(
                "the frame announces {n} items but holds {} bytes",
                self.buf.len()
            ));
        }
        Ok(n)
    }

    fn end(&self) -> Result<(), String> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(format!("{} bytes follow the last item", self.buf.len()))
        }
    }
}

/// Decodes a batch request (the worker's side).
pub(crate) fn decode_request(frame: &[u8]) -> Result<BatchRequest<'_>, String> {
    let mut r = Reader { buf: frame };
    if r.u8("the frame tag")? != BATCH {
        return Err("not a batch frame".to_owned());
    }
    let op = match r.u8("the operation")? {
        b'v' => BatchOp::Validate,
        b'g' => BatchOp::Generate,
        other => return Err(format!("unknown batch operation {other:#04x}")),
    };
    let api_version = r.str("the apiVersion")?;
    let kind = r.str("the kind")?;
    let n = r.count(4)?;
    let mut items = Vec::with_capacity(n);
    for _ in 0..n {
        let len = r.u32("an item's length")?;
        items.push(r.bytes(len, "an item")?);
    }
    r.end()?;
    Ok(BatchRequest {
        op,
        api_version,
        kind,
        items,
    })
}

/// Encodes a batch answer (the worker's side): per item, the plugin's bytes or its error.
pub(crate) fn encode_answer<B: AsRef<[u8]>>(results: &[Result<B, ErrorPayload>]) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        5 + results
            .iter()
            .map(|r| 5 + r.as_ref().map_or(256, |b| b.as_ref().len()))
            .sum::<usize>(),
    );
    out.push(BATCH);
    put_u32(&mut out, results.len());
    for r in results {
        match r {
            Ok(bytes) => {
                out.push(0);
                put_u32(&mut out, bytes.as_ref().len());
                out.extend_from_slice(bytes.as_ref());
            }
            Err(e) => {
                let json = serde_json::to_vec(e).unwrap_or_else(|_| b"{}".to_vec());
                out.push(1);
                put_u32(&mut out, json.len());
                out.extend_from_slice(&json);
            }
        }
    }
    out
}

/// Decodes a batch answer to a request of `expected` apps (the host's side); the ok bytes
/// borrow the frame.
pub(crate) fn decode_answer(
    frame: &[u8],
    expected: usize,
) -> Result<Vec<Result<&[u8], ErrorPayload>>, String> {
    let mut r = Reader { buf: frame };
    if r.u8("the frame tag")? != BATCH {
        return Err("not a batch frame".to_owned());
    }
    let n = r.count(5)?;
    if n != expected {
        return Err(format!("{n} results for {expected} apps"));
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let tag = r.u8("a result's tag")?;
        let len = r.u32("a result's length")?;
        let bytes = r.bytes(len, "a result")?;
        out.push(match tag {
            0 => Ok(bytes),
            1 => Err(serde_json::from_slice::<ErrorPayload>(bytes)
                .map_err(|e| format!("result {i} is an unreadable error ({e})"))?),
            other => return Err(format!("result {i} has the unknown tag {other}")),
        });
    }
    r.end()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(kind: &str) -> ErrorPayload {
        ErrorPayload {
            kind: kure_plugin_api::abi::ErrorKind::from(kind.to_owned()),
            message: "it \"broke\"\n".to_owned(),
            issues: Vec::new(),
        }
    }

    #[test]
    fn requests_round_trip_untouched() {
        let items = vec![
            r#"{"a":"quote \" and \\ and \n"}"#.to_owned(),
            String::new(),
            "ü\u{0}".to_owned(),
        ];
        for op in [BatchOp::Validate, BatchOp::Generate] {
            let frame = encode_request(op, "x.dev/v1", "Thing", &items);
            let back = decode_request(&frame).unwrap();
            assert_eq!(back.op, op);
            assert_eq!((back.api_version, back.kind), ("x.dev/v1", "Thing"));
            let got: Vec<&[u8]> = items.iter().map(|i| i.as_bytes()).collect();
            assert_eq!(back.items, got);
        }
        let empty = encode_request(BatchOp::Generate, "", "", &[]);
        assert!(decode_request(&empty).unwrap().items.is_empty());
    }

    #[test]
    fn answers_round_trip() {
        let results: Vec<Result<String, ErrorPayload>> = vec![
            Ok("[{\"kind\":\"A\"}]".to_owned()),
            Err(err("x")),
            Ok(String::new()),
        ];
        let frame = encode_answer(&results);
        let back = decode_answer(&frame, 3).unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(back[0], Ok(&b"[{\"kind\":\"A\"}]"[..]));
        assert_eq!(back[1], Err(err("x")));
        assert_eq!(back[2], Ok(&b""[..]));
    }

    #[test]
    fn hostile_answers_are_errors_not_panics() {
        let good = encode_answer(&[Ok::<_, ErrorPayload>(b"[]".to_vec()), Err(err("y"))]);
        // Every truncation is refused.
        for cut in 0..good.len() {
            assert!(decode_answer(&good[..cut], 2).is_err(), "cut at {cut}");
        }
        // Trailing bytes are refused.
        let mut long = good.clone();
        long.push(0);
        assert!(decode_answer(&long, 2).unwrap_err().contains("follow"));
        // Another count than asked for is refused before anything is decoded.
        assert!(decode_answer(&good, 3)
            .unwrap_err()
            .contains("2 results for 3 apps"));
        // A count larger than the frame could hold allocates nothing and is refused.
        let mut huge = vec![BATCH];
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_answer(&huge, 1).unwrap_err().contains("announces"));
        // A length past the end, an unknown tag, an unreadable error.
        let mut past = vec![BATCH, 1, 0, 0, 0, 0];
        past.extend_from_slice(&1000u32.to_le_bytes());
        assert!(decode_answer(&past, 1).unwrap_err().contains("ends inside"));
        let tag = [BATCH, 1, 0, 0, 0, 7, 0, 0, 0, 0];
        assert!(decode_answer(&tag, 1).unwrap_err().contains("unknown tag"));
        let mut bad = vec![BATCH, 1, 0, 0, 0, 1, 2, 0, 0, 0];
        bad.extend_from_slice(b"{]");
        assert!(decode_answer(&bad, 1)
            .unwrap_err()
            .contains("unreadable error"));
        // Pseudo-random garbage never panics (a small deterministic fuzz).
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for len in 0..2000usize {
            let mut frame = Vec::with_capacity(len % 64 + 1);
            frame.push(BATCH);
            for _ in 0..len % 64 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                frame.push(x as u8 % 8);
            }
            let _ = decode_answer(&frame, len % 5);
            let _ = decode_request(&frame);
        }
    }

    #[test]
    fn hostile_requests_are_errors() {
        assert!(decode_request(b"{\"op\":1}")
            .unwrap_err()
            .contains("not a batch"));
        assert!(decode_request(&[BATCH, b'x'])
            .unwrap_err()
            .contains("unknown batch"));
        let mut bad_utf8 = vec![BATCH, b'g', 1, 0, 0, 0, 0xFF, 0, 0, 0, 0];
        bad_utf8.extend_from_slice(&0u32.to_le_bytes());
        assert!(decode_request(&bad_utf8).unwrap_err().contains("UTF-8"));
    }
}
