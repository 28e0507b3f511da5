//! Voice of the customer, "Analyse" (SPEC 10): anonymous counts of `feedback` events, per
//! feature (KANO classes, Better/Worse, the category) and per stage (NPS, mean satisfaction).
//! Pure: the driver that applies the events calls [`Voc::observe_feedback`] with the stage
//! the customer is in after the event, and reads a [`VocReport`] at the end.
//!
//! Nothing here names a customer, so erasure changes none of it. At most
//! [`VocConfig::max_features`] feature names are kept; answers about any later feature are
//! counted under [`OTHER`].

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::action::ActionKind;
use super::customer::Stage;
use super::event::{KanoAnswer, Payload};
use super::kano::{KanoClass, KanoTally, classify};
use super::uplift::{KindUplift, Uplift};

#[path = "voc_counts.rs"]
mod counts;
pub use counts::VocCounts;

/// The bucket of the features past the first `max_features` (a feature literally named
/// `other` shares it).
pub const OTHER: &str = "other";

/// The `[voc]` table.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct VocConfig {
    /// How many features are counted by name (the first ones seen); 1..=1000.
    pub max_features: usize,
}

/// The most features `voc.max_features` may keep by name: each is a label value of the
/// service's metrics, and a name may be long.
pub const MAX_FEATURES_LIMIT: usize = 1000;

impl VocConfig {
    pub fn problems(&self) -> Vec<String> {
        if (1..=MAX_FEATURES_LIMIT).contains(&self.max_features) {
            Vec::new()
        } else {
            vec![format!(
                "voc.max_features: must be 1..={MAX_FEATURES_LIMIT}, it is {}",
                self.max_features
            )]
        }
    }
}

/// The NPS and satisfaction answers given in one stage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageAnswers {
    pub promoters: u64,
    pub passives: u64,
    pub detractors: u64,
    /// Answers with a `satisfaction` (1..=5) and their sum.
    pub satisfaction_answers: u64,
    pub satisfaction_sum: u64,
}

impl StageAnswers {
    fn add_nps(&mut self, nps: u8) {
        match nps {
            9..=10 => self.promoters += 1,
            7..=8 => self.passives += 1,
            _ => self.detractors += 1,
        }
    }

    pub fn answers(&self) -> u64 {
        self.promoters + self.passives + self.detractors
    }

    /// 100 * (promoters - detractors) / answers; `None` without answers.
    pub fn nps(&self) -> Option<f64> {
        let answers = self.answers();
        (answers > 0)
            .then(|| 100.0 * (self.promoters as f64 - self.detractors as f64) / answers as f64)
    }

    pub fn mean_satisfaction(&self) -> Option<f64> {
        (self.satisfaction_answers > 0)
            .then(|| self.satisfaction_sum as f64 / self.satisfaction_answers as f64)
    }
}

/// The running counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Voc {
    max_features: usize,
    features: HashMap<Box<str>, KanoTally>,
    /// Answers about features past `max_features`.
    other: KanoTally,
    /// KANO answers of feedback events without a `feature`: counted, in no feature.
    kano_without_feature: u64,
    stages: [StageAnswers; Stage::ALL.len()],
}

impl Voc {
    pub fn new(max_features: usize) -> Voc {
        Voc {
            max_features,
            ..Voc::default()
        }
    }

    /// Counts one applied `feedback` event; `stage_after` is its customer's stage after it.
    /// Other payloads are not feedback and count nothing.
    pub fn observe(&mut self, payload: &Payload, feature: Option<&str>, stage_after: Stage) {
        if let Payload::Feedback {
            nps,
            satisfaction,
            kano,
        } = *payload
        {
            self.observe_feedback(feature, kano, nps, satisfaction, stage_after);
        }
    }

    /// Counts one feedback answer (each part optional, as in the event).
    pub fn observe_feedback(
        &mut self,
        feature: Option<&str>,
        kano: Option<KanoAnswer>,
        nps: Option<u8>,
        satisfaction: Option<u8>,
        stage_after: Stage,
    ) {
        if let Some(answer) = kano {
            let class = classify(answer);
            match feature {
                Some(name) => self.tally_of(name).add(class),
                None => self.kano_without_feature += 1,
            }
        }
        let stage = &mut self.stages[stage_index(stage_after)];
        if let Some(n) = nps {
            stage.add_nps(n);
        }
        if let Some(s) = satisfaction {
            stage.satisfaction_answers += 1;
            stage.satisfaction_sum += u64::from(s);
        }
    }

