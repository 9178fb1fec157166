//! `Range` request header parsing (RFC 9110 §14.2), single byte ranges only.
//!
//! Policy:
//! - one satisfiable range → [`ByteRange::Satisfiable`] (answer `206` + `Content-Range`);
//! - one syntactically valid range that is unsatisfiable (first byte ≥ length, `bytes=-0`,
//!   or any range on an empty representation) → [`ByteRange::Unsatisfiable`]
//!   (answer `416` + `Content-Range: bytes */len`);
//! - multiple ranges (`bytes=0-1,5-6`) → [`ByteRange::Ignore`]: the full representation is
//!   sent with `200`, which RFC 9110 §14.2 explicitly allows ("a server MAY ignore the
//!   Range header field"); this avoids `multipart/byteranges` and range-amplification abuse;
//! - malformed header, a unit other than `bytes`, or `last < first` → [`ByteRange::Ignore`]
//!   (RFC 9110 says an invalid Range must be ignored).

/// Outcome of evaluating a `Range` header against a representation of known length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// Serve bytes `start..=end` (inclusive, `end < len`) with `206 Partial Content`.
    Satisfiable(u64, u64),
    /// Answer `416 Range Not Satisfiable` with `Content-Range: bytes */len`.
    Unsatisfiable,
    /// Serve the whole representation with `200` as if no Range had been sent.
    Ignore,
}

impl ByteRange {
    /// Number of bytes selected by a satisfiable range.
    pub fn len(&self) -> u64 {
        match *self {
            ByteRange::Satisfiable(s, e) => e - s + 1,
            _ => 0,
        }
    }

    /// True unless satisfiable (ranges are never empty).
    pub fn is_empty(&self) -> bool {
        !matches!(self, ByteRange::Satisfiable(..))
    }
}

/// Parses a `Range` header value (`None` → [`ByteRange::Ignore`]) for a representation of
/// `len` bytes.
pub fn parse(header: Option<&[u8]>, len: u64) -> ByteRange {
    match header.and_then(|h| std::str::from_utf8(h).ok()) {
        Some(h) => parse_str(h, len),
        None => ByteRange::Ignore,
    }
}

/// Parses a `Range` header value given as a string. See [`parse`].
pub fn parse_str(header: &str, len: u64) -> ByteRange {
    let header = header.trim();
    let Some((unit, set)) = header.split_once('=') else {
        return ByteRange::Ignore;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return ByteRange::Ignore;
    }
    let specs: Vec<&str> = set
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if specs.len() != 1 {
        // zero specs is malformed; several is a multi-range request: serve 200 full.
        return ByteRange::Ignore;
    }
    let Some((first, last)) = specs[0].split_once('-') else {
        return ByteRange::Ignore;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // suffix-range: bytes=-N
        let Some(n) = parse_u64(last) else {
            return ByteRange::Ignore;
        };
        if n == 0 || len == 0 {
            return ByteRange::Unsatisfiable;
        }
        let n = n.min(len);
        return ByteRange::Satisfiable(len - n, len - 1);
    }
    let Some(start) = parse_u64(first) else {
        return ByteRange::Ignore;
    };
    let end = if last.is_empty() {
        None
    } else {
        match parse_u64(last) {
            Some(e) if e >= start => Some(e),
            _ => return ByteRange::Ignore,
        }
    };
    if start >= len {
        return ByteRange::Unsatisfiable;
    }
    let end = end.map_or(len - 1, |e| e.min(len - 1));
    ByteRange::Satisfiable(start, end)
}

fn parse_u64(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Digits only; values beyond u64 saturate (a huge last-pos just means "to the end").
    Some(s.parse().unwrap_or(u64::MAX))
}

/// `Content-Range` value for a satisfiable range: `bytes start-end/len`.
pub fn content_range(start: u64, end: u64, len: u64) -> String {
    format!("bytes {start}-{end}/{len}")
}

/// `Content-Range` value for a 416 answer: `bytes */len`.
pub fn unsatisfied_content_range(len: u64) -> String {
    format!("bytes */{len}")
}

#[cfg(test)]
mod tests {
    use super::ByteRange::*;
    use super::*;

    #[test]
    fn single_ranges() {
        assert_eq!(parse_str("bytes=0-99", 1000), Satisfiable(0, 99));
        assert_eq!(parse_str("bytes=0-0", 1000), Satisfiable(0, 0));
        assert_eq!(parse_str("bytes=500-", 1000), Satisfiable(500, 999));
        assert_eq!(parse_str("bytes=-100", 1000), Satisfiable(900, 999));
        assert_eq!(parse_str("bytes=-5000", 1000), Satisfiable(0, 999));
        assert_eq!(parse_str("bytes=900-5000", 1000), Satisfiable(900, 999));
        assert_eq!(parse_str("BYTES = 1-2", 1000), Satisfiable(1, 2));
        assert_eq!(parse_str("bytes=999-999", 1000), Satisfiable(999, 999));
        assert_eq!(
            parse_str("bytes=0-99999999999999999999999", 1000),
            Satisfiable(0, 999)
        );
        assert_eq!(Satisfiable(10, 19).len(), 10);
    }

    #[test]
    fn unsatisfiable() {
        assert_eq!(parse_str("bytes=1000-", 1000), Unsatisfiable);
        assert_eq!(parse_str("bytes=1000-2000", 1000), Unsatisfiable);
        assert_eq!(parse_str("bytes=-0", 1000), Unsatisfiable);
        assert_eq!(parse_str("bytes=0-", 0), Unsatisfiable);
        assert_eq!(parse_str("bytes=-1", 0), Unsatisfiable);
        assert_eq!(
            parse_str("bytes=99999999999999999999999-", 1000),
            Unsatisfiable
        );
    }

    #[test]
    fn ignored() {
        for h in [
            "",
            "bytes",
            "bytes=",
            "bytes=a-b",
            "bytes=5-3",
            "bytes=-",
            "items=0-1",
            "bytes=0-1,4-5",
            "bytes=1--2",
            "bytes=+1-2",
        ] {
            assert_eq!(parse_str(h, 1000), Ignore, "{h:?}");
        }
        assert_eq!(parse(None, 10), Ignore);
        assert_eq!(parse(Some(b"\xff"), 10), Ignore);
        assert_eq!(parse(Some(b"bytes=1-2"), 10), Satisfiable(1, 2));
    }

    #[test]
    fn header_values() {
        assert_eq!(content_range(0, 9, 100), "bytes 0-9/100");
        assert_eq!(unsatisfied_content_range(100), "bytes */100");
    }
}
