//! What the report draws, gathered from replay's records as they are written (memory grows
//! with customers and weeks, not with events): stage counts per week, the flow between
//! stages, monthly cohorts, actions per week by kind.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::LazyLock;

use memchr::memmem::Finder;

use crate::domain::{ActionKind, Stage, Timestamp};

const WEEK: i64 = 7 * 86_400 * 1_000_000_000;

/// Weeks since the epoch's Monday (1970-01-05).
pub fn week_of(t: Timestamp) -> i64 {
    t.week()
}

/// The Monday a week starts on, as YYYY-MM-DD.
pub fn week_label(week: i64) -> String {
    let t = Timestamp::from_nanos(week * WEEK + 4 * 86_400 * 1_000_000_000);
    t.to_string()[..10].to_owned()
}

/// The key patterns of the fields the report reads, searched with finders built once (a
/// finder built per search cost more than the search).
const AT: usize = 0;
const FROM: usize = 1;
const TO: usize = 2;
const REASON: usize = 3;
const CUSTOMER: usize = 4;
const KIND: usize = 5;
static FINDERS: LazyLock<[Finder<'static>; 6]> = LazyLock::new(|| {
    [
        br#""at":""#.as_slice(),
        br#""from":""#,
        br#""to":""#,
        br#""reason":""#,
        br#""customer_id":""#,
        br#""kind":""#,
    ]
    .map(Finder::new)
});

/// The end of an action that a control group holds out (the encoder writes `held_out` just
/// before `schema_version`).
const HELD_OUT_END: &[u8] = br#","held_out":true,"schema_version":1}"#;

/// The value of the string field `key` (one of the consts above; `None` for null or
/// absent).
fn field(line: &[u8], key: usize) -> Option<&[u8]> {
    let finder = &FINDERS[key];
    let start = finder.find(line)? + finder.needle().len();
    let rest = &line[start..];
    let mut i = 0;
    while i < rest.len() {
        match rest[i] {
            b'\\' => i += 2,
            b'"' => return Some(&rest[..i]),
            _ => i += 1,
        }
    }
    None
}

/// Months since 1970-01, from an RFC 3339 text.
fn month_of(at: &str) -> Option<i64> {
    let year: i64 = at.get(..4)?.parse().ok()?;
    let month: i64 = at.get(5..7)?.parse().ok()?;
    Some(year * 12 + month - 1 - 1970 * 12)
}

pub fn month_label(month: i64) -> String {
    let m = month + 1970 * 12;
    format!("{:04}-{:02}", m / 12, m % 12 + 1)
}

fn stage_index(name: &[u8]) -> Option<usize> {
    Stage::ALL
        .iter()
        .position(|s| s.as_str().as_bytes() == name)
}

/// A customer's cohort (month of first conversion) and whether it is `new` or `mature` now.
#[derive(Clone, Copy)]
struct CohortMember {
    cohort: i64,
    active: bool,
}

#[derive(Default)]
pub struct Collected {
    /// Customers in each stage, now.
    stages: [i64; 5],
    /// Stage counts at the end of each week that had records (weeks between carry over).
    pub weekly: BTreeMap<i64, [i64; 5]>,
    last_week: Option<i64>,
    /// Transitions by (from, to), by stage index; index 5 is none (first_seen's from,
    /// erasure's to).
    flows: [[u64; 6]; 6],
    /// By the customer id as written (escapes and all).
    members: HashMap<Vec<u8>, CohortMember>,
    /// Per cohort: its size, and its active count at the end of each month from its start.
    pub cohort_size: BTreeMap<i64, u64>,
    cohort_active: BTreeMap<i64, i64>,
    pub cohort_months: BTreeMap<i64, Vec<i64>>,
    last_month: Option<i64>,
    /// Actions per week: sent by kind (at the kind's place in `ActionKind::ALL`), then
    /// held out by kind.
    actions_weekly: BTreeMap<i64, [u64; 2 * ActionKind::ALL.len()]>,
    /// The last record's date (YYYY-MM-DD) and its week and month: records come nearly in
    /// time order, so most share the previous one's date.
    last_date: [u8; 10],
    last_periods: (i64, i64),
}

