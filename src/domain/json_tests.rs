//! Tests of the JSON parser, among them a comparison with serde_json's verdicts (the
//! former parser, kept here as the reference).

use super::*;

/// The former serde_json-based parser, kept as the reference the hand-written one is
/// compared with: same verdicts (accepted, duplicate key, invalid) on every input.
mod reference {
    use std::borrow::Cow;
    use std::collections::HashSet;
    use std::fmt;

    use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

    use super::super::{DUPLICATE_KEY, Json};

    pub fn parse(text: &str) -> Result<Json<'_>, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(text);
        let v = de.deserialize_any(JsonVisitor)?;
        de.end()?;
        Ok(v)
    }

    /// An object key, borrowed when it has no escapes.
    struct Key<'a>(Cow<'a, str>);

    impl<'de> Deserialize<'de> for Key<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Key<'de>;
                fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                    f.write_str("a string key")
                }
                fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                    Ok(Key(Cow::Borrowed(v)))
                }
                fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                    Ok(Key(Cow::Owned(v.to_owned())))
                }
                fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                    Ok(Key(Cow::Owned(v)))
                }
            }
            d.deserialize_str(V)
        }
    }

    impl<'de> Deserialize<'de> for Json<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(JsonVisitor)
        }
    }

    struct JsonVisitor;

    /// Above this many keys an object's duplicate check switches from a scan to a hash set.
    const SCAN_LIMIT: usize = 16;

    impl<'de> Visitor<'de> for JsonVisitor {
        type Value = Json<'de>;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON value")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(Json::Null)
        }
        fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Json::Bool(v))
        }
        fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
            Ok(Json::Int(i128::from(v)))
        }
        fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Json::Int(i128::from(v)))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            // The parser reports `-0` as a float; it has no fraction or exponent, so it is the
            // integer 0. (`-0.0` arrives the same way and is accepted as 0 too.)
            if v == 0.0 && v.is_sign_negative() {
                return Ok(Json::Int(0));
            }
            if v.is_finite() {
                Ok(Json::Float(v))
            } else {
                Err(E::custom("number is not finite"))
            }
        }
        fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
            Ok(Json::Str(Cow::Borrowed(v)))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(Json::Str(Cow::Owned(v.to_owned())))
        }
        fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
            Ok(Json::Str(Cow::Owned(v)))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            // Elements are checked (duplicate keys inside them too) but not kept: no field of
            // the contract is an array.
            while seq.next_element::<Json>()?.is_some() {}
            Ok(Json::Array)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut fields: Vec<(Cow<'de, str>, Json<'de>)> = Vec::new();
            let mut seen: Option<HashSet<Cow<'de, str>>> = None;
            while let Some(Key(key)) = map.next_key::<Key>()? {
                let duplicate = match &mut seen {
                    Some(set) => !set.insert(key.clone()),
                    None => fields.iter().any(|(k, _)| *k == key),
                };
                if duplicate {
                    return Err(de::Error::custom(format_args!("{DUPLICATE_KEY} `{key}`")));
                }
                let value = map.next_value::<Json>()?;
                fields.push((key, value));
                if seen.is_none() && fields.len() > SCAN_LIMIT {
                    seen = Some(fields.iter().map(|(k, _)| k.clone()).collect());
                }
            }
            Ok(Json::Object(fields))
        }
    }
}

#[test]
fn refuses_duplicate_keys_at_any_depth() {
    for text in [
        r#"{"a":1,"a":2}"#,
        r#"{"a":{"b":1,"b":1}}"#,
        r#"{"a":[{"b":1,"b":1}]}"#,
        r#"{"a":1,"\u0061":2}"#,
    ] {
        let err = Json::parse(text).unwrap_err();
        assert!(err.to_string().starts_with(DUPLICATE_KEY), "{text}: {err}");
    }
    let many: String = (0..40).map(|i| format!("\"k{i}\":{i},")).collect();
    let text = format!("{{{many}\"k7\":0}}");
    assert!(
        Json::parse(&text)
            .unwrap_err()
            .to_string()
            .starts_with(DUPLICATE_KEY)
    );
}

#[test]
fn tells_integers_from_other_numbers() {
    assert_eq!(Json::parse("5").unwrap(), Json::Int(5));
    assert_eq!(Json::parse("-5").unwrap(), Json::Int(-5));
    assert_eq!(Json::parse("5.0").unwrap(), Json::Float(5.0));
    assert_eq!(Json::parse("5e0").unwrap(), Json::Float(5.0));
    assert_eq!(Json::parse("-0").unwrap(), Json::Int(0));
    assert_eq!(Json::parse("-0.0").unwrap(), Json::Float(-0.0));
    assert_eq!(
        Json::parse("18446744073709551616").unwrap(),
        Json::Int(18446744073709551616)
    );
    assert!(Json::parse("1e400").is_err());
    // An integer of any length is an integer: past 128 bits, a big one (even past a double's
    // range), which every field refuses as out of range.
    assert!(matches!(
        Json::parse("170141183460469231731687303715884105728").unwrap(),
        Json::BigInt(_)
    ));
    assert!(matches!(Json::parse(&"9".repeat(400)).unwrap(), Json::BigInt(f) if f.is_infinite()));
}

