//! Each source's mapping and refusals, on the vendors' documented payloads (cited in each
//! source's module) and signature vectors.

use super::config::{HubSpotConfig, SegmentConfig, ZohoConfig};
use super::*;

fn at(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

fn json_of(e: &PlainEvent) -> serde_json::Value {
    serde_json::from_str(&e.json).unwrap()
}

fn map_of(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The v3 vector of HubSpot's own Python SDK test (tests/spec/utils/test_signature.py,
/// test_get_signature__v3): a published value, not one computed here.
#[test]
fn the_hubspot_v3_signature_matches_hubspots_published_vector() {
    let signature = hubspot::signature_v3(
        "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
        "POST",
        "https://www.example.com/webhook_uri",
        b"{'example_field':'example_value'}",
        "1693657560000",
    );
    assert_eq!(signature, "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y=");
}

#[test]
fn hubspot_refuses_bad_signatures_and_old_timestamps() {
    let secret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
    let uri = "https://www.example.com/webhook_uri";
    let body = b"{'example_field':'example_value'}";
    let good = "K36dawei4A+QBNolUOqo7s91KQDWQ5MXZ/QufNYuk/Y=";
    let sent = Timestamp::from_nanos(1_693_657_560_000 * 1_000_000);
    let minutes = |m: i64| Timestamp::from_nanos(sent.as_nanos() + m * 60_000_000_000);
    let verify = |sig, ts, now| hubspot::verify(secret, "POST", uri, body, sig, ts, now);
    assert_eq!(
        verify(Some(good), Some("1693657560000"), minutes(4)),
        Ok(())
    );
    for (sig, ts, now, why) in [
        (
            Some(good),
            Some("1693657560000"),
            minutes(6),
            "more than 5 minutes",
        ),
        (
            Some(good),
            Some("1693657560000"),
            minutes(-6),
            "more than 5 minutes",
        ),
        (
            Some("AAAA"),
            Some("1693657560000"),
            minutes(1),
            "does not match",
        ),
        (
            Some(good),
            Some("1693657560001"),
            minutes(1),
            "does not match",
        ),
        (None, Some("1693657560000"), minutes(1), "required"),
        (Some(good), None, minutes(1), "required"),
    ] {
        match verify(sig, ts, now) {
            Err(Refusal::Unauthorized(message)) => assert!(message.contains(why), "{message}"),
            other => panic!("{why}: {other:?}"),
        }
    }
    // A URL HubSpot encoded: the table's encodings are decoded before signing.
    let encoded = hubspot::signature_v3(
        secret,
        "POST",
        "https://h.example/webhooks/hubspot?a=b%3Ac",
        b"",
        "1",
    );
    let plain = hubspot::signature_v3(
        secret,
        "POST",
        "https://h.example/webhooks/hubspot?a=b:c",
        b"",
        "1",
    );
    assert_eq!(encoded, plain);
}

fn hubspot_config() -> HubSpotConfig {
    HubSpotConfig {
        app_secret: "s".into(),
        customer_id_prefix: "hubspot-".into(),
        amount_property: "amount".into(),
        subscriptions: map_of(&[("contact.creation", "lead_created")]),
        property_changes: map_of(&[("deal.propertyChange:dealstage=closedwon", "purchase")]),
    }
}

const NOW: &str = "2026-06-01T00:00:00Z";

/// HubSpot's documented example delivery (developers.hubspot.com/docs/api/webhooks,
/// "Webhook payloads"), verbatim: a property change no table names, and a contact creation.
#[test]
fn hubspots_documented_delivery_maps_the_contact_creation() {
    let body = br#"[ { "objectId": 1246965, "propertyName": "lifecyclestage", "propertyValue": "subscriber", "changeSource": "ACADEMY", "eventId": 3816279340, "subscriptionId": 25, "portalId": 33, "appId": 1160452, "occurredAt": 1462216307945, "eventType":"contact.propertyChange", "attemptNumber": 0 }, { "objectId": 1246978, "changeSource": "IMPORT", "eventId": 3816279480, "subscriptionId": 22, "portalId": 33, "appId": 1160452, "occurredAt": 1462216307945, "eventType": "contact.creation", "attemptNumber": 0 } ]"#;
    let mapped = hubspot::map(body, &hubspot_config(), at(NOW)).unwrap();
    assert_eq!(mapped.ignored, 1);
    assert_eq!(mapped.events.len(), 1);
    let e = json_of(&mapped.events[0]);
    assert_eq!(e["customer_id"], "hubspot-1246978");
    assert_eq!(e["type"], "lead_created");
    assert_eq!(e["occurred_at"], "2016-05-02T19:11:47.945Z");
    assert_eq!(
        e["event_id"],
        "hubspot:33:22:3816279480:1246978:1462216307945"
    );
    // The v1 example's key, `subscriptionType`, is read the same way.
    let v1 = br#"[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]"#;
    let mapped = hubspot::map(v1, &hubspot_config(), at(NOW)).unwrap();
    assert_eq!(json_of(&mapped.events[0])["customer_id"], "hubspot-123");
}

#[test]
fn a_closed_won_deal_is_a_purchase_with_the_amount_of_the_same_delivery() {
    let deal = |with_amount: bool| {
        let amount = r#"{"objectId":77,"propertyName":"amount","propertyValue":"1250.50","eventId":9,"subscriptionId":3,"portalId":33,"occurredAt":1762000000000,"subscriptionType":"deal.propertyChange"},"#;
        format!(
            r#"[{}{{"objectId":77,"propertyName":"dealstage","propertyValue":"closedwon","eventId":9,"subscriptionId":4,"portalId":33,"occurredAt":1762000000000,"subscriptionType":"deal.propertyChange","attemptNumber":0}}]"#,
            if with_amount { amount } else { "" }
        )
    };
    let mapped = hubspot::map(deal(true).as_bytes(), &hubspot_config(), at(NOW)).unwrap();
    assert_eq!((mapped.events.len(), mapped.ignored), (1, 1));
    let e = json_of(&mapped.events[0]);
    assert_eq!(e["type"], "purchase");
    assert_eq!(e["data"]["amount"], 1250.5);
    // The same notification re-sent (attemptNumber 1): the same event id.
    let again = deal(true).replace(r#""attemptNumber":0"#, r#""attemptNumber":1"#);
    let retried = hubspot::map(again.as_bytes(), &hubspot_config(), at(NOW)).unwrap();
    assert_eq!(json_of(&retried.events[0])["event_id"], e["event_id"]);
    match hubspot::map(deal(false).as_bytes(), &hubspot_config(), at(NOW)) {
        Err(Refusal::Unmappable(reasons)) => {
            assert!(reasons[0].contains("needs an amount"), "{reasons:?}")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        hubspot::map(b"{\"not\":\"an array\"}", &hubspot_config(), at(NOW)),
        Err(Refusal::Unmappable(_))
    ));
}

fn segment_config() -> SegmentConfig {
    SegmentConfig {
        shared_secret: "abc123".into(),
        identify: "lead_created".into(),
        amount_properties: vec!["total".into(), "revenue".into()],
        events: map_of(&[("Order Completed", "purchase")]),
    }
}

/// Segment's signature: the values were computed with Python's hmac (an implementation
/// independent of the crate's), for the secret of Segment's own destination test.
#[test]
fn segment_signatures_cover_the_body_or_a_batchs_first_event() {
    assert_eq!(
        segment::verify(
            "abc123",
            br#"{"cool":true}"#,
            Some("5099cab379b3be52908387457007040cc934ef86")
        ),
        Ok(())
    );
    assert_eq!(
        segment::verify(
            "abc123",
            br#"[{"cool":false},{"cool":true}]"#,
            Some("c702b94a2569dd8d2f7185ce0ae951021bef4706")
        ),
        Ok(())
    );
    for sig in [
        None,
        Some("zz"),
        Some("5099cab379b3be52908387457007040cc934ef87"),
    ] {
        assert!(
            matches!(
                segment::verify("abc123", br#"{"cool":true}"#, sig),
                Err(Refusal::Unauthorized(_))
            ),
            "{sig:?}"
        );
    }
}

/// The Track spec's complete example (segment.com/docs/connections/spec/track) is an event
/// no table names; its Order Completed (the e-commerce spec's properties) is a purchase; the
/// Identify spec's example is a lead.
#[test]
fn segment_calls_map_by_event_name() {
    let track = br#"{"anonymousId":"23adfd82-aa0f-45a7-a756-24f2a7a4c895","event":"Course Clicked","integrations":{},"messageId":"ajs-f8ca1e4de5024d9430b3928bd8ac6b96","properties":{"title":"Intro to Analytics"},"receivedAt":"2015-12-12T19:11:01.266Z","sentAt":"2015-12-12T19:11:01.169Z","timestamp":"2015-12-12T19:11:01.249Z","type":"track","userId":"AiUGstSDIg","originalTimestamp":"2015-12-12T19:11:01.152Z"}"#;
    let mapped = segment::map(track, &segment_config(), at(NOW)).unwrap();
    assert_eq!((mapped.events.len(), mapped.ignored), (0, 1));
    let order = track
        .to_vec()
        .iter()
        .map(|b| *b as char)
        .collect::<String>()
        .replace("Course Clicked", "Order Completed")
        .replace(
            r#"{"title":"Intro to Analytics"}"#,
            r#"{"order_id":"50314b8e9bcf000000000000","total":27.50,"revenue":22.50,"currency":"USD"}"#,
        );
    let mapped = segment::map(order.as_bytes(), &segment_config(), at(NOW)).unwrap();
    let e = json_of(&mapped.events[0]);
    assert_eq!(
        e["event_id"],
        "segment:ajs-f8ca1e4de5024d9430b3928bd8ac6b96"
    );
    assert_eq!(e["customer_id"], "AiUGstSDIg");
    assert_eq!(e["type"], "purchase");
    assert_eq!(e["occurred_at"], "2015-12-12T19:11:01.249Z");
    assert_eq!(e["data"]["amount"], 27.5);
    assert_eq!(e["data"]["currency"], "USD");
    let identify = br#"{"anonymousId":"507f191e810c19729de860ea","channel":"browser","messageId":"022bb90c-bbac-11e4-8dfc-aa07a5b093db","receivedAt":"2015-02-23T22:28:55.387Z","sentAt":"2015-02-23T22:28:55.111Z","timestamp":"2015-02-23T22:28:55.111Z","traits":{"name":"Peter Gibbons","email":"peter@example.com","plan":"premium","logins":5},"type":"identify","userId":"97980cfea0067","version":"1.1"}"#;
    let mapped = segment::map(identify, &segment_config(), at(NOW)).unwrap();
    assert_eq!(json_of(&mapped.events[0])["type"], "lead_created");
    // An order without an amount cannot be a purchase.
    let no_amount = order.replace(r#""total":27.50,"revenue":22.50,"#, "");
    assert!(matches!(
        segment::map(no_amount.as_bytes(), &segment_config(), at(NOW)),
        Err(Refusal::Unmappable(_))
    ));
}

fn zoho_config() -> ZohoConfig {
    ZohoConfig {
        token: "TOKEN_FOR_VERIFICATION_OF_1000000068001".into(),
        channel_id: "1000000068001".into(),
        customer_id_prefix: "zoho-".into(),
        operations: map_of(&[("Leads.update", "engagement")]),
    }
}

/// Zoho's documented notification for a record update (the Notification API's update-info
/// page), verbatim.
const ZOHO: &[u8] = br#"{
    "server_time": 1718115953625,
    "affected_values": [ { "record_id": "5725767000003000010", "values": { "Mobile": "123456789" } } ],
    "query_params": {},
    "module": "Leads",
    "resource_uri": "https://www.zohoapis.com/crm/v2/Leads",
    "ids": [ "5725767000003000010" ],
    "affected_fields": [ { "5725767000003000010": [ "Mobile" ] } ],
    "operation": "update",
    "channel_id": "1000000068001",
    "token": "TOKEN_FOR_VERIFICATION_OF_1000000068001"
}"#;

#[test]
fn zohos_documented_notification_maps_per_record() {
    let n = zoho::verify(&zoho_config(), ZOHO).unwrap();
    let mapped = zoho::map(&n, &zoho_config(), at(NOW)).unwrap();
    let e = json_of(&mapped.events[0]);
    assert_eq!(e["customer_id"], "zoho-5725767000003000010");
    assert_eq!(e["type"], "engagement");
    assert_eq!(e["occurred_at"], "2024-06-11T14:25:53.625Z");
    let wrong_token = ZohoConfig {
        token: "another".into(),
        ..zoho_config()
    };
    assert!(matches!(
        zoho::verify(&wrong_token, ZOHO),
        Err(Refusal::Unauthorized(_))
    ));
    let other_channel = ZohoConfig {
        channel_id: "42".into(),
        ..zoho_config()
    };
    assert!(matches!(
        zoho::verify(&other_channel, ZOHO),
        Err(Refusal::Unauthorized(_))
    ));
    let unmapped = ZohoConfig {
        operations: Default::default(),
        ..zoho_config()
    };
    let mapped = zoho::map(&n, &unmapped, at(NOW)).unwrap();
    assert_eq!((mapped.events.len(), mapped.ignored), (0, 1));
}

/// The JSON format's example event (cloudevents/spec json-format.md 3.2), with its customer
/// in a field of data; and a batch.
#[test]
fn cloudevents_structured_and_batched() {
    let config = CloudEventsConfig {
        types: map_of(&[("com.example.someevent", "engagement")]),
        customer_id_field: "appinfoA".into(),
    };
    let event = r#"{"specversion":"1.0","type":"com.example.someevent","source":"/mycontext","subject":null,"id":"C234-1234-1234","time":"2018-04-05T17:31:00Z","comexampleextension1":"value","comexampleothervalue":5,"datacontenttype":"application/json","data":{"appinfoA":"abc","appinfoB":123,"appinfoC":true}}"#;
    let one = cloudevents_http::map(
        Some("application/cloudevents+json; charset=utf-8"),
        event.as_bytes(),
        &config,
        at(NOW),
    )
    .unwrap();
    let e = json_of(&one.events[0]);
    assert_eq!(
        (e["customer_id"].as_str(), e["event_id"].as_str()),
        (Some("abc"), Some("C234-1234-1234"))
    );
    let other = event.replace("com.example.someevent", "com.example.unmapped");
    let batch = format!("[{event},{other}]");
    let both = cloudevents_http::map(
        Some("application/cloudevents-batch+json"),
        batch.as_bytes(),
        &config,
        at(NOW),
    )
    .unwrap();
    assert_eq!((both.events.len(), both.ignored), (1, 1));
    assert!(matches!(
        cloudevents_http::map(Some("application/json"), event.as_bytes(), &config, at(NOW)),
        Err(Refusal::Unmappable(_))
    ));
    // A duplicate key anywhere refuses the request, as it refuses a plain event (SPEC 1).
    let twice = event.replace(r#""id":"C234-1234-1234""#, r#""id":"a","id":"b""#);
    let refused = cloudevents_http::map(
        Some("application/cloudevents-batch+json"),
        format!("[{event},{twice}]").as_bytes(),
        &config,
        at(NOW),
    );
    match refused {
        Err(Refusal::Unmappable(reasons)) => {
            assert!(reasons[0].contains("duplicate_key"), "{reasons:?}")
        }
        other => panic!("a duplicate key was not refused: {other:?}"),
    }
}

#[test]
fn long_ids_are_hashed_to_128_bytes_the_same_way_each_time() {
    let long = format!("zoho:{}", "9".repeat(200));
    let id = events::event_id(long.clone());
    assert!(id.len() <= 128 && id.starts_with("zoho:"), "{id}");
    assert_eq!(id, events::event_id(long));
    assert_eq!(events::event_id("short".into()), "short");
}
