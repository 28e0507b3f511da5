//! A customer's state as fixed-width little-endian bytes: the changelog record a restore
//! reads a million of. Every field is at a known width (timestamps and event-id hashes as 8
//! raw bytes, not varints), so reading one takes about 870 instructions (postcard's varints
//! took about 2,780) and no parsing of a self-describing format.
//!
//! Layout (after the format byte the caller puts first):
//!
//! | bytes | field |
//! |---|---|
//! | 1 | stage (its code, [`stage_code`]) |
//! | 1 | flags: which optional fields follow, `contactable`, and whether `churn_risk` fired |
//! | 1 | need level (0: none) |
//! | 1 | last NPS (meaningful when its flag is set) |
//! | 4 + 4 + 4 | seq, purchase count, complaint count |
//! | 8 + 8 | stage entered at, first seen (nanoseconds) |
//! | 8 each | first conversion at, last activity at, last offset (when flagged) |
//! | 8 + 8 | total spend, refund total (`f64` bits) |
//! | 1 + 1 + 8 n | recent ids: count, ring position, hashes |
//! | 1 + 9 n | last sent: count, then kind (its code, [`kind_code`]) and time |
//! | 1 + 8 n | frequency-cap times: count, times (only when flagged; since session 17) |
//! | 8 + 8 + 4 | transactions: first, latest, days counted (only when flagged; issue 20) |
//! | 1 + n | the customer id: length, UTF-8 bytes |
//! | 1 | extensions, only when not 0 (issue 21): which of the blocks below follow |
//! | 1 + ... + 1 + n | the transition that entered the stage (extension bit 0): its reason's code, its numbers, the causing event's id (`entered.rs`) |
//! | 2 | holdouts (extension bit 1, issue 22): the kinds whose conversion window is open, one bit per kind code, little-endian |
//!
//! The flags byte is full, so blocks added since issue 21 come after the customer id, behind
//! a second flags byte that is written only when one of them is present: a record without
//! them is byte for byte what the versions before wrote, and every record they wrote reads
//! as one without them.
//!
//! Stored enums are written as explicit codes, never as positions: a code, once given, is
//! never reused or changed, and a new variant gets a new code (so adding an action kind keeps
//! every record written before it readable). `tests/changelog_fixtures.rs` reads committed
//! bytes of every format that shipped.

use super::action::ActionKind;
use super::action::KindSet;
use super::customer::{CapTimes, Customer, LastSent, RECENT_IDS, RecentIds, Stage};
use super::event::{EventType, NeedLevel};

mod entered;
use super::time::Timestamp;
use crate::predict::Tally;
pub use entered::entered_code;

/// A stage's code in state records (stable: see the module docs).
pub fn stage_code(stage: Stage) -> u8 {
    match stage {
        Stage::Prospect => 0,
        Stage::New => 1,
        Stage::Mature => 2,
        Stage::Churning => 3,
        Stage::Churned => 4,
    }
}

pub fn stage_from_code(code: u8) -> Option<Stage> {
    Some(match code {
        0 => Stage::Prospect,
        1 => Stage::New,
        2 => Stage::Mature,
        3 => Stage::Churning,
        4 => Stage::Churned,
        _ => return None,
    })
}

/// An action kind's code in state records (stable: see the module docs).
pub fn kind_code(kind: ActionKind) -> u8 {
    match kind {
        ActionKind::NurtureLead => 0,
        ActionKind::WelcomeOnboarding => 1,
        ActionKind::LoyaltyReward => 2,
        ActionKind::RetentionOffer => 3,
        ActionKind::WinBackCampaign => 4,
        ActionKind::WelcomeBack => 5,
        ActionKind::ServiceRecovery => 6,
        ActionKind::DetractorFollowUp => 7,
        ActionKind::AdvocacyInvite => 8,
        ActionKind::SurpriseDelight => 9,
        ActionKind::ChurnRisk => 10,
    }
}

