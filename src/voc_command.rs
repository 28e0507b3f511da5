//! `lifecycle voc` (SPEC 10, "Analyse"): the voice-of-the-customer counts of a CRM history,
//! offline. It *is* a replay (records discarded; decoding, rejects, duplicates, erasures and
//! `--as-of` as replay's), then the [`VocReport`] that replay's summary also shows in words.

use crate::config::Config;
use crate::domain::voc::VocReport;

/// The counts after replaying `input` (a path or `-`), the clock moved to `as_of` when given.
///
/// `--as-of` fires the timers due by then, which moves stages but no answer: each feedback
/// event is counted under the stage its customer had right after it.
pub fn voc_file(input: &str, as_of: Option<&str>, config: &Config) -> anyhow::Result<VocReport> {
    let as_of = as_of.map(crate::app::parse_as_of).transpose()?;
    let (summary, _) = crate::app::replay_quietly(input, config, as_of, None)?;
    Ok(summary.voc.report_with(&summary.uplift))
}
