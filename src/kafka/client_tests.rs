//! Tests of the settings' checks: every way librdkafka refuses a setting or a client names
//! the setting and never its value.

use super::*;
use crate::config::Config;

/// Stands for a secret in the settings; no message may contain it.
const SECRET: &str = "SeCrEt-Value-123";

fn kafka(librdkafka: &str) -> KafkaConfig {
    let text = format!("[kafka.librdkafka]\n{librdkafka}");
    Config::from_toml_str(&text, "test").expect("valid").kafka
}

/// The settings' problems of each client (all three must refuse a shared setting alike).
fn each_client(k: &KafkaConfig) -> [Vec<SettingError>; 3] {
    [consumer(k), restorer(k), producer(k)].map(|r| match r {
        Ok(_) => Vec::new(),
        Err(SettingErrors(problems)) => problems,
    })
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn assert_no_secret(message: &str) {
    assert!(!message.contains(SECRET), "the value shows in: {message}");
}

/// What librdkafka itself says of `key = value` (through rdkafka's error).
fn librdkafka_says(key: &str, value: &str) -> String {
    let mut c = ClientConfig::new();
    c.set(key, value);
    c.create_native_config()
        .err()
        .expect("librdkafka refuses it")
        .to_string()
}

#[test]
fn each_refused_setting_is_named_with_a_reason_and_without_its_value() {
    let cases = [
        ("sasl.passwrd", SECRET.to_owned(), Refusal::UnknownProperty),
        ("sasl.jaas.config", SECRET.to_owned(), Refusal::Unsupported),
        ("linger.ms", SECRET.to_owned(), Refusal::NotANumber),
        ("socket.timeout.ms", SECRET.to_owned(), Refusal::NotANumber),
        ("security.protocol", SECRET.to_owned(), Refusal::NotAccepted),
        (
            "socket.keepalive.enable",
            SECRET.to_owned(),
            Refusal::NotABool,
        ),
        ("error_cb", SECRET.to_owned(), Refusal::NotSettable),
        ("client.id", format!("{SECRET}\u{0}"), Refusal::NulCharacter),
        ("linger.ms", String::new(), Refusal::Empty),
        ("socket.keepalive.enable", String::new(), Refusal::Empty),
        // A value shaped like the out-of-range message does not pass for one.
        (
            "security.protocol",
            format!("x\" value 1 is outside allowed range {SECRET}..2"),
            Refusal::NotAccepted,
        ),
    ];
    for (key, value, reason) in cases {
        let k = kafka(&format!("{} = {}", toml_string(key), toml_string(&value)));
        for problems in each_client(&k) {
            let [problem] = problems.as_slice() else {
                panic!("{key}: one problem expected, got {problems:?}");
            };
            let SettingError::Refused {
                setting,
                reason: found,
            } = problem
            else {
                panic!("{key}: a refusal expected, got {problem:?}");
            };
            assert_eq!(setting, &format!("kafka.librdkafka.{key}"));
            assert_eq!(found, &reason, "{key}");
            let message = problem.to_string();
            assert!(
                message.contains(&format!("kafka.librdkafka.{key}")),
                "{message}"
            );
            assert_no_secret(&message);
            assert_no_secret(&format!("{problem:?}"));
        }
    }
}

#[test]
fn librdkafka_quotes_values_that_our_errors_leave_out() {
    // Why its messages are not passed on: an invalid value is quoted by librdkafka's message
    // and shown again by rdkafka's.
    let theirs = librdkafka_says("security.protocol", SECRET);
    assert!(theirs.contains(SECRET), "{theirs}");
    let ours = consumer(&kafka(&format!("\"security.protocol\" = {SECRET:?}")))
        .expect_err("refused")
        .to_string();
    assert!(
        ours.contains("kafka.librdkafka.security.protocol"),
        "{ours}"
    );
    assert_no_secret(&ours);
}

#[test]
fn an_out_of_range_number_is_refused_with_the_range_and_without_the_number() {
    let value = "987654321";
    let theirs = librdkafka_says("queue.buffering.max.ms", value);
    assert!(theirs.contains(value), "{theirs}");
    let k = kafka(&format!("\"queue.buffering.max.ms\" = \"{value}\""));
    let err = producer(&k).expect_err("refused");
    let [SettingError::Refused { reason, .. }] = err.0.as_slice() else {
        panic!("one refusal expected: {err:?}");
    };
    let Refusal::OutOfRange(Some(range)) = reason else {
        panic!("a range expected: {reason:?}");
    };
    let (low, high) = range.split_once("..").expect("low..high");
    let (low, high): (f64, f64) = (low.parse().expect("low"), high.parse().expect("high"));
    assert!(
        low <= high && !(low..=high).contains(&987_654_321.0),
        "{range}"
    );
    assert!(!err.to_string().contains(value), "{err}");
}

#[test]
fn every_problem_of_a_client_is_reported_at_once() {
    let k = kafka(&format!(
        "\"sasl.passwrd\" = {SECRET:?}\n\"linger.ms\" = \"abc\"\n\
         \"sasl.jaas.config\" = {SECRET:?}\n\"sasl.password\" = \"env:LIFECYCLE_TEST_SURELY_UNSET_VAR\""
    ));
    let message = producer(&k).expect_err("refused").to_string();
    for key in [
        "sasl.passwrd",
        "linger.ms",
        "sasl.jaas.config",
        "sasl.password",
    ] {
        assert!(
            message.contains(&format!("kafka.librdkafka.{key}")),
            "{key}: {message}"
        );
    }
    assert_no_secret(&message);
}

#[test]
fn env_and_file_problems_name_the_variable_or_the_path() {
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("missing");
    let k = kafka(&format!(
        "\"sasl.password\" = \"env:LIFECYCLE_TEST_SURELY_UNSET_VAR\"\n\
         \"ssl.key.password\" = \"file:{}\"",
        missing.display()
    ));
    for problems in each_client(&k) {
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(
            matches!(problems.as_slice(), [
                SettingError::MissingEnv { key: a, var },
                SettingError::File { key: b, path, .. },
            ] if a == "kafka.librdkafka.sasl.password" && var == "LIFECYCLE_TEST_SURELY_UNSET_VAR"
                && b == "kafka.librdkafka.ssl.key.password" && path == &missing.display().to_string()),
            "{text:?}"
        );
        assert!(
            text[0].contains("LIFECYCLE_TEST_SURELY_UNSET_VAR"),
            "{}",
            text[0]
        );
        assert!(
            text[1].contains(&missing.display().to_string()),
            "{}",
            text[1]
        );
    }
}

#[test]
fn a_secret_read_from_a_file_is_not_shown_when_librdkafka_refuses_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("secret");
    std::fs::write(&file, format!("{SECRET}\n")).expect("write the secret");
    let k = kafka(&format!(
        "\"sasl.passwrd\" = \"file:{}\"\n\"security.protocol\" = \"file:{}\"",
        file.display(),
        file.display()
    ));
    for problems in each_client(&k) {
        assert_eq!(problems.len(), 2, "{problems:?}");
        for p in &problems {
            assert_no_secret(&p.to_string());
        }
    }
}

