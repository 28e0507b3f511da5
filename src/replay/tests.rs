//! Replay's pipeline: order, failed reads and writes, blank lines.

use super::*;

#[test]
fn a_blank_line_is_white_space_alone_ascii_or_not() {
    for blank in [
        "",
        " \t\r",
        "\u{b}",
        "\u{c}\u{b}",
        "\u{85}",
        "\u{3000}",
        " \u{a0}\u{2003} ",
        "\u{2028}\u{b}",
    ] {
        assert!(is_blank(blank.as_bytes()), "{blank:?}");
    }
    for text in ["{}", " x", "\u{3000}x", "\u{a0}\u{e9}"] {
        assert!(!is_blank(text.as_bytes()), "{text:?}");
    }
    assert!(!is_blank(b" \xff"), "invalid UTF-8 is not blank");
}

fn options() -> ReplayOptions {
    ReplayOptions {
        rules: Rules::default(),
        as_of: None,
        now: Timestamp::parse_rfc3339("2030-01-01T00:00:00Z").unwrap(),
        progress: false,
        until: None,
        voc_max_features: 50,
    }
}

/// Many more lines than the channels hold, each making records.
fn input(customers: usize) -> String {
    (0..customers)
        .map(|i| {
            format!(
                r#"{{"event_id":"e{i}","customer_id":"c{i}","type":"purchase","occurred_at":"2025-01-01T00:00:00Z","data":{{"amount":1}}}}"#
            ) + "\n"
        })
        .collect()
}

/// Accepts `left` bytes, then fails.
struct FailingWriter {
    left: usize,
}

impl Write for FailingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.left < buf.len() {
            return Err(io::Error::other("disk full"));
        }
        self.left -= buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failed_write_ends_the_run_with_that_error() {
    let text = input(50_000);
    let mut out = FailingWriter { left: 200_000 };
    let err = replay(&mut text.as_bytes(), &mut out, None, &options()).unwrap_err();
    assert_eq!(err.to_string(), "disk full");
}

/// Yields its text, then fails instead of ending.
struct FailingReader<'a> {
    text: &'a [u8],
}

impl io::Read for FailingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.text.is_empty() {
            return Err(io::Error::other("connection reset"));
        }
        self.text.read(buf)
    }
}

#[test]
fn a_failed_read_ends_the_run_with_that_error() {
    let text = input(20_000);
    let mut reader = io::BufReader::new(FailingReader {
        text: text.as_bytes(),
    });
    let mut out = Vec::new();
    let err = replay(&mut reader, &mut out, None, &options()).unwrap_err();
    assert_eq!(err.to_string(), "connection reset");
}

#[test]
fn the_pipelined_run_writes_every_record_in_order() {
    let text = input(20_000);
    let mut out = Vec::new();
    let summary = replay(&mut text.as_bytes(), &mut out, None, &options()).unwrap();
    let lines: Vec<&[u8]> = out
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    // Per customer: first_seen, first_conversion, welcome_onboarding.
    assert_eq!(lines.len(), 60_000);
    assert_eq!(summary.transitions, 40_000);
    for (i, chunk) in lines.chunks(3).enumerate() {
        let id = format!(r#""customer_id":"c{i}""#);
        assert!(
            chunk
                .iter()
                .all(|l| String::from_utf8_lossy(l).contains(&id))
        );
    }
}
