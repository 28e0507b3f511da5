//! librdkafka client settings built from the typed configuration plus the passthrough map,
//! each checked by librdkafka before any client exists.
//!
//! A configured value may be a secret, so errors name settings, never values: librdkafka's
//! and rdkafka's own messages quote values ("Invalid value for configuration property ...:
//! VALUE"), and are replaced here by reasons of our own.

use std::fmt;

use rdkafka::ClientConfig;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::BaseConsumer;
use rdkafka::error::KafkaError;
use rdkafka::producer::BaseProducer;
use rdkafka::types::RDKafkaConfRes;

use crate::config::{Guarantee, KafkaConfig};

/// A setting the clients cannot use.
#[derive(Debug, thiserror::Error)]
pub enum SettingError {
    #[error("{key}: environment variable {var} is not set")]
    MissingEnv { key: String, var: String },
    #[error("{key}: environment variable {var} is not valid UTF-8")]
    EnvNotUnicode { key: String, var: String },
    #[error("{key}: cannot read {path}: {source}")]
    File {
        key: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// librdkafka refused one setting; `setting` is its name in our configuration.
    #[error("{setting}: {reason}")]
    Refused { setting: String, reason: Refusal },
    /// librdkafka refused to create a client from settings it accepted one by one.
    #[error("librdkafka cannot create a client with these settings: {reason}")]
    Creation { reason: String },
}

/// Why librdkafka refused a setting, in words that cannot contain its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    UnknownProperty,
    /// Known to librdkafka but not supported by it (a Java client setting such as
    /// `sasl.jaas.config`) or not by this build.
    Unsupported,
    NotANumber,
    NotABool,
    /// A number outside the range, as librdkafka states it ("0..900000") when it does.
    OutOfRange(Option<String>),
    /// An empty value for a setting that needs one (librdkafka reads "" as unset).
    Empty,
    /// Not one of the values librdkafka accepts for this setting.
    NotAccepted,
    NulCharacter,
    /// A callback or internal property, which no configuration can set.
    NotSettable,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::UnknownProperty => {
                f.write_str("unknown property (librdkafka has no setting of this name)")
            }
            Refusal::Unsupported => f.write_str(
                "not supported by librdkafka (a Java client setting, or one this build lacks)",
            ),
            Refusal::NotANumber => f.write_str("invalid value (must be a number)"),
            Refusal::NotABool => f.write_str("invalid value (must be true or false)"),
            Refusal::OutOfRange(Some(range)) => {
                write!(f, "invalid value (must be in the range {range})")
            }
            Refusal::OutOfRange(None) => f.write_str("invalid value (out of range)"),
            Refusal::Empty => f.write_str("invalid value (must not be empty)"),
            Refusal::NotAccepted => {
                f.write_str("invalid value (not one librdkafka accepts for this setting)")
            }
            Refusal::NulCharacter => f.write_str("invalid value (contains a NUL character)"),
            Refusal::NotSettable => f.write_str("cannot be set from a configuration"),
        }
    }
}

impl Refusal {
    /// Classifies librdkafka's refusal of a setting from its message, of which only the
    /// allowed range is kept (and only when the message has the exact shape that states it).
    fn of(error: &KafkaError) -> Refusal {
        let (code, text) = match error {
            KafkaError::ClientConfig(code, text, _key, _value) => (*code, text.as_str()),
            KafkaError::Nul(_) => return Refusal::NulCharacter,
            _ => return Refusal::NotAccepted,
        };
        if code == RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN {
            return Refusal::UnknownProperty;
        }
        if is_not_a_number(text) {
            return Refusal::NotANumber;
        }
        // The messages that quote the value. No other one does (the out-of-range one quotes
        // the number read, which `allowed_range` leaves out): the tests of text below cannot
        // be fooled by a value.
        if text.starts_with("Invalid value") || text.starts_with("Unsupported value") {
            return Refusal::NotAccepted;
        }
        if text.contains("is outside allowed range") {
            Refusal::OutOfRange(allowed_range(text))
        } else if text.starts_with("Expected bool value") {
            Refusal::NotABool
        } else if text.contains("cannot be set to empty value") {
            Refusal::Empty
        } else if text.contains("must be set through dedicated") || text.starts_with("Internal") {
            Refusal::NotSettable
        } else {
            // "not supported in this build", or the fixed text of a Java client setting.
            Refusal::Unsupported
        }
    }
}

/// librdkafka's message for a number property given something else, `Invalid value for
/// configuration property "NAME"` (NAME differs from the key for an alias such as
/// linger.ms). The message for other properties goes on after the name with the value.
fn is_not_a_number(text: &str) -> bool {
    text.strip_prefix("Invalid value for configuration property \"")
        .and_then(|rest| rest.strip_suffix('"'))
        .is_some_and(|name| !name.contains('"'))
}

