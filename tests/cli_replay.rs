//! `lifecycle replay` as a user runs it (SPEC 5): the binary, its files, its exit codes.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const EVENTS: &str = concat!(
    r#"{"event_id":"e1","customer_id":"c1","type":"lead_created","occurred_at":"2025-01-01T00:00:00Z"}"#,
    "\n",
    "not json\n",
    r#"{"event_id":"e2","customer_id":"c1","type":"purchase","occurred_at":"2025-01-02T00:00:00Z","data":{"amount":5}}"#,
    "\n",
);

fn lifecycle(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lifecycle"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the lifecycle binary runs");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    if let Some(text) = stdin {
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(pipe);
    child.wait_with_output().expect("lifecycle exits")
}

fn lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

#[test]
fn rejected_lines_go_to_the_rejects_file_and_the_run_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let output = dir.path().join("out.jsonl");
    let rejects = dir.path().join("rejects.jsonl");
    std::fs::write(&input, EVENTS).unwrap();
    // Both files are truncated first: stale content must not survive.
    std::fs::write(&output, "stale\n".repeat(100)).unwrap();
    std::fs::write(&rejects, "stale\n".repeat(100)).unwrap();
    let out = lifecycle(
        &[
            "replay",
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
            "--rejects",
            rejects.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success(), "{out:?}");
    let records = lines(&std::fs::read_to_string(&output).unwrap());
    let transitions: Vec<_> = records
        .iter()
        .filter(|r| r["type"] == "transition")
        .map(|r| r["to"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(transitions, ["prospect", "new"]);
    let rejected = lines(&std::fs::read_to_string(&rejects).unwrap());
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["line"], 2);
    assert_eq!(rejected[0]["reason"], "invalid_json");
    assert_eq!(rejected[0]["text"], "not json");
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains("invalid_json 1"), "{summary}");
}

#[test]
fn dash_reads_stdin_and_writes_stdout() {
    let out = lifecycle(&["replay", "--input", "-", "--output", "-"], Some(EVENTS));
    assert!(out.status.success(), "{out:?}");
    let records = lines(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(records.len(), 4, "{records:?}"); // 2 transitions, 2 actions
}

#[test]
fn a_far_future_as_of_is_taken_as_given() {
    let out = lifecycle(
        &["replay", "--input", "-", "--as-of", "9999-12-31T23:59:59Z"],
        Some(EVENTS),
    );
    assert!(out.status.success(), "{out:?}");
    let records = lines(&String::from_utf8_lossy(&out.stdout));
    let last = records.iter().rfind(|r| r["type"] == "transition").unwrap();
    // new -> churning (inactivity) -> churned (no_reactivation): every timer fired.
    assert_eq!(last["to"], "churned", "{records:?}");
}

#[test]
fn the_run_fails_when_it_cannot_proceed() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.jsonl");
    let bad_config = dir.path().join("bad.toml");
    std::fs::write(&bad_config, "[rules]\ninactivity_days = -3\n").unwrap();
    for (what, args) in [
        (
            "unreadable input",
            vec!["replay", "--input", missing.to_str().unwrap()],
        ),
        (
            "bad config",
            vec![
                "replay",
                "--input",
                "-",
                "--config",
                bad_config.to_str().unwrap(),
            ],
        ),
        (
            "bad --as-of",
            vec!["replay", "--input", "-", "--as-of", "yesterday"],
        ),
    ] {
        let out = lifecycle(&args, Some(EVENTS));
        assert!(!out.status.success(), "{what}: {out:?}");
        assert!(!out.stderr.is_empty(), "{what}: says why");
    }
}

/// The peak resident memory of a running process, from /proc (Linux), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmHWM");
    kib * 1024
}

