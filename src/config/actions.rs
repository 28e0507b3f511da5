//! SPEC 3's frequency cap and backfill: the `[actions]` table.

use serde::Deserialize;

use super::MAX_DAYS;
use crate::domain::time::Timestamp;

/// The largest `actions.max_sent`: up to `2 * max_sent + 2` times (`CapTimes`) fit a byte of
/// the state record.
const MAX_SENT: u32 = 100;

/// SPEC 3's frequency cap and backfill (the `[actions]` table).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ActionsConfig {
    pub max_sent: u32,
    pub per_days: u32,
    /// RFC 3339; empty: no backfill.
    pub send_from: String,
}

impl ActionsConfig {
    /// What is wrong with the table, each problem named by its key.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.max_sent > MAX_SENT {
            problems.push(format!("actions.max_sent: must be 0..={MAX_SENT}"));
        }
        if self.max_sent > 0 && !(1..=MAX_DAYS).contains(&self.per_days) {
            problems.push(format!(
                "actions.per_days: must be 1..={MAX_DAYS} when actions.max_sent is above 0"
            ));
        }
        if !self.send_from.is_empty() && Timestamp::parse_rfc3339(&self.send_from).is_err() {
            problems.push(
                "actions.send_from: must be an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SSZ), or empty"
                    .into(),
            );
        }
        problems
    }
}
