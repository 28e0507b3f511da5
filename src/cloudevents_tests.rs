//! The CloudEvents Kafka protocol binding's own examples (cloudevents/spec,
//! kafka-protocol-binding.md, 3.2.5 binary and 3.3.4 structured, v1.0.2), with JSON data in
//! place of their Avro and XML, and a subject: what each becomes, and each refusal.

use super::*;

fn config() -> CloudEventsConfig {
    CloudEventsConfig {
        types: [("com.example.someevent".to_owned(), "purchase".to_owned())].into(),
        customer_id_field: String::new(),
    }
}

/// The binary-mode example's headers, plus `extra`.
fn headers<'a>(extra: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a [u8]> {
    let base: [(&'static str, &'static str); 6] = [
        ("ce_specversion", "1.0"),
        ("ce_type", "com.example.someevent"),
        ("ce_source", "/mycontext/subcontext"),
        ("ce_id", "1234-1234-1234"),
        ("ce_time", "2018-04-05T03:56:24Z"),
        ("content-type", "application/json"),
    ];
    move |name: &str| {
        extra
            .iter()
            .chain(base.iter())
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_bytes())
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn the_binary_mode_example_becomes_the_event_it_stands_for() {
    let h = headers(&[("ce_subject", "c-42")]);
    assert_eq!(mode(&h), Some(Mode::Binary));
    let event = from_binary(&h, br#"{"amount": 49.9}"#, &config()).unwrap();
    assert_eq!(
        json(&event),
        json(
            r#"{"event_id":"1234-1234-1234","customer_id":"c-42","type":"purchase",
                "occurred_at":"2018-04-05T03:56:24Z","data":{"amount":49.9}}"#
        )
    );
    let decoded = crate::domain::decode(
        event.as_bytes(),
        crate::domain::Timestamp::from_nanos(i64::MAX / 2),
    );
    assert!(decoded.is_ok(), "{decoded:?}");
}

#[test]
fn the_structured_mode_example_becomes_the_event_it_stands_for() {
    let content_type = |name: &str| {
        (name == "content-type")
            .then_some(b"application/cloudevents+json; charset=UTF-8".as_slice())
    };
    assert_eq!(mode(content_type), Some(Mode::Structured));
    let value = br#"{
        "specversion" : "1.0",
        "type" : "com.example.someevent",
        "source" : "/mycontext/subcontext",
        "id" : "1234-1234-1234",
        "time" : "2018-04-05T03:56:24Z",
        "subject" : "c-42",
        "datacontenttype" : "application/json",
        "data" : { "amount": 10 }
    }"#;
    let event = from_structured(value, &config()).unwrap();
    assert_eq!(
        json(&event),
        json(
            r#"{"event_id":"1234-1234-1234","customer_id":"c-42","type":"purchase",
                "occurred_at":"2018-04-05T03:56:24Z","data":{"amount":10}}"#
        )
    );
}

#[test]
fn plain_messages_are_not_cloudevents() {
    assert_eq!(mode(|_| None), None);
    let json_type = |name: &str| (name == "content-type").then_some(b"application/json".as_slice());
    assert_eq!(mode(json_type), None);
}

