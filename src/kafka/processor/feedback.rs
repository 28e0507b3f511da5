//! The voice of the customer in the service (SPEC 10): each applied feedback event's answers
//! counted for `GET /voc` (per partition) and the metrics.

use super::Processor;
use crate::domain::voc::Voc;
use crate::domain::{Engine, Event, Payload};

impl Processor {
    /// Counts an applied feedback event's answers (SPEC 10) in its partition's `voc` (for
    /// `GET /voc`) and the metrics, under the stage its customer is in after it.
    pub(super) fn observe_feedback(&mut self, engine: &Engine, event: &Event<'_>, voc: &mut Voc) {
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
        voc.observe(&payload, feature, customer.stage);
        self.feature_labels
            .observe(&payload, feature, customer.stage);
        let label = feature.map(|f| self.feature_labels.label_of(f));
        self.metrics.feedback(
            label,
            kano.map(crate::domain::kano::classify),
            nps,
            satisfaction,
            customer.stage,
        );
    }
}
