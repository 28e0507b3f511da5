//! The partition of a key, as the configured `kafka.partitioner` puts it: which instance owns
//! a customer (SPEC 9 routing) depends on agreeing with the producers of the input. The
//! hashes are librdkafka's own partitioner functions, called directly, so they cannot drift
//! from what the service's producer and `lifecycle produce` do; `murmur2` is also Kafka's Java
//! producer (`tests/kafka_partitioner.rs` checks it against Kafka's known answers and against
//! where keys land on a broker).
//!
//! One of the crate's few `unsafe` blocks (see docs/decisions.md): a call of a librdkafka
//! function that reads only the key it is given.

#![allow(unsafe_code)]

use rdkafka::bindings as rd;

/// A partitioner that gives a key a fixed partition (`random` gives none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Partitioner {
    /// `murmur2`, `murmur2_random` (they differ only for an empty or null key).
    Murmur2,
    /// `consistent`, `consistent_random`: CRC-32 of the key.
    Crc32,
    /// `fnv1a`, `fnv1a_random`.
    Fnv1a,
}

impl Partitioner {
    /// The partitioner of a `kafka.partitioner` value; `None` for `random` (or a name
    /// librdkafka does not know, which `check-config` refuses).
    pub fn of(name: &str) -> Option<Partitioner> {
        match name {
            "murmur2" | "murmur2_random" => Some(Partitioner::Murmur2),
            "consistent" | "consistent_random" => Some(Partitioner::Crc32),
            "fnv1a" | "fnv1a_random" => Some(Partitioner::Fnv1a),
            _ => None,
        }
    }

    /// The partition of a non-empty `key` among `partitions` (at least 1).
    pub fn partition(self, key: &[u8], partitions: i32) -> i32 {
        let function = match self {
            Partitioner::Murmur2 => rd::rd_kafka_msg_partitioner_murmur2,
            Partitioner::Crc32 => rd::rd_kafka_msg_partitioner_consistent,
            Partitioner::Fnv1a => rd::rd_kafka_msg_partitioner_fnv1a,
        };
        // SAFETY: these three read only `key` (`keylen` bytes) and `partition_cnt`; the topic
        // and the opaques are not used by them (only the `_random` variants look at the topic,
        // and only for an empty key), so null pointers are fine.
        unsafe {
            function(
                std::ptr::null(),
                key.as_ptr().cast(),
                key.len(),
                partitions.max(1),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_librdkafka_name_but_random_has_a_partitioner() {
        for name in [
            "murmur2",
            "murmur2_random",
            "consistent",
            "consistent_random",
            "fnv1a",
            "fnv1a_random",
        ] {
            assert!(Partitioner::of(name).is_some(), "{name}");
        }
        assert_eq!(Partitioner::of("random"), None);
    }

    #[test]
    fn partitions_are_in_range_and_stable() {
        for p in [Partitioner::Murmur2, Partitioner::Crc32, Partitioner::Fnv1a] {
            for n in 1..9 {
                let got = p.partition(b"c-42", n);
                assert!((0..n).contains(&got), "{p:?} {n}: {got}");
                assert_eq!(got, p.partition(b"c-42", n));
            }
        }
        // murmur2 against Kafka's known answers and the broker: tests/kafka_partitioner.rs.
    }
}