impl Collected {
    /// Closes the weeks and months before `week`/`month` (records come in processing order,
    /// close to time order; a late record counts in the current period).
    fn advance(&mut self, week: i64, month: i64) {
        match self.last_week {
            Some(last) if week > last => {
                for w in last..week {
                    self.weekly.insert(w, self.stages);
                }
                self.last_week = Some(week);
            }
            None => self.last_week = Some(week),
            _ => {}
        }
        match self.last_month {
            Some(last) if month > last => {
                for _ in last..month {
                    for (cohort, active) in &self.cohort_active {
                        self.cohort_months.entry(*cohort).or_default().push(*active);
                    }
                }
                self.last_month = Some(month);
            }
            None => self.last_month = Some(month),
            _ => {}
        }
    }

    /// One record line, as replay's encoder writes it: its fields are found by their keys
    /// (`"at":"`, ...), without parsing the whole object (parsing every record made the
    /// report three times as slow as replay). A key pattern cannot occur inside a string,
    /// where quotes are escaped.
    pub fn line(&mut self, line: &[u8]) -> io::Result<()> {
        let transition = line.starts_with(br#"{"type":"transition""#);
        if !transition && !line.starts_with(br#"{"type":"action""#) {
            return Ok(());
        }
        let Some(at) = field(line, AT).and_then(|a| std::str::from_utf8(a).ok()) else {
            return Ok(());
        };
        let (week, month) = match at.as_bytes().get(..10) {
            Some(date) if date == self.last_date => self.last_periods,
            _ => {
                let Ok(t) = Timestamp::parse_rfc3339(at) else {
                    return Ok(());
                };
                let periods = (week_of(t), month_of(at).unwrap_or_default());
                if let Some(date) = at.as_bytes().get(..10) {
                    self.last_date.copy_from_slice(date);
                }
                self.last_periods = periods;
                periods
            }
        };
        self.advance(week, month);
        if transition {
            let from = field(line, FROM).and_then(stage_index);
            let to = field(line, TO).and_then(stage_index);
            if let Some(i) = from {
                self.stages[i] -= 1;
            }
            if let Some(i) = to {
                self.stages[i] += 1;
            }
            let none = Stage::ALL.len();
            self.flows[from.unwrap_or(none)][to.unwrap_or(none)] += 1;
            let customer = field(line, CUSTOMER).unwrap_or_default();
            let first_conversion = field(line, REASON) == Some(b"first_conversion".as_slice());
            let active = to.is_some_and(|i| matches!(Stage::ALL[i], Stage::New | Stage::Mature));
            self.cohort_move(customer, first_conversion, active, to.is_none(), month);
        } else {
            let kind = field(line, KIND).unwrap_or_default();
            let Some(mut slot) = ActionKind::ALL
                .iter()
                .position(|k| k.as_str().as_bytes() == kind)
            else {
                return Ok(());
            };
            if line.ends_with(HELD_OUT_END) {
                slot += ActionKind::ALL.len();
            }
            let week = self.last_week.unwrap_or_default();
            self.actions_weekly
                .entry(week)
                .or_insert([0; 2 * ActionKind::ALL.len()])[slot] += 1;
        }
        Ok(())
    }

    fn cohort_move(
        &mut self,
        customer: &[u8],
        first_conversion: bool,
        now_active: bool,
        erased: bool,
        month: i64,
    ) {
        if first_conversion && !self.members.contains_key(customer) {
            self.members.insert(
                customer.to_vec(),
                CohortMember {
                    cohort: month,
                    active: false,
                },
            );
            *self.cohort_size.entry(month).or_default() += 1;
            self.cohort_active.entry(month).or_default();
        }
        let Some(member) = self.members.get_mut(customer) else {
            return;
        };
        if member.active != now_active {
            *self.cohort_active.entry(member.cohort).or_default() +=
                if now_active { 1 } else { -1 };
            member.active = now_active;
        }
        if erased {
            self.members.remove(customer);
        }
    }

    /// Transitions by (from, to) names, "none" for no stage; only pairs that occurred.
    pub fn flows(&self) -> Vec<(&'static str, &'static str, u64)> {
        let name = |i: usize| Stage::ALL.get(i).map_or("none", |s| s.as_str());
        let mut out = Vec::new();
        for (from, row) in self.flows.iter().enumerate() {
            for (to, n) in row.iter().enumerate().filter(|(_, n)| **n > 0) {
                out.push((name(from), name(to), *n));
            }
        }
        out
    }

    /// Actions per week by kind name ("<kind> (held out)" for the control groups'), only
    /// the kinds that occurred.
    pub fn actions_weekly(&self) -> BTreeMap<i64, BTreeMap<String, u64>> {
        let name = |slot: usize| {
            let kind = ActionKind::ALL[slot % ActionKind::ALL.len()].as_str();
            match slot < ActionKind::ALL.len() {
                true => kind.to_owned(),
                false => format!("{kind} (held out)"),
            }
        };
        self.actions_weekly
            .iter()
            .map(|(week, counts)| {
                let kinds = counts
                    .iter()
                    .enumerate()
                    .filter(|(_, n)| **n > 0)
                    .map(|(slot, n)| (name(slot), *n))
                    .collect();
                (*week, kinds)
            })
            .collect()
    }

    /// Closes the weeks and months up to `end` (the engine's clock at the end of the input,
    /// or `--as-of`: the events after the last record count too), then the last ones.
    pub fn finish(&mut self, end: Option<Timestamp>) {
        if let Some(end) = end {
            // The state at an instant is the end of the period before it: a clock of exactly
            // 2026-01-01T00:00:00Z closes December, and opens no January column.
            let end = Timestamp::from_nanos(end.as_nanos().saturating_sub(1));
            let month = month_of(&end.to_string()).unwrap_or_default();
            if self.last_week.is_some() {
                self.advance(week_of(end), month);
            }
        }
        if let Some(w) = self.last_week {
            self.weekly.insert(w, self.stages);
        }
        for (cohort, active) in &self.cohort_active {
            self.cohort_months.entry(*cohort).or_default().push(*active);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn the_charts_over_time_end_where_the_clock_ends() {
        let mut c = Collected::default();
        for line in [
            r#"{"type":"transition","customer_id":"a","from":null,"to":"prospect","reason":"first_seen","at":"2025-12-10T10:00:00Z","event_id":"e1","seq":1}"#,
            r#"{"type":"transition","customer_id":"a","from":"prospect","to":"new","reason":"first_conversion","at":"2025-12-10T10:00:00Z","event_id":"e1","seq":2}"#,
        ] {
            c.line(line.as_bytes()).unwrap();
        }
        // The clock at 2026-01-01T00:00:00Z: December's end, and no January.
        c.finish(Some(at("2026-01-01T00:00:00Z")));
        let december = month_of("2025-12").unwrap();
        assert_eq!(c.cohort_months[&december], vec![1], "+0 only");
        assert_eq!(
            c.weekly.keys().last().copied(),
            Some(week_of(at("2025-12-29T00:00:00Z")))
        );
        // A clock a month and a half later: two more months and the weeks up to it.
        let mut later = Collected::default();
        later
            .line(br#"{"type":"transition","customer_id":"a","from":"prospect","to":"new","reason":"first_conversion","at":"2025-12-10T10:00:00Z","event_id":"e1","seq":2}"#)
            .unwrap();
        later.finish(Some(at("2026-02-15T00:00:00Z")));
        assert_eq!(later.cohort_months[&december].len(), 3);
        assert_eq!(
            later.weekly.keys().last().copied(),
            Some(week_of(at("2026-02-09T00:00:00Z")))
        );
    }
}
