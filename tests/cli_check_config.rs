//! `lifecycle check-config` and `lifecycle run` facing librdkafka settings that cannot work:
//! both refuse them, naming every setting and never its value (a value may be a secret),
//! and `run` refuses before it connects to anything.

use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Stands for a secret in the settings; no output may contain it.
const SECRET: &str = "SeCrEt-Value-123";

/// An environment variable only these tests set (on the child alone).
const SECRET_VAR: &str = "LIFECYCLE_CLI_CHECK_CONFIG_SECRET";

/// A variable these tests never set.
const UNSET_VAR: &str = "LIFECYCLE_CLI_CHECK_CONFIG_UNSET";

/// A broker address nobody answers: a listener that never accepts, so that a connection
/// attempt shows in its backlog.
struct Broker {
    listener: TcpListener,
}

impl Broker {
    fn new() -> Broker {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.set_nonblocking(true).expect("non-blocking");
        Broker { listener }
    }

    fn address(&self) -> String {
        self.listener
            .local_addr()
            .expect("local address")
            .to_string()
    }

    fn assert_never_contacted(&self) {
        match self.listener.accept() {
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Ok((_, peer)) => panic!("the broker address was contacted (from {peer})"),
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// A configuration file with these `[kafka.librdkafka]` lines.
fn config_file(dir: &Path, broker: &Broker, librdkafka: &str) -> PathBuf {
    let path = dir.join("lifecycle.toml");
    let text = format!(
        "[kafka]\nbrokers = \"{}\"\n\n[http]\naddress = \"127.0.0.1:0\"\n\n\
         [kafka.librdkafka]\n{librdkafka}\n",
        broker.address()
    );
    std::fs::write(&path, text).expect("write the configuration");
    path
}

/// Runs `lifecycle <command> --config <config>` with `env` set (and no inherited
/// `LIFECYCLE__*` overrides) until it exits; kills it and fails after a minute.
fn lifecycle(command: &str, config: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifecycle"));
    cmd.arg(command)
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("LIFECYCLE__")) {
        cmd.env_remove(name);
    }
    cmd.env_remove(UNSET_VAR);
    for (name, value) in env {
        cmd.env(name, value);
    }
    let mut child = cmd.spawn().expect("the lifecycle binary runs");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("poll the child").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect the output");
            panic!("`lifecycle {command}` did not exit within a minute: {out:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collect the output")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Both commands refuse `librdkafka`, name each of `keys` and never show the secret.
fn assert_refused_by_both(librdkafka: &str, env: &[(&str, &str)], keys: &[&str]) {
    for command in ["check-config", "run"] {
        let dir = tempfile::tempdir().expect("temp dir");
        let broker = Broker::new();
        let config = config_file(dir.path(), &broker, librdkafka);
        let out = lifecycle(command, &config, env);
        let (stdout, stderr) = text(&out);
        assert!(
            !out.status.success(),
            "{command} accepted {librdkafka}: {out:?}"
        );
        for key in keys {
            assert!(
                stderr.contains(&format!("kafka.librdkafka.{key}")),
                "{command}: {key} not named in: {stderr}"
            );
        }
        assert!(
            !stdout.contains(SECRET) && !stderr.contains(SECRET),
            "{command} shows the secret: {stdout}{stderr}"
        );
        broker.assert_never_contacted();
    }
}

#[test]
fn a_mistyped_key_is_named_without_its_secret_value() {
    assert_refused_by_both(
        &format!("\"sasl.passwrd\" = \"{SECRET}\""),
        &[],
        &["sasl.passwrd"],
    );
}

#[test]
fn an_unsupported_java_setting_is_named_without_its_secret_value() {
    assert_refused_by_both(
        &format!("\"sasl.jaas.config\" = \"{SECRET}\""),
        &[],
        &["sasl.jaas.config"],
    );
}

#[test]
fn an_invalid_number_is_named_without_the_value() {
    assert_refused_by_both(
        &format!("\"linger.ms\" = \"{SECRET}\""),
        &[],
        &["linger.ms"],
    );
}

#[test]
fn an_unknown_key_whose_value_comes_from_the_environment_is_named_without_it() {
    assert_refused_by_both(
        &format!("\"sasl.passwrd\" = \"env:{SECRET_VAR}\""),
        &[(SECRET_VAR, SECRET)],
        &["sasl.passwrd"],
    );
}

#[test]
fn check_config_refuses_an_unknown_key() {
    assert_refused_by_both("\"linger.mss\" = \"5\"", &[], &["linger.mss"]);
}

#[test]
fn check_config_refuses_a_number_that_is_not_one() {
    assert_refused_by_both("\"linger.ms\" = \"abc\"", &[], &["linger.ms"]);
}

#[test]
fn check_config_refuses_a_secret_whose_variable_is_unset() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::new();
    let config = config_file(
        dir.path(),
        &broker,
        &format!("\"sasl.password\" = \"env:{UNSET_VAR}\""),
    );
    let out = lifecycle("check-config", &config, &[]);
    let (_, stderr) = text(&out);
    assert!(!out.status.success(), "{out:?}");
    assert!(
        stderr.contains("kafka.librdkafka.sasl.password"),
        "{stderr}"
    );
    assert!(stderr.contains(UNSET_VAR), "{stderr}");
    broker.assert_never_contacted();
}

#[test]
fn check_config_reports_every_problem_at_once() {
    assert_refused_by_both(
        &format!(
            "\"linger.mss\" = \"{SECRET}\"\n\"linger.ms\" = \"abc\"\n\
             \"sasl.password\" = \"env:{UNSET_VAR}\""
        ),
        &[],
        &["linger.mss", "linger.ms", "sasl.password"],
    );
}

#[test]
fn a_valid_configuration_with_a_secret_from_the_environment_passes_check_config() {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::new();
    let config = config_file(
        dir.path(),
        &broker,
        &format!(
            "\"security.protocol\" = \"sasl_plaintext\"\n\"sasl.mechanism\" = \"PLAIN\"\n\
             \"sasl.username\" = \"lifecycle\"\n\"sasl.password\" = \"env:{SECRET_VAR}\"\n\
             \"linger.ms\" = \"20\""
        ),
    );
    let out = lifecycle("check-config", &config, &[(SECRET_VAR, SECRET)]);
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("configuration is valid"), "{stdout}");
    assert!(!stdout.contains(SECRET) && !stderr.contains(SECRET));
    broker.assert_never_contacted();
}

#[test]
fn a_quoting_mistake_on_a_secret_line_is_located_without_quoting_the_line() {
    for line in [
        format!("\"sasl.password\" = \"{SECRET}"),
        format!("\"sasl.password\" = {SECRET}"),
    ] {
        let dir = tempfile::tempdir().expect("temp dir");
        let broker = Broker::new();
        let config = config_file(dir.path(), &broker, &line);
        // The line's number in the file config_file writes.
        let number = std::fs::read_to_string(&config)
            .expect("read the configuration")
            .lines()
            .position(|l| l == line)
            .expect("the line is in the file")
            + 1;
        for command in ["check-config", "run"] {
            let out = lifecycle(command, &config, &[]);
            let (stdout, stderr) = text(&out);
            assert!(!out.status.success(), "{command} accepted {line}: {out:?}");
            assert!(stderr.contains(&format!("line {number}")), "{stderr}");
            assert!(
                !stdout.contains(SECRET) && !stderr.contains(SECRET),
                "{command} shows the secret: {stdout}{stderr}"
            );
        }
    }
}

/// `check-config` of a file holding `[section]` and `body`: (valid, stdout and stderr).
fn check_section(dir: &std::path::Path, section: &str, body: &str) -> (bool, String) {
    let path = dir.join(format!("{section}.toml"));
    std::fs::write(&path, format!("[{section}]\n{body}\n")).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_lifecycle"))
        .args(["check-config", "--config", path.to_str().unwrap()])
        .output()
        .expect("run check-config");
    let (stdout, stderr) = text(&out);
    (out.status.success(), format!("{stdout}{stderr}"))
}

/// `[prediction]` (SPEC 8): parameters <= 0, a threshold outside [0, 1), an unknown model and
/// only some of the four parameters are refused, each named by its key; a full set passes.
#[test]
fn check_config_refuses_bad_prediction_settings_and_accepts_good_ones() {
    let dir = tempfile::tempdir().expect("temp dir");
    let check = |prediction: &str| check_section(dir.path(), "prediction", prediction);
    let good = "r = 0.243\nalpha = 4.414\na = 0.793\nb = 2.426\nat_risk_below = 0.3";
    let (ok, said) = check(good);
    assert!(ok, "{said}");
    let (ok, said) = check("model = \"mbg_nbd\"\nr = 1\nalpha = 2\na = 3\nb = 4");
    assert!(ok, "whole numbers are numbers: {said}");
    for (bad, key) in [
        (
            "r = 0.0\nalpha = 4.414\na = 0.793\nb = 2.426",
            "prediction.r",
        ),
        (
            "r = 0.243\nalpha = -1.0\na = 0.793\nb = 2.426",
            "prediction.alpha",
        ),
        ("r = 0.243\nalpha = 4.414\na = 0.793", "prediction.b"),
        ("at_risk_below = 1.0", "prediction.at_risk_below"),
        ("at_risk_below = -0.1", "prediction.at_risk_below"),
        ("model = \"pareto_nbd\"", "prediction.model"),
        ("r = \"high\"", "prediction.r"),
    ] {
        let (ok, said) = check(bad);
        assert!(!ok, "{bad:?} accepted: {said}");
        assert!(said.contains(key), "{bad:?}: {key} not named in {said}");
        assert!(!said.contains("panicked"), "{said}");
    }
}

/// `[actions]` (SPEC 3): a frequency cap needs its window, and keeps at most 100 a window
/// (its times are counted in a byte of the state record).
#[test]
fn check_config_bounds_the_frequency_cap() {
    let dir = tempfile::tempdir().expect("temp dir");
    let check = |actions: &str| check_section(dir.path(), "actions", actions);
    let (ok, said) = check("max_sent = 100\nper_days = 30");
    assert!(ok, "{said}");
    for (bad, key) in [
        ("max_sent = 101\nper_days = 30", "actions.max_sent"),
        ("max_sent = 2\nper_days = 0", "actions.per_days"),
    ] {
        let (ok, said) = check(bad);
        assert!(!ok, "{bad:?} accepted: {said}");
        assert!(said.contains(key), "{bad:?}: {key} not named in {said}");
    }
}

/// `[webhooks]`, `[cloudevents]`, `[output]` (SPEC 11): each bad setting refused, named by
/// its key; the sample mappings pass.
#[test]
fn check_config_refuses_bad_webhook_and_cloudevents_settings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let check = |toml: &str, env: &[(&str, &str)]| {
        let path = dir.path().join("hooks.toml");
        std::fs::write(&path, toml).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_lifecycle"))
            .args(["check-config", "--config", path.to_str().unwrap()])
            .envs(env.iter().copied())
            .output()
            .expect("run check-config");
        let (stdout, stderr) = text(&out);
        (out.status.success(), format!("{stdout}{stderr}"))
    };
    let sample = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/webhooks.toml"),
    )
    .unwrap();
    let secrets = [
        ("HUBSPOT_APP_SECRET", "s"),
        ("SEGMENT_SHARED_SECRET", "s"),
        ("ZOHO_TOKEN", "s"),
    ];
    let (ok, said) = check(&sample, &secrets);
    assert!(ok, "samples/webhooks.toml: {said}");
    // A secret read from an unset variable is refused before `run` would listen, named by
    // its key (each one that is unset).
    let (ok, said) = check(&sample, &secrets[1..2]);
    assert!(!ok, "HUBSPOT_APP_SECRET and ZOHO_TOKEN unset: {said}");
    for (key, var) in [
        ("webhooks.hubspot.app_secret", "HUBSPOT_APP_SECRET"),
        ("webhooks.zoho.token", "ZOHO_TOKEN"),
    ] {
        assert!(
            said.contains(&format!("{key}: environment variable {var} is not set")),
            "{said}"
        );
    }
    assert!(!said.contains("kafka.librdkafka.webhooks"), "{said}");
    for (bad, key) in [
        ("[webhooks]\naddress = \"everywhere\"\n", "webhooks.address"),
        (
            "[webhooks]\npublic_url = \"ftp://x\"\n",
            "webhooks.public_url",
        ),
        (
            "[webhooks.hubspot]\napp_secret = \"s\"\n",
            "webhooks.public_url",
        ),
        (
            "[webhooks.segment.events]\n\"Order Completed\" = \"buy\"\n",
            "webhooks.segment.events",
        ),
        (
            "[webhooks.hubspot.property_changes]\n\"deal.propertyChange\" = \"purchase\"\n",
            "webhooks.hubspot.property_changes",
        ),
        (
            "[webhooks.zoho.operations]\n\"Leads.insert\" = \"customer_erased\"\n",
            "webhooks.zoho.operations",
        ),
        (
            "[cloudevents.types]\n\"com.x\" = \"sale\"\n",
            "cloudevents.types",
        ),
        (
            "[output]\ncloudevents = true\ncloudevents_source = \"\"\n",
            "output.cloudevents_source",
        ),
        ("[holdout]\npercent = 60\n", "holdout.percent"),
    ] {
        let (ok, said) = check(bad, &[]);
        assert!(!ok, "{bad:?} accepted: {said}");
        assert!(said.contains(key), "{bad:?}: {key} not named in {said}");
    }
}

