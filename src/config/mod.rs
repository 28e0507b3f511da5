//! Configuration: one serde tree. The defaults are `config/default.toml`, compiled in, and
//! written nowhere else; a user file overrides any subset. Loading reports every unknown key,
//! wrong type and invalid value at once, each with its dotted name.

use std::fmt;
use std::path::Path;

use serde::Deserialize;

pub use crate::cloudevents::{CloudEventsConfig, OutputConfig};
use crate::domain::event::{EventSet, EventType};
pub use crate::domain::holdout::HoldoutConfig;
use crate::domain::prediction::Prediction;
use crate::domain::rules::Rules;
use crate::domain::time::{Span, Timestamp};
pub use crate::domain::voc::VocConfig;
pub use crate::predict::PredictionConfig;
pub use crate::webhooks::config::WebhooksConfig;

/// The documented defaults, also the list of valid keys.
pub const DEFAULT_TOML: &str = include_str!("../../config/default.toml");

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub rules: RulesConfig,
    pub actions: ActionsConfig,
    pub log: LogConfig,
    pub http: HttpConfig,
    pub kafka: KafkaConfig,
    pub prediction: PredictionConfig,
    pub voc: VocConfig,
    pub holdout: HoldoutConfig,
    pub cloudevents: CloudEventsConfig,
    pub output: OutputConfig,
    pub webhooks: WebhooksConfig,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub address: String,
    pub stuck_after_ms: u64,
    /// The URL other instances redirect a customer's queries to when this one owns it;
    /// empty: `http://127.0.0.1:<port of address>`.
    pub advertised_url: String,
}

impl HttpConfig {
    /// `advertised_url`, or the loopback URL of `address`'s port when it is empty.
    pub fn advertised(&self) -> String {
        if !self.advertised_url.is_empty() {
            return self.advertised_url.trim_end_matches('/').to_owned();
        }
        let port = self
            .address
            .parse::<std::net::SocketAddr>()
            .map_or(9095, |a| a.port());
        format!("http://127.0.0.1:{port}")
    }
}

/// The prefix of configuration environment variables.
pub const ENV_PREFIX: &str = "LIFECYCLE__";

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Guarantee {
    AtLeastOnce,
    ExactlyOnce,
}

#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ClockSource {
    Wall,
    Event,
}

/// What the service does with an input record whose key is not its event's `customer_id`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KeyMismatch {
    /// Dead-letter it (reason `key_mismatch`).
    DeadLetter,
    /// Produce it again to the input topic, keyed by its `customer_id`, and skip it here.
    Repartition,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    pub brokers: String,
    pub group_id: String,
    pub guarantee: Guarantee,
    pub clock: ClockSource,
    pub commit_interval_ms: u64,
    pub max_batch_events: usize,
    pub transactional_id: String,
    pub operation_timeout_ms: u64,
    pub shutdown_timeout_ms: u64,
    pub key_mismatch: KeyMismatch,
    pub partitioner: String,
    pub topics: Topics,
    pub librdkafka: std::collections::BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Topics {
    pub input: String,
    pub transitions: String,
    pub care: String,
    pub retention: String,
    pub marketing: String,
    pub state: String,
    pub dead_letters: String,
    /// Compacted: which instance owns each input partition (SPEC 9 routing).
    pub members: String,
    /// Held-out actions (SPEC 10).
    pub holdout: String,
}

/// librdkafka settings that typed keys own; the passthrough map may not set them.
pub const RESERVED_LIBRDKAFKA: &[&str] = &[
    "bootstrap.servers",
    "metadata.broker.list",
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "auto.offset.reset",
    "transactional.id",
    "enable.idempotence",
    "acks",
    "isolation.level",
    "enable.partition.eof",
    "partitioner",
];

/// Tables whose keys are free (not checked against the defaults).
const OPEN_TABLES: &[&str] = &[
    "kafka.librdkafka",
    "cloudevents.types",
    crate::webhooks::config::OPEN_TABLES[0],
    crate::webhooks::config::OPEN_TABLES[1],
    crate::webhooks::config::OPEN_TABLES[2],
    crate::webhooks::config::OPEN_TABLES[3],
];

