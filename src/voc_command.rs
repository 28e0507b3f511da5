//! `lifecycle voc` (SPEC 10, "Analyse"): the voice-of-the-customer counts of a CRM history,
//! offline. It *is* a replay (records discarded; decoding, rejects, duplicates, erasures and
//! `--as-of` as replay's), then the [`VocReport`] that replay's summary also shows in words.

use std::io;

use anyhow::Context;

use crate::config::Config;
use crate::domain::Timestamp;
use crate::domain::voc::VocReport;
use crate::replay::{ReplayOptions, replay};

/// The counts after replaying `input` (a path or `-`), the clock moved to `as_of` when given.
///
/// `--as-of` fires the timers due by then, which moves stages but no answer: each feedback
/// event is counted under the stage its customer had right after it.
pub fn voc_file(input: &str, as_of: Option<&str>, config: &Config) -> anyhow::Result<VocReport> {
    let as_of = as_of.map(crate::app::parse_as_of).transpose()?;
    let mut reader = crate::app::open_input(input)?;
    let options = ReplayOptions {
        rules: config.rules(),
        as_of,
        now: Timestamp::now(),
        progress: false,
        until: None,
        voc_max_features: config.voc.max_features,
    };
    let summary = replay(&mut reader, &mut io::sink(), None, &options)
        .with_context(|| format!("cannot read {input}"))?;
    Ok(summary.voc.report())
}
