//! librdkafka client settings built from the typed configuration plus the passthrough map.

use rdkafka::ClientConfig;

use crate::config::{Guarantee, KafkaConfig};

/// A passthrough value could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum SettingError {
    #[error("kafka.librdkafka.{key}: environment variable {var} is not set")]
    MissingEnv { key: String, var: String },
    #[error("kafka.librdkafka.{key}: cannot read {path}: {source}")]
    File {
        key: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Resolves `env:NAME` and `file:PATH` values, so secrets need not sit in config files.
fn resolve(key: &str, value: &str) -> Result<String, SettingError> {
    if let Some(var) = value.strip_prefix("env:") {
        return std::env::var(var).map_err(|_| SettingError::MissingEnv {
            key: key.to_owned(),
            var: var.to_owned(),
        });
    }
    if let Some(path) = value.strip_prefix("file:") {
        return std::fs::read_to_string(path)
            .map(|s| s.trim_end().to_owned())
            .map_err(|source| SettingError::File {
                key: key.to_owned(),
                path: path.to_owned(),
                source,
            });
    }
    Ok(value.to_owned())
}

/// Settings every client shares: brokers, then our defaults (shared, then `defaults`), then
/// the passthrough map, which overrides any default (config validation keeps it away from the
/// settings the typed keys and our correctness own, set after it by each client).
fn base(k: &KafkaConfig, defaults: &[(&str, &str)]) -> Result<ClientConfig, SettingError> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &k.brokers);
    // A broker that holds fetches until fetch.wait.max.ms starves a stream processor at
    // librdkafka's 500 ms default; 10 ms keeps latency low at a small cost in requests.
    c.set("fetch.wait.max.ms", "10");
    // Once a consumer's local queue passes queued.min.messages, librdkafka pauses fetching
    // for this long (default 1 s); a consumer that then catches up sits idle for the rest of
    // it. A restore, which decodes every record, lost most of its time that way.
    c.set("fetch.queue.backoff.ms", "10");
    for (key, value) in defaults {
        c.set(*key, *value);
    }
    for (key, value) in &k.librdkafka {
        c.set(key, resolve(key, value)?);
    }
    Ok(c)
}

/// The group consumer of the input topic: manual offsets, from the beginning when new.
pub fn consumer(k: &KafkaConfig) -> Result<ClientConfig, SettingError> {
    let mut c = base(k, &[("statistics.interval.ms", "5000")])?;
    c.set("group.id", &k.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed");
    Ok(c)
}

/// A consumer that reads one changelog partition from its start (no group membership).
pub fn restorer(k: &KafkaConfig) -> Result<ClientConfig, SettingError> {
    let mut c = base(k, &[])?;
    c.set("group.id", format!("{}.restore", k.group_id))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed");
    Ok(c)
}

/// The producer's default `message.max.bytes`: the event limit (1 MiB, the most a dead
/// letter's value keeps) and room for its headers.
pub const PRODUCER_MAX_BYTES: &str = "1114112";

/// The producer: idempotent always, transactional for `exactly_once`.
pub fn producer(k: &KafkaConfig) -> Result<ClientConfig, SettingError> {
    // A dead letter keeps a rejected record's value up to the event limit (1 MiB) plus its
    // headers: librdkafka's default limit (1,000,000 bytes) would refuse it.
    let mut c = base(
        k,
        &[
            ("linger.ms", "5"),
            ("message.max.bytes", PRODUCER_MAX_BYTES),
        ],
    )?;
    c.set("enable.idempotence", "true").set("acks", "all");
    if k.guarantee == Guarantee::ExactlyOnce {
        c.set("transactional.id", transactional_id(k));
    }
    Ok(c)
}

/// This instance's transactional id (see `kafka.transactional_id` in config/default.toml).
pub fn transactional_id(k: &KafkaConfig) -> String {
    if !k.transactional_id.is_empty() {
        return k.transactional_id.clone();
    }
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
    format!("{}-{host}", k.group_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn kafka(librdkafka: &str) -> KafkaConfig {
        let text = format!("[kafka.librdkafka]\n{librdkafka}");
        Config::from_toml_str(&text, "test").expect("valid").kafka
    }

    #[test]
    fn the_passthrough_overrides_our_defaults_but_not_the_guarantees() {
        let k = kafka(r#""linger.ms" = "20""#);
        let p = producer(&k).expect("producer settings");
        assert_eq!(p.get("linger.ms"), Some("20"));
        assert_eq!(p.get("acks"), Some("all"));
        assert_eq!(p.get("enable.idempotence"), Some("true"));
        assert_eq!(
            producer(&kafka("")).expect("defaults").get("linger.ms"),
            Some("5")
        );
        let c = consumer(&kafka(r#""statistics.interval.ms" = "0""#)).expect("consumer");
        assert_eq!(c.get("statistics.interval.ms"), Some("0"));
        assert_eq!(c.get("isolation.level"), Some("read_committed"));
    }

    #[test]
    fn settings_the_guarantees_rely_on_are_refused_in_the_passthrough() {
        for key in ["acks", "enable.idempotence", "enable.partition.eof"] {
            let text = format!("[kafka.librdkafka]\n\"{key}\" = \"1\"");
            let err = Config::from_toml_str(&text, "test")
                .expect_err(key)
                .to_string();
            assert!(err.contains(&format!("kafka.librdkafka.{key}")), "{err}");
        }
    }
}
