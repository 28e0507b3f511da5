//! A JSON value that borrows its strings and refuses objects with a duplicate key at any
//! depth (serde_json's own `Value` keeps the last duplicate silently).
//!
//! The parser is written by hand for the one job it has: an event line is parsed once, into
//! this small tree, and then validated field by field. It follows RFC 8259 strictly (what
//! serde_json accepts, it accepts; a unit test compares the two on generated input) and
//! keeps the number's form, so `-0.0` and `5.0` are not integers while `-0` is.

use std::borrow::Cow;
use std::fmt;

use smallvec::SmallVec;

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

/// How many `data` members [`EventFields`] holds; an event with more takes the tree path.
const DATA_MEMBERS: usize = 4;

/// The top-level members of an event line that the decoder reads, parsed without building the
/// tree: the fast path of decoding. Every value is parsed exactly as [`Json::parse`] parses
/// it (same parser), so where [`EventFields::parse`] succeeds, decoding these members gives
/// the same result as decoding the tree. Filled in place: it is large (the `data` members
/// are held inline), and moving it cost more than parsing a short line. The members are a
/// `SmallVec`, not an array, so that only the members a line has are written and dropped
/// (initialising and dropping four each line was ~2 % of decoding's instructions).
#[derive(Debug, Default)]
pub struct EventFields<'a> {
    pub event_id: Option<Json<'a>>,
    pub customer_id: Option<Json<'a>>,
    pub type_name: Option<Json<'a>>,
    pub occurred_at: Option<Json<'a>>,
    data: SmallVec<[(Cow<'a, str>, Json<'a>); DATA_MEMBERS]>,
    /// Whether `data` is present as an object.
    has_data: bool,
}

impl<'a> EventFields<'a> {
    /// Fills `self` (fresh from `default()`) and returns true when `text` is one object whose
    /// keys are all among `event_id`, `customer_id`, `type`, `occurred_at` and `data`, each
    /// once, whose `data` (if present) is an object of at most 4 members with distinct keys,
    /// and which is valid JSON. False for anything else (an error, another key, a null or
    /// non-object `data`...): [`Json::parse`] then decides, and explains.
    pub fn parse(&mut self, text: &'a str) -> bool {
        if self.parse_canonical(text).is_some() {
            return true;
        }
        *self = EventFields::default();
        self.parse_any_order(text)
    }

    /// The shape producers usually write, `lifecycle generate` among them: the keys in the
    /// contract's order, no whitespace, strings without escapes:
    /// `{"event_id":"…","customer_id":"…","type":"…","occurred_at":"…"[,"data":{…}]}`. The
    /// keys are matched as one literal each instead of one by one (the general loop's key
    /// handling was about a sixth of decoding). A line it accepts, [`parse_any_order`]
    /// accepts too and fills the same (a unit test compares them); `None` for anything else.
    ///
    /// [`parse_any_order`]: EventFields::parse_any_order
    fn parse_canonical(&mut self, text: &'a str) -> Option<()> {
        let mut p = Parser {
            text,
            b: text.as_bytes(),
            at: 0,
            depth: 1,
        };
        p.literal_bytes(b"{\"event_id\":")?;
        self.event_id = Some(p.plain_string()?);
        p.literal_bytes(b",\"customer_id\":")?;
        self.customer_id = Some(p.plain_string()?);
        p.literal_bytes(b",\"type\":")?;
        self.type_name = Some(p.plain_string()?);
        p.literal_bytes(b",\"occurred_at\":")?;
        self.occurred_at = Some(p.plain_string()?);
        if p.literal_bytes(b",\"data\":").is_some() {
            self.data_members(&mut p)?;
        }
        p.literal_bytes(b"}")?;
        (p.at == p.b.len()).then_some(())
    }

    /// Any order of the keys, whitespace anywhere JSON allows it.
    fn parse_any_order(&mut self, text: &'a str) -> bool {
        let mut p = Parser {
            text,
            b: text.as_bytes(),
            at: 0,
            depth: 1,
        };
        p.skip_ws();
        let parsed = p.members(|p, key| {
            let slot = match key {
                "event_id" => &mut self.event_id,
                "customer_id" => &mut self.customer_id,
                "type" => &mut self.type_name,
                "occurred_at" => &mut self.occurred_at,
                "data" if !self.has_data => return self.data_members(p),
                _ => return None,
            };
            if slot.is_some() {
                return None;
            }
            *slot = Some(p.value().ok()?);
            Some(())
        });
        p.skip_ws();
        parsed.is_some() && p.at == p.b.len()
    }

    /// `data`'s members, at most [`DATA_MEMBERS`] with distinct keys.
    fn data_members(&mut self, p: &mut Parser<'a>) -> Option<()> {
        p.skip_ws();
        p.depth += 1;
        let data = &mut self.data;
        p.members(|p, key| {
            if data.len() == DATA_MEMBERS || data.iter().any(|(k, _)| *k == key) {
                return None;
            }
            data.push((Cow::Borrowed(key), p.value().ok()?));
            Some(())
        })?;
        p.depth -= 1;
        self.has_data = true;
        Some(())
    }

    /// The members of `data`, when it is an object.
    pub fn data(&self) -> Option<&Members<'a>> {
        self.has_data.then_some(&self.data[..])
    }
}

impl<'a> Parser<'a> {
    /// Steps over `literal` if the text goes on with it.
    fn literal_bytes(&mut self, literal: &[u8]) -> Option<()> {
        self.b[self.at..].starts_with(literal).then(|| {
            self.at += literal.len();
        })
    }

    /// A string at `"` with neither escape nor control character (what [`Parser::value`]
    /// gives for it).
    fn plain_string(&mut self) -> Option<Json<'a>> {
        self.plain_key().map(|s| Json::Str(Cow::Borrowed(s)))
    }

    /// A key at `"` with neither escape nor control character.
    fn plain_key(&mut self) -> Option<&'a str> {
        if self.peek() != Some(b'"') {
            return None;
        }
        let start = self.at + 1;
        let len = plain_len(&self.b[start..]);
        if self.b.get(start + len) != Some(&b'"') {
            return None;
        }
        self.at = start + len + 1;
        self.text.get(start..start + len)
    }

    /// An object's members at `{`, each key handed to `member`, which parses the value.
    /// `None` when the text is not such an object, a key has an escape, or `member` declines.
    fn members(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        if self.peek() != Some(b'{') {
            return None;
        }
        self.at += 1;
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Some(());
        }
        loop {
            self.skip_ws();
            let key = self.plain_key()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return None;
            }
            self.at += 1;
            member(self, key)?;
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

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
