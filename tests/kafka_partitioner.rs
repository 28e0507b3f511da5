//! Keys that other Kafka clients agree on: `lifecycle produce` (and the service's producer)
//! put a key on the partition Kafka's Java producer does, murmur2 of the key's bytes, made
//! positive, modulo the partition count (`kafka.partitioner = "murmur2_random"`).

mod support;

use support::*;

use std::collections::BTreeMap;
use std::process::Command;

/// Kafka's `Utils.murmur2` (the Java client's default partitioner), written from its source
/// and checked below against the known answers of Kafka's own `UtilsTest.testMurmur2`.
fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len() as u32;
    let mut h = SEED ^ length;
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for chunk in chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Where the Java producer puts a keyed record: `toPositive(murmur2(key)) % partitions`.
fn java_partition(key: &str, partitions: u32) -> i32 {
    ((murmur2(key.as_bytes()) & 0x7fff_ffff) as u32 % partitions) as i32
}

#[test]
fn the_reference_murmur2_gives_kafkas_known_answers() {
    // Kafka's clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java.
    for (key, expected) in [
        ("21", -973_932_308),
        ("foobar", -790_332_482),
        ("a-little-bit-long-string", -985_981_536),
        ("a-little-bit-longer-string", -1_486_304_829),
        (
            "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
            -58_897_971,
        ),
        ("abc", 479_470_107),
    ] {
        assert_eq!(murmur2(key.as_bytes()), expected, "murmur2({key:?})");
    }
}

#[test]
fn produce_puts_each_customer_where_javas_partitioner_does() {
    const PARTITIONS: u32 = 12;
    let broker = Broker::start();
    let topics = TestTopics::new("partitioner");
    topics.create(&broker, PARTITIONS);
    let customers: Vec<String> = std::iter::once("c-42".to_string())
        .chain((0..200).map(|i| format!("customer-{i}")))
        .collect();
    let lines: Vec<String> = customers
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                r#"{{"event_id":"e{i}","customer_id":"{c}","type":"lead_created","occurred_at":"2025-01-01T00:00:00Z"}}"#
            )
        })
        .collect();
    let input = broker.dir.path().join("events.jsonl");
    write_lines(&input, &lines);
    let config = broker.dir.path().join("produce.toml");
    std::fs::write(
        &config,
        service_config(&broker, &topics, "partitioner-group", "").replace("HTTP_PORT", "0"),
    )
    .expect("config");
    let out = Command::new(env!("CARGO_BIN_EXE_lifecycle"))
        .args(["produce", "--input"])
        .arg(&input)
        .arg("--config")
        .arg(&config)
        .output()
        .expect("run lifecycle produce");
    assert!(
        out.status.success(),
        "produce failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let placed: BTreeMap<String, i32> = read_all(&broker, &[&topics.input])
        .into_iter()
        .map(|m| {
            (
                String::from_utf8(m.key.expect("keyed")).unwrap(),
                m.partition,
            )
        })
        .collect();
    assert_eq!(placed.len(), customers.len());
    assert_eq!(
        placed["c-42"],
        java_partition("c-42", PARTITIONS),
        "c-42 where Java puts it"
    );
    for (key, partition) in &placed {
        assert_eq!(*partition, java_partition(key, PARTITIONS), "{key}");
    }
    // Not all on one partition by accident.
    let used: std::collections::BTreeSet<i32> = placed.values().copied().collect();
    assert!(used.len() > PARTITIONS as usize / 2, "{used:?}");
}
