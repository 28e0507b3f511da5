//! `lifecycle produce`: sends a JSONL file to the input topic, each line keyed by its
//! `customer_id` (for demos, load tests and benchmarks).

use std::io::BufRead;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};

use super::client;
use super::sink::DeliveryContext;
use crate::config::KafkaConfig;

/// The customer id of a line without parsing all of it; `None` when it has none.
fn customer_key(line: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(line).ok()?;
    v.get("customer_id")?.as_str().map(str::to_owned)
}

/// Produces every non-blank line; returns (lines, seconds).
pub fn produce(k: &KafkaConfig, input: &mut dyn BufRead) -> Result<(u64, f64)> {
    let mut config = client::producer(&crate::config::KafkaConfig {
        guarantee: crate::config::Guarantee::AtLeastOnce,
        ..k.clone()
    })?;
    // Bigger batches than the service's (a bulk load), unless [kafka.librdkafka] says.
    for (key, value) in [("linger.ms", "20"), ("batch.num.messages", "10000")] {
        if !k.librdkafka.contains_key(key) {
            config.set(key, value);
        }
    }
    let producer: ThreadedProducer<DeliveryContext> = config
        .create_with_context(DeliveryContext::default())
        .map_err(client::creation_error)
        .context("cannot create the producer")?;
    let started = Instant::now();
    let mut lines = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        let line = buf.strip_suffix(b"\n").unwrap_or(&buf);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let key = customer_key(line);
        let mut record: BaseRecord<str, [u8], usize> =
            BaseRecord::with_opaque_to(&k.topics.input, 0).payload(line);
        if let Some(key) = &key {
            record = record.key(key.as_str());
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    back,
                )) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((e, _)) => return Err(e).context("cannot enqueue a record"),
            }
        }
        lines += 1;
    }
    producer
        .flush(Duration::from_secs(120))
        .context("flushing the producer")?;
    let failures = std::mem::take(
        &mut *producer
            .context()
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner()),
    );
    if !failures.is_empty() {
        anyhow::bail!("records were not delivered: {}", failures.join("; "));
    }
    Ok((lines, started.elapsed().as_secs_f64()))
}