    /// The tally of `name`: its own while fewer than `max_features` names are kept, else
    /// [`OTHER`]'s.
    fn tally_of(&mut self, name: &str) -> &mut KanoTally {
        if self.features.contains_key(name) {
            return self.features.get_mut(name).expect("just found");
        }
        if self.features.len() < self.max_features {
            return self.features.entry(name.into()).or_default();
        }
        &mut self.other
    }

    /// Adds `other`'s counts (another partition's): its features by name as far as this one
    /// keeps names, the rest under [`OTHER`].
    pub fn merge(&mut self, other: &Voc) {
        for (name, tally) in &other.features {
            self.tally_of(name).merge(tally);
        }
        self.other.merge(&other.other);
        self.kano_without_feature += other.kano_without_feature;
        for (mine, theirs) in self.stages.iter_mut().zip(&other.stages) {
            mine.promoters += theirs.promoters;
            mine.passives += theirs.passives;
            mine.detractors += theirs.detractors;
            mine.satisfaction_answers += theirs.satisfaction_answers;
            mine.satisfaction_sum += theirs.satisfaction_sum;
        }
    }

    pub fn stage(&self, stage: Stage) -> &StageAnswers {
        &self.stages[stage_index(stage)]
    }

    /// The counts of each feature kept by name, and of [`OTHER`] when it has any, merged.
    pub fn features(&self) -> BTreeMap<&str, KanoTally> {
        let mut out: BTreeMap<&str, KanoTally> =
            self.features.iter().map(|(k, v)| (&**k, *v)).collect();
        if self.other != KanoTally::default() {
            let slot = out.entry(OTHER).or_default();
            *slot = merged(slot, &self.other);
        }
        out
    }

    pub fn kano_without_feature(&self) -> u64 {
        self.kano_without_feature
    }

    /// The name `feature`'s answers are counted under: its own while kept by name, else
    /// [`OTHER`] (the service's metric label, bounded like the counts).
    pub fn label_of<'a>(&self, feature: &'a str) -> &'a str {
        match self.features.contains_key(feature) {
            true => feature,
            false => OTHER,
        }
    }

    /// The report without holdout experiments.
    pub fn report(&self) -> VocReport {
        self.report_with(&Uplift::default())
    }

    /// The report, with the holdout experiments' counts of `uplift`.
    pub fn report_with(&self, uplift: &Uplift) -> VocReport {
        VocReport {
            kano: self
                .features()
                .into_iter()
                .map(|(name, t)| (name.to_owned(), FeatureReport::of(&t)))
                .collect(),
            nps: StageMap {
                prospect: StageReport::of(self.stage(Stage::Prospect)),
                new: StageReport::of(self.stage(Stage::New)),
                mature: StageReport::of(self.stage(Stage::Mature)),
                churning: StageReport::of(self.stage(Stage::Churning)),
                churned: StageReport::of(self.stage(Stage::Churned)),
            },
            kano_without_feature: self.kano_without_feature,
            holdout: uplift.report(),
        }
    }
}

fn stage_index(stage: Stage) -> usize {
    match stage {
        Stage::Prospect => 0,
        Stage::New => 1,
        Stage::Mature => 2,
        Stage::Churning => 3,
        Stage::Churned => 4,
    }
}

fn merged(a: &KanoTally, b: &KanoTally) -> KanoTally {
    KanoTally {
        attractive: a.attractive + b.attractive,
        one_dimensional: a.one_dimensional + b.one_dimensional,
        must_be: a.must_be + b.must_be,
        indifferent: a.indifferent + b.indifferent,
        reverse: a.reverse + b.reverse,
        questionable: a.questionable + b.questionable,
    }
}

/// SPEC 10's tie-break order, strongest first.
const TIE_ORDER: [KanoClass; 6] = [
    KanoClass::MustBe,
    KanoClass::OneDimensional,
    KanoClass::Attractive,
    KanoClass::Indifferent,
    KanoClass::Reverse,
    KanoClass::Questionable,
];

fn count(t: &KanoTally, class: KanoClass) -> u64 {
    match class {
        KanoClass::Attractive => t.attractive,
        KanoClass::OneDimensional => t.one_dimensional,
        KanoClass::MustBe => t.must_be,
        KanoClass::Indifferent => t.indifferent,
        KanoClass::Reverse => t.reverse,
        KanoClass::Questionable => t.questionable,
    }
}

