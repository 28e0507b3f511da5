//! The state bytes read back as written, and every malformed record is refused.

use super::*;
use crate::domain::customer::Entered;

fn customer() -> Customer {
    let at = Timestamp::parse_rfc3339("2025-01-01T00:00:00.5Z").expect("valid");
    let mut c = Customer::new("c-ü-42", at);
    c.stage = Stage::Churning;
    c.seq = 7;
    c.first_conversion_at = Some(at.plus(crate::domain::Span::from_nanos(3)));
    c.purchase_count = 12;
    c.total_spend = 940.99;
    c.refund_total = 0.1;
    c.last_nps = Some(0);
    c.contactable = false;
    c.need_level = Some(NeedLevel::Esteem);
    for i in 0..20 {
        c.recent.push(u64::MAX - i);
    }
    c.last_sent.set(ActionKind::SurpriseDelight, at);
    c.last_sent
        .set(ActionKind::NurtureLead, Timestamp::from_nanos(i64::MIN));
    c.last_offset = Some(-1);
    c.cap_times = CapTimes::from_times(vec![Timestamp::from_nanos(i64::MIN), at]);
    c.transactions.observe(at);
    c.transactions
        .observe(at.plus(crate::domain::Span::from_days(9)));
    c.risk_fired = true;
    c.entered = Some(Entered::ChurnSignal(EventType::SubscriptionCancelled));
    c.entered_by = Some("e-ü-9".into());
    c.uplift_open = crate::domain::action::KindSet::EMPTY
        .with(ActionKind::ChurnRisk)
        .with(ActionKind::NurtureLead);
    c
}

fn bytes(c: &Customer) -> Vec<u8> {
    let mut out = Vec::new();
    c.write_bytes(&mut out);
    out
}

#[test]
fn a_state_reads_back_as_written() {
    let c = customer();
    assert_eq!(Customer::read_bytes(&bytes(&c)), Ok(c));
    let fresh = Customer::new("x", Timestamp::from_nanos(0));
    assert_eq!(Customer::read_bytes(&bytes(&fresh)), Ok(fresh));
}

#[test]
fn every_shortened_or_lengthened_record_is_refused() {
    let b = bytes(&customer());
    // Cut right after the customer id, the record is a whole one of before issue 21:
    // the same customer without its entering transition.
    let mut before = customer();
    (before.entered, before.entered_by) = (None, None);
    before.uplift_open = crate::domain::action::KindSet::EMPTY;
    let id_end = bytes(&before).len();
    assert_eq!(Customer::read_bytes(&b[..id_end]), Ok(before));
    for len in (0..b.len()).filter(|&len| len != id_end) {
        assert!(Customer::read_bytes(&b[..len]).is_err(), "{len} bytes");
    }
    let mut long = b.clone();
    long.push(0);
    assert_eq!(
        Customer::read_bytes(&long),
        Err(StateBytesError::Trailing(1))
    );
    // An extension byte no version wrote, and one naming no block.
    for byte in [4, 0x80, 0] {
        let mut unknown = b[..id_end].to_vec();
        unknown.extend_from_slice(&[byte, 0]);
        assert_eq!(
            Customer::read_bytes(&unknown),
            Err(StateBytesError::Trailing(2))
        );
    }
    // Holdout windows naming no kind, or a kind code no version wrote.
    for windows in [[0, 0], [0, 0x80]] {
        let mut bad = b[..id_end].to_vec();
        bad.push(2);
        bad.extend_from_slice(&windows);
        assert_eq!(
            Customer::read_bytes(&bad),
            Err(StateBytesError::Invalid("holdout windows"))
        );
    }
}

#[test]
fn an_entering_transition_that_cannot_be_is_refused() {
    let invalid = Err(StateBytesError::Invalid("entering transition"));
    let with = |stage: Stage, entered: Entered, by: Option<&str>| {
        let mut c = Customer::new("c-1", Timestamp::from_nanos(0));
        (c.stage, c.entered, c.entered_by) = (stage, Some(entered), by.map(Into::into));
        Customer::read_bytes(&bytes(&c))
    };
    let timer = Entered::Inactivity { days: 60 };
    assert!(with(Stage::Churning, timer, None).is_ok());
    // The writer keeps no event for a timer's transition; an event's needs its id.
    assert_eq!(
        with(Stage::Churning, timer, Some("e-1")),
        with(Stage::Churning, timer, None)
    );
    let conversion = Entered::FirstConversion(EventType::Purchase);
    assert!(with(Stage::New, conversion, Some("e-1")).is_ok());
    assert_eq!(with(Stage::New, conversion, None), invalid);
    // A stage its reason does not lead to.
    assert_eq!(with(Stage::Mature, timer, None), invalid);
    let back = Entered::Reactivated {
        event_type: EventType::Purchase,
        from: Stage::New,
    };
    assert_eq!(with(Stage::New, back, Some("e-1")), invalid);
    // Codes no version wrote: the reason's (the byte after the extension byte), then an
    // event type's.
    let c = customer();
    // After the id: the extension byte, the block (code, event type, id length, id), then
    // the holdout windows' two bytes.
    let id_end = bytes(&c).len() - (2 + 1 + 1 + "e-ü-9".len() + 2);
    for (at, code) in [(id_end + 1, 7), (id_end + 2, 12)] {
        let mut b = bytes(&c);
        b[at] = code;
        assert_eq!(Customer::read_bytes(&b), invalid, "byte {at}");
    }
}

