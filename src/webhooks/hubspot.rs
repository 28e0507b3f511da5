//! HubSpot's webhooks (the Webhooks API of an app): a JSON array of notifications, signed
//! with the v3 signature. HubSpot documents it at
//! https://developers.hubspot.com/docs/api/webhooks/validating-requests (the v3 steps and
//! the table of encodings to decode in the URI) and the payload at
//! https://developers.hubspot.com/docs/api/webhooks ("Webhook payloads"; `eventId` "is not
//! guaranteed to be unique", and a notification may be sent more than once).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;

use super::config::HubSpotConfig;
use super::events::{Mapped, Refusal, from_millis, map_all, number, plain_event};
use crate::domain::{EventType, Timestamp};

/// HubSpot refuses its own requests older than this; so do we (and as far in the future).
const MAX_AGE_MS: i64 = 5 * 60 * 1000;

/// The encodings HubSpot decodes in the URI before signing it (and only those).
const DECODED: [(&str, &str); 12] = [
    ("%3A", ":"),
    ("%2F", "/"),
    ("%3F", "?"),
    ("%40", "@"),
    ("%21", "!"),
    ("%24", "$"),
    ("%27", "'"),
    ("%28", "("),
    ("%29", ")"),
    ("%2A", "*"),
    ("%2C", ","),
    ("%3B", ";"),
];

/// The URI as HubSpot signs it.
fn signed_uri(uri: &str) -> String {
    let mut out = uri.to_owned();
    for (encoded, decoded) in DECODED {
        out = out
            .replace(encoded, decoded)
            .replace(&encoded.to_lowercase(), decoded);
    }
    out
}

/// The v3 signature of a request: base64 of HMAC-SHA256(secret, method + uri + body +
/// timestamp).
pub fn signature_v3(secret: &str, method: &str, uri: &str, body: &[u8], timestamp: &str) -> String {
    let mac = v3_mac(secret, method, uri, body, timestamp);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The v3 HMAC over method + uri (decoded as HubSpot does) + body + timestamp.
fn v3_mac(secret: &str, method: &str, uri: &str, body: &[u8], timestamp: &str) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(method.as_bytes());
    mac.update(signed_uri(uri).as_bytes());
    mac.update(body);
    mac.update(timestamp.as_bytes());
    mac
}

/// Checks the v3 signature and the timestamp's age; `uri` is the full URL HubSpot called.
pub fn verify(
    secret: &str,
    method: &str,
    uri: &str,
    body: &[u8],
    signature: Option<&str>,
    timestamp: Option<&str>,
    now: Timestamp,
) -> Result<(), Refusal> {
    let unauthorized = |why: &str| Err(Refusal::Unauthorized(why.to_owned()));
    let (Some(signature), Some(timestamp)) = (signature, timestamp) else {
        return unauthorized("X-HubSpot-Signature-v3 and X-HubSpot-Request-Timestamp are required");
    };
    let Ok(ms) = timestamp.trim().parse::<i64>() else {
        return unauthorized("X-HubSpot-Request-Timestamp is not a time in milliseconds");
    };
    let now_ms = now.as_nanos().div_euclid(1_000_000);
    if (now_ms - ms).abs() > MAX_AGE_MS {
        return unauthorized("the request's timestamp is more than 5 minutes away");
    }
    let Ok(given) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else {
        return unauthorized("the signature is not base64");
    };
    v3_mac(secret, method, uri, body, timestamp)
        .verify_slice(&given)
        .or_else(|_| unauthorized("the signature does not match"))
}

/// The events of a delivery (its signature already checked).
pub fn map(body: &[u8], config: &HubSpotConfig, now: Timestamp) -> Result<Mapped, Refusal> {
    let notifications: Vec<Value> = serde_json::from_slice(body).map_err(|e| {
        Refusal::Unmappable(vec![format!(
            "the body is not a JSON array of notifications: {e}"
        )])
    })?;
    map_all(&notifications, "notification", |n| {
        notification(n, &notifications, config, now)
    })
}

/// The event of one notification; `None` when no mapping names it.
fn notification(
    n: &Value,
    all: &[Value],
    config: &HubSpotConfig,
    now: Timestamp,
) -> Result<Option<super::events::PlainEvent>, String> {
    let text = |key: &str| n.get(key).and_then(Value::as_str);
    let int = |key: &str| n.get(key).and_then(Value::as_i64);
    // The documented example calls it `eventType`, deliveries `subscriptionType`.
    let kind = text("subscriptionType")
        .or_else(|| text("eventType"))
        .ok_or("no subscriptionType")?;
    let property = text("propertyName");
    let mapped = config.subscriptions.get(kind).or_else(|| {
        let (name, value) = (property?, text("propertyValue")?);
        config
            .property_changes
            .get(&format!("{kind}:{name}={value}"))
    });
    let Some(event_type) = mapped.and_then(|t| EventType::parse(t)) else {
        return Ok(None);
    };
    let object = int("objectId").ok_or("no objectId")?;
    let occurred = int("occurredAt").ok_or("no occurredAt")?;
    let at = from_millis(occurred).ok_or("occurredAt is out of range")?;
    // eventId alone is not unique: with the portal, subscription, object and time it is,
    // and a re-sent notification keeps all of them.
    let id = format!(
        "hubspot:{}:{}:{}:{object}:{occurred}{}",
        int("portalId").unwrap_or_default(),
        int("subscriptionId").unwrap_or_default(),
        int("eventId").unwrap_or_default(),
        property.map(|p| format!(":{p}")).unwrap_or_default(),
    );
    let mut data = Map::new();
    match event_type {
        EventType::Purchase | EventType::Refund => {
            let amount = all
                .iter()
                .filter(|other| other.get("objectId").and_then(Value::as_i64) == Some(object))
                .filter(|other| {
                    other.get("propertyName").and_then(Value::as_str)
                        == Some(config.amount_property.as_str())
                })
                .find_map(|other| other.get("propertyValue").and_then(number))
                .ok_or_else(|| {
                    format!(
                        "a {event_type} needs an amount: no change of `{}` for object {object} in this delivery",
                        config.amount_property
                    )
                })?;
            data.insert("amount".into(), amount.into());
            if event_type == EventType::Purchase {
                data.insert("order_id".into(), format!("hubspot-{object}").into());
            }
        }
        EventType::LeadCreated => {
            data.insert("source".into(), "hubspot".into());
        }
        _ => {}
    }
    let customer = format!("{}{object}", config.customer_id_prefix);
    plain_event(id, &customer, event_type, at, data, now).map(Some)
}
