//! Criterion benches of the engine's hot paths: decoding a line, applying an event.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use lifecycle::domain::{Engine, Rules, Timestamp, decode};
use lifecycle::generate::{GenerateOptions, generate};

fn sample() -> Vec<u8> {
    let now = Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").expect("valid time");
    let opts =
        GenerateOptions::new(2_000, 42, "2024-01-01", "2024-12-31", now).expect("valid range");
    let mut out = Vec::new();
    generate(&opts, &mut out).expect("in-memory write");
    out
}

fn benches(c: &mut Criterion) {
    let data = sample();
    let lines: Vec<&[u8]> = data
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let now = Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").expect("valid time");
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.bench_function("decode", |b| {
        b.iter(|| lines.iter().filter(|l| decode(l, now).is_ok()).count())
    });
    group.bench_function("decode_and_apply", |b| {
        b.iter(|| {
            let mut engine = Engine::new(Rules::default());
            let mut records = Vec::new();
            for line in &lines {
                if let Ok(event) = decode(line, now) {
                    engine.apply(&event, &mut records);
                    records.clear();
                }
            }
            engine.customer_count()
        })
    });
    group.finish();
}

criterion_group!(engine, benches);
criterion_main!(engine);
