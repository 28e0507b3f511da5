//! Event time: a strict RFC 3339 parser, a UTC formatter and a compact timestamp.
//!
//! A [`Timestamp`] is nanoseconds since the Unix epoch in an `i64` (8 bytes, so per-customer
//! state stays small). That covers 1677-09-21 to 2262-04-11; a well-formed time outside that
//! range is refused as out of range. Later times would be refused as future anyway.

use std::cell::Cell;
use std::fmt;
use std::num::NonZeroI64;

use serde::{Deserialize, Serialize};

/// Nanoseconds since 1970-01-01T00:00:00Z. Serialized (in state snapshots and the
/// changelog) as that integer, which is compact and fast to restore.
///
/// Stored shifted by [`NICHE`] in a `NonZeroI64`, so that `Option<Timestamp>` takes 8 bytes,
/// not 16 (a customer has several): the one instant it cannot hold, `i64::MIN + 1` ns (in
/// 1677, before any time the decoder accepts), reads as `i64::MIN`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timestamp(NonZeroI64);

/// The nanoseconds value a [`Timestamp`] gives up for `Option`'s niche.
const NICHE: i64 = i64::MIN + 1;

/// The stored form of `nanos` (see [`Timestamp`]).
const fn stored(nanos: i64) -> NonZeroI64 {
    match NonZeroI64::new(nanos.wrapping_sub(NICHE)) {
        Some(raw) => raw,
        // nanos == NICHE: as i64::MIN, whose stored form is -1.
        None => match NonZeroI64::new(-1) {
            Some(raw) => raw,
            None => unreachable!(),
        },
    }
}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Timestamp) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timestamp {
    fn cmp(&self, other: &Timestamp) -> std::cmp::Ordering {
        self.as_nanos().cmp(&other.as_nanos())
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Timestamp").field(&self.as_nanos()).finish()
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.as_nanos())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        i64::deserialize(d).map(Timestamp::from_nanos)
    }
}

const NANOS_PER_SEC: i64 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;

/// A span of event time, in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span(i64);

impl Span {
    pub const ZERO: Span = Span(0);

    pub fn from_days(days: u32) -> Span {
        Span(i64::from(days) * SECS_PER_DAY * NANOS_PER_SEC)
    }
    pub fn from_secs(secs: u64) -> Span {
        Span((secs as i64).saturating_mul(NANOS_PER_SEC))
    }
    pub const fn from_nanos(nanos: i64) -> Span {
        Span(nanos)
    }
    pub fn as_nanos(self) -> i64 {
        self.0
    }
}

/// Why a text is not an RFC 3339 date-time of the accepted form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeError {
    /// Not `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`, or a field out of its calendar range.
    Malformed,
    /// Well formed, but before 1677-09-21.
    TooEarly,
    /// Well formed, but after 2262-04-11 (so certainly in the future).
    TooLate,
}

impl Timestamp {
    pub const MIN: Timestamp = Timestamp(stored(i64::MIN));
    pub const MAX: Timestamp = Timestamp(stored(i64::MAX));

    pub const fn from_nanos(nanos: i64) -> Timestamp {
        Timestamp(stored(nanos))
    }
    pub const fn as_nanos(self) -> i64 {
        self.0.get().wrapping_add(NICHE)
    }

    /// Weeks (Monday to Sunday, UTC) since the one starting on 1970-01-05, the first Monday
    /// after the epoch; negative before it.
    pub const fn week(self) -> i64 {
        const DAY: i64 = 86_400 * NANOS_PER_SEC;
        (self.as_nanos() - 4 * DAY).div_euclid(7 * DAY)
    }

    /// The system time, for the edges that need it (never called by the engine).
    pub fn now() -> Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp::from_nanos(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }

    /// Saturating: a deadline past the representable range never fires.
    pub fn plus(self, span: Span) -> Timestamp {
        Timestamp::from_nanos(self.as_nanos().saturating_add(span.0))
    }

    pub fn minus(self, span: Span) -> Timestamp {
        Timestamp::from_nanos(self.as_nanos().saturating_sub(span.0))
    }

