//! The changelog block of the transition that entered a customer's stage (issue 21), after
//! the customer id behind the extension byte:
//!
//! | bytes | field |
//! |---|---|
//! | 1 | the reason's code ([`entered_code`]) |
//! | 1 | `first_seen`, `first_conversion`, `churn_signal`: the event type's code |
//! | 1 + 1 | `reactivated`: the event type's code, the code of the stage it came from |
//! | 4 × 4 | `mature_criteria`: purchases, minimum purchases, days since the first conversion, minimum days |
//! | 4 | `inactivity`, `no_reactivation`: the days of the rule as it was |
//! | 1 + n | the causing event's id: its length (0 when a timer caused it), its UTF-8 bytes |
//!
//! Codes are explicit, never enum positions (see the parent module).

use compact_str::CompactString;

use super::{
    Reader, StateBytesError, event_type_code, event_type_from_code, stage_code, stage_from_code,
};
use crate::domain::customer::Entered;
use crate::domain::decode::MAX_ID_BYTES;

/// The extension byte's bit for this block.
pub(super) const EXTENSION: u8 = 1;

/// The code of an entering transition's reason (stable: a code, once given, is never reused).
pub fn entered_code(entered: Entered) -> u8 {
    match entered {
        Entered::FirstSeen(_) => 0,
        Entered::FirstConversion(_) => 1,
        Entered::Reactivated { .. } => 2,
        Entered::MatureCriteria { .. } => 3,
        Entered::ChurnSignal(_) => 4,
        Entered::Inactivity { .. } => 5,
        Entered::NoReactivation { .. } => 6,
    }
}

/// Appends the block; `event_id` is the cause (`None` for a timer's transition).
pub(super) fn write(entered: Entered, event_id: Option<&str>, out: &mut Vec<u8>) {
    out.push(entered_code(entered));
    match entered {
        Entered::FirstSeen(t) | Entered::FirstConversion(t) | Entered::ChurnSignal(t) => {
            out.push(event_type_code(t));
        }
        Entered::Reactivated { event_type, from } => {
            out.extend_from_slice(&[event_type_code(event_type), stage_code(from)]);
        }
        Entered::MatureCriteria {
            purchases,
            min_purchases,
            days,
            min_days,
        } => {
            for n in [purchases, min_purchases, days, min_days] {
                out.extend_from_slice(&n.to_le_bytes());
            }
        }
        Entered::Inactivity { days } | Entered::NoReactivation { days } => {
            out.extend_from_slice(&days.to_le_bytes());
        }
    }
    // Event ids are at most 128 bytes (SPEC 1), and a timer's transition has none.
    let id = event_id.filter(|_| entered.timer().is_none()).unwrap_or("");
    let len = u8::try_from(id.len()).expect("event ids are at most 128 bytes");
    out.push(len);
    out.extend_from_slice(id.as_bytes());
}

/// Reads the block written by [`write`]: the transition, and the id of its causing event.
pub(super) fn read(
    r: &mut Reader<'_>,
) -> Result<(Entered, Option<CompactString>), StateBytesError> {
    let invalid = StateBytesError::Invalid("entering transition");
    let event_type = |r: &mut Reader<'_>| {
        let [code] = r.take()?;
        event_type_from_code(code).ok_or(StateBytesError::Invalid("entering transition"))
    };
    let number = |r: &mut Reader<'_>| Ok::<_, StateBytesError>(u32::from_le_bytes(r.take()?));
    let [code] = r.take()?;
    let entered = match code {
        0 => Entered::FirstSeen(event_type(r)?),
        1 => Entered::FirstConversion(event_type(r)?),
        2 => {
            let event_type = event_type(r)?;
            let [from] = r.take()?;
            let from = stage_from_code(from).ok_or(invalid.clone())?;
            Entered::Reactivated { event_type, from }
        }
        3 => Entered::MatureCriteria {
            purchases: number(r)?,
            min_purchases: number(r)?,
            days: number(r)?,
            min_days: number(r)?,
        },
        4 => Entered::ChurnSignal(event_type(r)?),
        5 => Entered::Inactivity { days: number(r)? },
        6 => Entered::NoReactivation { days: number(r)? },
        _ => return Err(invalid),
    };
    let [len] = r.take()?;
    let id = std::str::from_utf8(r.slice(usize::from(len))?).map_err(|_| invalid.clone())?;
    // A timer's transition has no event; an event's has an id of 1..=128 bytes.
    let event_id = match (entered.timer(), id.len()) {
        (Some(_), 0) => None,
        (None, 1..=MAX_ID_BYTES) => Some(CompactString::from(id)),
        _ => return Err(invalid),
    };
    Ok((entered, event_id))
}