/// SPEC 1: a line over 1 MiB is rejected (`too_large`) without being held whole. A line of
/// 300 MB streamed through standard input leaves replay's peak memory far below the line's
/// size, the rejects file keeps its first MiB and says it was cut, and the next line counts.
#[test]
fn a_line_of_hundreds_of_megabytes_is_rejected_in_bounded_memory() {
    const LINE: usize = 300_000_000;
    let dir = tempfile::tempdir().unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lifecycle"))
        .args(["replay", "--input", "-", "--output", "-", "--rejects"])
        .arg(&rejects)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the lifecycle binary runs");
    let mut pipe = child.stdin.take().expect("stdin is piped");
    let chunk = vec![b'x'; 1 << 20];
    let mut written = 0;
    while written < LINE {
        let n = chunk.len().min(LINE - written);
        pipe.write_all(&chunk[..n]).expect("write stdin");
        written += n;
    }
    pipe.write_all(b"\n").unwrap();
    // Measured while the process is still running (its input is not closed yet): by now it
    // has read the whole long line.
    pipe.write_all(EVENTS.lines().next().unwrap().as_bytes())
        .unwrap();
    pipe.write_all(b"\n").unwrap();
    pipe.flush().unwrap();
    let peak = peak_rss(child.id());
    drop(pipe);
    let out = child.wait_with_output().expect("lifecycle exits");
    assert!(out.status.success(), "{out:?}");
    assert!(
        peak < 64 << 20,
        "peak RSS {} MiB for a {} MB line",
        peak >> 20,
        LINE / 1_000_000
    );
    let rejected = lines(&std::fs::read_to_string(&rejects).unwrap());
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["reason"], "too_large");
    assert_eq!(rejected[0]["line"], 1);
    assert_eq!(rejected[0]["text_truncated"], true);
    assert_eq!(rejected[0]["original_size"], LINE);
    assert_eq!(
        rejected[0]["text"].as_str().unwrap().len(),
        1 << 20,
        "its first MiB"
    );
    let records = lines(&String::from_utf8(out.stdout).unwrap());
    assert!(
        records.iter().any(|r| r["customer_id"] == "c1"),
        "the line after it was applied"
    );
}

/// SPEC 1: the rejects file keeps at most a line's first MiB, also when the line is not
/// UTF-8 (each invalid byte becomes a three-byte U+FFFD) or the cut splits a character.
#[test]
fn a_cut_rejects_text_stays_within_one_mebibyte() {
    let mib = 1 << 20;
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    let rejects = dir.path().join("rejects.jsonl");
    let mut bytes = vec![0xff; 2 * mib];
    bytes.push(b'\n');
    // A valid event whose cut falls inside a two-byte character ("é"): 11 + 2 * 2^20 bytes.
    let split = format!(r#"{{"a":"{}"}}"#, "é".repeat(mib));
    bytes.extend_from_slice(split.as_bytes());
    bytes.push(b'\n');
    // Under the limit, but over it once its invalid bytes are replaced.
    bytes.extend(std::iter::repeat_n(0xfe, mib / 2));
    bytes.push(b'\n');
    std::fs::write(&input, &bytes).unwrap();
    let args = [
        "replay",
        "--input",
        input.to_str().unwrap(),
        "--output",
        "/dev/null",
        "--rejects",
        rejects.to_str().unwrap(),
    ];
    let out = lifecycle(&args, None);
    assert!(out.status.success(), "{out:?}");
    let rejected = lines(&std::fs::read_to_string(&rejects).unwrap());
    assert_eq!(rejected.len(), 3);
    let sizes = [2 * mib, split.len(), mib / 2];
    for (r, size) in rejected.iter().zip(sizes) {
        let text = r["text"].as_str().unwrap();
        assert!(
            text.len() <= mib,
            "line {}: {} bytes",
            r["line"],
            text.len()
        );
        assert!(
            text.len() > mib - 4,
            "line {}: {} bytes",
            r["line"],
            text.len()
        );
        assert_eq!(r["text_truncated"], true, "line {}", r["line"]);
        assert_eq!(r["original_size"], size, "line {}", r["line"]);
    }
    assert!(
        rejected[0]["text"]
            .as_str()
            .unwrap()
            .chars()
            .all(|c| c == '\u{fffd}')
    );
    let split_text = rejected[1]["text"].as_str().unwrap();
    assert!(split_text.starts_with(r#"{"a":"éé"#));
    assert!(
        split_text.ends_with('é'),
        "no replacement for the split character"
    );
    assert_eq!(rejected[1]["reason"], "too_large");
    assert_eq!(rejected[2]["reason"], "invalid_utf8");
}
