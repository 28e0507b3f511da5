//! The fuzz targets' short run, the one CI can afford (no cargo-afl, no AFL++): every
//! committed corpus and regression input of both targets (`fuzz/corpus/`, `fuzz/regressions/`)
//! through the checks the AFL++ targets run, then a bounded, seeded mutation loop over them.
//! The checks are `fuzz/src/checks.rs` itself, compiled into this test, so both runs assert
//! the same things. The long coverage-guided runs are in the README ("Fuzzing").

#[path = "../fuzz/src/checks.rs"]
mod checks;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// Mutated inputs per target: about a second each in a debug build.
const MUTATIONS: usize = 20_000;

/// Where the fuzz crate keeps a target's inputs.
fn fuzz_dir(kind: &str, target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target)
}

/// The committed corpus and regression inputs of `target`, by path, in a stable order.
fn committed(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let mut inputs = Vec::new();
    for kind in ["corpus", "regressions"] {
        let dir = fuzz_dir(kind, target);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir:?}: {e}"));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_file() && path.file_name().is_some_and(|n| n != ".gitkeep") {
                let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
                inputs.push((path, bytes));
            }
        }
    }
    inputs.sort();
    inputs
}

/// Runs `check` on `input`; on a failure, names the input and how to reproduce it.
fn run(check: fn(&[u8]), input: &[u8], what: &dyn Fn() -> String) {
    if catch_unwind(AssertUnwindSafe(|| check(input))).is_err() {
        panic!(
            "{} fails its check (panic above); as bytes: b\"{}\"",
            what(),
            input.escape_ascii()
        );
    }
}

#[test]
fn every_committed_decode_input_passes_the_checks() {
    let inputs = committed("decode");
    assert!(inputs.len() >= 10, "the decode corpus is missing");
    for (path, bytes) in &inputs {
        run(checks::check_decode, bytes, &|| format!("{path:?}"));
    }
}

#[test]
fn every_committed_changelog_input_passes_the_checks() {
    let inputs = committed("changelog");
    assert!(inputs.len() >= 10, "the changelog corpus is missing");
    for (path, bytes) in &inputs {
        run(checks::check_changelog, bytes, &|| format!("{path:?}"));
    }
}

/// The changelog seeds are records the encoder writes today; a change of the encoding shows
/// here. `LIFECYCLE_WRITE_FUZZ_SEEDS=1 cargo test --test fuzz_corpus` rewrites them.
#[test]
fn the_changelog_corpus_holds_the_encoders_records() {
    let dir = fuzz_dir("corpus", "changelog");
    let write = std::env::var_os("LIFECYCLE_WRITE_FUZZ_SEEDS").is_some();
    for (name, bytes) in checks::changelog_seeds() {
        let path = dir.join(format!("seed-{name}.bin"));
        if write {
            std::fs::write(&path, &bytes).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        }
        let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        assert_eq!(
            committed, bytes,
            "{path:?} is not what the encoder writes now"
        );
    }
}

#[test]
fn mutated_decode_inputs_pass_the_checks() {
    mutate_and_check("decode", checks::check_decode, DECODE_TOKENS);
}

#[test]
fn mutated_changelog_inputs_pass_the_checks() {
    mutate_and_check("changelog", checks::check_changelog, &[]);
}

/// Pieces of JSON a decode mutation may insert: the syntax, escapes, numbers at the edges of
/// the contract's ranges, and its keys and values.
const DECODE_TOKENS: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"\"",
    b"null",
    b"true",
    b"\\u0000",
    b"\\u00e9",
    b"\\ud83d\\ude00",
    b"\\ud800",
    b"\\\\",
    b"-0",
    b"0.5",
    b"5.0",
    b"1e400",
    b"1e-400",
    b"340282366920938463463374607431768211456",
    b"\"event_id\"",
    b"\"customer_id\"",
    b"\"type\"",
    b"\"occurred_at\"",
    b"\"data\"",
    b"\"amount\"",
    b"\"nps\"",
    b"\"kano\"",
    b"\"functional\"",
    b"\"severity\"",
    b"\"purchase\"",
    b"\"feedback\"",
    b"\"support_ticket\"",
    b"\"2025-01-01T00:00:00Z\"",
    b"\"2262-04-12T00:00:00+23:59\"",
    "\u{85}".as_bytes(),
    "\u{a0}".as_bytes(),
];

/// Bytes a mutation may write over one: JSON's structure, the edges of UTF-8 and ASCII.
const INTERESTING_BYTES: &[u8] = b"\0\x01\x1f\x7f\x80\xbf\xc0\xe0\xed\xf0\xf4\xff\"\\{}[],:0-e. ";

/// Little-endian words a mutation may write over eight bytes (epochs, counts, times, float
/// bits of a changelog state).
const INTERESTING_WORDS: &[u64] = &[
    0,
    1,
    16,
    17,
    255,
    256,
    i64::MAX as u64,
    i64::MIN as u64,
    u64::MAX,
    0x7ff8_0000_0000_0000, // NaN
    0x8000_0000_0000_0000, // -0.0
];

/// `MUTATIONS` inputs, each a committed input of `target` with one to four random edits (bit
/// flips, byte and word overwrites, insertions of tokens or copies, deletions, splices with
/// another input), all through `check`. The generator is seeded, so a failure recurs.
fn mutate_and_check(target: &str, check: fn(&[u8]), tokens: &[&[u8]]) {
    let base: Vec<Vec<u8>> = committed(target).into_iter().map(|(_, b)| b).collect();
    let mut rng = Rng(0x5eed_0000 ^ target.len() as u64);
    for i in 0..MUTATIONS {
        let mut input = base[rng.below(base.len())].clone();
        for _ in 0..1 + rng.below(4) {
            let other = &base[rng.below(base.len())];
            mutate(&mut input, other, tokens, &mut rng);
        }
        run(check, &input, &|| format!("{target} mutation {i}"));
    }
}

fn mutate(input: &mut Vec<u8>, other: &[u8], tokens: &[&[u8]], rng: &mut Rng) {
    let at = |rng: &mut Rng, len: usize| rng.below(len + 1);
    match rng.below(8) {
        0 if !input.is_empty() => {
            let i = rng.below(input.len());
            input[i] ^= 1 << rng.below(8);
        }
        1 if !input.is_empty() => {
            let i = rng.below(input.len());
            input[i] = INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())];
        }
        2 if !tokens.is_empty() => {
            let token = tokens[rng.below(tokens.len())];
            let i = at(rng, input.len());
            input.splice(i..i, token.iter().copied());
        }
        3 if !input.is_empty() => {
            let start = rng.below(input.len());
            let end = (start + 1 + rng.below(16)).min(input.len());
            input.drain(start..end);
        }
        4 if !input.is_empty() => {
            let start = rng.below(input.len());
            let end = (start + 1 + rng.below(32)).min(input.len());
            let copy = input[start..end].to_vec();
            let i = at(rng, input.len());
            input.splice(i..i, copy);
        }
        5 => {
            let keep = at(rng, input.len());
            let from = at(rng, other.len());
            input.truncate(keep);
            input.extend_from_slice(&other[from..]);
        }
        6 if input.len() >= 8 => {
            let i = rng.below(input.len() - 7);
            let word = INTERESTING_WORDS[rng.below(INTERESTING_WORDS.len())];
            input[i..i + 8].copy_from_slice(&word.to_le_bytes());
        }
        _ => {
            let i = at(rng, input.len());
            input.insert(i, rng.next() as u8);
        }
    }
}

/// splitmix64: small, seeded, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform enough in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}
