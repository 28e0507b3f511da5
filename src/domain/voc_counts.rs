//! The voice-of-the-customer and holdout counts of one partition as the service keeps them in
//! its changelog, so that `GET /voc` answers for the partitions an instance holds whatever
//! instance counted them before (SPEC 10). Keyed by names, not by the enums' positions: a
//! later version with more classes, stages or kinds reads what this one wrote.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{OTHER, Voc};
use crate::domain::ActionKind;
use crate::domain::customer::Stage;
use crate::domain::holdout::Group;
use crate::domain::kano::KanoTally;
use crate::domain::uplift::{GroupCounts, Uplift};

/// A [`Voc`] and an [`Uplift`], by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VocCounts {
    /// Per feature kept by name (and [`OTHER`] for the rest), the answers per KANO class.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kano: BTreeMap<String, KanoTally>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub kano_without_feature: u64,
    /// Per stage with any answer.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub nps: BTreeMap<String, StageCounts>,
    /// Per action kind with a holdout count.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub holdout: BTreeMap<String, HoldoutCounts>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One stage's NPS and satisfaction answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StageCounts {
    pub promoters: u64,
    pub passives: u64,
    pub detractors: u64,
    pub satisfaction_answers: u64,
    pub satisfaction_sum: u64,
}

/// One kind's holdout experiment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HoldoutCounts {
    pub treated: GroupCounts,
    pub control: GroupCounts,
}

impl VocCounts {
    /// The counts of `voc` and `uplift`; `None` when there are none.
    pub fn of(voc: &Voc, uplift: &Uplift) -> Option<VocCounts> {
        let mut kano: BTreeMap<String, KanoTally> = voc
            .features
            .iter()
            .map(|(name, t)| (name.to_string(), *t))
            .collect();
        if voc.other != KanoTally::default() {
            // With a feature literally named `other`, which shares the bucket (as in reports).
            kano.entry(OTHER.to_owned()).or_default().merge(&voc.other);
        }
        let nps = Stage::ALL
            .iter()
            .zip(&voc.stages)
            .filter(|(_, s)| s.answers() > 0 || s.satisfaction_answers > 0)
            .map(|(stage, s)| {
                let counts = StageCounts {
                    promoters: s.promoters,
                    passives: s.passives,
                    detractors: s.detractors,
                    satisfaction_answers: s.satisfaction_answers,
                    satisfaction_sum: s.satisfaction_sum,
                };
                (stage.as_str().to_owned(), counts)
            })
            .collect();
        let holdout = ActionKind::ALL
            .iter()
            .map(|kind| {
                let counts = HoldoutCounts {
                    treated: uplift.get(*kind, Group::Treated),
                    control: uplift.get(*kind, Group::Control),
                };
                (kind.as_str().to_owned(), counts)
            })
            .filter(|(_, c)| *c != HoldoutCounts::default())
            .collect();
        let counts = VocCounts {
            kano,
            kano_without_feature: voc.kano_without_feature,
            nps,
            holdout,
        };
        (counts != VocCounts::default()).then_some(counts)
    }

    /// Adds these counts to `voc` (features past its `max_features` go to [`OTHER`]) and
    /// `uplift`; names this version does not know (a later version's) are left out.
    pub fn add_to(&self, voc: &mut Voc, uplift: &mut Uplift) {
        for (name, counts) in &self.kano {
            let tally = match name.as_str() {
                OTHER => &mut voc.other,
                name => voc.tally_of(name),
            };
            tally.merge(counts);
        }
        voc.kano_without_feature += self.kano_without_feature;
        for (stage, counts) in &self.nps {
            let Some(i) = Stage::ALL.iter().position(|s| s.as_str() == stage) else {
                continue;
            };
            let s = &mut voc.stages[i];
            s.promoters += counts.promoters;
            s.passives += counts.passives;
            s.detractors += counts.detractors;
            s.satisfaction_answers += counts.satisfaction_answers;
            s.satisfaction_sum += counts.satisfaction_sum;
        }
        for (kind, counts) in &self.holdout {
            let Some(kind) = ActionKind::ALL.into_iter().find(|k| k.as_str() == kind) else {
                continue;
            };
            uplift.add(kind, Group::Treated, counts.treated);
            uplift.add(kind, Group::Control, counts.control);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::{KanoAnswer, Payload};

    fn feedback(voc: &mut Voc, feature: &str, f: u8, d: u8, nps: u8, stage: Stage) {
        let payload = Payload::Feedback {
            nps: Some(nps),
            satisfaction: Some(4),
            kano: Some(KanoAnswer {
                functional: f,
                dysfunctional: d,
            }),
        };
        voc.observe(&payload, Some(feature), stage);
    }

    #[test]
    fn counts_round_trip_through_json_and_add_up_across_partitions() {
        let (mut a, mut b) = (Voc::new(2), Voc::new(2));
        feedback(&mut a, "search", 1, 5, 10, Stage::Mature);
        feedback(&mut a, "checkout", 2, 5, 3, Stage::New);
        // Past max_features: counted under `other`.
        feedback(&mut a, "delivery", 1, 2, 8, Stage::New);
        feedback(&mut b, "search", 1, 2, 9, Stage::Churning);
        let mut uplift = Uplift::default();
        uplift.add(
            ActionKind::RetentionOffer,
            Group::Control,
            GroupCounts {
                actions: 3,
                conversions: 1,
            },
        );
        let counts = VocCounts::of(&a, &uplift).expect("some counts");
        let json = serde_json::to_string(&counts).unwrap();
        let back: VocCounts = serde_json::from_str(&json).unwrap();
        assert_eq!(back, counts);
        // Restored into a fresh Voc: the same report.
        let (mut restored, mut restored_uplift) = (Voc::new(2), Uplift::default());
        back.add_to(&mut restored, &mut restored_uplift);
        assert_eq!(
            restored.report_with(&restored_uplift),
            a.report_with(&uplift)
        );
        // Two partitions' counts add up to counting both in one, restored or merged.
        let mut both = a.clone();
        feedback(&mut both, "search", 1, 2, 9, Stage::Churning);
        let (mut merged, mut merged_uplift) = (Voc::new(2), Uplift::default());
        back.add_to(&mut merged, &mut merged_uplift);
        VocCounts::of(&b, &Uplift::default())
            .unwrap()
            .add_to(&mut merged, &mut merged_uplift);
        assert_eq!(merged.report(), both.report());
        let mut merged = Voc::new(2);
        merged.merge(&a);
        merged.merge(&b);
        assert_eq!(merged.report(), both.report());
        // Names a later version may add are left out, not refused.
        let later: VocCounts = serde_json::from_str(
            r#"{"nps":{"dormant":{"promoters":1}},"holdout":{"gift":{"treated":{"actions":1}}}}"#,
        )
        .unwrap();
        let (mut v, mut u) = (Voc::new(2), Uplift::default());
        later.add_to(&mut v, &mut u);
        assert_eq!(VocCounts::of(&v, &u), None);
    }
}
