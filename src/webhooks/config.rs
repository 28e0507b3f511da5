//! The `[webhooks]` table: where the webhooks are taken, each source's secret and mapping.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::domain::EventType;

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WebhooksConfig {
    /// The listener of `POST /webhooks/{source}`; empty: webhooks off.
    pub address: String,
    /// The scheme and host the CRMs call, as they see it (HubSpot signs the full URL).
    pub public_url: String,
    /// Larger bodies get 413.
    pub max_body_bytes: usize,
    /// How long a request waits for the broker's acknowledgement before 503.
    pub produce_timeout_ms: u64,
    /// `POST /webhooks/cloudevents` wants `Authorization: Bearer <this>`; empty: the source
    /// is off.
    pub cloudevents_token: String,
    pub hubspot: HubSpotConfig,
    pub segment: SegmentConfig,
    pub zoho: ZohoConfig,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HubSpotConfig {
    /// The app's client secret (`env:NAME` or `file:PATH` keep it out of the file); empty:
    /// the source is off.
    pub app_secret: String,
    /// `customer_id` = this + the event's `objectId`.
    pub customer_id_prefix: String,
    /// For a `purchase`: the property whose change, in the same delivery and for the same
    /// object, gives the amount.
    pub amount_property: String,
    /// `subscriptionType` -> event type, e.g. "contact.creation" = "lead_created".
    pub subscriptions: BTreeMap<String, String>,
    /// "<subscriptionType>:<propertyName>=<propertyValue>" -> event type, e.g.
    /// "deal.propertyChange:dealstage=closedwon" = "purchase".
    pub property_changes: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SegmentConfig {
    /// The destination's shared secret; empty: the source is off.
    pub shared_secret: String,
    /// The event type of an `identify` call; empty: identify calls are ignored.
    pub identify: String,
    /// The `properties` giving a purchase's amount, the first present wins.
    pub amount_properties: Vec<String>,
    /// Track event name -> event type, e.g. "Order Completed" = "purchase".
    pub events: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ZohoConfig {
    /// The `token` given when the channel was enabled; empty: the source is off.
    pub token: String,
    /// The channel's id; a notification of another channel is refused.
    pub channel_id: String,
    /// `customer_id` = this + the record's id.
    pub customer_id_prefix: String,
    /// "<module>.<operation>" -> event type, e.g. "Leads.insert" = "lead_created".
    pub operations: BTreeMap<String, String>,
}

/// The maps whose keys the user chooses (config layering lets any key in).
pub const OPEN_TABLES: [&str; 4] = [
    "webhooks.hubspot.subscriptions",
    "webhooks.hubspot.property_changes",
    "webhooks.segment.events",
    "webhooks.zoho.operations",
];

impl WebhooksConfig {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if !self.address.is_empty() && self.address.parse::<std::net::SocketAddr>().is_err() {
            problems.push(format!(
                "webhooks.address: `{}` is not an address such as 0.0.0.0:9096",
                self.address
            ));
        }
        let url = &self.public_url;
        if !(url.is_empty() || url.starts_with("https://") || url.starts_with("http://")) {
            problems.push("webhooks.public_url: must start with https:// (or http://)".into());
        }
        if !self.hubspot.app_secret.is_empty() && url.is_empty() {
            problems.push(
                "webhooks.public_url: HubSpot signs the URL it calls; set it (e.g. https://hooks.example.com) when webhooks.hubspot.app_secret is set"
                    .into(),
            );
        }
        if self.max_body_bytes == 0 || self.produce_timeout_ms == 0 {
            problems.push(
                "webhooks.max_body_bytes and webhooks.produce_timeout_ms: must be above 0".into(),
            );
        }
        let maps = [
            (
                "webhooks.hubspot.subscriptions",
                &self.hubspot.subscriptions,
            ),
            (
                "webhooks.hubspot.property_changes",
                &self.hubspot.property_changes,
            ),
            ("webhooks.segment.events", &self.segment.events),
            ("webhooks.zoho.operations", &self.zoho.operations),
        ];
        for (table, map) in maps {
            for (from, to) in map {
                if EventType::parse(to).is_none() || to == "customer_erased" {
                    problems.push(format!(
                        "{table}.\"{from}\": `{to}` is not an event type a webhook may send"
                    ));
                }
            }
        }
        for key in self.hubspot.property_changes.keys() {
            let shape = key
                .split_once(':')
                .and_then(|(_, change)| change.split_once('='));
            if shape.is_none() {
                problems.push(format!(
                    "webhooks.hubspot.property_changes.\"{key}\": must read <subscriptionType>:<propertyName>=<propertyValue>"
                ));
            }
        }
        if !self.segment.identify.is_empty() && EventType::parse(&self.segment.identify).is_none() {
            problems.push(format!(
                "webhooks.segment.identify: `{}` is not an event type",
                self.segment.identify
            ));
        }
        problems
    }
}
