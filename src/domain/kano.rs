//! The KANO evaluation table and the Better/Worse coefficients (SPEC section 7).

use std::fmt;

use super::event::KanoAnswer;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KanoClass {
    Attractive,
    OneDimensional,
    MustBe,
    Indifferent,
    Reverse,
    Questionable,
}

impl KanoClass {
    pub fn as_str(self) -> &'static str {
        match self {
            KanoClass::Attractive => "attractive",
            KanoClass::OneDimensional => "one_dimensional",
            KanoClass::MustBe => "must_be",
            KanoClass::Indifferent => "indifferent",
            KanoClass::Reverse => "reverse",
            KanoClass::Questionable => "questionable",
        }
    }
}

impl fmt::Display for KanoClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Classifies one answer pair (1 like, 2 expect, 3 neutral, 4 live with, 5 dislike) by the
/// evaluation table: rows are the functional answer, columns the dysfunctional one.
pub fn classify(answer: KanoAnswer) -> KanoClass {
    use KanoClass::*;
    const TABLE: [[KanoClass; 5]; 5] = [
        [
            Questionable,
            Attractive,
            Attractive,
            Attractive,
            OneDimensional,
        ],
        [Reverse, Indifferent, Indifferent, Indifferent, MustBe],
        [Reverse, Indifferent, Indifferent, Indifferent, MustBe],
        [Reverse, Indifferent, Indifferent, Indifferent, MustBe],
        [Reverse, Reverse, Reverse, Reverse, Questionable],
    ];
    let row = usize::from(answer.functional.clamp(1, 5) - 1);
    let col = usize::from(answer.dysfunctional.clamp(1, 5) - 1);
    TABLE[row][col]
}

/// Per-feature counts of classified answers; stored (the service's changelog, see
/// `voc::VocCounts`) by the classes' letters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct KanoTally {
    #[serde(rename = "A")]
    pub attractive: u64,
    #[serde(rename = "O")]
    pub one_dimensional: u64,
    #[serde(rename = "M")]
    pub must_be: u64,
    #[serde(rename = "I")]
    pub indifferent: u64,
    #[serde(rename = "R")]
    pub reverse: u64,
    #[serde(rename = "Q")]
    pub questionable: u64,
}

impl KanoTally {
    /// Adds `other`'s counts (another partition's).
    pub fn merge(&mut self, other: &KanoTally) {
        self.attractive += other.attractive;
        self.one_dimensional += other.one_dimensional;
        self.must_be += other.must_be;
        self.indifferent += other.indifferent;
        self.reverse += other.reverse;
        self.questionable += other.questionable;
    }

    pub fn add(&mut self, class: KanoClass) {
        match class {
            KanoClass::Attractive => self.attractive += 1,
            KanoClass::OneDimensional => self.one_dimensional += 1,
            KanoClass::MustBe => self.must_be += 1,
            KanoClass::Indifferent => self.indifferent += 1,
            KanoClass::Reverse => self.reverse += 1,
            KanoClass::Questionable => self.questionable += 1,
        }
    }

    /// Better = (A+O)/(A+O+M+I) and Worse = -(O+M)/(A+O+M+I) (Berger et al., 1993);
    /// `None` when no answer counts towards them.
    pub fn better_worse(&self) -> Option<(f64, f64)> {
        let total = self.attractive + self.one_dimensional + self.must_be + self.indifferent;
        if total == 0 {
            return None;
        }
        let total = total as f64;
        Some((
            (self.attractive + self.one_dimensional) as f64 / total,
            // 0 - x, not -x: no feature is worse by "-0" (JSON `-0.0`).
            0.0 - (self.one_dimensional + self.must_be) as f64 / total,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(functional: u8, dysfunctional: u8) -> KanoClass {
        classify(KanoAnswer {
            functional,
            dysfunctional,
        })
    }

    #[test]
    fn classifies_by_the_evaluation_table() {
        let expected = [
            "QAAAO", //
            "RIIIM", "RIIIM", "RIIIM", //
            "RRRRQ",
        ];
        for (f, row) in expected.iter().enumerate() {
            for (d, letter) in row.chars().enumerate() {
                let got = class(f as u8 + 1, d as u8 + 1);
                let want = match letter {
                    'A' => KanoClass::Attractive,
                    'O' => KanoClass::OneDimensional,
                    'M' => KanoClass::MustBe,
                    'I' => KanoClass::Indifferent,
                    'R' => KanoClass::Reverse,
                    _ => KanoClass::Questionable,
                };
                assert_eq!(got, want, "functional {} dysfunctional {}", f + 1, d + 1);
            }
        }
    }

    #[test]
    fn better_and_worse_follow_berger() {
        let mut t = KanoTally::default();
        for c in [
            KanoClass::Attractive,
            KanoClass::OneDimensional,
            KanoClass::MustBe,
            KanoClass::Indifferent,
            KanoClass::Reverse,
        ] {
            t.add(c);
        }
        assert_eq!(t.better_worse(), Some((0.5, -0.5)));
        assert_eq!(KanoTally::default().better_worse(), None);
        let only_attractive = KanoTally {
            attractive: 2,
            ..KanoTally::default()
        };
        let worse = only_attractive.better_worse().unwrap().1;
        assert!(worse == 0.0 && worse.is_sign_positive(), "{worse}");
    }
}
