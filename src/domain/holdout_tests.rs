use super::*;

#[test]
fn kind_sets_hold_each_kind_apart() {
    let mut set = KindSet::EMPTY;
    for kind in ActionKind::ALL {
        assert!(!set.contains(kind));
        set = set.with(kind);
        assert!(set.contains(kind));
    }
    assert_eq!(set.iter().collect::<Vec<_>>(), ActionKind::ALL.to_vec());
    let less = set.without(ActionKind::ChurnRisk);
    assert!(!less.contains(ActionKind::ChurnRisk));
    assert_eq!(less.iter().count(), ActionKind::ALL.len() - 1);
}

#[test]
fn kinds_without_a_holdout_have_no_group() {
    let holdout = HoldoutConfig {
        percent: 50.0,
        kinds: vec!["churn_risk".into()],
        salt: "s".into(),
        window_days: 30,
    }
    .holdout()
    .expect("on");
    assert_eq!(holdout.group("c-1", ActionKind::RetentionOffer), None);
    assert!(holdout.group("c-1", ActionKind::ChurnRisk).is_some());
}

#[test]
fn uplift_is_the_treated_rate_less_the_control_rate() {
    let mut uplift = Uplift::default();
    let kind = ActionKind::RetentionOffer;
    uplift.counts[kind as usize][Group::Treated as usize] = GroupCounts {
        actions: 200,
        conversions: 50,
    };
    uplift.counts[kind as usize][Group::Control as usize] = GroupCounts {
        actions: 20,
        conversions: 3,
    };
    let report = uplift.report();
    let k = &report[&kind];
    assert_eq!(k.treated.conversion_rate, Some(0.25));
    assert_eq!(k.control.conversion_rate, Some(0.15));
    assert!((k.uplift.unwrap() - 0.10).abs() < 1e-12);
    assert_eq!(report.len(), 1, "kinds without actions are left out");
    let mut twice = uplift.clone();
    twice.merge(&uplift);
    assert_eq!(twice.get(kind, Group::Control).actions, 40);
}