pub fn kind_from_code(code: u8) -> Option<ActionKind> {
    Some(match code {
        0 => ActionKind::NurtureLead,
        1 => ActionKind::WelcomeOnboarding,
        2 => ActionKind::LoyaltyReward,
        3 => ActionKind::RetentionOffer,
        4 => ActionKind::WinBackCampaign,
        5 => ActionKind::WelcomeBack,
        6 => ActionKind::ServiceRecovery,
        7 => ActionKind::DetractorFollowUp,
        8 => ActionKind::AdvocacyInvite,
        9 => ActionKind::SurpriseDelight,
        10 => ActionKind::ChurnRisk,
        _ => return None,
    })
}

/// An event type's code in state records (stable: see the module docs).
pub fn event_type_code(t: EventType) -> u8 {
    match t {
        EventType::LeadCreated => 0,
        EventType::Engagement => 1,
        EventType::Purchase => 2,
        EventType::SubscriptionStarted => 3,
        EventType::SubscriptionCancelled => 4,
        EventType::Refund => 5,
        EventType::SupportTicket => 6,
        EventType::Complaint => 7,
        EventType::Feedback => 8,
        EventType::ConsentWithdrawn => 9,
        EventType::ConsentGranted => 10,
        EventType::CustomerErased => 11,
    }
}

pub fn event_type_from_code(code: u8) -> Option<EventType> {
    Some(match code {
        0 => EventType::LeadCreated,
        1 => EventType::Engagement,
        2 => EventType::Purchase,
        3 => EventType::SubscriptionStarted,
        4 => EventType::SubscriptionCancelled,
        5 => EventType::Refund,
        6 => EventType::SupportTicket,
        7 => EventType::Complaint,
        8 => EventType::Feedback,
        9 => EventType::ConsentWithdrawn,
        10 => EventType::ConsentGranted,
        11 => EventType::CustomerErased,
        _ => return None,
    })
}

/// A need level's code in state records (0 is "none").
fn need_code(level: NeedLevel) -> u8 {
    match level {
        NeedLevel::Physiological => 1,
        NeedLevel::Safety => 2,
        NeedLevel::Social => 3,
        NeedLevel::Esteem => 4,
        NeedLevel::SelfActualization => 5,
    }
}

const FIRST_CONVERSION: u8 = 1;
const LAST_ACTIVITY: u8 = 1 << 1;
const LAST_NPS: u8 = 1 << 2;
const CONTACTABLE: u8 = 1 << 3;
const LAST_OFFSET: u8 = 1 << 4;
const CAP_TIMES: u8 = 1 << 5;
const TRANSACTIONS: u8 = 1 << 6;
const RISK_FIRED: u8 = 1 << 7;

/// The extension byte's bit for the holdout windows block (issue 22).
const UPLIFT_OPEN: u8 = 1 << 1;
/// Every extension bit this version reads.
const KNOWN_EXTENSIONS: u8 = entered::EXTENSION | UPLIFT_OPEN;

/// Why bytes are not a customer's state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateBytesError {
    #[error("state record ends early")]
    Truncated,
    #[error("state record has {0} bytes after the customer id")]
    Trailing(usize),
    #[error("state record has an invalid {0}")]
    Invalid(&'static str),
}

