//! A JSON value that borrows its strings and refuses objects with a duplicate key at any
//! depth (serde_json's own `Value` keeps the last duplicate silently).
//!
//! The parser is written by hand for the one job it has: an event line is parsed once, into
//! this small tree, and then validated field by field. It follows RFC 8259 strictly (what
//! serde_json accepts, it accepts; a unit test compares the two on generated input) and
//! keeps the number's form, so `-0.0` and `5.0` are not integers while `-0` is.

use std::borrow::Cow;
use std::fmt;

/// The message prefix of the error raised for a duplicate key, so the decoder can classify it.
pub const DUPLICATE_KEY: &str = "duplicate key";

/// Nesting deeper than this is refused (serde_json's recursion limit: 127 levels pass), so a
/// hostile line cannot exhaust the stack.
const MAX_DEPTH: usize = 127;

/// Above this many keys an object's duplicate check switches from a scan to a hash set.
const SCAN_LIMIT: usize = 16;

#[derive(Debug, Default, PartialEq)]
pub enum Json<'a> {
    #[default]
    Null,
    Bool(bool),
    /// A number written without fraction or exponent that fits 128 bits.
    Int(i128),
    /// A number written without fraction or exponent that does not fit 128 bits, as the
    /// nearest double (infinite past its range): an integer out of any field's range.
    BigInt(f64),
    /// Any other (finite) number.
    Float(f64),
    Str(Cow<'a, str>),
    Array,
    Object(Vec<(Cow<'a, str>, Json<'a>)>),
}

/// Why a text is not (acceptable) JSON: a message with the byte column where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonError(String);

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for JsonError {}

impl<'a> Json<'a> {
    pub fn parse(text: &'a str) -> Result<Json<'a>, JsonError> {
        let mut p = Parser {
            text,
            b: text.as_bytes(),
            at: 0,
            depth: 0,
        };
        let value = p.value()?;
        p.skip_ws();
        if p.at != p.b.len() {
            return Err(p.error("trailing characters"));
        }
        Ok(value)
    }

    /// The value of `key` in an object, treating `null` as absent.
    pub fn get(&self, key: &str) -> Option<&Json<'a>> {
        match self {
            Json::Object(fields) => member(fields, key),
            _ => None,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "boolean",
            Json::Int(_) | Json::BigInt(_) | Json::Float(_) => "number",
            Json::Str(_) => "string",
            Json::Array => "array",
            Json::Object(_) => "object",
        }
    }
}

/// The members of an object, in order (what [`Json::Object`] holds).
pub type Members<'a> = [(Cow<'a, str>, Json<'a>)];

/// The value of `key` among `members`, treating `null` as absent.
pub fn member<'j, 'a>(members: &'j Members<'a>, key: &str) -> Option<&'j Json<'a>> {
    members
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v)
        .filter(|v| !matches!(v, Json::Null))
}

#[path = "json_fields.rs"]
mod fields;
pub use fields::EventFields;

