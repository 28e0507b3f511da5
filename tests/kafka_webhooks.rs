//! CRM webhooks end to end (SPEC 11), against the real broker: a HubSpot-signed delivery is
//! acknowledged once on the input topic and the customer's transition comes out of the
//! service; a Segment order becomes a purchase and its action; a retried delivery is applied
//! once; and every refusal: 401 (nothing produced), 400 with reasons, 413, 404, 405, and
//! 503 when the broker is gone.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::*;

const PARTITIONS: u32 = 2;
const SECRET: &str = "hubspot-app-secret";

fn webhooks_config(port: u16) -> String {
    format!(
        r#"
[webhooks]
address = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"
max_body_bytes = 4096
produce_timeout_ms = 3000

[webhooks.hubspot]
app_secret = "env:TEST_HUBSPOT_SECRET"

[webhooks.hubspot.subscriptions]
"contact.creation" = "lead_created"

[webhooks.hubspot.property_changes]
"deal.propertyChange:dealstage=closedwon" = "purchase"

[webhooks.segment]
shared_secret = "segment-secret"

[webhooks.segment.events]
"Order Completed" = "purchase"
"#
    )
}

/// HubSpot's headers for `body`, signed now.
fn hubspot_headers(port: u16, body: &str) -> Vec<(String, String)> {
    let timestamp = unix_now_ms().to_string();
    let url = format!("http://127.0.0.1:{port}/webhooks/hubspot");
    let signature = lifecycle::webhooks::hubspot_signature_v3(
        SECRET,
        "POST",
        &url,
        body.as_bytes(),
        &timestamp,
    );
    vec![
        ("Content-Type".into(), "application/json".into()),
        ("X-HubSpot-Signature-v3".into(), signature),
        ("X-HubSpot-Request-Timestamp".into(), timestamp),
    ]
}

fn post(port: u16, path: &str, headers: &[(String, String)], body: &str) -> HttpResponse {
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    http_send(port, "POST", path, &headers, body.as_bytes()).expect("the webhook listener answers")
}

fn records_of(broker: &Broker, topic: &str, customer: &str) -> Vec<Value> {
    read_all(broker, &[topic])
        .iter()
        .filter_map(|m| serde_json::from_slice::<Value>(m.payload.as_deref()?).ok())
        .filter(|r| r["customer_id"] == customer)
        .collect()
}

