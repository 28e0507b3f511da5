//! STUB until the issue-21 view lands (replaced by the branch issue21-inspect).

use serde::Serialize;

use super::customer::Customer;
use super::rules::Rules;
use super::time::Timestamp;

#[derive(Debug, Serialize)]
pub struct CustomerView {
    pub customer_id: String,
    pub stage: &'static str,
}

pub fn customer_view(c: &Customer, _rules: &Rules, _clock: Option<Timestamp>) -> CustomerView {
    CustomerView {
        customer_id: c.id.to_string(),
        stage: c.stage.as_str(),
    }
}
