//! The structured-field subset CMCD and CMSD are written in: RFC 8941 dictionaries and lists
//! of bare items (integer, decimal, string, token, boolean), inner lists and parameters.
//!
//! Hand-written rather than the `sfv` crate, on purpose: CMCD is *almost* RFC 8941 but
//! not quite, and a strict 8941 parser rejects or silently rewrites what players send:
//! - CTA-5004 §3.3 requires a duplicate key to be an error; an 8941 dictionary keeps the
//!   last value and drops the first without telling.
//! - custom keys in the spec's own examples and in players carry upper case
//!   (`com.example-myNumericKey`); 8941 keys are lower case only.
//! - dash.js and hls.js send `pr` and `d` with more than 8941's three fraction digits.
//! - we bound the input (4 KiB) before anything else; the field is attacker-controlled.
//!
//! Everything this module writes is valid RFC 8941 (lower-case keys aside when a caller
//! chose upper-case custom keys), so strict 8941 readers such as Shaka Player parse it.

use std::fmt::Write as _;

use crate::Error;

/// A bare item (RFC 8941 §3.3) or an inner list of them (§3.1.1).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// An integer: at most 15 digits, sign allowed.
    Integer(i64),
    /// A decimal.
    Decimal(f64),
    /// A quoted string (printable ASCII).
    String(String),
    /// A bare token such as `v` or `av`.
    Token(String),
    /// A boolean: `?1`/`?0`, or a bare key with no value (true).
    Boolean(bool),
    /// An inner list `(a b c)`; its items' parameters are dropped.
    InnerList(Vec<Value>),
}

/// One dictionary or list member: its value and its parameters in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The member's value.
    pub value: Value,
    /// Its `;key[=value]` parameters, in the order written.
    pub params: Vec<(String, Value)>,
}