#[test]
fn the_customer_can_come_from_a_field_of_data() {
    let config = CloudEventsConfig {
        customer_id_field: "customer".into(),
        ..config()
    };
    let event = from_binary(headers(&[]), br#"{"customer":"c-7","amount":1}"#, &config).unwrap();
    assert_eq!(json(&event)["customer_id"], "c-7");
    let err = from_binary(headers(&[]), br#"{"customer":7}"#, &config).unwrap_err();
    assert_eq!(err.reason, RejectReason::WrongType);
}

#[test]
fn an_unmapped_type_becomes_a_type_no_rule_knows() {
    let h = headers(&[("ce_subject", "c-1"), ("ce_type", "com.example.other")]);
    let event = from_binary(&h, b"", &config()).unwrap();
    assert_eq!(json(&event)["type"], "cloudevents:com.example.other");
    assert!(json(&event).get("data").is_none(), "no value: no data");
    let decoded = crate::domain::decode(
        event.as_bytes(),
        crate::domain::Timestamp::from_nanos(i64::MAX / 2),
    )
    .unwrap();
    assert_eq!(decoded.payload, None, "an unknown type is ignored");
}

#[test]
fn what_cannot_be_an_event_is_refused_with_a_reason() {
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a [u8], RejectReason);
    let cases: Vec<Case> = vec![
        (vec![], br#"{"amount":1}"#, RejectReason::MissingField), // no subject
        (
            vec![("ce_subject", "c"), ("ce_time", "")],
            b"{}",
            RejectReason::InvalidTimestamp,
        ),
        (
            vec![("ce_subject", "c")],
            b"<xml/>",
            RejectReason::InvalidJson,
        ),
        (
            vec![("ce_subject", "c"), ("ce_specversion", "0.3")],
            b"{}",
            RejectReason::InvalidValue,
        ),
    ];
    for (extra, value, reason) in cases {
        let got = from_binary(headers(&extra), value, &config()).and_then(|e| {
            let now = crate::domain::Timestamp::from_nanos(i64::MAX / 2);
            crate::domain::decode(e.as_bytes(), now).map(|_| ())
        });
        assert_eq!(got.map_err(|e| e.reason), Err(reason), "{extra:?}");
    }
    assert_eq!(
        from_structured(b"[1]", &config()).unwrap_err().reason,
        RejectReason::NotAnObject
    );
    assert_eq!(
        from_structured(br#"{"specversion":"1.0","id":"x","type":"t","subject":"c","time":"2018-04-05T03:56:24Z","data_base64":"AA=="}"#, &config())
            .unwrap_err()
            .reason,
        RejectReason::InvalidValue
    );
}

#[test]
fn output_headers_follow_the_binary_mode() {
    let mut engine = crate::domain::Engine::new(crate::domain::Rules::default());
    let mut records = Vec::new();
    let line = r#"{"event_id":"e1","customer_id":"c-1","type":"purchase","occurred_at":"2025-01-01T00:00:00Z","data":{"amount":5}}"#;
    let event = crate::domain::decode(
        line.as_bytes(),
        crate::domain::Timestamp::from_nanos(i64::MAX / 2),
    )
    .unwrap();
    engine.apply(&event, &mut records);
    let transition = output_headers(&records[0], "lifecycle").unwrap();
    let get =
        |h: &[(&str, String)], k: &str| h.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
    assert_eq!(get(&transition, "ce_specversion").as_deref(), Some("1.0"));
    assert_eq!(get(&transition, "ce_id").as_deref(), Some("c-1:1"));
    assert_eq!(
        get(&transition, "ce_type").as_deref(),
        Some("lifecycle.transition")
    );
    assert_eq!(
        get(&transition, "ce_time").as_deref(),
        Some("2025-01-01T00:00:00Z")
    );
    assert_eq!(get(&transition, "ce_subject").as_deref(), Some("c-1"));
    let action = records
        .iter()
        .find(|r| matches!(r, Record::Action(_)))
        .unwrap();
    let Record::Action(a) = action else {
        unreachable!()
    };
    let headers = output_headers(action, "lifecycle").unwrap();
    assert_eq!(get(&headers, "ce_id"), Some(a.action_id.to_string()));
    assert_eq!(
        get(&headers, "ce_type").as_deref(),
        Some("lifecycle.action.welcome_onboarding")
    );
}

/// SPEC 1: "An object with a duplicate key is rejected", for a CloudEvent as for a plain
/// event, in its envelope or its data, in either mode (serde_json alone keeps the last).
#[test]
fn a_duplicate_key_is_refused_in_either_mode() {
    let h = headers(&[("ce_subject", "c-42")]);
    let err = from_binary(&h, br#"{"amount": 2, "amount": 3}"#, &config()).unwrap_err();
    assert_eq!(err.reason, RejectReason::DuplicateKey, "{err:?}");
    for value in [
        r#"{"specversion":"1.0","type":"com.example.someevent","source":"/s","id":"1",
            "time":"2018-04-05T03:56:24Z","subject":"c-1","subject":"c-2"}"#,
        r#"{"specversion":"1.0","type":"com.example.someevent","source":"/s","id":"1",
            "time":"2018-04-05T03:56:24Z","subject":"c-1","data":{"a":{"b":1,"b":2}}}"#,
    ] {
        let err = from_structured(value.as_bytes(), &config()).unwrap_err();
        assert_eq!(err.reason, RejectReason::DuplicateKey, "{value}: {err:?}");
    }
    let err = from_binary(&h, b"{\"amount\": \xff}", &config()).unwrap_err();
    assert_eq!(err.reason, RejectReason::InvalidUtf8, "{err:?}");
}

/// SPEC 11: "an unmapped type is ignored like an unknown type", however long it is; a header
/// that is not UTF-8 is `invalid_utf8`.
#[test]
fn a_long_unmapped_type_is_still_a_type_and_bad_header_bytes_are_invalid_utf8() {
    let long = "com.example.".to_owned() + &"x".repeat(200);
    let extra = [("ce_subject", "c-1"), ("ce_type", long.as_str())];
    let h = headers(&extra);
    let event = from_binary(&h, b"", &config()).unwrap();
    let decoded = crate::domain::decode(
        event.as_bytes(),
        crate::domain::Timestamp::from_nanos(i64::MAX / 2),
    )
    .expect("an event of a type no rule knows");
    assert!(decoded.payload.is_none(), "ignored");
    let plain = headers(&[]);
    let bad = |name: &str| match name {
        "ce_subject" => Some(b"c-\xff".as_slice()),
        other => plain(other),
    };
    let err = from_binary(bad, b"", &config()).unwrap_err();
    assert_eq!(err.reason, RejectReason::InvalidUtf8, "{err:?}");
}