/// Values serde refuses (an unknown name, a negative count) no longer hide one another, nor
/// the checks after them, nor the clients' settings: both commands list them all.
#[test]
fn refused_values_of_typed_keys_are_all_reported_with_the_rest() {
    for command in ["check-config", "run"] {
        let dir = tempfile::tempdir().expect("temp dir");
        let broker = Broker::new();
        let path = dir.path().join("lifecycle.toml");
        let toml = format!(
            "[kafka]\nbrokers = \"{}\"\nclock = \"sundial\"\nguarantee = \"exactly_twice\"\n\
             partitioner = \"sideways\"\n\n[kafka.librdkafka]\n\"linger.ms\" = \"abc\"\n\n\
             [http]\naddress = \"127.0.0.1:0\"\n\n[rules]\ncooldown_days = -5\n\
             inactivity_dayz = 1\nallowed_lateness = \"soon\"\n",
            broker.address()
        );
        std::fs::write(&path, toml).expect("write the configuration");
        let out = lifecycle(command, &path, &[]);
        let (_, stderr) = text(&out);
        assert!(!out.status.success(), "{command}: {out:?}");
        for key in [
            "kafka.clock:",
            "kafka.guarantee:",
            "rules.cooldown_days:",
            "rules.inactivity_dayz:",
            "rules.allowed_lateness:",
            "kafka.librdkafka.linger.ms:",
            "kafka.partitioner:",
        ] {
            assert!(stderr.contains(key), "{command}: {key} missing in {stderr}");
        }
        assert!(
            !stderr.contains("\nin `"),
            "no trailer from the TOML error: {stderr}"
        );
        broker.assert_never_contacted();
    }
}