/// Numbers that have no default and are unset unless given (`config/default.toml` shows them
/// commented out): the prediction's parameters.
const OPTIONAL_NUMBERS: &[&str] = &[
    "prediction.r",
    "prediction.alpha",
    "prediction.a",
    "prediction.b",
];

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RulesConfig {
    pub mature_min_purchases: u32,
    pub mature_min_tenure_days: u32,
    pub inactivity_days: u32,
    pub churned_after_days: u32,
    pub allowed_lateness: String,
    pub activity_events: Vec<String>,
    pub conversion_events: Vec<String>,
    pub churn_signal_events: Vec<String>,
    pub cooldown_days: u32,
    pub delight_milestones: Vec<u32>,
}

/// Every problem found in a configuration, one per line.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub source: String,
    pub problems: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "invalid configuration ({}):", self.source)?;
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Longest accepted day count: keeps every deadline inside the representable time range.
pub(crate) const MAX_DAYS: u32 = 36_500;

impl Config {
    /// The defaults alone.
    pub fn default_config() -> Config {
        Config::from_toml_str("", "defaults").expect("config/default.toml is valid")
    }

    /// Loads `path` over the defaults (or the defaults alone), then the `LIFECYCLE__*`
    /// environment variables over both.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_checked(path, &|_| Vec::new())
    }

    /// [`Config::load`], with the problems `more` finds in the parsed configuration reported
    /// along with its own (`check-config` and `run` add the Kafka clients' settings).
    pub fn load_checked(
        path: Option<&Path>,
        more: &dyn Fn(&Config) -> Vec<String>,
    ) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        let (text, source) = match path {
            None => (String::new(), "defaults".to_owned()),
            Some(p) => {
                let source = p.display().to_string();
                let text = std::fs::read_to_string(p).map_err(|e| ConfigError {
                    source: source.clone(),
                    problems: vec![format!("cannot read the file: {e}")],
                })?;
                (text, source)
            }
        };
        Config::from_layers_checked(&text, &env, &source, more)
    }

    /// Parses a user TOML text over the defaults and validates the result.
    pub fn from_toml_str(text: &str, source: &str) -> Result<Config, ConfigError> {
        Config::from_layers(text, &[], source)
    }

    /// Defaults, then the user TOML text, then `LIFECYCLE__SECTION__KEY` variables.
    pub fn from_layers(
        text: &str,
        env: &[(String, String)],
        source: &str,
    ) -> Result<Config, ConfigError> {
        Config::from_layers_checked(text, env, source, &|_| Vec::new())
    }

    fn from_layers_checked(
        text: &str,
        env: &[(String, String)],
        source: &str,
        more: &dyn Fn(&Config) -> Vec<String>,
    ) -> Result<Config, ConfigError> {
        let fail = |problems| ConfigError {
            source: source.to_owned(),
            problems,
        };
        let defaults: toml::Table = DEFAULT_TOML
            .parse()
            .map_err(|e| fail(vec![format!("config/default.toml: {e}")]))?;
        let mut merged = defaults.clone();
        let user: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| fail(vec![syntax_error(text, &e)]))?;
        let mut problems = Vec::new();
        overlay(&mut merged, user, "", &mut problems);
        let env_table = env_overrides(&merged, env, &mut problems);
        overlay(&mut merged, env_table, "", &mut problems);
        // An unknown key was left out and a refused value put back to its default, so the
        // checks go on and report every problem at once.
        let Some(config) = deserialize_all::<Config>(merged, &defaults, &mut problems) else {
            return Err(fail(problems));
        };
        problems.extend(config.problems());
        problems.extend(more(&config));
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(fail(problems))
        }
    }

    /// Every semantic problem (types are already checked).
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let r = &self.rules;
        for (key, days) in [
            ("mature_min_tenure_days", r.mature_min_tenure_days),
            ("inactivity_days", r.inactivity_days),
            ("churned_after_days", r.churned_after_days),
            ("cooldown_days", r.cooldown_days),
        ] {
            if days > MAX_DAYS {
                problems.push(format!("rules.{key}: {days} is above the limit {MAX_DAYS}"));
            }
        }
        if let Err(e) = parse_duration(&r.allowed_lateness) {
            problems.push(format!("rules.allowed_lateness: {e}"));
        }
        for (key, list) in [
            ("activity_events", &r.activity_events),
            ("conversion_events", &r.conversion_events),
            ("churn_signal_events", &r.churn_signal_events),
        ] {
            for name in list {
                match EventType::parse(name) {
                    None => problems.push(format!("rules.{key}: `{name}` is not an event type")),
                    Some(EventType::CustomerErased) => problems.push(format!(
                        "rules.{key}: `customer_erased` cannot be in a rule set, it deletes the customer"
                    )),
                    Some(_) => {}
                }
            }
        }
        if r.delight_milestones.contains(&0) {
            problems.push("rules.delight_milestones: a milestone must be at least 1".into());
        }
        problems.extend(self.actions.problems());
        problems.extend(self.prediction.problems());
        problems.extend(self.voc.problems());
        problems.extend(self.holdout.problems());
        problems.extend(self.cloudevents.problems());
        problems.extend(self.output.problems());
        problems.extend(self.webhooks.problems());
        let k = &self.kafka;
        if k.brokers.trim().is_empty() {
            problems.push("kafka.brokers: must name at least one broker".into());
        }
        if k.group_id.trim().is_empty() {
            problems.push("kafka.group_id: must not be empty".into());
        }
        for (key, v) in [
            ("commit_interval_ms", k.commit_interval_ms),
            ("operation_timeout_ms", k.operation_timeout_ms),
            ("shutdown_timeout_ms", k.shutdown_timeout_ms),
        ] {
            if v == 0 {
                problems.push(format!("kafka.{key}: must be above 0"));
            }
        }
        if self.http.address.parse::<std::net::SocketAddr>().is_err() {
            problems.push(format!(
                "http.address: `{}` is not an address such as 0.0.0.0:9095",
                self.http.address
            ));
        }
        if tracing_level_invalid(&self.log.level) {
            problems.push(format!(
                "log.level: `{}` is not a level filter",
                self.log.level
            ));
        }
        if k.max_batch_events == 0 {
            problems.push("kafka.max_batch_events: must be above 0".into());
        }
        for key in k.librdkafka.keys() {
            if RESERVED_LIBRDKAFKA.contains(&key.as_str()) {
                problems.push(format!(
                    "kafka.librdkafka.{key}: set by the service (a typed key of [kafka], or a setting its delivery guarantees rely on), not by the passthrough"
                ));
            }
        }
        problems
    }

    /// The engine's view of the rules (the config is valid, so nothing fails here).
    pub fn rules(&self) -> Rules {
        let r = &self.rules;
        let set = |names: &[String]| {
            EventSet::of(
                &names
                    .iter()
                    .filter_map(|n| EventType::parse(n))
                    .collect::<Vec<_>>(),
            )
        };
        let mut milestones = r.delight_milestones.clone();
        milestones.sort_unstable();
        milestones.dedup();
        Rules {
            mature_min_purchases: r.mature_min_purchases,
            mature_min_tenure_days: r.mature_min_tenure_days,
            inactivity_days: r.inactivity_days,
            churned_after_days: r.churned_after_days,
            allowed_lateness: parse_duration(&r.allowed_lateness).unwrap_or(Span::ZERO),
            activity_events: set(&r.activity_events),
            conversion_events: set(&r.conversion_events),
            churn_signal_events: set(&r.churn_signal_events),
            cooldown_days: r.cooldown_days,
            delight_milestones: milestones,
            max_sent: self.actions.max_sent,
            per_days: self.actions.per_days,
            send_from: Timestamp::parse_rfc3339(&self.actions.send_from).ok(),
            prediction: self.prediction.params().map(|params| {
                Prediction::new(
                    self.prediction.model,
                    params,
                    f64::from(self.prediction.unit_days),
                    self.prediction.at_risk_below,
                )
            }),
            holdout: self.holdout.holdout(),
            zero_amount_transactions: self.prediction.count_zero_amount,
        }
    }
}

