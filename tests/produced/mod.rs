//! Every output record and dead letter the tests see is kept for the schema check (SPEC 11):
//! written under `$CARGO_TARGET_TMPDIR/produced-records/`, one file per call, and validated
//! after the tests by `scripts/validate-records.py` against `docs/schemas/` with Python's
//! `jsonschema`, the reference validator (`scripts/test.sh` runs it).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

static CALLS: AtomicUsize = AtomicUsize::new(0);

fn file(suffix: &str) -> Option<std::fs::File> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("produced-records");
    std::fs::create_dir_all(&dir).ok()?;
    let exe = std::env::current_exe().ok()?;
    let name = exe.file_stem()?.to_string_lossy().into_owned();
    let n = CALLS.fetch_add(1, Ordering::Relaxed);
    let path = dir.join(format!("{name}-{}-{n}.{suffix}", std::process::id()));
    Some(std::fs::File::create(path).expect("a file for the produced records"))
}

/// Output records (JSON lines: transitions and actions), as a test received them.
pub fn records<'a>(lines: impl IntoIterator<Item = &'a [u8]>) {
    let mut lines = lines.into_iter().filter(|l| !l.is_empty()).peekable();
    if lines.peek().is_none() {
        return;
    }
    let Some(mut out) = file("records.jsonl") else {
        return;
    };
    for line in lines {
        out.write_all(line).expect("write");
        out.write_all(b"\n").expect("write");
    }
}

/// The headers of dead letters, one map per dead letter.
pub fn dead_letter_headers<'a>(all: impl IntoIterator<Item = &'a BTreeMap<String, String>>) {
    let mut all = all.into_iter().peekable();
    if all.peek().is_none() {
        return;
    }
    let Some(mut out) = file("dlq-headers.jsonl") else {
        return;
    };
    for headers in all {
        serde_json::to_writer(&mut out, headers).expect("write");
        out.write_all(b"\n").expect("write");
    }
}