impl Customer {
    /// Appends this state in the layout above.
    pub fn write_bytes(&self, out: &mut Vec<u8>) {
        let mut flags = 0;
        let mut flag = |present: bool, bit: u8| {
            if present {
                flags |= bit;
            }
        };
        flag(self.first_conversion_at.is_some(), FIRST_CONVERSION);
        flag(self.last_activity_at.is_some(), LAST_ACTIVITY);
        flag(self.last_nps.is_some(), LAST_NPS);
        flag(self.contactable, CONTACTABLE);
        flag(self.last_offset.is_some(), LAST_OFFSET);
        flag(!self.cap_times.times().is_empty(), CAP_TIMES);
        flag(self.transactions.has_transaction(), TRANSACTIONS);
        flag(self.risk_fired, RISK_FIRED);
        out.extend_from_slice(&[
            stage_code(self.stage),
            flags,
            self.need_level.map_or(0, need_code),
            self.last_nps.unwrap_or(0),
        ]);
        for n in [self.seq, self.purchase_count, self.complaint_count] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        let times = [Some(self.stage_entered_at), Some(self.first_seen)];
        let optional = [self.first_conversion_at, self.last_activity_at];
        for t in times.into_iter().chain(optional).flatten() {
            out.extend_from_slice(&t.as_nanos().to_le_bytes());
        }
        if let Some(offset) = self.last_offset {
            out.extend_from_slice(&offset.to_le_bytes());
        }
        out.extend_from_slice(&self.total_spend.to_bits().to_le_bytes());
        out.extend_from_slice(&self.refund_total.to_bits().to_le_bytes());
        let (ids, next) = self.recent.parts();
        out.extend_from_slice(&[ids.len() as u8, next]);
        for id in ids {
            out.extend_from_slice(&id.to_le_bytes());
        }
        let sent = self.last_sent.entries();
        out.push(sent.len() as u8);
        for (kind, at) in sent {
            out.push(kind_code(*kind));
            out.extend_from_slice(&at.as_nanos().to_le_bytes());
        }
        let cap = self.cap_times.times();
        if !cap.is_empty() {
            // The latest 255 (`actions.max_sent` <= 100 keeps at most 202).
            let cap = &cap[cap.len().saturating_sub(usize::from(u8::MAX))..];
            out.push(cap.len() as u8);
            for t in cap {
                out.extend_from_slice(&t.as_nanos().to_le_bytes());
            }
        }
        if let Some((first, latest, days)) = self.transactions.parts() {
            out.extend_from_slice(&first.as_nanos().to_le_bytes());
            out.extend_from_slice(&latest.as_nanos().to_le_bytes());
            out.extend_from_slice(&days.to_le_bytes());
        }
        let id_len = u8::try_from(self.id.len()).expect("customer ids are at most 128 bytes");
        out.push(id_len);
        out.extend_from_slice(self.id.as_bytes());
        let mut extensions = 0;
        if self.entered.is_some() {
            extensions |= entered::EXTENSION;
        }
        if !self.uplift_open.is_empty() {
            extensions |= UPLIFT_OPEN;
        }
        if extensions != 0 {
            out.push(extensions);
        }
        if let Some(why) = self.entered {
            entered::write(why, self.entered_by.as_deref(), out);
        }
        if !self.uplift_open.is_empty() {
            let codes = self
                .uplift_open
                .iter()
                .fold(0u16, |bits, kind| bits | 1 << kind_code(kind));
            out.extend_from_slice(&codes.to_le_bytes());
        }
    }