fn hmac_sha1_hex(secret: &str, body: &str) -> String {
    // Python's hmac, an implementation independent of the service's.
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import hmac,hashlib,sys; print(hmac.new(sys.argv[1].encode(), sys.argv[2].encode(), hashlib.sha1).hexdigest())",
            secret,
            body,
        ])
        .output()
        .expect("python3 runs");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn webhooks_reach_the_service_once_and_every_refusal_is_answered() {
    let mut broker = Broker::start();
    let topics = TestTopics::new("hooks");
    topics.create(&broker, PARTITIONS);
    let port = free_port();
    let config = service_config(&broker, &topics, "hooks-group", "") + &webhooks_config(port);
    let mut service = Service::start_with_env(
        broker.dir.path(),
        "hooks",
        &config,
        &[("TEST_HUBSPOT_SECRET", SECRET)],
    );
    wait_for("the webhook listener", Duration::from_secs(60), || {
        assert!(service.is_running(), "{}", service.log_text());
        http_request(port, "GET", "/webhooks/hubspot").is_some()
    });

    // A contact created in HubSpot (the documented shape).
    let occurred = unix_now_ms() - 60_000;
    let created = format!(
        r#"[{{"eventId":1,"subscriptionId":22,"portalId":33,"occurredAt":{occurred},"subscriptionType":"contact.creation","attemptNumber":0,"objectId":501,"changeSource":"CRM","appId":54321}}]"#
    );
    let ok = post(
        port,
        "/webhooks/hubspot",
        &hubspot_headers(port, &created),
        &created,
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.json()["accepted"], 1);
    // HubSpot retries it (attemptNumber 1): acknowledged again, applied once.
    let retry = created.replace(r#""attemptNumber":0"#, r#""attemptNumber":1"#);
    let again = post(
        port,
        "/webhooks/hubspot",
        &hubspot_headers(port, &retry),
        &retry,
    );
    assert_eq!(again.status, 200, "{}", again.body);

    // A Segment order from an identified user: a purchase, so `new` and its welcome.
    let order = format!(
        r#"{{"type":"track","event":"Order Completed","userId":"seg-7","messageId":"m-1","timestamp":"{}","properties":{{"order_id":"o-1","total":27.5,"currency":"USD"}}}}"#,
        rfc3339_utc(unix_now_secs() - 30)
    );
    let signature = hmac_sha1_hex("segment-secret", &order);
    let segment_headers = vec![
        ("Content-Type".to_owned(), "application/json".to_owned()),
        ("X-Signature".to_owned(), signature),
    ];
    let ok = post(port, "/webhooks/segment", &segment_headers, &order);
    assert_eq!(ok.status, 200, "{}", ok.body);

    let input_count = || read_all(&broker, &[&topics.input]).len();
    assert_eq!(
        input_count(),
        3,
        "the contact twice (a retry) and the order"
    );
    wait_for("the customers' records", Duration::from_secs(60), || {
        records_of(&broker, &topics.care, "seg-7").len() == 1
            && !records_of(&broker, &topics.marketing, "hubspot-501").is_empty()
    });
    let transitions = records_of(&broker, &topics.transitions, "hubspot-501");
    assert_eq!(
        transitions.len(),
        1,
        "the retried delivery is applied once: {transitions:?}"
    );
    assert_eq!(transitions[0]["reason"], "first_seen");
    let welcome = &records_of(&broker, &topics.care, "seg-7")[0];
    assert_eq!(welcome["kind"], "welcome_onboarding");
    assert_eq!(welcome["cause_event_id"], "segment:m-1");

    // Refusals: nothing more reaches the input.
    let mut bad = hubspot_headers(port, &created);
    bad[1].1 = "AAAA".into();
    let refused = post(port, "/webhooks/hubspot", &bad, &created);
    assert_eq!(
        (refused.status, refused.json()["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let old = {
        let mut h = hubspot_headers(port, &created);
        h[2].1 = (unix_now_ms() - 6 * 60_000).to_string();
        h[1].1 = lifecycle::webhooks::hubspot_signature_v3(
            SECRET,
            "POST",
            &format!("http://127.0.0.1:{port}/webhooks/hubspot"),
            created.as_bytes(),
            &h[2].1,
        );
        h
    };
    assert_eq!(post(port, "/webhooks/hubspot", &old, &created).status, 401);
    let no_amount = format!(
        r#"[{{"eventId":2,"subscriptionId":4,"portalId":33,"occurredAt":{occurred},"subscriptionType":"deal.propertyChange","propertyName":"dealstage","propertyValue":"closedwon","objectId":9}}]"#
    );
    let unmappable = post(
        port,
        "/webhooks/hubspot",
        &hubspot_headers(port, &no_amount),
        &no_amount,
    );
    assert_eq!(unmappable.status, 400, "{}", unmappable.body);
    assert!(
        unmappable.json()["reasons"][0]
            .as_str()
            .unwrap()
            .contains("needs an amount")
    );
    let large = format!("[{}]", "1,".repeat(3000) + "1");
    let too_large = post(
        port,
        "/webhooks/hubspot",
        &hubspot_headers(port, &large),
        &large,
    );
    assert_eq!(
        (too_large.status, too_large.json()["code"].as_str()),
        (413, Some("too_large"))
    );
    assert_eq!(
        post(port, "/webhooks/zoho", &[], "{}").status,
        404,
        "zoho has no token here"
    );
    assert_eq!(
        http_request(port, "GET", "/webhooks/hubspot")
            .unwrap()
            .status,
        405
    );
    assert_eq!(input_count(), 3, "nothing produced for a refused request");
    let metrics = service.metrics_text();
    assert_eq!(
        metric(
            &metrics,
            r#"lifecycle_webhook_requests_total{outcome="accepted",source="hubspot"}"#
        ),
        Some(2.0)
    );

    // The broker gone: the events are not acknowledged in time, 503.
    broker.stop();
    let later = created.replace(r#""eventId":1"#, r#""eventId":3"#);
    let unavailable = post(
        port,
        "/webhooks/hubspot",
        &hubspot_headers(port, &later),
        &later,
    );
    assert_eq!(unavailable.status, 503, "{}", unavailable.body);
    assert_eq!(unavailable.header("retry-after"), Some("5"));
    assert_eq!(unavailable.json()["code"], "broker_unavailable");
    service.kill9();
}