#[test]
fn a_valid_configuration_has_no_problems() {
    let k = kafka(&format!(
        "\"sasl.password\" = {SECRET:?}\n\"sasl.username\" = \"lifecycle\"\n\
         \"linger.ms\" = \"20\"\n\"security.protocol\" = \"sasl_plaintext\"\n\
         \"sasl.mechanism\" = \"PLAIN\""
    ));
    let found = problems(&k);
    assert!(found.is_empty(), "{found:?}");
    let exactly_once = KafkaConfig {
        guarantee: Guarantee::ExactlyOnce,
        ..kafka("")
    };
    assert!(problems(&exactly_once).is_empty());
}

#[test]
fn a_problem_every_client_has_is_reported_once() {
    let k = kafka(&format!("\"sasl.passwrd\" = {SECRET:?}"));
    let found = problems(&k);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0]
            .to_string()
            .contains("kafka.librdkafka.sasl.passwrd")
    );
}

#[test]
fn checks_across_settings_are_found_without_brokers_and_kept_when_fixed_texts() {
    // librdkafka checks this only when a client is created.
    let k = kafka("\"max.in.flight\" = \"10\"");
    assert!(producer(&k).is_ok());
    let found = problems(&k);
    let [SettingError::Creation { reason }] = found.as_slice() else {
        panic!("one creation problem expected: {found:?}");
    };
    assert!(reason.contains("`max.in.flight`"), "{reason}");
    // A SASL mechanism's own check: a password without a user name.
    let k = kafka(&format!(
        "\"sasl.password\" = {SECRET:?}\n\"security.protocol\" = \"sasl_plaintext\"\n\
         \"sasl.mechanism\" = \"PLAIN\""
    ));
    let found = problems(&k);
    let [SettingError::Creation { reason }] = found.as_slice() else {
        panic!("one creation problem expected: {found:?}");
    };
    assert!(reason.contains("sasl.username"), "{reason}");
    assert_no_secret(reason);
}

