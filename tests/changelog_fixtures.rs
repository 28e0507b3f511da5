//! Formats are promises: the changelog's committed byte fixtures (tests/fixtures/changelog,
//! written once by the versions that wrote each format and never regenerated) still restore,
//! field by field. The expected values are written here from the fixtures' description, not
//! computed by today's encoder.

use lifecycle::domain::customer::Entered;
use lifecycle::domain::event::NeedLevel;
use lifecycle::domain::uplift::Uplift;
use lifecycle::domain::voc::Voc;
use lifecycle::domain::{ActionKind, Stage, Timestamp};
use lifecycle::kafka::codec::{
    ChangelogEntry, PARTITION_META_KEY, decode_changelog, decode_customer_owned,
};

fn fixture(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/changelog")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn t(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

/// The mature customer of the fixtures (format 2, and format 3 with owner epoch 7).
fn assert_is_the_mature_customer(name: &str, epoch: u64) {
    let (c, read_epoch) = decode_customer_owned(&fixture(name)).expect(name);
    assert_eq!(read_epoch, epoch, "{name}: epoch");
    assert_eq!(c.id.as_str(), "c-42");
    assert_eq!(c.stage, Stage::Mature);
    assert_eq!(c.seq, 3);
    assert_eq!(c.first_seen, t("2025-01-01T09:30:00Z"));
    assert_eq!(c.stage_entered_at, t("2025-02-15T10:00:00Z"));
    assert_eq!(c.first_conversion_at, Some(t("2025-01-10T12:30:00Z")));
    assert_eq!(c.last_activity_at, Some(t("2025-02-15T10:00:00Z")));
    assert_eq!(c.purchase_count, 3);
    assert_eq!(c.total_spend, 149.7);
    assert_eq!(c.refund_total, 10.25);
    assert_eq!(c.complaint_count, 1);
    assert_eq!(c.last_nps, Some(9));
    assert!(!c.contactable);
    assert_eq!(c.need_level, Some(NeedLevel::Esteem));
    assert_eq!(c.last_offset, Some(41));
    for id in [0x0102_0304_0506_0708, 0x1111_1111_1111_1111, 42] {
        assert!(c.recent.contains(id), "recent event id {id:#x}");
    }
    assert!(!c.recent.contains(43));
    assert_eq!(
        c.last_sent.get(ActionKind::NurtureLead),
        Some(t("2025-01-01T09:30:00Z"))
    );
    assert_eq!(
        c.last_sent.get(ActionKind::LoyaltyReward),
        Some(t("2025-02-15T10:00:00Z"))
    );
    assert_eq!(
        c.last_sent.get(ActionKind::SurpriseDelight),
        Some(t("2025-02-15T10:00:00.5Z"))
    );
    for kind in [
        ActionKind::WelcomeOnboarding,
        ActionKind::RetentionOffer,
        ActionKind::WinBackCampaign,
        ActionKind::WelcomeBack,
        ActionKind::ServiceRecovery,
        ActionKind::DetractorFollowUp,
        ActionKind::AdvocacyInvite,
    ] {
        assert_eq!(c.last_sent.get(kind), None, "{kind:?}");
    }
}

fn assert_is_the_new_prospect(name: &str) {
    let (c, epoch) = decode_customer_owned(&fixture(name)).expect(name);
    assert_eq!(epoch, 0);
    assert_eq!(c.id.as_str(), "ana");
    assert_eq!(c.stage, Stage::Prospect);
    assert_eq!(c.seq, 1);
    assert_eq!(c.first_seen, t("2024-12-31T23:59:59.123456789Z"));
    assert_eq!(c.stage_entered_at, t("2024-12-31T23:59:59.123456789Z"));
    assert_eq!(c.first_conversion_at, None);
    assert_eq!(c.last_activity_at, None);
    assert_eq!((c.purchase_count, c.complaint_count), (0, 0));
    assert_eq!((c.total_spend, c.refund_total), (0.0, 0.0));
    assert_eq!(c.last_nps, None);
    assert!(c.contactable);
    assert_eq!(c.need_level, None);
    assert_eq!(c.last_offset, None);
    assert!(!c.recent.contains(0) && !c.recent.contains(42));
}

#[test]
fn format_2_records_written_before_owner_epochs_restore() {
    assert_is_the_mature_customer("format2-mature.bin", 0);
    assert_is_the_new_prospect("format2-prospect.bin");
}

#[test]
fn format_3_records_restore_with_their_owner_epoch() {
    assert_is_the_mature_customer("format3-mature-epoch7.bin", 7);
    assert_is_the_new_prospect("format3-prospect-epoch0.bin");
}

/// Issue 20: a customer with the prediction's transactions (three weekly purchases at noon,
/// 2025-01-01 to 2025-01-15) whose `churn_risk` fired (sent 2025-02-25T07:29:43Z), epoch 2.
#[test]
fn a_record_with_transactions_and_a_fired_churn_risk_restores() {
    let name = "format3-transactions-risk-epoch2.bin";
    let (c, epoch) = decode_customer_owned(&fixture(name)).expect(name);
    assert_eq!(epoch, 2);
    assert_eq!(c.id.as_str(), "c-7");
    assert_eq!(c.stage, Stage::New);
    assert_eq!(c.purchase_count, 3);
    assert_eq!(c.transactions.first(), Some(t("2025-01-01T12:00:00Z")));
    assert_eq!(c.transactions.latest(), Some(t("2025-01-15T12:00:00Z")));
    assert_eq!(c.transactions.repeats(), 2);
    assert!(c.risk_fired);
    assert_eq!(
        c.last_sent.get(ActionKind::ChurnRisk),
        Some(t("2025-02-25T07:29:43Z"))
    );
    // Records written before the prediction have no transactions: an empty tally.
    for old in ["format2-mature.bin", "format3-mature-epoch7.bin"] {
        let (c, _) = decode_customer_owned(&fixture(old)).expect(old);
        assert!(!c.transactions.has_transaction() && !c.risk_fired, "{old}");
    }
}

/// Issue 21: the transition that entered the stage, with its cause. ana turned `mature` on
/// 2025-02-15T10:00:00Z by her event e-011 (3 purchases >= 3, 35 days since her first
/// conversion >= 30); eli turned `churned` on 2025-07-26T08:30:00Z by the no_reactivation
/// timer (90 days), which has no event. Both written by owner epoch 4.
#[test]
fn records_with_the_entering_transition_restore_it_with_its_cause() {
    let name = "format3-entered-event-epoch4.bin";
    let (ana, epoch) = decode_customer_owned(&fixture(name)).expect(name);
    assert_eq!(epoch, 4);
    assert_eq!(ana.id.as_str(), "ana");
    assert_eq!((ana.stage, ana.seq), (Stage::Mature, 3));
    assert_eq!(ana.stage_entered_at, t("2025-02-15T10:00:00Z"));
    assert_eq!(ana.first_seen, t("2025-01-03T09:00:00Z"));
    assert_eq!(ana.first_conversion_at, Some(t("2025-01-10T12:30:00Z")));
    assert_eq!(ana.last_activity_at, Some(t("2025-02-05T16:20:00Z")));
    assert_eq!((ana.purchase_count, ana.total_spend), (3, 167.9));
    assert_eq!(ana.last_nps, Some(10));
    assert_eq!(ana.need_level, Some(NeedLevel::Esteem));
    assert_eq!(ana.last_offset, Some(11));
    assert_eq!(
        ana.last_sent.get(ActionKind::LoyaltyReward),
        Some(t("2025-02-15T10:00:00Z"))
    );
    assert_eq!(
        ana.entered,
        Some(Entered::MatureCriteria {
            purchases: 3,
            min_purchases: 3,
            days: 35,
            min_days: 30,
        })
    );
    assert_eq!(ana.entered_by.as_deref(), Some("e-011"));

    let name = "format3-entered-timer-epoch4.bin";
    let (eli, epoch) = decode_customer_owned(&fixture(name)).expect(name);
    assert_eq!(epoch, 4);
    assert_eq!(eli.id.as_str(), "eli");
    assert_eq!((eli.stage, eli.seq), (Stage::Churned, 4));
    assert_eq!(eli.stage_entered_at, t("2025-07-26T08:30:00Z"));
    assert_eq!(eli.first_seen, t("2025-02-25T08:00:00Z"));
    assert_eq!((eli.purchase_count, eli.total_spend), (1, 12.0));
    assert_eq!(eli.last_offset, Some(27));
    assert_eq!(
        eli.last_sent.get(ActionKind::WinBackCampaign),
        Some(t("2025-07-26T08:30:00Z"))
    );
    assert_eq!(eli.entered, Some(Entered::NoReactivation { days: 90 }));
    assert_eq!(eli.entered_by, None, "a timer's transition has no event");

    // Every record written before issue 21 reads as one without it.
    for old in [
        "format2-mature.bin",
        "format2-prospect.bin",
        "format3-mature-epoch7.bin",
        "format3-prospect-epoch0.bin",
        "format3-transactions-risk-epoch2.bin",
    ] {
        let (c, _) = decode_customer_owned(&fixture(old)).expect(old);
        assert_eq!((c.entered, c.entered_by), (None, None), "{old}");
    }
}

#[test]
fn progress_records_of_every_version_restore() {
    let meta = |name: &str| match decode_changelog(
        Some(PARTITION_META_KEY),
        Some(&fixture(name)),
        0,
        || 0,
    ) {
        Ok(ChangelogEntry::Meta(m)) => m,
        other => panic!("{name}: not a progress record: {other:?}"),
    };
    let before = meta("progress-before-epochs.json");
    assert_eq!(before.clock, Some(t("2025-02-15T10:00:00Z")));
    assert_eq!((before.applied_offset, before.epoch), (Some(12), 0));
    let empty = meta("progress-empty.json");
    assert_eq!(
        (empty.clock, empty.applied_offset, empty.epoch),
        (None, None, 0)
    );
    let claimed = meta("progress-epoch7.json");
    assert_eq!(claimed.clock, Some(t("2025-02-15T10:00:00Z")));
    assert_eq!((claimed.applied_offset, claimed.epoch), (Some(12), 7));
    assert!(claimed.voc.is_none() && before.voc.is_none());
    // With the partition's voice-of-the-customer and holdout counts (GET /voc).
    let counted = meta("progress-voc-epoch3.json");
    assert_eq!((counted.applied_offset, counted.epoch), (Some(40), 3));
    let (mut voc, mut uplift) = (Voc::new(50), Uplift::default());
    counted.voc.expect("counts").add_to(&mut voc, &mut uplift);
    let report = serde_json::to_value(voc.report_with(&uplift)).unwrap();
    assert_eq!(report["kano"]["search"]["counts"]["A"], 2);
    assert_eq!(report["kano"]["search"]["counts"]["M"], 1);
    assert_eq!(report["kano"]["other"]["counts"]["O"], 1);
    assert_eq!(report["kano_without_feature"], 1);
    assert_eq!(report["nps"]["mature"]["promoters"], 2);
    assert_eq!(report["nps"]["mature"]["detractors"], 1);
    assert_eq!(report["nps"]["mature"]["mean_satisfaction"], 11.0 / 3.0);
    let offers = &report["holdout"]["retention_offer"];
    assert_eq!(offers["treated"]["actions"], 4);
    assert_eq!(offers["treated"]["conversions"], 1);
    assert_eq!(offers["control"]["actions"], 2);
}

/// Every stored code stays what it is: the fixtures above hold stage 2 (mature) and the
/// action kinds 0, 2 and 9; these are the whole tables, so a new variant must take a new
/// code and cannot move an old one.
#[test]
fn stored_codes_are_fixed_and_a_new_kind_takes_a_new_one() {
    use lifecycle::domain::customer_bytes::{
        kind_code, kind_from_code, stage_code, stage_from_code,
    };
    let stages = [
        (Stage::Prospect, 0),
        (Stage::New, 1),
        (Stage::Mature, 2),
        (Stage::Churning, 3),
        (Stage::Churned, 4),
    ];
    for (stage, code) in stages {
        assert_eq!(stage_code(stage), code, "{stage:?}");
        assert_eq!(stage_from_code(code), Some(stage));
    }
    assert_eq!(
        Stage::ALL.len(),
        stages.len(),
        "a new stage needs its code here"
    );
    let kinds = [
        (ActionKind::NurtureLead, 0),
        (ActionKind::WelcomeOnboarding, 1),
        (ActionKind::LoyaltyReward, 2),
        (ActionKind::RetentionOffer, 3),
        (ActionKind::WinBackCampaign, 4),
        (ActionKind::WelcomeBack, 5),
        (ActionKind::ServiceRecovery, 6),
        (ActionKind::DetractorFollowUp, 7),
        (ActionKind::AdvocacyInvite, 8),
        (ActionKind::SurpriseDelight, 9),
        (ActionKind::ChurnRisk, 10),
    ];
    for (kind, code) in kinds {
        assert_eq!(kind_code(kind), code, "{kind:?}");
        assert_eq!(kind_from_code(code), Some(kind));
    }
    assert_eq!(
        ActionKind::ALL.len(),
        kinds.len(),
        "a new action kind needs its (new) code here"
    );
    // A code no version wrote is refused, not read as some other kind.
    assert_eq!(kind_from_code(11), None);
    assert_eq!(stage_from_code(5), None);
}

/// The codes of issue 21's block: event types (in an entering transition) and the reasons a
/// transition can enter a stage with. The fixtures above hold reasons 3 and 6.
#[test]
fn event_type_and_entering_reason_codes_are_fixed() {
    use lifecycle::domain::customer_bytes::{entered_code, event_type_code, event_type_from_code};
    use lifecycle::domain::event::EventType;
    let types = [
        (EventType::LeadCreated, 0),
        (EventType::Engagement, 1),
        (EventType::Purchase, 2),
        (EventType::SubscriptionStarted, 3),
        (EventType::SubscriptionCancelled, 4),
        (EventType::Refund, 5),
        (EventType::SupportTicket, 6),
        (EventType::Complaint, 7),
        (EventType::Feedback, 8),
        (EventType::ConsentWithdrawn, 9),
        (EventType::ConsentGranted, 10),
        (EventType::CustomerErased, 11),
    ];
    for (t, code) in types {
        assert_eq!(event_type_code(t), code, "{t:?}");
        assert_eq!(event_type_from_code(code), Some(t));
    }
    assert_eq!(
        EventType::ALL.len(),
        types.len(),
        "a new event type needs its (new) code here"
    );
    assert_eq!(event_type_from_code(12), None);
    let purchase = EventType::Purchase;
    let reasons = [
        (Entered::FirstSeen(purchase), 0),
        (Entered::FirstConversion(purchase), 1),
        (
            Entered::Reactivated {
                event_type: purchase,
                from: Stage::Churned,
            },
            2,
        ),
        (
            Entered::MatureCriteria {
                purchases: 3,
                min_purchases: 3,
                days: 30,
                min_days: 30,
            },
            3,
        ),
        (Entered::ChurnSignal(purchase), 4),
        (Entered::Inactivity { days: 60 }, 5),
        (Entered::NoReactivation { days: 90 }, 6),
    ];
    for (entered, code) in reasons {
        assert_eq!(entered_code(entered), code, "{entered:?}");
    }
}

/// Issue 22: the holdout windows. hal (owner epoch 5) entered `churning` on
/// 2025-04-02T09:15:00Z by his subscription_cancelled event e-hal-2, whose retention_offer
/// (sent or held out) opened a conversion window still open; the record ends with the
/// extension byte 0x03 (the entering transition and the windows) and the windows' two bytes
/// 0x08 0x00 (kind code 3, retention_offer).
#[test]
fn records_with_open_holdout_windows_restore_them() {
    use lifecycle::domain::event::EventType;
    let name = "format3-holdout-window-epoch5.bin";
    let bytes = fixture(name);
    assert_eq!(&bytes[bytes.len() - 2..], &[0x08, 0x00]);
    let (hal, epoch) = decode_customer_owned(&bytes).expect(name);
    assert_eq!(epoch, 5);
    assert_eq!(hal.id.as_str(), "hal");
    assert_eq!((hal.stage, hal.seq), (Stage::Churning, 3));
    assert_eq!(
        hal.entered,
        Some(Entered::ChurnSignal(EventType::SubscriptionCancelled))
    );
    assert_eq!(hal.entered_by.as_deref(), Some("e-hal-2"));
    assert_eq!(
        hal.uplift_open.iter().collect::<Vec<_>>(),
        [ActionKind::RetentionOffer]
    );
    assert_eq!(
        hal.last_sent.get(ActionKind::RetentionOffer),
        Some(t("2025-04-02T09:15:00Z"))
    );
    // Every record written before issue 22 reads as one without open windows.
    for old in [
        "format2-mature.bin",
        "format3-mature-epoch7.bin",
        "format3-transactions-risk-epoch2.bin",
        "format3-entered-event-epoch4.bin",
        "format3-entered-timer-epoch4.bin",
    ] {
        let (c, _) = decode_customer_owned(&fixture(old)).expect(old);
        assert!(c.uplift_open.is_empty(), "{old}");
    }
}
