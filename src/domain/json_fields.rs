//! The fast path of decoding: an event line's top-level members parsed without building the
//! tree, by the same parser as [`Json::parse`](super::Json::parse).

use std::borrow::Cow;

use smallvec::SmallVec;

use super::{Json, Members, Parser, plain_len};

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
    pub(super) fn parse_canonical(&mut self, text: &'a str) -> Option<()> {
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
    pub(super) fn parse_any_order(&mut self, text: &'a str) -> bool {
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
