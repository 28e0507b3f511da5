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
