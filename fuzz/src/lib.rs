//! Fuzz targets for lifecycle, run with AFL++ through the `afl` crate on the stable
//! toolchain (see "Fuzzing" in the README). The targets are thin: the properties they check
//! live in [`checks`], which the main crate's `tests/fuzz_corpus.rs` compiles too.

pub mod checks;
