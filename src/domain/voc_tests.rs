//! The counts of SPEC 10 ("Analyse"), with expected values worked out by hand from SPEC 7 and
//! 10, never copied from a run.

use serde_json::json;

use super::*;

fn kano(functional: u8, dysfunctional: u8) -> Option<KanoAnswer> {
    Some(KanoAnswer {
        functional,
        dysfunctional,
    })
}

/// One answer pair about `feature`, nothing else.
fn answer(v: &mut Voc, feature: &str, f: u8, d: u8) {
    v.observe_feedback(Some(feature), kano(f, d), None, None, Stage::New);
}

/// A feature's tally built from counts in the order A, O, M, I, R, Q, through answers: an
/// answer pair per class from the SPEC 7 table (A = (1,2), O = (1,5), M = (2,5), I = (3,3),
/// R = (5,1), Q = (1,1)).
fn voc_with(counts: [u64; 6]) -> Voc {
    let pairs = [(1, 2), (1, 5), (2, 5), (3, 3), (5, 1), (1, 1)];
    let mut v = Voc::new(50);
    for (n, (f, d)) in counts.iter().zip(pairs) {
        for _ in 0..*n {
            answer(&mut v, "x", f, d);
        }
    }
    v
}

#[test]
fn every_cell_of_the_evaluation_table_is_counted_in_its_class() {
    // SPEC 7: rows functional 1..5, columns dysfunctional 1..5.
    let table = ["QAAAO", "RIIIM", "RIIIM", "RIIIM", "RRRRQ"];
    let mut v = Voc::new(50);
    for f in 1..=5u8 {
        for d in 1..=5u8 {
            answer(&mut v, &format!("f{f}d{d}"), f, d);
        }
    }
    let report = v.report();
    assert_eq!(report.kano.len(), 25);
    for (f, row) in table.iter().enumerate() {
        for (d, want) in row.chars().enumerate() {
            let name = format!("f{}d{}", f + 1, d + 1);
            let r = &report.kano[&name];
            assert_eq!(r.category, Some(&*want.to_string()), "{name}");
            let c = r.counts;
            let got = [
                ("A", c.a),
                ("O", c.o),
                ("M", c.m),
                ("I", c.i),
                ("R", c.r),
                ("Q", c.q),
            ];
            for (letter, n) in got {
                let expected = u64::from(letter == want.to_string());
                assert_eq!(n, expected, "{name}: count of {letter}");
            }
        }
    }
}

#[test]
fn better_and_worse_are_berger_coefficients() {
    // (counts A, O, M, I, R, Q) -> (better, worse), by hand: better = (A+O)/(A+O+M+I),
    // worse = -(O+M)/(A+O+M+I); R and Q count in neither.
    type Case = ([u64; 6], Option<(f64, f64)>);
    let cases: [Case; 6] = [
        ([2, 1, 3, 2, 1, 1], Some((3.0 / 8.0, -4.0 / 8.0))),
        ([1, 0, 0, 0, 0, 0], Some((1.0, 0.0))),
        ([0, 0, 1, 0, 0, 0], Some((0.0, -1.0))),
        ([0, 1, 0, 0, 0, 0], Some((1.0, -1.0))),
        ([0, 0, 0, 4, 5, 0], Some((0.0, 0.0))),
        ([0, 0, 0, 0, 2, 3], None),
    ];
    for (counts, want) in cases {
        let r = &voc_with(counts).report().kano["x"];
        assert_eq!(r.better, want.map(|w| w.0), "{counts:?}");
        assert_eq!(r.worse, want.map(|w| w.1), "{counts:?}");
    }
}

