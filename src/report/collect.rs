//! What the report draws, gathered from replay's records as they are written (memory grows
//! with customers and weeks, not with events): stage counts per week, the flow between
//! stages, monthly cohorts, actions per week by kind.

use std::collections::{BTreeMap, HashMap};
use std::io;

use crate::domain::{Stage, Timestamp};

const WEEK: i64 = 7 * 86_400 * 1_000_000_000;

/// Weeks since the epoch's Monday (1970-01-05).
pub fn week_of(t: Timestamp) -> i64 {
    (t.as_nanos() - 4 * 86_400 * 1_000_000_000).div_euclid(WEEK)
}

/// The Monday a week starts on, as YYYY-MM-DD.
pub fn week_label(week: i64) -> String {
    let t = Timestamp::from_nanos(week * WEEK + 4 * 86_400 * 1_000_000_000);
    t.to_string()[..10].to_owned()
}

/// The value of the string field `key` of a record line (`None` for null or absent).
fn field<'a>(line: &'a [u8], key: &[u8]) -> Option<&'a [u8]> {
    let mut pattern = Vec::with_capacity(key.len() + 5);
    pattern.push(b'"');
    pattern.extend_from_slice(key);
    pattern.extend_from_slice(b"\":\"");
    let start = memchr::memmem::find(line, &pattern)? + pattern.len();
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

fn stage_index(name: &str) -> Option<usize> {
    Stage::ALL.iter().position(|s| s.as_str() == name)
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
    /// Actions sent per week and kind (held-out ones apart).
    pub actions_weekly: BTreeMap<i64, BTreeMap<String, u64>>,
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
        let Some(at) = field(line, b"at").and_then(|a| std::str::from_utf8(a).ok()) else {
            return Ok(());
        };
        let Ok(t) = Timestamp::parse_rfc3339(at) else {
            return Ok(());
        };
        let month = month_of(at).unwrap_or_default();
        self.advance(week_of(t), month);
        let text = |key: &[u8]| field(line, key).and_then(|v| std::str::from_utf8(v).ok());
        if transition {
            let from = text(b"from").unwrap_or("none");
            let to = text(b"to").unwrap_or("none");
            if let Some(i) = stage_index(from) {
                self.stages[i] -= 1;
            }
            if let Some(i) = stage_index(to) {
                self.stages[i] += 1;
            }
            let slot = |name: &str| stage_index(name).unwrap_or(Stage::ALL.len());
            self.flows[slot(from)][slot(to)] += 1;
            let customer = field(line, b"customer_id").unwrap_or_default();
            let first_conversion = text(b"reason") == Some("first_conversion");
            self.cohort_move(customer, first_conversion, to, month);
        } else {
            let mut kind = text(b"kind").unwrap_or_default().to_owned();
            if memchr::memmem::find(line, br#","held_out":true"#).is_some() {
                kind.push_str(" (held out)");
            }
            let week = self.last_week.unwrap_or_default();
            *self
                .actions_weekly
                .entry(week)
                .or_default()
                .entry(kind)
                .or_default() += 1;
        }
        Ok(())
    }

    fn cohort_move(&mut self, customer: &[u8], first_conversion: bool, to: &str, month: i64) {
        let now_active = matches!(to, "new" | "mature");
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
        let erased = to == "none";
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

    /// Closes the last week and month.
    pub fn finish(&mut self) {
        if let Some(w) = self.last_week {
            self.weekly.insert(w, self.stages);
        }
        for (cohort, active) in &self.cohort_active {
            self.cohort_months.entry(*cohort).or_default().push(*active);
        }
    }
}