    /// Whole days from `earlier` to `self` (rounded down; negative when `self` is earlier).
    pub fn days_since(self, earlier: Timestamp) -> i64 {
        (self.as_nanos() as i128 - earlier.as_nanos() as i128)
            .div_euclid((SECS_PER_DAY * NANOS_PER_SEC) as i128) as i64
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`: seconds required, no leap
    /// second, upper-case `T` and `Z` as the contract writes them. Digits past nanoseconds are
    /// truncated.
    pub fn parse_rfc3339(s: &str) -> Result<Timestamp, TimeError> {
        let b = s.as_bytes();
        if b.len() < 20 {
            return Err(TimeError::Malformed);
        }
        let days = date_days(b[..10].try_into().expect("ten bytes"))?;
        let hour = digits(b, 11, 2)?;
        let minute = digits(b, 14, 2)?;
        let second = digits(b, 17, 2)?;
        if b[10] != b'T' || b[13] != b':' || b[16] != b':' {
            return Err(TimeError::Malformed);
        }
        if hour > 23 || minute > 59 || second > 59 {
            return Err(TimeError::Malformed);
        }
        let mut i = 19;
        let mut nanos: i64 = 0;
        if b[i] == b'.' {
            i += 1;
            let start = i;
            let mut scale = 100_000_000;
            while i < b.len() && b[i].is_ascii_digit() {
                nanos += i64::from(b[i] - b'0') * scale;
                scale /= 10;
                i += 1;
            }
            if i == start {
                return Err(TimeError::Malformed);
            }
        }
        let offset_secs = match &b[i..] {
            [b'Z'] => 0,
            [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
                let oh = digits(b, i + 1, 2)?;
                let om = digits(b, i + 4, 2)?;
                if oh > 23 || om > 59 {
                    return Err(TimeError::Malformed);
                }
                let off = oh * 3600 + om * 60;
                if *sign == b'-' { -off } else { off }
            }
            _ => return Err(TimeError::Malformed),
        };
        let secs = days * SECS_PER_DAY + hour * 3600 + minute * 60 + second - offset_secs;
        let out_of_range = if secs < 0 {
            TimeError::TooEarly
        } else {
            TimeError::TooLate
        };
        secs.checked_mul(NANOS_PER_SEC)
            .and_then(|n| n.checked_add(nanos))
            .map(Timestamp::from_nanos)
            .ok_or(out_of_range)
    }
}

thread_local! {
    /// The last valid date parsed on this thread (`YYYY-MM-DD`) and its day number.
    static PARSED_DATE: Cell<Option<([u8; 10], i64)>> = const { Cell::new(None) };
    /// The last day number formatted on this thread and its `YYYY-MM-DD`.
    static WRITTEN_DATE: Cell<Option<(i64, [u8; 10])>> = const { Cell::new(None) };
}

/// The day number of a `YYYY-MM-DD` date, refused unless it is a real date. A stream's
/// timestamps mostly share the date of the one before, so the last date is remembered
/// (checking and converting the date was about half of parsing a timestamp).
fn date_days(date: [u8; 10]) -> Result<i64, TimeError> {
    if let Some((last, days)) = PARSED_DATE.get()
        && last == date
    {
        return Ok(days);
    }
    let year = digits(&date, 0, 4)?;
    let month = digits(&date, 5, 2)?;
    let day = digits(&date, 8, 2)?;
    if date[4] != b'-' || date[7] != b'-' {
        return Err(TimeError::Malformed);
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return Err(TimeError::Malformed);
    }
    let days = days_from_civil(year, month, day);
    PARSED_DATE.set(Some((date, days)));
    Ok(days)
}

/// `YYYY-MM-DD` of a day number (remembered like [`date_days`]).
fn date_text(days: i64) -> [u8; 10] {
    if let Some((last, text)) = WRITTEN_DATE.get()
        && last == days
    {
        return text;
    }
    let (y, m, d) = civil_from_days(days);
    let mut text = [0u8; 10];
    // Years of the nanosecond range (1677..=2262) have four digits.
    pair(&mut text, 0, y / 100);
    pair(&mut text, 2, y % 100);
    text[4] = b'-';
    pair(&mut text, 5, m);
    text[7] = b'-';
    pair(&mut text, 8, d);
    WRITTEN_DATE.set(Some((days, text)));
    text
}

/// `00` to `99`, two bytes each: one lookup per pair of digits.
const PAIRS: [u8; 200] = {
    let mut pairs = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        pairs[2 * i] = b'0' + (i / 10) as u8;
        pairs[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    pairs
};

/// Two digits of `value` (0..=99) at `at`.
fn pair(buf: &mut [u8], at: usize, value: i64) {
    let i = value as usize * 2;
    buf[at..at + 2].copy_from_slice(&PAIRS[i..i + 2]);
}

fn digits(b: &[u8], at: usize, len: usize) -> Result<i64, TimeError> {
    let mut v = 0i64;
    for &c in b.get(at..at + len).ok_or(TimeError::Malformed)? {
        if !c.is_ascii_digit() {
            return Err(TimeError::Malformed);
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Ok(v)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, the fraction only when not zero, without trailing zeros.
/// Written digit by digit: records format many timestamps, and `fmt` padding is slow.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 32];
        let len = self.write_rfc3339(&mut buf);
        // Only ASCII digits and separators were written.
        f.write_str(std::str::from_utf8(&buf[..len]).map_err(|_| fmt::Error)?)
    }
}

impl Timestamp {
    /// Writes the RFC 3339 UTC form into `buf`; returns its length.
    pub(crate) fn write_rfc3339(&self, buf: &mut [u8; 32]) -> usize {
        fn put(buf: &mut [u8], at: usize, value: i64, width: usize) {
            let mut v = value;
            for i in (0..width).rev() {
                buf[at + i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        }
        let secs = self.as_nanos().div_euclid(NANOS_PER_SEC);
        let nanos = self.as_nanos().rem_euclid(NANOS_PER_SEC);
        buf[..10].copy_from_slice(&date_text(secs.div_euclid(SECS_PER_DAY)));
        let sod = secs.rem_euclid(SECS_PER_DAY);
        buf[10] = b'T';
        pair(buf, 11, sod / 3600);
        buf[13] = b':';
        pair(buf, 14, sod / 60 % 60);
        buf[16] = b':';
        pair(buf, 17, sod % 60);
        let mut len = 19;
        if nanos != 0 {
            buf[19] = b'.';
            put(buf, 20, nanos, 9);
            len = 29;
            while buf[len - 1] == b'0' {
                len -= 1;
            }
        }
        buf[len] = b'Z';
        len + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_optional_timestamp_takes_8_bytes_and_every_instant_but_one_is_kept() {
        assert_eq!(std::mem::size_of::<Option<Timestamp>>(), 8);
        for n in [i64::MIN, i64::MIN + 2, -1, 0, 1, i64::MAX - 1, i64::MAX] {
            assert_eq!(Timestamp::from_nanos(n).as_nanos(), n);
        }
        // The niche: an instant in 1677, before anything the decoder accepts.
        assert_eq!(Timestamp::from_nanos(i64::MIN + 1), Timestamp::MIN);
        let ordered = [i64::MIN, i64::MIN + 2, -5, 0, 7, i64::MAX];
        for w in ordered.windows(2) {
            assert!(
                Timestamp::from_nanos(w[0]) < Timestamp::from_nanos(w[1]),
                "{w:?}"
            );
        }
        let json = serde_json::to_string(&Timestamp::from_nanos(-42)).unwrap();
        assert_eq!(json, "-42");
        let back: Timestamp = serde_json::from_str(&json).unwrap();
        assert_eq!(back.as_nanos(), -42);
    }

    fn p(s: &str) -> Result<Timestamp, TimeError> {
        Timestamp::parse_rfc3339(s)
    }

    #[test]
    fn parses_utc_and_offsets_to_the_same_instant() {
        let utc = p("2026-03-01T09:30:00Z").unwrap();
        assert_eq!(p("2026-03-01T11:30:00+02:00").unwrap(), utc);
        assert_eq!(p("2026-03-01T04:00:00-05:30").unwrap(), utc);
        assert_eq!(p("2026-03-01T09:30:00-00:00").unwrap(), utc);
        assert_eq!(utc.to_string(), "2026-03-01T09:30:00Z");
    }

    #[test]
    fn formats_fraction_only_when_not_zero() {
        assert_eq!(
            p("2026-03-01T09:30:00.000Z").unwrap().to_string(),
            "2026-03-01T09:30:00Z"
        );
        assert_eq!(
            p("2026-03-01T09:30:00.5Z").unwrap().to_string(),
            "2026-03-01T09:30:00.5Z"
        );
        assert_eq!(
            p("2026-03-01T09:30:00.123456789Z").unwrap().to_string(),
            "2026-03-01T09:30:00.123456789Z"
        );
        assert_eq!(
            p("2026-03-01T09:30:00.1234567891Z").unwrap().to_string(),
            "2026-03-01T09:30:00.123456789Z"
        );
    }

    #[test]
    fn refuses_malformed_and_impossible_times() {
        for bad in [
            "2026-03-01T09:30Z",
            "2026-03-01 09:30:00Z",
            "2026-03-01t09:30:00z",
            "2026-03-01T09:30:00",
            "2026-03-01T09:30:60Z",
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-03-01T24:00:00Z",
            "2026-03-01T09:30:00.Z",
            "2026-03-01T09:30:00+0200",
            "2026-03-01T09:30:00+24:00",
            "2026-03-01T09:30:00Z ",
            "+2026-03-01T09:30:00Z",
            "20260301T093000Z",
        ] {
            assert_eq!(p(bad), Err(TimeError::Malformed), "{bad}");
        }
        assert!(p("2024-02-29T00:00:00Z").is_ok());
        assert!(p("2000-02-29T00:00:00Z").is_ok());
        assert_eq!(p("1900-02-29T00:00:00Z"), Err(TimeError::Malformed));
        assert_eq!(p("0001-01-01T00:00:00Z"), Err(TimeError::TooEarly));
        assert_eq!(p("9999-12-31T23:59:59Z"), Err(TimeError::TooLate));
    }

    #[test]
    fn round_trips_across_eras() {
        for s in [
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59.999Z",
            "2262-04-11T00:00:00Z",
        ] {
            assert_eq!(p(s).unwrap().to_string(), s);
        }
    }

    /// The text of a timestamp, written the slow and obvious way.
    fn reference_text(t: Timestamp) -> String {
        let secs = t.as_nanos().div_euclid(NANOS_PER_SEC);
        let nanos = t.as_nanos().rem_euclid(NANOS_PER_SEC);
        let (y, m, d) = civil_from_days(secs.div_euclid(SECS_PER_DAY));
        let sod = secs.rem_euclid(SECS_PER_DAY);
        let fraction = if nanos == 0 {
            String::new()
        } else {
            format!(".{nanos:09}").trim_end_matches('0').to_string()
        };
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{fraction}Z",
            sod / 3600,
            sod / 60 % 60,
            sod % 60
        )
    }

    #[test]
    fn writes_the_ends_of_the_range() {
        assert_eq!(Timestamp::MIN.to_string(), "1677-09-21T00:12:43.145224192Z");
        assert_eq!(Timestamp::MAX.to_string(), "2262-04-11T23:47:16.854775807Z");
    }

    proptest::proptest! {
        /// The remembered dates (parsing and writing) change nothing: neighbouring instants,
        /// most on the date of the one before, are written and parsed as the reference does.
        #[test]
        fn neighbouring_instants_are_written_and_parsed_as_the_reference_does(
            start in -9_000_000_000_000_000i64..9_000_000_000_000_000,
            steps in proptest::collection::vec(0i64..40 * 3600 * NANOS_PER_SEC, 1..40),
        ) {
            let mut t = start;
            for step in steps {
                t += step;
                let text = Timestamp::from_nanos(t).to_string();
                proptest::prop_assert_eq!(&text, &reference_text(Timestamp::from_nanos(t)));
                proptest::prop_assert_eq!(Timestamp::parse_rfc3339(&text), Ok(Timestamp::from_nanos(t)));
            }
        }
    }

    #[test]
    fn a_remembered_date_vouches_only_for_the_same_bytes() {
        assert!(p("2023-02-28T10:00:00Z").is_ok());
        assert!(p("2023-02-29T10:00:00Z").is_err());
        assert!(p("2023/02/28T10:00:00Z").is_err());
        assert!(p("2023-02-28T24:00:00Z").is_err());
        assert!(p("2023-02-28X10:00:00Z").is_err());
        assert_eq!(
            p("2023-02-28T23:59:59Z").unwrap().as_nanos()
                - p("2023-02-28T00:00:00Z").unwrap().as_nanos(),
            (SECS_PER_DAY - 1) * NANOS_PER_SEC
        );
        assert!(p("2024-02-29T10:00:00Z").is_ok());
        assert!(p("2024-02-29T10:00:00Z").is_ok());
    }

    proptest::proptest! {
        #[test]
        fn writes_every_instant_as_the_reference_does(ns in proptest::num::i64::ANY) {
            let t = Timestamp::from_nanos(ns);
            proptest::prop_assert_eq!(t.to_string(), reference_text(t));
            proptest::prop_assert_eq!(Timestamp::parse_rfc3339(&t.to_string()), Ok(t));
        }
    }

    #[test]
    fn counts_whole_days() {
        let a = p("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(a.plus(Span::from_days(30)).days_since(a), 30);
        assert_eq!(
            a.plus(Span::from_days(30))
                .minus(Span::from_nanos(1))
                .days_since(a),
            29
        );
        assert_eq!(a.days_since(a.plus(Span::from_nanos(1))), -1);
    }
}