struct Parser<'a> {
    text: &'a str,
    b: &'a [u8],
    at: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn error(&self, what: &str) -> JsonError {
        JsonError(format!("{what} at column {}", self.at + 1))
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.at) {
            self.at += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.at).copied()
    }

    fn value(&mut self) -> Result<Json<'a>, JsonError> {
        self.skip_ws();
        match self.peek() {
            Some(b'{') => self.nested(Self::object),
            Some(b'[') => self.nested(Self::array),
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => Err(self.error("expected value")),
            None => Err(self.error("EOF while parsing a value")),
        }
    }

    fn nested(
        &mut self,
        parse: fn(&mut Self) -> Result<Json<'a>, JsonError>,
    ) -> Result<Json<'a>, JsonError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("recursion limit exceeded"));
        }
        let value = parse(self);
        self.depth -= 1;
        value
    }

    fn literal(&mut self, word: &str, value: Json<'a>) -> Result<Json<'a>, JsonError> {
        if self.b[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(self.error("expected value"))
        }
    }

    fn object(&mut self) -> Result<Json<'a>, JsonError> {
        self.at += 1; // '{'
        // An event has five fields at the top and a few in `data`: room for both at once.
        let mut fields: Vec<(Cow<'a, str>, Json<'a>)> = Vec::with_capacity(8);
        let mut seen: Option<std::collections::HashSet<Cow<'a, str>>> = None;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Json::Object(fields));
        }
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b'"') => {}
                Some(_) => return Err(self.error("key must be a string")),
                None => return Err(self.error("EOF while parsing an object")),
            }
            let key = self.string()?;
            let duplicate = match &mut seen {
                Some(set) => !set.insert(key.clone()),
                None => fields.iter().any(|(k, _)| *k == key),
            };
            if duplicate {
                return Err(JsonError(format!("{DUPLICATE_KEY} `{key}`")));
            }
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.error("expected `:`"));
            }
            self.at += 1;
            let value = self.value()?;
            fields.push((key, value));
            if seen.is_none() && fields.len() > SCAN_LIMIT {
                seen = Some(fields.iter().map(|(k, _)| k.clone()).collect());
            }
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Json::Object(fields));
                }
                Some(_) => return Err(self.error("expected `,` or `}`")),
                None => return Err(self.error("EOF while parsing an object")),
            }
        }
    }

    /// Elements are checked (duplicate keys inside them too) but not kept: no field of the
    /// contract is an array.
    fn array(&mut self) -> Result<Json<'a>, JsonError> {
        self.at += 1; // '['
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Json::Array);
        }
        loop {
            self.value()?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Json::Array);
                }
                Some(_) => return Err(self.error("expected `,` or `]`")),
                None => return Err(self.error("EOF while parsing an array")),
            }
        }
    }

    /// Skips the bytes that need no attention in a string.
    fn skip_plain(&mut self) {
        self.at += plain_len(&self.b[self.at..]);
    }

    /// A string at `"`: borrowed from the text when it has no escape.
    fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        self.at += 1; // '"'
        let start = self.at;
        loop {
            self.skip_plain();
            match self.b.get(self.at) {
                Some(b'"') => {
                    let s = &self.text[start..self.at];
                    self.at += 1;
                    return Ok(Cow::Borrowed(s));
                }
                Some(b'\\') => break,
                Some(0..0x20) => return Err(self.error("control character in a string")),
                Some(_) => self.at += 1,
                None => return Err(self.error("EOF while parsing a string")),
            }
        }
        let mut owned = String::with_capacity(self.at - start + 16);
        owned.push_str(&self.text[start..self.at]);
        loop {
            let run = self.at;
            loop {
                self.skip_plain();
                match self.b.get(self.at) {
                    Some(b'"' | b'\\') => break,
                    Some(0..0x20) => return Err(self.error("control character in a string")),
                    Some(_) => self.at += 1,
                    None => return Err(self.error("EOF while parsing a string")),
                }
            }
            // Both ends are ASCII, so the run is whole UTF-8 characters.
            owned.push_str(&self.text[run..self.at]);
            if self.b[self.at] == b'"' {
                self.at += 1;
                return Ok(Cow::Owned(owned));
            }
            self.at += 1; // '\\'
            let escaped = match self.peek() {
                Some(b'"') => '"',
                Some(b'\\') => '\\',
                Some(b'/') => '/',
                Some(b'b') => '\u{8}',
                Some(b'f') => '\u{c}',
                Some(b'n') => '\n',
                Some(b'r') => '\r',
                Some(b't') => '\t',
                Some(b'u') => {
                    self.at += 1;
                    owned.push(self.unicode_escape()?);
                    continue;
                }
                _ => return Err(self.error("invalid escape")),
            };
            self.at += 1;
            owned.push(escaped);
        }
    }

    /// The character of `XXXX` (after `\\u`), joining a surrogate pair; a lone surrogate is
    /// refused, as serde_json refuses it.
    fn unicode_escape(&mut self) -> Result<char, JsonError> {
        let first = self.hex4()?;
        let code = match first {
            0xD800..=0xDBFF => {
                if !self.b[self.at..].starts_with(b"\\u") {
                    return Err(self.error("lone leading surrogate in hex escape"));
                }
                self.at += 2;
                let second = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&second) {
                    return Err(self.error("lone leading surrogate in hex escape"));
                }
                0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(self.error("lone trailing surrogate in hex escape")),
            c => c,
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid unicode code point"))
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let mut v = 0;
        for _ in 0..4 {
            let digit = match self.peek() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err(self.error("invalid hex escape")),
            };
            v = v * 16 + u32::from(digit);
            self.at += 1;
        }
        Ok(v)
    }

    /// `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`: an integer when it has neither
    /// fraction nor exponent (a big one when it does not fit 128 bits: out of every field's
    /// range, `invalid_value`, however many digits it has), else a finite double.
    fn number(&mut self) -> Result<Json<'a>, JsonError> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.error("invalid number")),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.at += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number"));
            }
            self.digits();
            integer = false;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.error("invalid number"));
            }
            self.digits();
            integer = false;
        }
        let text = &self.text[start..self.at];
        // Up to 18 digits fit an i64 without overflow checks: the common case, done by hand.
        if integer && text.len() <= 18 {
            let (negative, digits) = match text.strip_prefix('-') {
                Some(d) => (true, d),
                None => (false, text),
            };
            let magnitude = digits
                .bytes()
                .fold(0i64, |v, d| v * 10 + i64::from(d - b'0'));
            return Ok(Json::Int(i128::from(if negative {
                -magnitude
            } else {
                magnitude
            })));
        }
        if integer && let Ok(i) = text.parse::<i128>() {
            return Ok(Json::Int(i));
        }
        match (integer, text.parse::<f64>()) {
            (true, Ok(f)) => Ok(Json::BigInt(f)),
            (false, Ok(f)) if f.is_finite() => Ok(Json::Float(f)),
            _ => Err(self.error("number out of range")),
        }
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
    }
}

/// How many bytes at the start of `b` need no attention inside a JSON string: neither `"`
/// nor `\\` nor a control character (below U+0020). Eight bytes at a time while eight remain.
pub(crate) fn plain_len(b: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // A zero byte of `v` shows as a high bit of `v - ONES & !v & HIGHS` (only the first such
    // byte is exact, which is all that is used).
    let has_zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let mut at = 0;
    let mut chunks = b.chunks_exact(8);
    for chunk in &mut chunks {
        let v = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        // Bytes below 0x20: those whose top three bits are all zero.
        let special = has_zero(v & (0xE0 * ONES))
            | has_zero(v ^ (u64::from(b'"') * ONES))
            | has_zero(v ^ (u64::from(b'\\') * ONES));
        if special != 0 {
            return at + (special.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    let rest = chunks.remainder();
    at + rest
        .iter()
        .position(|&c| c < 0x20 || c == b'"' || c == b'\\')
        .unwrap_or(rest.len())
}

#[cfg(test)]
#[path = "json_tests.rs"]
mod tests;