    /// Reads a state written by [`Customer::write_bytes`]; all of `bytes` must be used.
    pub fn read_bytes(bytes: &[u8]) -> Result<Customer, StateBytesError> {
        let mut r = Reader(bytes);
        let [stage, flags, need_level, last_nps] = r.take()?;
        let has = |bit: u8| flags & bit != 0;
        let stage = stage_from_code(stage).ok_or(StateBytesError::Invalid("stage"))?;
        let need_level = match need_level {
            0 => None,
            n => Some(NeedLevel::from_u8(n).ok_or(StateBytesError::Invalid("need level"))?),
        };
        let seq = u32::from_le_bytes(r.take()?);
        let purchase_count = u32::from_le_bytes(r.take()?);
        let complaint_count = u32::from_le_bytes(r.take()?);
        let stage_entered_at = r.time()?;
        let first_seen = r.time()?;
        let first_conversion_at = r.time_if(has(FIRST_CONVERSION))?;
        let last_activity_at = r.time_if(has(LAST_ACTIVITY))?;
        let last_offset = match has(LAST_OFFSET) {
            true => Some(i64::from_le_bytes(r.take()?)),
            false => None,
        };
        let total_spend = f64::from_bits(u64::from_le_bytes(r.take()?));
        let refund_total = f64::from_bits(u64::from_le_bytes(r.take()?));
        let [count, next] = r.take()?;
        let count = usize::from(count);
        if count > RECENT_IDS || usize::from(next) >= RECENT_IDS {
            return Err(StateBytesError::Invalid("recent event ids"));
        }
        let ids = r.slice(count * 8)?;
        let ids = ids
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("chunks of 8")))
            .collect();
        let recent = RecentIds::from_parts(ids, next);
        let [count] = r.take()?;
        let mut sent = Vec::with_capacity(usize::from(count));
        let mut seen = 0u64;
        for _ in 0..count {
            let [code] = r.take()?;
            let kind_bit = 1u64.checked_shl(u32::from(code)).unwrap_or(0);
            let kind = match kind_from_code(code) {
                Some(kind) if seen & kind_bit == 0 => kind,
                _ => return Err(StateBytesError::Invalid("action kind")),
            };
            seen |= kind_bit;
            sent.push((kind, r.time()?));
        }
        let last_sent = LastSent::from_entries(sent);
        let cap_times = match has(CAP_TIMES) {
            true => {
                let [count] = r.take()?;
                let times = (0..count)
                    .map(|_| r.time())
                    .collect::<Result<Vec<_>, _>>()?;
                if times.is_empty() || !times.is_sorted() {
                    return Err(StateBytesError::Invalid("frequency-cap times"));
                }
                CapTimes::from_times(times)
            }
            false => CapTimes::default(),
        };
        let transactions = match has(TRANSACTIONS) {
            true => {
                let (first, latest) = (r.time()?, r.time()?);
                let days = u32::from_le_bytes(r.take()?);
                Tally::from_parts(first, latest, days)
                    .ok_or(StateBytesError::Invalid("transactions"))?
            }
            false => Tally::EMPTY,
        };
        let [len] = r.take()?;
        // A customer id is 1..=128 bytes without control characters (SPEC 1): a record
        // holding another could not be written back (nor be any customer's).
        let id = std::str::from_utf8(r.slice(usize::from(len))?)
            .ok()
            .filter(|id| (1..=128).contains(&id.len()) && !id.chars().any(char::is_control))
            .ok_or(StateBytesError::Invalid("customer id"))?;
        let extensions = match r.0.first() {
            None => 0,
            // No known extension, or none at all: bytes no version wrote.
            Some(&bits) if bits == 0 || bits & !KNOWN_EXTENSIONS != 0 => {
                return Err(StateBytesError::Trailing(r.0.len()));
            }
            Some(&bits) => {
                r.slice(1)?;
                bits
            }
        };
        let (entered, entered_by) = match extensions & entered::EXTENSION != 0 {
            true => {
                let (why, by) = entered::read(&mut r)?;
                if !why.can_enter(stage) {
                    return Err(StateBytesError::Invalid("entering transition"));
                }
                (Some(why), by)
            }
            false => (None, None),
        };
        let uplift_open = match extensions & UPLIFT_OPEN != 0 {
            true => {
                let codes = u16::from_le_bytes(r.take()?);
                let mut open = KindSet::EMPTY;
                for code in 0..16u8 {
                    if codes & (1 << code) != 0 {
                        let kind = kind_from_code(code)
                            .ok_or(StateBytesError::Invalid("holdout windows"))?;
                        open = open.with(kind);
                    }
                }
                if open.is_empty() {
                    return Err(StateBytesError::Invalid("holdout windows"));
                }
                open
            }
            false => KindSet::EMPTY,
        };
        if !r.0.is_empty() {
            return Err(StateBytesError::Trailing(r.0.len()));
        }
        Ok(Customer {
            id: id.into(),
            stage,
            seq,
            stage_entered_at,
            first_seen,
            first_conversion_at,
            last_activity_at,
            purchase_count,
            total_spend,
            refund_total,
            complaint_count,
            last_nps: has(LAST_NPS).then_some(last_nps),
            contactable: has(CONTACTABLE),
            need_level,
            recent,
            last_sent,
            cap_times,
            last_offset,
            transactions,
            risk_fired: has(RISK_FIRED),
            entered,
            entered_by,
            uplift_open,
        })
    }
}

/// The bytes not read yet.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn slice(&mut self, n: usize) -> Result<&'a [u8], StateBytesError> {
        if self.0.len() < n {
            return Err(StateBytesError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], StateBytesError> {
        let head = self.slice(N)?;
        Ok(head.try_into().expect("a slice of N bytes"))
    }

    fn time(&mut self) -> Result<Timestamp, StateBytesError> {
        Ok(Timestamp::from_nanos(i64::from_le_bytes(self.take()?)))
    }

    fn time_if(&mut self, present: bool) -> Result<Option<Timestamp>, StateBytesError> {
        present.then(|| self.time()).transpose()
    }
}

#[cfg(test)]
mod tests;