#[test]
fn a_client_refused_for_a_value_is_reported_without_the_value() {
    let k = kafka(&format!("\"partition.assignment.strategy\" = {SECRET:?}"));
    let config = consumer(&k).expect("each setting is accepted");
    let mut offline = config.clone();
    offline.remove("bootstrap.servers");
    let theirs = offline
        .create::<BaseConsumer>()
        .err()
        .expect("librdkafka refuses the client");
    assert!(theirs.to_string().contains(SECRET), "{theirs}");
    let ours = creation_error(theirs).to_string();
    assert!(ours.contains("partition.assignment.strategy"), "{ours}");
    assert_no_secret(&ours);
    let found = problems(&k);
    // The consumer and the restorer refuse it alike; the producer has no assignor.
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].to_string(), ours);
}

#[test]
fn an_ssl_file_that_cannot_be_used_is_named_without_the_rest_of_the_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(SECRET);
    let k = kafka(&format!(
        "\"security.protocol\" = \"ssl\"\n\"ssl.ca.location\" = \"{}\"",
        path.display()
    ));
    let found = problems(&k);
    assert!(!found.is_empty());
    for p in &found {
        let message = p.to_string();
        assert!(message.contains("ssl.ca.location failed"), "{message}");
        assert_no_secret(&message);
    }
}

#[test]
fn creation_errors_keep_neither_values_nor_unknown_texts() {
    let refused = KafkaError::ClientConfig(
        RDKafkaConfRes::RD_KAFKA_CONF_INVALID,
        format!("Invalid value for configuration property \"security.protocol\": {SECRET}"),
        "security.protocol".into(),
        SECRET.into(),
    );
    let nul = KafkaError::Nul(std::ffi::CString::new(format!("{SECRET}\0")).expect_err("nul"));
    let unknown_text = KafkaError::ClientCreation(format!("Unrecognized config: {SECRET}"));
    let fixed_then_value =
        KafkaError::ClientCreation(format!("Unsupported SASL mechanism: {SECRET}"));
    for (error, names) in [
        (refused, "security.protocol"),
        (nul, "librdkafka setting"),
        (unknown_text, "withheld"),
        (fixed_then_value, "Unsupported SASL mechanism"),
    ] {
        let ours = creation_error(error).to_string();
        assert!(ours.contains(names), "{ours}");
        assert_no_secret(&ours);
    }
    let kept = "`acks` must be set to `all` when `enable.idempotence` is true";
    let message = redacted(KafkaError::ClientCreation(kept.into())).to_string();
    assert!(message.contains(kept), "{message}");
}