/// Maximum length of a field this crate accepts (after percent-decoding, for the query
/// mode): far above a real CMCD payload (~300 bytes), low enough to bound the work.
pub const MAX_LEN: usize = 4096;

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn err(&self, what: &'static str) -> Error {
        Error::Syntax { pos: self.i, what }
    }
    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn skip_sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.i += 1;
        }
    }

    /// Key: ALPHA or `*` first, then ALPHA / DIGIT / `_-.*` (8941 with upper case allowed).
    fn key(&mut self) -> Result<String, Error> {
        let start = self.i;
        match self.peek() {
            Some(c) if c.is_ascii_alphabetic() || c == b'*' => self.i += 1,
            _ => return Err(self.err("expected a key")),
        }
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'*') {
                self.i += 1;
            } else {
                break;
            }
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }

    fn bare_item(&mut self) -> Result<Value, Error> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'"') => self.string(),
            Some(b'?') => {
                self.i += 1;
                let v = match self.peek() {
                    Some(b'1') => true,
                    Some(b'0') => false,
                    _ => return Err(self.err("expected ?0 or ?1")),
                };
                self.i += 1;
                Ok(Value::Boolean(v))
            }
            Some(c) if c.is_ascii_alphabetic() || c == b'*' => {
                let start = self.i;
                while let Some(c) = self.peek() {
                    if is_tchar(c) || c == b':' || c == b'/' {
                        self.i += 1;
                    } else {
                        break;
                    }
                }
                Ok(Value::Token(
                    String::from_utf8_lossy(&self.s[start..self.i]).into_owned(),
                ))
            }
            _ => Err(self.err("expected an item")),
        }
    }

    fn number(&mut self) -> Result<Value, Error> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let (mut int_digits, mut frac_digits, mut dot) = (0, 0, false);
        while let Some(c) = self.peek() {
            match c {
                b'0'..=b'9' if dot => frac_digits += 1,
                b'0'..=b'9' => int_digits += 1,
                b'.' if !dot && int_digits > 0 => dot = true,
                _ => break,
            }
            self.i += 1;
        }
        if int_digits == 0 {
            return Err(self.err("expected a digit"));
        }
        if int_digits > 15 || frac_digits > 15 {
            return Err(self.err("number too long"));
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).expect("ascii");
        if dot {
            if frac_digits == 0 {
                return Err(self.err("decimal without fraction digits"));
            }
            Ok(Value::Decimal(
                text.parse().map_err(|_| self.err("bad decimal"))?,
            ))
        } else {
            Ok(Value::Integer(
                text.parse().map_err(|_| self.err("bad integer"))?,
            ))
        }
    }

    fn string(&mut self) -> Result<Value, Error> {
        self.i += 1; // opening quote
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(Value::String(out));
                }
                Some(b'\\') => {
                    self.i += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => out.push(c as char),
                        _ => return Err(self.err("bad escape in string")),
                    }
                    self.i += 1;
                }
                Some(c @ 0x20..=0x7e) => {
                    out.push(c as char);
                    self.i += 1;
                }
                Some(_) => return Err(self.err("non-printable character in string")),
            }
        }
    }

    fn item_or_inner_list(&mut self) -> Result<Value, Error> {
        if self.peek() != Some(b'(') {
            return self.bare_item();
        }
        self.i += 1;
        let mut items = Vec::new();
        loop {
            self.skip_sp();
            if self.peek() == Some(b')') {
                self.i += 1;
                // The inner list's own parameters are read by the caller.
                return Ok(Value::InnerList(items));
            }
            items.push(self.bare_item()?);
            self.params()?;
            match self.peek() {
                Some(b' ' | b')') => {}
                _ => return Err(self.err("expected space or ) in inner list")),
            }
        }
    }

    fn params(&mut self) -> Result<Vec<(String, Value)>, Error> {
        let mut out = Vec::new();
        while self.peek() == Some(b';') {
            self.i += 1;
            self.skip_sp();
            let k = self.key()?;
            let v = if self.peek() == Some(b'=') {
                self.i += 1;
                self.bare_item()?
            } else {
                Value::Boolean(true)
            };
            out.push((k, v));
        }
        Ok(out)
    }

    /// After a member: end, or `,` and another member.
    fn next_member(&mut self) -> Result<bool, Error> {
        self.skip_ows();
        match self.peek() {
            None => Ok(false),
            Some(b',') => {
                self.i += 1;
                self.skip_ows();
                if self.peek().is_none() {
                    return Err(self.err("trailing comma"));
                }
                Ok(true)
            }
            _ => Err(self.err("expected , between members")),
        }
    }
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn bounded(s: &str) -> Result<&[u8], Error> {
    if s.len() > MAX_LEN {
        return Err(Error::TooLong {
            len: s.len(),
            max: MAX_LEN,
        });
    }
    Ok(s.trim_matches(|c| c == ' ' || c == '\t').as_bytes())
}

/// Parse a dictionary. Keys are returned in the order written; duplicates are kept (the
/// caller decides: CMCD rejects them).
pub fn parse_dictionary(s: &str) -> Result<Vec<(String, Member)>, Error> {
    let mut p = Parser {
        s: bounded(s)?,
        i: 0,
    };
    let mut out = Vec::new();
    if p.peek().is_none() {
        return Ok(out);
    }
    loop {
        let key = p.key()?;
        let value = if p.peek() == Some(b'=') {
            p.i += 1;
            p.item_or_inner_list()?
        } else {
            Value::Boolean(true)
        };
        let params = p.params()?;
        out.push((key, Member { value, params }));
        if !p.next_member()? {
            return Ok(out);
        }
    }
}

/// Parse a list of items or inner lists with their parameters.
pub fn parse_list(s: &str) -> Result<Vec<Member>, Error> {
    let mut p = Parser {
        s: bounded(s)?,
        i: 0,
    };
    let mut out = Vec::new();
    if p.peek().is_none() {
        return Ok(out);
    }
    loop {
        let value = p.item_or_inner_list()?;
        let params = p.params()?;
        out.push(Member { value, params });
        if !p.next_member()? {
            return Ok(out);
        }
    }
}