#[test]
fn the_category_is_the_largest_class_ties_broken_m_o_a_i_r_q() {
    // Counts A, O, M, I, R, Q.
    let cases: [([u64; 6], &str); 12] = [
        ([1, 1, 1, 1, 1, 1], "M"), // all tied
        ([2, 2, 0, 0, 0, 0], "O"), // O > A
        ([2, 0, 2, 0, 0, 0], "M"), // M > A
        ([0, 3, 3, 0, 0, 0], "M"), // M > O
        ([1, 0, 0, 1, 0, 0], "A"), // A > I
        ([0, 0, 0, 2, 2, 0], "I"), // I > R
        ([0, 0, 0, 0, 1, 1], "R"), // R > Q
        ([0, 0, 0, 1, 0, 1], "I"), // I > Q
        ([0, 0, 0, 0, 0, 1], "Q"),
        ([0, 0, 2, 3, 0, 0], "I"), // more answers beat the order
        ([1, 0, 0, 0, 0, 4], "Q"),
        ([0, 2, 1, 0, 0, 0], "O"),
    ];
    for (counts, want) in cases {
        let r = &voc_with(counts).report().kano["x"];
        assert_eq!(r.category, Some(want), "{counts:?}");
    }
    assert_eq!(category(&KanoTally::default()), None);
}

#[test]
fn nps_sorts_answers_at_the_boundaries_6_7_8_9() {
    // (answers, promoters, passives, detractors, nps by hand)
    let cases: [(&[u8], u64, u64, u64, f64); 6] = [
        (&[6], 0, 0, 1, -100.0),
        (&[7], 0, 1, 0, 0.0),
        (&[8], 0, 1, 0, 0.0),
        (&[9], 1, 0, 0, 100.0),
        (&[0, 6, 7, 8, 9, 10], 2, 2, 2, 0.0),
        (&[10, 9, 3], 2, 0, 1, 100.0 / 3.0),
    ];
    for (answers, p, pa, d, nps) in cases {
        let mut v = Voc::new(50);
        for n in answers {
            v.observe_feedback(None, None, Some(*n), None, Stage::Mature);
        }
        let s = v.report().nps.mature;
        assert_eq!(
            (s.promoters, s.passives, s.detractors, s.answers),
            (p, pa, d, answers.len() as u64),
            "{answers:?}"
        );
        assert_eq!(s.nps, Some(nps), "{answers:?}");
        assert_eq!(v.report().nps.new.nps, None, "other stages have no answers");
    }
}

#[test]
fn satisfaction_is_averaged_per_stage_over_the_answers_that_give_it() {
    let mut v = Voc::new(50);
    for (s, stage) in [
        (Some(1), Stage::New),
        (Some(2), Stage::New),
        (Some(5), Stage::New),
        (None, Stage::New),
        (Some(4), Stage::Churning),
    ] {
        v.observe_feedback(None, None, Some(9), s, stage);
    }
    let r = v.report();
    assert_eq!(r.nps.new.mean_satisfaction, Some(8.0 / 3.0));
    assert_eq!(r.nps.new.satisfaction_answers, 3);
    assert_eq!(r.nps.new.answers, 4);
    assert_eq!(r.nps.churning.mean_satisfaction, Some(4.0));
    assert_eq!(r.nps.prospect.mean_satisfaction, None);
}

#[test]
fn features_past_max_features_are_counted_as_other() {
    let mut v = Voc::new(2);
    answer(&mut v, "a", 2, 5); // M
    answer(&mut v, "b", 1, 2); // A
    answer(&mut v, "c", 1, 5); // O, past the bound
    answer(&mut v, "d", 1, 5); // O, past the bound
    answer(&mut v, "a", 2, 5); // a is kept by name
    let r = v.report();
    let names: Vec<&str> = r.kano.keys().map(String::as_str).collect();
    assert_eq!(names, ["a", "b", "other"]);
    assert_eq!(r.kano["a"].counts.m, 2);
    assert_eq!(r.kano["other"].counts.o, 2);
    assert_eq!(r.kano["other"].category, Some("O"));

    // A feature named "other" shares the bucket.
    let mut v = Voc::new(1);
    answer(&mut v, "other", 2, 5); // M, by name
    answer(&mut v, "z", 1, 2); // A, past the bound
    let r = v.report();
    assert_eq!(r.kano.len(), 1);
    assert_eq!((r.kano["other"].counts.m, r.kano["other"].counts.a), (1, 1));
}

