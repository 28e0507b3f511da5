//! SPEC 9 against a real broker with two instances: any instance answers for any customer
//! (the owner with the customer's view, the other with a 307 to the owner's advertised URL),
//! the answer equals `lifecycle inspect` over the same input, an erased customer is 404, ids
//! that need percent-encoding work, `?min_position=` holds a reader back until the instance
//! has caught up, and after one instance stops the other restores its partitions and answers
//! for them. Bad requests get 400/404/405 with a JSON body.

mod support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use support::compare::ordered_stream;
use support::*;

const PARTITIONS: u32 = 4;

/// `id` percent-encoded as a path segment (every byte but the unreserved ones).
fn encode(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn customer_of(line: &str) -> String {
    let v: Value = serde_json::from_str(line).expect("JSON");
    v["customer_id"].as_str().expect("an id").to_string()
}

/// The stream: generated customers, one with an id that needs percent-encoding, one whose
/// only event is late, and the erasure of another.
fn stream() -> (Vec<String>, String, String) {
    let mut lines = ordered_stream(40, 23, PARTITIONS);
    let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    let at = last["occurred_at"].as_str().unwrap().to_string();
    let odd = "ü 1/%x?".to_string();
    lines.push(format!(
        r#"{{"event_id":"odd-1","customer_id":"{odd}","type":"purchase","occurred_at":"{at}","data":{{"amount":12}}}}"#
    ));
    // A purchase dated long before the partition's clock arms timers that are already due:
    // they fire before the partition's next event, or at once while it waits for one, so
    // the service answers what inspect does at the end of its input (SPEC 2).
    lines.push(
        r#"{"event_id":"late-1","customer_id":"late-buyer","type":"purchase","occurred_at":"2000-01-01T00:00:00Z","data":{"amount":5}}"#
            .to_string(),
    );
    let erased = customer_of(&lines[0]);
    lines.push(format!(
        r#"{{"event_id":"erase-q","customer_id":"{erased}","type":"customer_erased","occurred_at":"{at}"}}"#
    ));
    (lines, odd, erased)
}

/// `lifecycle produce`: each line keyed by its customer id, partitioned by the configured
/// partitioner (murmur2, as the service routes).
fn produce_with_cli(dir: &std::path::Path, config: &str, lines: &[String]) {
    let input = dir.join("input.jsonl");
    write_lines(&input, lines);
    let config_path = dir.join("produce.toml");
    std::fs::write(&config_path, config.replace("HTTP_PORT", "0")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lifecycle"))
        .args(["produce", "--input", input.to_str().unwrap(), "--config"])
        .arg(&config_path)
        .output()
        .expect("lifecycle produce");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `lifecycle inspect` over `input`, without the fields that differ by design between the
/// offline and the service's answer (the clock: the file's, or the partition's; the position:
/// lines read, or the partition's offset).
fn inspect(input: &std::path::Path, id: &str) -> Option<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_lifecycle"))
        .args([
            "inspect",
            "--input",
            input.to_str().unwrap(),
            "--customer",
            id,
        ])
        .output()
        .expect("lifecycle inspect");
    out.status
        .success()
        .then(|| comparable(serde_json::from_slice(&out.stdout).expect("JSON")))
}

fn comparable(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("clock");
        o.remove("position");
    }
    v
}

/// Asks `service` about `id` and follows one redirect: (status of the first answer, the final
/// answer).
fn ask(services: &[&Service], at: usize, id: &str) -> (u16, HttpResponse) {
    let path = format!("/v1/customers/{}", encode(id));
    let first = services[at].request("GET", &path).expect("an answer");
    if first.status != 307 {
        return (first.status, first);
    }
    let location = first.header("location").expect("a Location").to_string();
    let target = services
        .iter()
        .find(|s| location == format!("{}{path}", s.url()))
        .unwrap_or_else(|| panic!("redirected to {location}, not an instance"));
    (
        307,
        target.request("GET", &path).expect("the owner answers"),
    )
}

#[test]
fn any_instance_answers_for_any_customer_through_its_owner() {
    let broker = Broker::start();
    let topics = TestTopics::new("queries");
    topics.create(&broker, PARTITIONS);
    let group = "queries-group";
    let config = service_config(&broker, &topics, group, "");
    let (lines, odd, erased) = stream();
    let dir = broker.dir.path();
    produce_with_cli(dir, &config, &lines);
    let input = dir.join("input.jsonl");

    let mut a = Service::start(dir, "queries-a", &config);
    let mut b = Service::start(dir, "queries-b", &config);
    a.wait_ready(Duration::from_secs(60));
    b.wait_ready(Duration::from_secs(60));
    wait_processed(&broker, &mut a, group, &topics, PARTITIONS);

    let ids: Vec<String> = {
        let mut ids: Vec<String> = lines.iter().map(|l| customer_of(l)).collect();
        ids.sort();
        ids.dedup();
        ids
    };
    // What `inspect` says of each (`None`: never seen or erased; the stream's clock ticks
    // erase their customers).
    let offline: BTreeMap<String, Option<Value>> = ids
        .iter()
        .map(|id| (id.clone(), inspect(&input, id)))
        .collect();
    assert_eq!(offline[&erased], None, "erased");
    assert!(offline[&odd].is_some(), "the odd id is known");
    let late = offline["late-buyer"]
        .as_ref()
        .expect("the late buyer is known");
    assert_eq!(late["stage"], "churned", "its overdue timers fired: {late}");
    // Every customer, asked of each instance: the owner answers, the other redirects to it
    // (once every owner has published itself).
    let mut owners: BTreeMap<String, String> = BTreeMap::new();
    wait_for(
        "every instance to answer for every customer",
        Duration::from_secs(60),
        || {
            ids.iter().all(|id| {
                let statuses: Vec<u16> = [&a, &b]
                    .iter()
                    .map(|s| {
                        s.request("GET", &format!("/v1/customers/{}", encode(id)))
                            .map_or(0, |r| r.status)
                    })
                    .collect();
                let want = if offline[id].is_none() { 404 } else { 200 };
                let ok = statuses.contains(&want) && statuses.contains(&307);
                if !ok && std::env::var("QUERIES_DEBUG").is_ok() {
                    for s in [&a, &b] {
                        let path = format!("/v1/customers/{}", encode(id));
                        eprintln!("{id}: {:?}", s.request("GET", &path));
                    }
                }
                ok
            })
        },
    );
    for id in &ids {
        for at in 0..2 {
            let (first, answer) = ask(&[&a, &b], at, id);
            if offline[id].is_none() {
                assert_eq!(answer.status, 404, "{id}: {}", answer.body);
                assert_eq!(answer.json()["code"], "unknown_customer");
                continue;
            }
            assert_eq!(answer.status, 200, "{id}: {}", answer.body);
            let view = answer.json();
            assert_eq!(view["customer_id"], id.as_str());
            let partition = view["position"]["partition"].as_i64().expect("a partition");
            let owner = if first == 307 {
                [&a, &b][1 - at].url()
            } else {
                [&a, &b][at].url()
            };
            let known = owners.entry(id.clone()).or_insert_with(|| owner.clone());
            assert_eq!(*known, owner, "{id}: one owner");
            assert!((0..PARTITIONS as i64).contains(&partition));
            assert_eq!(
                Some(comparable(view)),
                offline[id],
                "{id}: the service (left) and inspect (right)"
            );
        }
    }
    assert!(
        owners.contains_key(&odd),
        "the percent-encoded id was answered"
    );
    let both: std::collections::BTreeSet<&String> = owners.values().collect();
    assert_eq!(both.len(), 2, "both instances own customers");

    // Read-your-writes: a position not reached yet is 503 with Retry-After; reached, 200.
    let id = ids.iter().find(|i| offline[*i].is_some()).unwrap();
    let owner = if owners[id] == a.url() { &a } else { &b };
    let view = owner
        .request("GET", &format!("/v1/customers/{}", encode(id)))
        .unwrap()
        .json();
    let offset = view["position"]["offset"].as_i64().unwrap();
    let ahead = owner
        .request(
            "GET",
            &format!(
                "/v1/customers/{}?min_position={}",
                encode(id),
                offset + 1000
            ),
        )
        .unwrap();
    assert_eq!(ahead.status, 503, "{}", ahead.body);
    assert_eq!(ahead.header("retry-after"), Some("1"));
    assert_eq!(ahead.json()["code"], "behind");
    let reached = owner
        .request(
            "GET",
            &format!("/v1/customers/{}?min_position={offset}", encode(id)),
        )
        .unwrap();
    assert_eq!(reached.status, 200, "{}", reached.body);

    // B stops: A restores B's partitions and answers for every customer itself. Until then
    // a query gets 503 (restoring, or no owner) or a redirect to B.
    let before: BTreeMap<String, Value> = ids
        .iter()
        .filter(|id| offline[*id].is_some())
        .map(|id| (id.clone(), comparable(ask(&[&a, &b], 0, id).1.json())))
        .collect();
    let b_url = b.url();
    b.stop_cleanly();
    let mut seen = BTreeMap::new();
    wait_for(
        "A to answer for every customer",
        Duration::from_secs(90),
        || {
            before.keys().all(|id| {
                let r = a
                    .request("GET", &format!("/v1/customers/{}", encode(id)))
                    .unwrap();
                *seen.entry(r.status).or_insert(0) += 1;
                match r.status {
                    200 => true,
                    503 => {
                        assert_eq!(r.header("retry-after"), Some("1"), "{}", r.body);
                        false
                    }
                    307 => {
                        assert!(
                            r.header("location").unwrap().starts_with(&b_url),
                            "{:?}",
                            r.headers
                        );
                        false
                    }
                    other => panic!("{id}: {other} {}", r.body),
                }
            })
        },
    );
    for (id, was) in &before {
        let now = a
            .request("GET", &format!("/v1/customers/{}", encode(id)))
            .unwrap();
        assert_eq!(
            comparable(now.json()),
            *was,
            "{id}: restored state answers the same"
        );
    }
    eprintln!("statuses while B's partitions moved to A: {seen:?}");
    a.stop_cleanly();
}

#[test]
fn bad_requests_get_json_errors() {
    let broker = Broker::start();
    let topics = TestTopics::new("badq");
    topics.create(&broker, PARTITIONS);
    let config = service_config(&broker, &topics, "badq-group", "");
    let mut a = Service::start(broker.dir.path(), "badq", &config);
    a.wait_ready(Duration::from_secs(60));
    let long = "x".repeat(129);
    for (method, path, status, code) in [
        ("GET", "/v1/customers/", 400, "invalid_customer_id"),
        (
            "GET",
            &format!("/v1/customers/{long}") as &str,
            400,
            "invalid_customer_id",
        ),
        ("GET", "/v1/customers/c%ZZ1", 400, "invalid_customer_id"),
        ("GET", "/v1/customers/c%FF", 400, "invalid_customer_id"),
        ("GET", "/v1/customers/c%01", 400, "invalid_customer_id"),
        (
            "GET",
            "/v1/customers/c-1?min_position=soon",
            400,
            "invalid_query",
        ),
        ("GET", "/v1/nothing", 404, "unknown_path"),
        ("GET", "/v1/customers/never-seen", 404, "unknown_customer"),
    ] {
        let r = a.request(method, path).expect("an answer");
        assert_eq!(r.status, status, "{method} {path}: {}", r.body);
        assert_eq!(r.json()["code"], code, "{method} {path}");
    }
    // Read-only: no other method.
    for method in ["POST", "PUT", "DELETE"] {
        let r = a.request(method, "/v1/customers/c-1").expect("an answer");
        assert_eq!(r.status, 405, "{method}: {}", r.body);
        assert_eq!(r.json()["code"], "method_not_allowed");
    }
    // Customer ids are not logged above DEBUG (the harness runs it at INFO).
    assert!(!a.log_text().contains("never-seen"), "{}", a.log_text());
    a.stop_cleanly();
}