/// Write one bare item or inner list.
pub fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Integer(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Decimal(d) => write_decimal(out, *d),
        Value::String(s) => {
            out.push('"');
            for c in s.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
        Value::Token(t) => out.push_str(t),
        Value::Boolean(b) => out.push_str(if *b { "?1" } else { "?0" }),
        Value::InnerList(items) => {
            out.push('(');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_value(out, item);
            }
            out.push(')');
        }
    }
}

/// RFC 8941 §4.1.5: at most three fraction digits, at least one.
fn write_decimal(out: &mut String, d: f64) {
    let s = format!("{:.3}", (d * 1000.0).round() / 1000.0);
    let s = s.trim_end_matches('0');
    out.push_str(s);
    if s.ends_with('.') {
        out.push('0');
    }
}

/// Write `key`, `key=value` (booleans: bare key when true), as a dictionary member or a
/// parameter (the caller writes the separator).
pub fn write_pair(out: &mut String, key: &str, v: &Value) {
    out.push_str(key);
    if *v != Value::Boolean(true) {
        out.push('=');
        write_value(out, v);
    }
}

/// Check a string can be written as a structured-field string (printable ASCII).
pub fn is_sf_string(s: &str) -> bool {
    s.bytes().all(|c| (0x20..=0x7e).contains(&c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dictionary_of_every_item_kind() {
        let d =
            parse_dictionary(r#"a=1,b=-2.50, c="x\"y",d=tok/en:1,e,f=?0,g=(1 2);p=3,h;q"#).unwrap();
        let keys: Vec<_> = d.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c", "d", "e", "f", "g", "h"]);
        assert_eq!(d[0].1.value, Value::Integer(1));
        assert_eq!(d[1].1.value, Value::Decimal(-2.5));
        assert_eq!(d[2].1.value, Value::String("x\"y".into()));
        assert_eq!(d[3].1.value, Value::Token("tok/en:1".into()));
        assert_eq!(d[4].1.value, Value::Boolean(true));
        assert_eq!(d[5].1.value, Value::Boolean(false));
        assert_eq!(
            d[6].1.value,
            Value::InnerList(vec![Value::Integer(1), Value::Integer(2)])
        );
        assert_eq!(d[6].1.params, vec![("p".into(), Value::Integer(3))]);
        assert_eq!(d[7].1.params, vec![("q".into(), Value::Boolean(true))]);
    }

    #[test]
    fn malformed_inputs_are_errors() {
        for bad in [
            "a=",
            "a=1,",
            ",a",
            "a=\"open",
            "a=1 b=2",
            "a=?2",
            "=1",
            "a=1.",
            "a=\u{7}",
            "a=1234567890123456",
            "a=\"\\n\"",
            "a=(1 2",
        ] {
            assert!(parse_dictionary(bad).is_err(), "{bad:?} accepted");
        }
        assert!(matches!(
            parse_dictionary(&"a".repeat(MAX_LEN + 1)),
            Err(Error::TooLong { .. })
        ));
    }

    #[test]
    fn list_with_params() {
        let l = parse_list(r#""edge-a";etp=100;du, tok;rtt=5"#).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].value, Value::String("edge-a".into()));
        assert_eq!(l[0].params[1], ("du".into(), Value::Boolean(true)));
        assert_eq!(l[1].value, Value::Token("tok".into()));
    }

    #[test]
    fn decimals_are_written_with_one_to_three_fraction_digits() {
        for (d, want) in [
            (1.0, "1.0"),
            (1.08, "1.08"),
            (0.12345, "0.123"),
            (-2.5, "-2.5"),
        ] {
            let mut s = String::new();
            write_value(&mut s, &Value::Decimal(d));
            assert_eq!(s, want);
        }
    }
}