#[test]
fn answers_without_kano_or_feature_count_only_where_they_belong() {
    let mut v = Voc::new(50);
    // A KANO answer without a feature: in no feature, counted apart; its NPS counts.
    v.observe_feedback(None, kano(2, 5), Some(3), None, Stage::Prospect);
    // A feature without a KANO answer: no feature entry.
    v.observe_feedback(Some("search"), None, None, Some(2), Stage::Prospect);
    let r = v.report();
    assert!(r.kano.is_empty());
    assert_eq!(r.kano_without_feature, 1);
    assert_eq!(r.nps.prospect.detractors, 1);
    assert_eq!(r.nps.prospect.mean_satisfaction, Some(2.0));
    // Not feedback: nothing.
    let mut v = Voc::new(50);
    v.observe(&Payload::Complaint, Some("search"), Stage::New);
    assert_eq!(v, Voc::new(50));
}

#[test]
fn the_report_has_the_documented_json_shape() {
    let mut v = Voc::new(50);
    // checkout: M, M, A -> better 1/3, worse -2/3, category M.
    v.observe_feedback(Some("checkout"), kano(2, 5), Some(10), Some(4), Stage::New);
    v.observe_feedback(Some("checkout"), kano(3, 5), Some(6), Some(2), Stage::New);
    v.observe_feedback(Some("checkout"), kano(1, 3), None, None, Stage::Mature);
    let got = serde_json::to_value(v.report()).unwrap();
    let empty = json!({"promoters": 0, "passives": 0, "detractors": 0, "answers": 0,
        "nps": null, "mean_satisfaction": null, "satisfaction_answers": 0});
    let want = json!({
        "kano": {"checkout": {
            "counts": {"A": 1, "O": 0, "M": 2, "I": 0, "R": 0, "Q": 0},
            "better": 1.0 / 3.0, "worse": -2.0 / 3.0, "category": "M"}},
        "nps": {
            "prospect": empty,
            "new": {"promoters": 1, "passives": 0, "detractors": 1, "answers": 2, "nps": 0.0,
                "mean_satisfaction": 3.0, "satisfaction_answers": 2},
            "mature": empty, "churning": empty, "churned": empty},
        "kano_without_feature": 0,
        "holdout": {},
    });
    assert_eq!(got, want);
    let text = serde_json::to_string(&v.report()).unwrap();
    let stages = ["prospect", "new", "mature", "churning", "churned"];
    let at: Vec<usize> = stages
        .iter()
        .map(|s| text.find(&format!("\"{s}\":")).unwrap())
        .collect();
    assert!(at.is_sorted(), "stages in SPEC 2's order: {text}");
}

#[test]
fn max_features_is_checked() {
    for (n, ok) in [
        (0, false),
        (1, true),
        (50, true),
        (1000, true),
        (1001, false),
    ] {
        let problems = VocConfig { max_features: n }.problems();
        assert_eq!(problems.is_empty(), ok, "{n}: {problems:?}");
    }
}

#[test]
fn the_decoder_keeps_the_feature_of_feedback_events_only() {
    use super::super::decode::decode;
    let now = crate::domain::Timestamp::parse_rfc3339("2030-01-01T00:00:00Z").unwrap();
    let head = r#""event_id":"e","customer_id":"c","occurred_at":"2025-01-01T00:00:00Z""#;
    let cases = [
        // The usual shape (the fast path), an escaped name, an extra top-level key (the
        // tree path), another type, no feature.
        (
            r#""type":"feedback","data":{"feature":"checkout","nps":3}"#,
            Some("checkout"),
        ),
        (
            r#""type":"feedback","data":{"feature":"check\u006fut"}"#,
            Some("checkout"),
        ),
        (
            r#""type":"feedback","x":[1],"data":{"feature":"search"}"#,
            Some("search"),
        ),
        (r#""type":"complaint","data":{"feature":"search"}"#, None),
        (r#""type":"feedback","data":{"nps":3}"#, None),
    ];
    for (tail, want) in cases {
        let line = format!("{{{head},{tail}}}");
        let event = decode(line.as_bytes(), now).unwrap();
        assert_eq!(event.feature.as_deref(), want, "{line}");
    }
}
