//! The voice of the customer in the service (SPEC 10): each applied feedback event's answers
//! counted for `GET /voc` and the metrics.

use super::Processor;
use crate::domain::{Engine, Event, Payload};

impl Processor {
    /// Counts an applied feedback event's answers (SPEC 10) for `GET /voc` and the metrics,
    /// under the stage its customer is in after it.
    pub(super) fn observe_feedback(&mut self, engine: &Engine, event: &Event<'_>) {
        let Some(
            payload @ Payload::Feedback {
                nps,
                satisfaction,
                kano,
            },
        ) = event.payload
        else {
            return;
        };
        let Some(customer) = engine.customer(&event.customer_id) else {
            return;
        };
        let feature = event.feature.as_deref();
        self.voc.observe(&payload, feature, customer.stage);
        let label = feature.map(|f| self.voc.label_of(f));
        self.metrics.feedback(
            label,
            kano.map(crate::domain::kano::classify),
            nps,
            satisfaction,
            customer.stage,
        );
    }
}