#[test]
fn borrows_plain_strings_and_unescapes_others() {
    let text = r#"{"a":"plain","b":"esc\"aped"}"#;
    let v = Json::parse(text).unwrap();
    assert!(matches!(
        v.get("a"),
        Some(Json::Str(Cow::Borrowed("plain")))
    ));
    assert!(matches!(v.get("b"), Some(Json::Str(Cow::Owned(s))) if s == "esc\"aped"));
}

/// Verdict classes: accepted, duplicate key, or invalid.
fn verdict<E: ToString>(r: &Result<Json, E>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) if e.to_string().starts_with(DUPLICATE_KEY) => "duplicate",
        Err(_) => "invalid",
    }
}

const PIECES: &[&str] = &[
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    " ",
    "\n",
    "\"a\"",
    "\"b\"",
    "\"\\u0061\"",
    "\"\\\"\"",
    "\"\\ud83d\\ude00\"",
    "\"\\ud800\"",
    "\"\\udc00x\"",
    "\"\\x\"",
    "\"\u{1}\"",
    "\"\u{7f}é\"",
    "\"",
    "\\",
    "0",
    "-0",
    "1",
    "-12",
    "0.5",
    "1e5",
    "1E-2",
    "01",
    "-",
    "1.",
    ".5",
    "1e",
    "1e400",
    "18446744073709551616",
    "true",
    "false",
    "null",
    "nul",
    "tru",
    "x",
];

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 4000, ..Default::default() })]

    #[test]
    fn agrees_with_serde_json_on_what_is_json(picks in proptest::collection::vec(0..PIECES.len(), 0..14)) {
        let text: String = picks.iter().map(|&i| PIECES[i]).collect();
        let ours = Json::parse(&text);
        let theirs = reference::parse(&text);
        proptest::prop_assert_eq!(verdict(&ours), verdict(&theirs), "{:?}: {:?} vs {:?}", text, ours, theirs);
        // Where the number forms differ on purpose (-0.0, integers beyond 64 bits), only
        // the verdicts are compared.
        if !text.contains("-0")
            && !text.contains("18446744073709551616")
            && let (Ok(a), Ok(b)) = (&ours, &theirs)
        {
            proptest::prop_assert_eq!(a, b, "{:?}", text);
        }
    }

    /// Long string bodies: control and multi-byte characters at every position of the
    /// eight-byte scan, in a closed string; then quotes and backslashes raw (mostly not
    /// JSON); then the same characters escaped by serde_json.
    #[test]
    fn agrees_with_serde_json_on_long_strings(
        body in "[a-z0-9é€\u{0}-\u{1f}\u{7f}]{0,40}",
        raw in "[a-z\"\\\\ ]{0,12}",
    ) {
        let closed = format!("{{\"k\":\"{body}\"}}");
        let mixed = format!("{{\"k\":\"{body}{raw}\"}}");
        let escaped = format!("{{\"k\":{}}}", serde_json::to_string(&format!("{body}{raw}")).unwrap());
        for text in [closed, mixed, escaped] {
            let ours = Json::parse(&text);
            let theirs = reference::parse(&text);
            proptest::prop_assert_eq!(verdict(&ours), verdict(&theirs), "{:?}: {:?} vs {:?}", text, ours, theirs);
            if let (Ok(a), Ok(b)) = (&ours, &theirs) {
                proptest::prop_assert_eq!(a, b, "{:?}", text);
            }
        }
    }

    #[test]
    fn plain_len_stops_where_a_byte_needs_attention(
        bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
    ) {
        let naive = bytes
            .iter()
            .position(|&c| c < 0x20 || c == b'"' || c == b'\\')
            .unwrap_or(bytes.len());
        proptest::prop_assert_eq!(super::plain_len(&bytes), naive);
    }

    /// Integers of every length, across the 64-bit fast path's edge; serde_json's reference
    /// reads up to 64 bits, so longer ones are compared with i128's own parse.
    #[test]
    fn reads_integers_of_every_length(digits in "-?[1-9][0-9]{0,40}") {
        let text = format!("{{\"n\":{digits}}}");
        let ours = Json::parse(&text).expect("a well-formed object");
        match digits.parse::<i128>() {
            Ok(n) => proptest::prop_assert_eq!(ours.get("n"), Some(&Json::Int(n))),
            // Past 128 bits: a big integer (out of every field's range), never a float.
            Err(_) => proptest::prop_assert!(matches!(ours.get("n"), Some(Json::BigInt(_)))),
        }
    }

    #[test]
    fn agrees_with_serde_json_on_well_formed_objects(
        keys in proptest::collection::vec("[a-c\\\\\"é]{0,3}", 0..20),
        nums in proptest::collection::vec(proptest::num::f64::ANY, 0..20),
    ) {
        let fields: Vec<String> = keys
            .iter()
            .zip(nums.iter().chain(std::iter::repeat(&1.0)))
            .map(|(k, n)| format!("{}:{}", serde_json::to_string(k).unwrap(),
                if n.is_finite() { n.to_string() } else { "null".into() }))
            .collect();
        let text = format!("{{{}}}", fields.join(","));
        let ours = Json::parse(&text);
        let theirs = reference::parse(&text);
        proptest::prop_assert_eq!(verdict(&ours), verdict(&theirs), "{:?}", text);
    }
}