/// "a..b" from `Configuration property "NAME" value N is outside allowed range a..b`, where
/// N is the number librdkafka read: nothing else of the value can be in that shape.
fn allowed_range(text: &str) -> Option<String> {
    let rest = text.strip_prefix("Configuration property \"")?;
    let (name, rest) = rest.split_once("\" value ")?;
    let (read, range) = rest.split_once(" is outside allowed range ")?;
    let range = range.trim_end();
    let (low, high) = range.split_once("..")?;
    let number = |s: &str| s.parse::<f64>().is_ok();
    (!name.contains('"') && number(read) && number(low) && number(high)).then(|| range.to_owned())
}

/// Every problem found in one client's settings.
#[derive(Debug)]
pub struct SettingErrors(pub Vec<SettingError>);

impl fmt::Display for SettingErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid Kafka client settings:")?;
        for e in &self.0 {
            write!(f, "\n  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SettingErrors {}

/// The value-free error for a failed `create()`/`create_with_context()`. The settings were
/// checked one by one already; what is left are librdkafka's checks across settings and its
/// set-up of SSL, SASL and assignors (see [`creation_reason`]).
pub fn creation_error(error: KafkaError) -> SettingError {
    match error {
        KafkaError::ClientConfig(_, _, ref key, _) => SettingError::Refused {
            setting: format!("librdkafka setting {key}"),
            reason: Refusal::of(&error),
        },
        KafkaError::Nul(_) => SettingError::Refused {
            setting: "a librdkafka setting".into(),
            reason: Refusal::NulCharacter,
        },
        KafkaError::ClientCreation(text) => SettingError::Creation {
            reason: creation_reason(&text),
        },
        // No other error of client creation carries a configured value.
        other => SettingError::Creation {
            reason: other.to_string(),
        },
    }
}

/// [`creation_error`] for code that keeps rdkafka's error type.
pub fn redacted(error: KafkaError) -> KafkaError {
    KafkaError::ClientCreation(creation_error(error).to_string())
}

/// librdkafka's messages, in librdkafka 2.12, that are fixed texts.
const FIXED_TEXTS: &[&str] = &[
    "sasl.username and sasl.password must be set",
    "sasl.kerberos.service.name must be set",
];

/// librdkafka's messages, in librdkafka 2.12, that state a fixed reason before a colon and
/// may quote a value after it.
const FIXED_BEFORE_COLON: &[&str] = &[
    "Unsupported partition.assignment.strategy",
    "Unsupported SASL mechanism",
    "Invalid sasl.kerberos.kinit.cmd value",
];

/// What can be kept of librdkafka's reason for not creating a client. Its checks across
/// settings return fixed texts that start with a quoted setting name ("`acks` must be set to
/// `all` when `enable.idempotence` is true"): kept whole. Of the others, which may quote a
/// value, only a fixed start is kept ("ssl.key.location failed", "Unsupported SASL
/// mechanism").
fn creation_reason(text: &str) -> String {
    let text = text.trim_end();
    if text.starts_with('`')
        || text.starts_with("Mutually exclusive properties set.")
        || FIXED_TEXTS.contains(&text)
    {
        return text.to_owned();
    }
    let withheld = "(the rest of librdkafka's message is withheld: it may quote a value)";
    if let Some(fixed) = FIXED_BEFORE_COLON
        .iter()
        .find(|p| text.strip_prefix(**p).is_some_and(|r| r.starts_with(':')))
    {
        return format!("{fixed} {withheld}");
    }
    // "ssl.key.location failed: <OpenSSL's error>", which may name a file or quote a PEM.
    let first = text.split(' ').next().unwrap_or_default();
    let is_ssl_setting = first.starts_with("ssl.")
        && first
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_');
    if is_ssl_setting && text[first.len()..].starts_with(" failed") {
        return format!("{first} failed {withheld}");
    }
    "librdkafka's message is withheld, as it may quote a configured value".into()
}

/// Resolves `env:NAME` and `file:PATH` values, so secrets need not sit in config files.
pub(crate) fn resolve(key: &str, value: &str) -> Result<String, SettingError> {
    if let Some(var) = value.strip_prefix("env:") {
        return std::env::var(var).map_err(|e| match e {
            std::env::VarError::NotPresent => SettingError::MissingEnv {
                key: key.to_owned(),
                var: var.to_owned(),
            },
            std::env::VarError::NotUnicode(_) => SettingError::EnvNotUnicode {
                key: key.to_owned(),
                var: var.to_owned(),
            },
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

/// A client's settings before librdkafka has checked them, and the passthrough values that
/// could not be resolved (left out of `config`).
struct Draft {
    config: ClientConfig,
    problems: Vec<SettingError>,
}

/// Settings every client shares: brokers, then our defaults (shared, then `defaults`), then
/// the passthrough map, which overrides any default (config validation keeps it away from the
/// settings the typed keys and our correctness own, set after it by each client).
fn base(k: &KafkaConfig, defaults: &[(&str, &str)]) -> Draft {
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
    let mut problems = Vec::new();
    for (key, value) in &k.librdkafka {
        match resolve(&format!("kafka.librdkafka.{key}"), value) {
            Ok(v) => {
                c.set(key, v);
            }
            Err(e) => problems.push(e),
        }
    }
    Draft {
        config: c,
        problems,
    }
}

/// The draft's settings once librdkafka has accepted every one of them, or every problem.
fn checked(k: &KafkaConfig, draft: Draft) -> Result<ClientConfig, SettingErrors> {
    let mut problems = draft.problems;
    // Setting them all stops at the first refusal: each is then set alone, to find them all.
    if draft.config.create_native_config().is_err() {
        for (key, value) in draft.config.config_map() {
            let mut one = ClientConfig::new();
            one.set(key, value);
            if let Err(e) = one.create_native_config() {
                problems.push(SettingError::Refused {
                    setting: setting_name(k, key),
                    reason: Refusal::of(&e),
                });
            }
        }
    }
    if problems.is_empty() {
        Ok(draft.config)
    } else {
        Err(SettingErrors(problems))
    }
}

/// The configuration key a librdkafka setting comes from.
fn setting_name(k: &KafkaConfig, key: &str) -> String {
    if k.librdkafka.contains_key(key) {
        return format!("kafka.librdkafka.{key}");
    }
    match key {
        "bootstrap.servers" => "kafka.brokers".into(),
        "group.id" => "kafka.group_id".into(),
        "transactional.id" => "kafka.transactional_id".into(),
        "partitioner" => "kafka.partitioner".into(),
        _ => format!("librdkafka setting {key} (set by the service)"),
    }
}

/// The group consumer of the input topic: manual offsets, from the beginning when new.
pub fn consumer(k: &KafkaConfig) -> Result<ClientConfig, SettingErrors> {
    let mut d = base(k, &[("statistics.interval.ms", "5000")]);
    d.config
        .set("group.id", &k.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed");
    checked(k, d)
}

/// A consumer that reads one changelog partition from its start (no group membership).
pub fn restorer(k: &KafkaConfig) -> Result<ClientConfig, SettingErrors> {
    let mut d = base(k, &[]);
    d.config
        .set("group.id", format!("{}.restore", k.group_id))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed");
    checked(k, d)
}

/// The producer's default `message.max.bytes`: the event limit (1 MiB, the most a dead
/// letter's value keeps) and room for its headers.
pub const PRODUCER_MAX_BYTES: &str = "1114112";

/// The producer: idempotent always, transactional for `exactly_once`.
pub fn producer(k: &KafkaConfig) -> Result<ClientConfig, SettingErrors> {
    // A dead letter keeps a rejected record's value up to the event limit (1 MiB) plus its
    // headers: librdkafka's default limit (1,000,000 bytes) would refuse it.
    let mut d = base(
        k,
        &[
            ("linger.ms", "5"),
            ("message.max.bytes", PRODUCER_MAX_BYTES),
        ],
    );
    d.config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        // The partition of a key, for the outputs, re-keyed events and `lifecycle produce`:
        // Java clients' murmur2 by default, so that they and this service agree.
        .set("partitioner", &k.partitioner);
    if k.guarantee == Guarantee::ExactlyOnce {
        d.config.set("transactional.id", transactional_id(k));
    }
    checked(k, d)
}

/// This instance's transactional id (see `kafka.transactional_id` in config/default.toml).
pub fn transactional_id(k: &KafkaConfig) -> String {
    if !k.transactional_id.is_empty() {
        return k.transactional_id.clone();
    }
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
    format!("{}-{host}", k.group_id)
}

/// Every problem of the three clients' settings, each once (for `check-config`, and for
/// `run` before it starts anything): each setting as librdkafka checks it when it is set,
/// then, when they all pass, the checks across settings librdkafka makes only when a client
/// is created. Those clients are created without brokers, so nothing connects.
pub fn problems(k: &KafkaConfig) -> Vec<SettingError> {
    let mut found = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut note = |e: SettingError| {
        if seen.insert(e.to_string()) {
            found.push(e);
        }
    };
    let created = [
        consumer(k).map(|c| create_offline::<BaseConsumer>(&c)),
        restorer(k).map(|c| create_offline::<BaseConsumer>(&c)),
        producer(k).map(|c| create_offline::<BaseProducer>(&c)),
    ];
    for result in created {
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => note(e),
            Err(SettingErrors(errors)) => errors.into_iter().for_each(&mut note),
        }
    }
    found
}

/// Creates and drops a client of `config` without its brokers.
fn create_offline<T: rdkafka::config::FromClientConfig>(
    config: &ClientConfig,
) -> Result<(), SettingError> {
    let mut offline = config.clone();
    offline
        .remove("bootstrap.servers")
        // Not its warning that it has no brokers.
        .set_log_level(RDKafkaLogLevel::Error);
    offline.create::<T>().map(drop).map_err(creation_error)
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

#[cfg(test)]
#[path = "client_tests.rs"]
mod refusal_tests;
