//! What the service writes, by kind: each kind of output has its topic, and records are
//! routed by kind, never by a bare topic index. A new output (holdout actions, members) is a
//! new variant here and a topic in `[kafka.topics]`.

use crate::config::Topics;
use crate::domain::holdout::Group;
use crate::domain::{Category, Record};

/// A kind of record the service produces, and so a topic it writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Output {
    /// Stage transitions.
    Transitions,
    /// Actions of the care category.
    Care,
    /// Actions of the retention category.
    Retention,
    /// Actions of the marketing category.
    Marketing,
    /// The changelog: customers' state and each partition's progress.
    State,
    /// Rejected input, with the reason.
    DeadLetters,
    /// The input topic itself: events re-produced under their customer id
    /// (`kafka.key_mismatch = "repartition"`).
    Input,
    /// Which instance owns each input partition (SPEC 9 routing).
    Members,
    /// Control-group actions, recorded and not sent (SPEC 10).
    Holdout,
}

impl Output {
    /// Every kind, in the order of [`index`](Self::index).
    pub const ALL: [Output; 9] = [
        Output::Transitions,
        Output::Care,
        Output::Retention,
        Output::Marketing,
        Output::State,
        Output::DeadLetters,
        Output::Input,
        Output::Members,
        Output::Holdout,
    ];

    /// Its place in [`ALL`](Self::ALL) (the sink keeps a topic handle per kind there).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The configured topic of this kind.
    pub fn topic(self, topics: &Topics) -> &str {
        match self {
            Output::Transitions => &topics.transitions,
            Output::Care => &topics.care,
            Output::Retention => &topics.retention,
            Output::Marketing => &topics.marketing,
            Output::State => &topics.state,
            Output::DeadLetters => &topics.dead_letters,
            Output::Input => &topics.input,
            Output::Members => &topics.members,
            Output::Holdout => &topics.holdout,
        }
    }

    /// The topics of every kind, in the order of [`ALL`](Self::ALL).
    pub fn topics(topics: &Topics) -> Vec<String> {
        Output::ALL.map(|o| o.topic(topics).to_owned()).to_vec()
    }

    /// Where an engine record goes; `None` for one that is not sent (a suppression).
    pub fn of_record(record: &Record) -> Option<Output> {
        match record {
            Record::Transition(_) => Some(Output::Transitions),
            Record::Action(a) if a.group == Some(Group::Control) => Some(Output::Holdout),
            Record::Action(a) => Some(match a.kind.category() {
                Category::Care => Output::Care,
                Category::Retention => Output::Retention,
                Category::Marketing => Output::Marketing,
            }),
            Record::Suppressed { .. } | Record::Converted { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_sits_at_its_index_and_names_its_own_topic() {
        let topics = crate::config::Config::default_config().kafka.topics;
        let names = Output::topics(&topics);
        for (i, kind) in Output::ALL.iter().enumerate() {
            assert_eq!(kind.index(), i);
            assert_eq!(names[i], kind.topic(&topics));
        }
        let unique: std::collections::BTreeSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "a topic per kind: {names:?}");
    }
}