impl Default for Rules {
    /// The rules of `config/default.toml`.
    fn default() -> Rules {
        Config::default_config().rules()
    }
}

fn tracing_level_invalid(level: &str) -> bool {
    tracing_subscriber::EnvFilter::try_new(level).is_err()
}

/// Parses durations such as `1h`, `90s`, `1h30m`, `250ms`, `0s`.
pub fn parse_duration(text: &str) -> Result<Span, String> {
    let bad = || format!("`{text}` is not a duration such as \"1h\", \"30m\", \"90s\" or \"0s\"");
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(bad());
    }
    let mut nanos: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        if digits == 0 {
            return Err(bad());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale: i64 = match &rest[..unit_len] {
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            "d" => 86_400_000_000_000,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        nanos = n
            .checked_mul(scale)
            .and_then(|v| v.checked_add(nanos))
            .filter(|v| *v <= i64::from(MAX_DAYS) * 86_400_000_000_000)
            .ok_or_else(|| format!("`{text}` is longer than {MAX_DAYS} days"))?;
    }
    Ok(Span::from_nanos(nanos))
}

mod actions;
mod layers;
pub use actions::ActionsConfig;
use layers::{deserialize_all, env_overrides, overlay, syntax_error};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_contract() {
        let r = Rules::default();
        assert_eq!(r.mature_min_purchases, 3);
        assert_eq!(r.mature_min_tenure_days, 30);
        assert_eq!(r.inactivity_days, 60);
        assert_eq!(r.churned_after_days, 90);
        assert_eq!(r.allowed_lateness, Span::from_secs(3600));
        assert_eq!(r.cooldown_days, 30);
        assert_eq!(r.delight_milestones, vec![10, 25, 50, 100]);
        assert!(r.activity_events.contains(EventType::Engagement));
        assert!(!r.activity_events.contains(EventType::LeadCreated));
        assert!(r.conversion_events.contains(EventType::SubscriptionStarted));
        assert!(
            r.churn_signal_events
                .contains(EventType::SubscriptionCancelled)
        );
    }

    #[test]
    fn a_user_file_overrides_a_subset() {
        let c = Config::from_toml_str("[rules]\ninactivity_days = 10\n", "t").unwrap();
        assert_eq!(c.rules().inactivity_days, 10);
        assert_eq!(c.rules().churned_after_days, 90);
    }

    #[test]
    fn every_problem_is_reported_with_its_key() {
        let err = Config::from_toml_str(
            "[rules]\ninactivity_dayz = 1\ncooldown_days = \"x\"\n[kafak]\n",
            "t",
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("rules.inactivity_dayz: unknown key"),
            "{text}"
        );
        assert!(
            text.contains("rules.cooldown_days: must be an integer"),
            "{text}"
        );
        assert!(text.contains("kafak: unknown key"), "{text}");

        let err = Config::from_toml_str(
            "[rules]\nallowed_lateness = \"soon\"\nactivity_events = [\"walk\"]\ninactivity_days = -1\n",
            "t",
        )
        .unwrap_err();
        assert!(err.to_string().contains("rules.inactivity_days"), "{err}");
        let err = Config::from_toml_str(
            "[rules]\nallowed_lateness = \"soon\"\nactivity_events = [\"walk\"]\n",
            "t",
        )
        .unwrap_err();
        assert_eq!(err.problems.len(), 2, "{err}");
    }

    #[test]
    fn environment_variables_override_the_file() {
        let env = vec![
            (
                "LIFECYCLE__KAFKA__BROKERS".to_string(),
                "b1:9092".to_string(),
            ),
            (
                "LIFECYCLE__RULES__INACTIVITY_DAYS".to_string(),
                "7".to_string(),
            ),
            (
                "LIFECYCLE__KAFKA__TOPICS__INPUT".to_string(),
                "in".to_string(),
            ),
            (
                "LIFECYCLE__RULES__ACTIVITY_EVENTS".to_string(),
                r#"["purchase"]"#.to_string(),
            ),
        ];
        let c = Config::from_layers("[rules]\ninactivity_days = 10\n", &env, "t").unwrap();
        assert_eq!(c.kafka.brokers, "b1:9092");
        assert_eq!(c.rules.inactivity_days, 7);
        assert_eq!(c.kafka.topics.input, "in");
        assert_eq!(c.rules.activity_events, vec!["purchase".to_string()]);
        let bad = vec![
            (
                "LIFECYCLE__RULES__INACTIVITY_DAYS".to_string(),
                "many".to_string(),
            ),
            ("LIFECYCLE__KAFKA__NOPE".to_string(), "x".to_string()),
        ];
        let err = Config::from_layers("", &bad, "t").unwrap_err().to_string();
        assert!(err.contains("LIFECYCLE__RULES__INACTIVITY_DAYS"), "{err}");
        assert!(err.contains("kafka.nope: unknown key"), "{err}");
    }

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("1h"), Ok(Span::from_secs(3600)));
        assert_eq!(parse_duration("1h30m"), Ok(Span::from_secs(5400)));
        assert_eq!(parse_duration("0s"), Ok(Span::ZERO));
        assert_eq!(parse_duration("250ms"), Ok(Span::from_nanos(250_000_000)));
        for bad in ["", "1", "h", "1x", "-1h", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