#[test]
fn refuses_nesting_past_127_levels() {
    let ok = format!("{}{}", "[".repeat(127), "]".repeat(127));
    let deep = format!("{}{}", "[".repeat(128), "]".repeat(128));
    assert!(Json::parse(&ok).is_ok());
    assert!(reference::parse(&ok).is_ok());
    assert!(Json::parse(&deep).is_err());
    assert!(reference::parse(&deep).is_err());
}

/// The canonical path accepts the usual lines, and for every line it accepts it fills the same
/// fields as the general path; it declines any other shape.
#[test]
fn the_canonical_path_fills_what_the_general_path_fills() {
    fn same(a: &EventFields, b: &EventFields) -> bool {
        a.event_id == b.event_id
            && a.customer_id == b.customer_id
            && a.type_name == b.type_name
            && a.occurred_at == b.occurred_at
            && a.data() == b.data()
    }
    let opts = crate::generate::GenerateOptions {
        customers: 300,
        seed: 7,
        from: 1_704_067_200,
        to: 1_735_689_600,
        bgnbd: None,
    };
    let mut generated = Vec::new();
    crate::generate::generate(&opts, &mut generated).expect("generate");
    let generated = String::from_utf8(generated).expect("utf-8");
    let sample = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/samples/crm-events.jsonl"
    ))
    .expect("the bundled sample");
    let mut canonical_lines = 0;
    for line in generated.lines().chain(sample.lines()) {
        let (mut fast, mut general) = (EventFields::default(), EventFields::default());
        let accepted = fast.parse_canonical(line).is_some();
        let general_accepts = general.parse_any_order(line);
        if accepted {
            canonical_lines += 1;
            assert!(general_accepts, "{line}");
            assert!(same(&fast, &general), "{line}");
        }
    }
    assert!(
        canonical_lines > generated.lines().count() * 9 / 10,
        "the generated lines are canonical"
    );
    let declined = [
        // another order, whitespace, an escape, a duplicate, a key too many, trailing text
        r#"{"customer_id":"c","event_id":"e","type":"t","occurred_at":"2025-01-01T00:00:00Z"}"#,
        r#"{"event_id": "e","customer_id":"c","type":"t","occurred_at":"2025-01-01T00:00:00Z"}"#,
        r#"{"event_id":"e\n","customer_id":"c","type":"t","occurred_at":"2025-01-01T00:00:00Z"}"#,
        r#"{"event_id":"e","customer_id":"c","type":"t","occurred_at":"2025-01-01T00:00:00Z","data":{"a":1,"a":2}}"#,
        r#"{"event_id":"e","customer_id":"c","type":"t","occurred_at":"2025-01-01T00:00:00Z","extra":1}"#,
        r#"{"event_id":"e","customer_id":"c","type":"t","occurred_at":"2025-01-01T00:00:00Z"} "#,
        r#"{"event_id":"e","customer_id":"c","type":"t","occurred_at":"2025-01-01T00:00:00Z","data":null}"#,
        r#"{"event_id":1,"customer_id":"c","type":"t","occurred_at":"2025-01-01T00:00:00Z"}"#,
    ];
    for line in declined {
        assert!(
            EventFields::default().parse_canonical(line).is_none(),
            "{line}"
        );
    }
    let mut with_data = EventFields::default();
    let line = r#"{"event_id":"e","customer_id":"c","type":"purchase","occurred_at":"2025-01-01T00:00:00Z","data":{"amount":5,"kano":{"functional":1,"dysfunctional":2}}}"#;
    assert!(with_data.parse_canonical(line).is_some());
    let mut general = EventFields::default();
    assert!(general.parse_any_order(line));
    assert!(same(&with_data, &general));
    assert_eq!(with_data.data().map(<[_]>::len), Some(2));
}
