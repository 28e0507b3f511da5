//! The `[prediction]` table (SPEC 8): which model, its four parameters, the time unit and the
//! at-risk threshold. Prediction is off until all four parameters are set.

use serde::Deserialize;

use super::model::{Model, Params};

/// The longest time unit: a year (alpha is a time in these units, so a longer one only
/// loses precision).
const MAX_UNIT_DAYS: u32 = 366;

/// `[prediction]`. `model`, `unit_days` and `at_risk_below` take their defaults from
/// `config/default.toml` like every other key; the parameters have none (TOML has no null),
/// so an absent one is `None`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PredictionConfig {
    pub model: Model,
    #[serde(default)]
    pub r: Option<f64>,
    #[serde(default)]
    pub alpha: Option<f64>,
    #[serde(default)]
    pub a: Option<f64>,
    #[serde(default)]
    pub b: Option<f64>,
    /// The models' time unit, in whole days (7: weeks, as the papers use). An integer like
    /// every other `_days` key (and so that `unit_days = 7` is not refused as "not a float").
    pub unit_days: u32,
    /// The P(alive) below which a customer gets `churn_risk`; 0 disables it.
    pub at_risk_below: f64,
    /// Whether a purchase of amount 0 (a free order) counts as a transaction in x, t_x and
    /// t0. SPEC 8 counts amounts above 0 only (false); the BG/NBD paper counts every order.
    pub count_zero_amount: bool,
}

impl PredictionConfig {
    /// The parameters, when all four are set (prediction on).
    pub fn params(&self) -> Option<Params> {
        Some(Params {
            r: self.r?,
            alpha: self.alpha?,
            a: self.a?,
            b: self.b?,
        })
    }

    /// Every problem, each naming its key `prediction.<key>` (and, as every configuration
    /// error, not its value).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let keys = [
            ("r", self.r),
            ("alpha", self.alpha),
            ("a", self.a),
            ("b", self.b),
        ];
        for (key, value) in keys {
            if let Some(v) = value
                && !(v.is_finite() && v > 0.0)
            {
                problems.push(format!("prediction.{key}: must be a finite number above 0"));
            }
        }
        let set: Vec<&str> = keys
            .iter()
            .filter(|(_, v)| v.is_some())
            .map(|(k, _)| *k)
            .collect();
        if !set.is_empty() && set.len() < keys.len() {
            let missing: Vec<String> = keys
                .iter()
                .filter(|(_, v)| v.is_none())
                .map(|(k, _)| format!("prediction.{k}"))
                .collect();
            problems.push(format!(
                "{}: prediction needs all four of r, alpha, a, b (or none, to turn it off); {} not set",
                missing.join(", "),
                if missing.len() == 1 { "is" } else { "are" }
            ));
        }
        if !(1..=MAX_UNIT_DAYS).contains(&self.unit_days) {
            problems.push(format!(
                "prediction.unit_days: must be a whole number of days from 1 to {MAX_UNIT_DAYS}"
            ));
        }
        if !(0.0..1.0).contains(&self.at_risk_below) {
            problems.push(
                "prediction.at_risk_below: must be in [0, 1) (0 disables the at-risk action)"
                    .into(),
            );
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The defaults the `[prediction]` table of config/default.toml is to hold.
    const DEFAULTS: &str =
        "model = \"bg_nbd\"\nunit_days = 7\nat_risk_below = 0.0\ncount_zero_amount = false\n";

    fn parse(extra: &str) -> Result<PredictionConfig, toml::de::Error> {
        toml::from_str(&format!("{DEFAULTS}{extra}"))
    }

    #[test]
    fn the_defaults_are_valid_and_prediction_is_off() {
        let c = parse("").unwrap();
        assert_eq!(c.model, Model::BgNbd);
        assert_eq!(c.params(), None);
        assert!(c.problems().is_empty(), "{:?}", c.problems());
    }

    #[test]
    fn four_parameters_turn_it_on() {
        let c = parse("r = 0.243\nalpha = 4.414\na = 0.793\nb = 2.426\n").unwrap();
        assert_eq!(
            c.params(),
            Some(Params {
                r: 0.243,
                alpha: 4.414,
                a: 0.793,
                b: 2.426
            })
        );
        assert!(c.problems().is_empty());
    }

    #[test]
    fn refuses_parameters_at_or_below_zero_by_key() {
        let c = parse("r = 0.0\nalpha = -1.0\na = 0.5\nb = nan\n").unwrap();
        let problems = c.problems();
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("prediction.r:"));
        assert!(problems[1].starts_with("prediction.alpha:"));
        assert!(problems[2].starts_with("prediction.b:"));
    }

    #[test]
    fn refuses_some_parameters_without_the_others() {
        let problems = parse("r = 0.3\nalpha = 4.0\n").unwrap().problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("prediction.a, prediction.b:"));
    }

    #[test]
    fn refuses_a_threshold_outside_zero_to_one() {
        for bad in ["1.0", "-0.1", "1.5", "nan"] {
            let c: PredictionConfig = toml::from_str(&format!(
                "model = \"bg_nbd\"\nunit_days = 7\nat_risk_below = {bad}\ncount_zero_amount = false\n"
            ))
            .unwrap();
            let problems = c.problems();
            assert_eq!(problems.len(), 1, "{bad}: {problems:?}");
            assert!(problems[0].starts_with("prediction.at_risk_below:"));
        }
        let c: PredictionConfig = toml::from_str(
            "model = \"mbg_nbd\"\nunit_days = 7\nat_risk_below = 0.999\ncount_zero_amount = true\n",
        )
        .unwrap();
        assert!(c.problems().is_empty());
    }

    #[test]
    fn refuses_a_unit_of_zero_days_or_more_than_a_year() {
        for bad in [0, 367] {
            let c: PredictionConfig = toml::from_str(&format!(
                "model = \"bg_nbd\"\nunit_days = {bad}\nat_risk_below = 0.0\ncount_zero_amount = false\n"
            ))
            .unwrap();
            assert_eq!(c.problems().len(), 1, "{bad}");
            assert!(c.problems()[0].starts_with("prediction.unit_days:"));
        }
    }

    #[test]
    fn refuses_unknown_models_and_keys() {
        let unknown_model: Result<PredictionConfig, _> =
            toml::from_str("model = \"pareto_nbd\"\nunit_days = 7\nat_risk_below = 0.0\n");
        assert!(unknown_model.is_err());
        assert!(parse("beta = 1.0\n").is_err());
    }
}
