//! Webhook ingestion (issue 23): Segment-shaped batches of 50 `Order Completed` calls posted
//! to `POST /webhooks/segment` (the webhook server in process, on loopback), each answered
//! once the broker acknowledged its 50 events; against producing the same 50 events per
//! batch straight to the topic with the same producer settings, awaiting the
//! acknowledgements. Both with `CLIENTS` batches in flight; requests/s, events/s and the
//! latency of each batch.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::time::Instant;

use hmac::{Hmac, Mac};
use lifecycle::config::Config;
use rdkafka::producer::{FutureProducer, FutureRecord};

/// Batches in flight at once (one connection each).
const CLIENTS: usize = 4;
/// Events per request, as the issue asks.
pub const BATCH: usize = 50;

/// The batches: `batches` bodies of `BATCH` calls, with their signatures.
pub fn bodies(batches: usize, secret: &str) -> Vec<(String, String)> {
    (0..batches)
        .map(|b| {
            let calls: Vec<String> = (0..BATCH)
                .map(|i| {
                    let n = b * BATCH + i;
                    format!(
                        r#"{{"type":"track","event":"Order Completed","userId":"wh-{}","messageId":"m-{n}","timestamp":"2025-06-01T10:{:02}:{:02}Z","properties":{{"order_id":"o-{n}","total":{}.5,"currency":"EUR"}}}}"#,
                        n % 5000,
                        (n / 60) % 60,
                        n % 60,
                        10 + n % 90
                    )
                })
                .collect();
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("key");
            mac.update(calls[0].as_bytes());
            let signature = hex::encode(mac.finalize().into_bytes());
            (format!("[{}]", calls.join(",")), signature)
        })
        .collect()
}

fn post(stream: &mut BufReader<TcpStream>, body: &str, signature: &str) -> u16 {
    super::queries::send(
        stream,
        &format!(
            "POST /webhooks/segment HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nX-Signature: {signature}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    let mut status_line = String::new();
    stream.read_line(&mut status_line).expect("status");
    super::queries::read_answer(stream, &status_line)
}

/// Posts every batch through the webhook server; (seconds, batch latencies in ms).
pub fn through_webhooks(config: &Config, batches: &[(String, String)]) -> (f64, Vec<f64>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let metrics = lifecycle::metrics::Metrics::new();
    let webhooks = lifecycle::webhooks::Webhooks::new(config, &metrics).expect("webhooks");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("listen");
    let port = listener.local_addr().expect("address").port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(lifecycle::webhooks::serve(listener, webhooks, async {
        let _ = stopped.await;
    }));
    // Warm up: the producer's connection and idempotent-producer id, outside the timing.
    let (warm_body, warm_signature) = &batches[0];
    let mut warm = BufReader::new(TcpStream::connect(("127.0.0.1", port)).expect("connect"));
    assert_eq!(post(&mut warm, warm_body, warm_signature), 200, "warm-up");
    let batches = &batches[1..];
    let started = Instant::now();
    let latencies = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..CLIENTS)
            .map(|c| {
                scope.spawn(move || {
                    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                    stream.set_nodelay(true).expect("nodelay");
                    let mut stream = BufReader::new(stream);
                    let mut latencies = Vec::new();
                    for (body, signature) in batches.iter().skip(c).step_by(CLIENTS) {
                        let t = Instant::now();
                        let status = post(&mut stream, body, signature);
                        assert_eq!(status, 200, "webhook answer");
                        latencies.push(t.elapsed().as_secs_f64() * 1e3);
                    }
                    latencies
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("client"))
            .collect::<Vec<f64>>()
    });
    let secs = started.elapsed().as_secs_f64();
    let _ = stop.send(());
    let _ = runtime.block_on(server);
    (secs, latencies)
}

/// Produces every batch's events straight to the topic, `CLIENTS` batches in flight, each
/// awaiting its 50 acknowledgements; (seconds, batch latencies in ms).
pub fn straight(config: &Config, batches: &[(String, String)]) -> (f64, Vec<f64>) {
    let mut client = lifecycle::kafka::client::producer(&lifecycle::config::KafkaConfig {
        guarantee: lifecycle::config::Guarantee::AtLeastOnce,
        ..config.kafka.clone()
    })
    .expect("producer settings");
    client.set(
        "message.timeout.ms",
        config.webhooks.produce_timeout_ms.to_string(),
    );
    let producer: FutureProducer = client.create().expect("producer");
    // The same events the webhook mapping produces (keyed JSON lines).
    let events: Vec<Vec<(String, String)>> = batches
        .iter()
        .map(|(body, _)| {
            let calls: Vec<serde_json::Value> = serde_json::from_str(body).expect("batch");
            calls
                .iter()
                .map(|c| {
                    let user = c["userId"].as_str().unwrap().to_owned();
                    let json = serde_json::json!({
                        "event_id": format!("segment:{}", c["messageId"].as_str().unwrap()),
                        "customer_id": user,
                        "type": "purchase",
                        "occurred_at": c["timestamp"],
                        "data": {"amount": c["properties"]["total"], "currency": "EUR",
                                 "order_id": c["properties"]["order_id"]}
                    })
                    .to_string();
                    (user, json)
                })
                .collect()
        })
        .collect();
    let topic = config.kafka.topics.input.clone();
    // Warm up as the webhook run does, with its first batch.
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            for (key, json) in &events[0] {
                let record = FutureRecord::to(&topic).key(key).payload(json);
                let delivery = producer
                    .send_result(record)
                    .map_err(|(e, _)| e)
                    .expect("enqueue");
                delivery
                    .await
                    .expect("delivered")
                    .map_err(|(e, _)| e)
                    .expect("acknowledged");
            }
        });
    let events = &events[1..];
    let started = Instant::now();
    let latencies = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..CLIENTS)
            .map(|c| {
                let (producer, topic, events) = (&producer, &topic, &events);
                scope.spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime");
                    let mut latencies = Vec::new();
                    for batch in events.iter().skip(c).step_by(CLIENTS) {
                        let t = Instant::now();
                        runtime.block_on(async {
                            let deliveries: Vec<_> = batch
                                .iter()
                                .map(|(key, json)| {
                                    producer
                                        .send_result(FutureRecord::to(topic).key(key).payload(json))
                                        .map_err(|(e, _)| e)
                                        .expect("enqueue")
                                })
                                .collect();
                            for d in deliveries {
                                d.await
                                    .expect("delivered")
                                    .map_err(|(e, _)| e)
                                    .expect("acknowledged");
                            }
                        });
                        latencies.push(t.elapsed().as_secs_f64() * 1e3);
                    }
                    latencies
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("client"))
            .collect::<Vec<f64>>()
    });
    (started.elapsed().as_secs_f64(), latencies)
}

/// The p-quantile of `xs` (sorted in place).
pub fn quantile(xs: &mut [f64], p: f64) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[((xs.len() as f64 * p).ceil() as usize)
        .saturating_sub(1)
        .min(xs.len() - 1)]
}
