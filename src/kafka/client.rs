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

/// Settings every client shares: brokers, then our defaults, then the passthrough map
/// (which config validation keeps away from the typed settings).
fn base(k: &KafkaConfig) -> Result<ClientConfig, SettingError> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &k.brokers);
    // A broker that holds fetches until fetch.wait.max.ms starves a stream processor at
    // librdkafka's 500 ms default; 10 ms keeps latency low at a small cost in requests.
    c.set("fetch.wait.max.ms", "10");
    // Once a consumer's local queue passes queued.min.messages, librdkafka pauses fetching
    // for this long (default 1 s); a consumer that then catches up sits idle for the rest of
    // it. A restore, which decodes every record, lost most of its time that way.
    c.set("fetch.queue.backoff.ms", "10");
    for (key, value) in &k.librdkafka {
        c.set(key, resolve(key, value)?);
    }
    Ok(c)
}

/// The group consumer of the input topic: manual offsets, from the beginning when new.
pub fn consumer(k: &KafkaConfig) -> Result<ClientConfig, SettingError> {
    let mut c = base(k)?;
    c.set("group.id", &k.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set("statistics.interval.ms", "5000");
    Ok(c)
}

/// A consumer that reads one changelog partition from its start (no group membership).
pub fn restorer(k: &KafkaConfig) -> Result<ClientConfig, SettingError> {
    let mut c = base(k)?;
    c.set("group.id", format!("{}.restore", k.group_id))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed");
    Ok(c)
}

/// The producer: idempotent always, transactional for `exactly_once`.
pub fn producer(k: &KafkaConfig) -> Result<ClientConfig, SettingError> {
    let mut c = base(k)?;
    c.set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5");
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