/// The class with the most answers, ties broken M > O > A > I > R > Q; `None` without
/// answers.
pub fn category(t: &KanoTally) -> Option<KanoClass> {
    let mut best: Option<(KanoClass, u64)> = None;
    for class in TIE_ORDER {
        let n = count(t, class);
        if n > 0 && best.is_none_or(|(_, m)| n > m) {
            best = Some((class, n));
        }
    }
    best.map(|(class, _)| class)
}

/// The one-letter name of a class in the evaluation table (SPEC 7).
pub fn letter(class: KanoClass) -> &'static str {
    match class {
        KanoClass::Attractive => "A",
        KanoClass::OneDimensional => "O",
        KanoClass::MustBe => "M",
        KanoClass::Indifferent => "I",
        KanoClass::Reverse => "R",
        KanoClass::Questionable => "Q",
    }
}

/// What `lifecycle voc` prints (one JSON object).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct VocReport {
    /// Per feature, by name; the features past `voc.max_features` under `"other"`.
    pub kano: BTreeMap<String, FeatureReport>,
    /// Per stage, every stage present (zeros and nulls without answers), in stage order.
    pub nps: StageMap,
    /// KANO answers of feedback events that named no feature.
    pub kano_without_feature: u64,
    /// Per action kind with a holdout and any action: the treated and control groups'
    /// actions and conversions, and the uplift (SPEC 10, "Monitor").
    pub holdout: BTreeMap<ActionKind, KindUplift>,
}

/// One [`StageReport`] per stage, in the order of SPEC 2 (fields, so that serde keeps it).
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct StageMap {
    pub prospect: StageReport,
    pub new: StageReport,
    pub mature: StageReport,
    pub churning: StageReport,
    pub churned: StageReport,
}

impl StageMap {
    pub fn get(&self, stage: Stage) -> &StageReport {
        match stage {
            Stage::Prospect => &self.prospect,
            Stage::New => &self.new,
            Stage::Mature => &self.mature,
            Stage::Churning => &self.churning,
            Stage::Churned => &self.churned,
        }
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FeatureReport {
    pub counts: ClassCounts,
    /// (A+O)/(A+O+M+I); null when A+O+M+I is 0.
    pub better: Option<f64>,
    /// -(O+M)/(A+O+M+I); null when A+O+M+I is 0.
    pub worse: Option<f64>,
    /// The class with the most answers (ties M > O > A > I > R > Q).
    pub category: Option<&'static str>,
}

impl FeatureReport {
    fn of(t: &KanoTally) -> FeatureReport {
        let bw = t.better_worse();
        FeatureReport {
            counts: ClassCounts {
                a: t.attractive,
                o: t.one_dimensional,
                m: t.must_be,
                i: t.indifferent,
                r: t.reverse,
                q: t.questionable,
            },
            better: bw.map(|(b, _)| b),
            worse: bw.map(|(_, w)| w),
            category: category(t).map(letter),
        }
    }
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
pub struct ClassCounts {
    #[serde(rename = "A")]
    pub a: u64,
    #[serde(rename = "O")]
    pub o: u64,
    #[serde(rename = "M")]
    pub m: u64,
    #[serde(rename = "I")]
    pub i: u64,
    #[serde(rename = "R")]
    pub r: u64,
    #[serde(rename = "Q")]
    pub q: u64,
}

#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct StageReport {
    pub promoters: u64,
    pub passives: u64,
    pub detractors: u64,
    pub answers: u64,
    /// 100 * (promoters - detractors) / answers; null without answers.
    pub nps: Option<f64>,
    /// Over the feedback events with a `satisfaction`; null without one.
    pub mean_satisfaction: Option<f64>,
    pub satisfaction_answers: u64,
}

impl StageReport {
    fn of(s: &StageAnswers) -> StageReport {
        StageReport {
            promoters: s.promoters,
            passives: s.passives,
            detractors: s.detractors,
            answers: s.answers(),
            nps: s.nps(),
            mean_satisfaction: s.mean_satisfaction(),
            satisfaction_answers: s.satisfaction_answers,
        }
    }
}

#[cfg(test)]
#[path = "voc_tests.rs"]
mod tests;