#[test]
fn an_id_no_customer_can_have_is_refused() {
    // The id is the record's last field: its length byte, then its bytes.
    let with_id = |id: &[u8]| {
        let mut bytes = bytes(&Customer::new("x", Timestamp::from_nanos(0)));
        bytes.truncate(bytes.len() - 2);
        bytes.push(id.len() as u8);
        bytes.extend_from_slice(id);
        Customer::read_bytes(&bytes)
    };
    assert!(with_id(b"c-1").is_ok());
    assert!(with_id(&[b'a'; 128]).is_ok());
    for id in [&[b'a'; 129][..], b"", b"c\x01"] {
        assert_eq!(
            with_id(id),
            Err(StateBytesError::Invalid("customer id")),
            "{id:?}"
        );
    }
}

#[test]
fn out_of_range_codes_are_refused() {
    let b = bytes(&customer());
    let with = |at: usize, v: u8| {
        let mut b = b.clone();
        b[at] = v;
        Customer::read_bytes(&b)
    };
    assert_eq!(with(0, 5), Err(StateBytesError::Invalid("stage")));
    assert_eq!(with(2, 6), Err(StateBytesError::Invalid("need level")));
    // The last-sent kinds: the first after the 20 recent ids, the second 9 bytes on.
    let first_kind = 4 + 12 + 24 + 8 + 16 + 2 + 16 * 8 + 1;
    assert_eq!(
        with(first_kind, 11),
        Err(StateBytesError::Invalid("action kind"))
    );
    let second_kind = first_kind + 9;
    let same = b[first_kind];
    assert_eq!(
        with(second_kind, same),
        Err(StateBytesError::Invalid("action kind"))
    );
    // The recent ids' count: after 4 flag bytes, 3 counters, 3 times, the offset, 2 sums.
    assert_eq!(
        with(4 + 12 + 24 + 8 + 16, 17),
        Err(StateBytesError::Invalid("recent event ids"))
    );
}

/// An entering transition of reason `code` with these numbers, and a stage it can enter.
fn any_entered(code: u8, event_type: EventType, n: [u32; 4]) -> (Entered, Stage) {
    let lost = [Stage::Churning, Stage::Churned][n[0] as usize % 2];
    match code {
        0 => (Entered::FirstSeen(event_type), Stage::Prospect),
        1 => (Entered::FirstConversion(event_type), Stage::New),
        2 => (
            Entered::Reactivated {
                event_type,
                from: lost,
            },
            [Stage::New, Stage::Mature][n[1] as usize % 2],
        ),
        3 => (
            Entered::MatureCriteria {
                purchases: n[0],
                min_purchases: n[1],
                days: n[2],
                min_days: n[3],
            },
            Stage::Mature,
        ),
        4 => (Entered::ChurnSignal(event_type), Stage::Churning),
        5 => (Entered::Inactivity { days: n[0] }, Stage::Churning),
        _ => (Entered::NoReactivation { days: n[0] }, Stage::Churned),
    }
}

proptest::proptest! {
    #[test]
    fn any_state_reads_back_as_written(
        id in "[^\\p{Cc}]{1,32}",
        stage in 0..5usize,
        counters in proptest::array::uniform3(proptest::num::u32::ANY),
        times in proptest::array::uniform4(proptest::num::i64::ANY),
        present in proptest::array::uniform5(proptest::bool::ANY),
        sums in proptest::array::uniform2(proptest::num::f64::ANY),
        nps in 0..=10u8,
        need in 0..=5u8,
        recent in proptest::collection::vec(proptest::num::u64::ANY, 0..40),
        sent in proptest::collection::btree_map(0..ActionKind::ALL.len(), proptest::num::i64::ANY, 0..10),
        offset in proptest::num::i64::ANY,
        capped in proptest::collection::vec(proptest::num::i64::ANY, 0..6),
        purchases in proptest::collection::vec(proptest::num::i64::ANY, 0..5),
        risk_fired in proptest::bool::ANY,
        entered in proptest::option::of((0..7u8, 0..EventType::ALL.len(), proptest::array::uniform4(proptest::num::u32::ANY))),
        entered_by in "\\PC{1,32}",
        open in proptest::collection::vec(0..ActionKind::ALL.len(), 0..4),
    ) {
        let t = Timestamp::from_nanos;
        let mut c = Customer::new(&id, t(times[0]));
        c.stage = Stage::ALL[stage];
        [c.seq, c.purchase_count, c.complaint_count] = counters;
        c.stage_entered_at = t(times[1]);
        c.first_conversion_at = present[0].then(|| t(times[2]));
        c.last_activity_at = present[1].then(|| t(times[3]));
        c.last_nps = present[2].then_some(nps);
        c.contactable = present[3];
        c.last_offset = present[4].then_some(offset);
        for at in capped {
            c.cap_times.record(t(at), 4);
        }
        for at in purchases {
            c.transactions.observe(t(at));
        }
        c.risk_fired = risk_fired;
        for kind in open {
            c.uplift_open = c.uplift_open.with(ActionKind::ALL[kind]);
        }
        [c.total_spend, c.refund_total] = sums;
        c.need_level = NeedLevel::from_u8(need);
        for h in recent {
            c.recent.push(h);
        }
        for (kind, at) in sent {
            c.last_sent.set(ActionKind::ALL[kind], t(at));
        }
        if let Some((code, event_type, n)) = entered {
            let (why, stage) = any_entered(code, EventType::ALL[event_type], n);
            c.stage = stage;
            c.entered = Some(why);
            c.entered_by = why.timer().is_none().then(|| entered_by.as_str().into());
        }
        let back = Customer::read_bytes(&bytes(&c)).expect("reads back");
        // Compared through the bytes, so that a NaN sum compares equal to itself.
        proptest::prop_assert_eq!(bytes(&back), bytes(&c));
        proptest::prop_assert_eq!(format!("{back:?}"), format!("{c:?}"));
    }
}
