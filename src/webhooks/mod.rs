//! CRM webhooks into the input topic (SPEC 11): `POST /webhooks/{source}` for `hubspot`,
//! `segment`, `zoho` and `cloudevents`, on a listener of its own (`webhooks.address`) in
//! `lifecycle run`. Each request is authenticated (signature or token), mapped by
//! configuration to plain events (checked by the input decoder), produced keyed by
//! customer id with the idempotent producer, and answered 2xx only once the broker has
//! acknowledged every event. A retried delivery maps to the same event ids, which the
//! engine de-duplicates per customer: nothing is applied twice (SPEC 1).

mod cloudevents_http;
pub mod config;
mod events;
mod hubspot;
mod segment;
mod zoho;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use serde_json::json;

pub use config::WebhooksConfig;
pub use events::{Mapped, PlainEvent, Refusal};
pub use hubspot::signature_v3 as hubspot_signature_v3;

use crate::cloudevents::CloudEventsConfig;
use crate::config::Config;
use crate::domain::Timestamp;

/// The secrets, read once (`env:NAME` and `file:PATH` resolved); never printed.
#[derive(Clone, Default)]
struct Secrets {
    hubspot: String,
    segment: String,
    zoho: String,
    cloudevents: String,
}

/// What the handlers share.
#[derive(Clone)]
pub struct Webhooks {
    config: Arc<WebhooksConfig>,
    cloudevents: Arc<CloudEventsConfig>,
    secrets: Arc<Secrets>,
    producer: FutureProducer,
    topic: String,
    counter: prometheus::IntCounterVec,
}

impl std::fmt::Debug for Webhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhooks")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl Secrets {
    /// The secrets of `w`, their `env:` and `file:` values read, or every one that cannot be.
    fn of(w: &WebhooksConfig) -> Result<Secrets, Vec<String>> {
        let mut problems = Vec::new();
        let mut resolve = |key: &str, value: &str| {
            crate::kafka::client::resolve(key, value).unwrap_or_else(|e| {
                problems.push(e.to_string());
                String::new()
            })
        };
        let secrets = Secrets {
            hubspot: resolve("webhooks.hubspot.app_secret", &w.hubspot.app_secret),
            segment: resolve("webhooks.segment.shared_secret", &w.segment.shared_secret),
            zoho: resolve("webhooks.zoho.token", &w.zoho.token),
            cloudevents: resolve("webhooks.cloudevents_token", &w.cloudevents_token),
        };
        match problems.is_empty() {
            true => Ok(secrets),
            false => Err(problems),
        }
    }
}

/// What `check-config` (and so `run`, before it starts) finds wrong with the webhook
/// secrets: one that names an unset variable or an unreadable file. None when the webhooks
/// are off (`webhooks.address` empty).
pub fn secret_problems(config: &Config) -> Vec<String> {
    match config.webhooks.address.is_empty() {
        true => Vec::new(),
        false => Secrets::of(&config.webhooks).err().unwrap_or_default(),
    }
}

impl Webhooks {
    /// The producer and the secrets of `config` (its `[webhooks]` on).
    pub fn new(config: &Config, metrics: &crate::metrics::Metrics) -> anyhow::Result<Webhooks> {
        let w = &config.webhooks;
        let secrets = Secrets::of(w).map_err(|problems| anyhow::anyhow!(problems.join("; ")))?;
        let mut client = crate::kafka::client::producer(&crate::config::KafkaConfig {
            guarantee: crate::config::Guarantee::AtLeastOnce,
            ..config.kafka.clone()
        })?;
        client.set("message.timeout.ms", w.produce_timeout_ms.to_string());
        let producer: FutureProducer = client
            .create()
            .map_err(crate::kafka::client::creation_error)?;
        let counter = prometheus::IntCounterVec::new(
            prometheus::Opts::new(
                "lifecycle_webhook_requests_total",
                "Webhook requests by source and answer (accepted, unauthorized, unmappable, too_large, unavailable, unknown_source).",
            ),
            &["source", "outcome"],
        )?;
        metrics.register(Box::new(counter.clone()));
        Ok(Webhooks {
            config: Arc::new(w.clone()),
            cloudevents: Arc::new(config.cloudevents.clone()),
            secrets: Arc::new(secrets),
            producer,
            topic: config.kafka.topics.input.clone(),
            counter,
        })
    }

    /// Authenticates and maps one request.
    fn map(
        &self,
        source: &str,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: &[u8],
        now: Timestamp,
    ) -> Result<Mapped, Refusal> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let (c, s) = (&self.config, &self.secrets);
        match source {
            "hubspot" if !s.hubspot.is_empty() => {
                let path = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
                let url = format!("{}{path}", c.public_url.trim_end_matches('/'));
                hubspot::verify(
                    &s.hubspot,
                    method.as_str(),
                    &url,
                    body,
                    header("x-hubspot-signature-v3"),
                    header("x-hubspot-request-timestamp"),
                    now,
                )?;
                hubspot::map(body, &c.hubspot, now)
            }
            "segment" if !s.segment.is_empty() => {
                segment::verify(&s.segment, body, header("x-signature"))?;
                segment::map(body, &c.segment, now)
            }
            "zoho" if !s.zoho.is_empty() => {
                let zoho = config::ZohoConfig {
                    token: s.zoho.clone(),
                    ..c.zoho.clone()
                };
                let notification = zoho::verify(&zoho, body)?;
                zoho::map(&notification, &zoho, now)
            }
            "cloudevents" if !s.cloudevents.is_empty() => {
                let given = header("authorization")
                    .and_then(|a| a.strip_prefix("Bearer "))
                    .unwrap_or_default();
                if !events::same_secret(given.as_bytes(), s.cloudevents.as_bytes()) {
                    return Err(Refusal::Unauthorized(
                        "Authorization: Bearer <webhooks.cloudevents_token> is required".into(),
                    ));
                }
                cloudevents_http::map(header("content-type"), body, &self.cloudevents, now)
            }
            _ => Err(Refusal::NotConfigured),
        }
    }

    /// Produces the events, keyed by customer, and waits for the broker's acknowledgement of
    /// every one; `Err` when any is not acknowledged in time.
    async fn produce(&self, events: &[PlainEvent]) -> Result<(), String> {
        let mut deliveries = Vec::with_capacity(events.len());
        for e in events {
            let record = FutureRecord::to(&self.topic)
                .key(e.customer_id.as_str())
                .payload(e.json.as_str());
            match self.producer.send_result(record) {
                Ok(delivery) => deliveries.push(delivery),
                Err((error, _)) => return Err(error.to_string()),
            }
        }
        for delivery in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) => return Err(error.to_string()),
                Err(_) => return Err("the producer was closed".into()),
            }
        }
        Ok(())
    }

    fn count(&self, source: &str, outcome: &str) {
        let source = match source {
            "hubspot" | "segment" | "zoho" | "cloudevents" => source,
            _ => "other",
        };
        self.counter.with_label_values(&[source, outcome]).inc();
    }

    /// Waits for what is in flight (shutdown).
    pub fn flush(&self) {
        let _ = self.producer.flush(Timeout::After(Duration::from_secs(5)));
    }
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, axum::Json(body)).into_response()
}

async fn webhook(
    State(w): State<Webhooks>,
    Path(source): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            w.count(&source, "too_large");
            return answer(
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"error": format!("the body is over webhooks.max_body_bytes ({})", w.config.max_body_bytes), "code": "too_large"}),
            );
        }
        Err(rejection) => {
            w.count(&source, "unmappable");
            return answer(
                StatusCode::BAD_REQUEST,
                json!({"error": rejection.body_text(), "code": "unreadable"}),
            );
        }
    };
    let now = Timestamp::now();
    let mapped = match w.map(&source, &method, &uri, &headers, &body, now) {
        Ok(mapped) => mapped,
        Err(Refusal::Unauthorized(why)) => {
            w.count(&source, "unauthorized");
            tracing::info!(source, why, "webhook refused: unauthorized");
            return answer(
                StatusCode::UNAUTHORIZED,
                json!({"error": why, "code": "unauthorized"}),
            );
        }
        Err(Refusal::Unmappable(reasons)) => {
            w.count(&source, "unmappable");
            // The reasons quote the payload (ids, property names): DEBUG only, like every
            // customer id; INFO says how many.
            tracing::info!(
                source,
                reasons = reasons.len(),
                "webhook refused: unmappable"
            );
            tracing::debug!(source, ?reasons, "webhook refused: unmappable, why");
            return answer(
                StatusCode::BAD_REQUEST,
                json!({"error": "the payload cannot be mapped to events", "code": "unmappable", "reasons": reasons}),
            );
        }
        Err(Refusal::NotConfigured) => {
            w.count(&source, "unknown_source");
            return answer(
                StatusCode::NOT_FOUND,
                json!({"error": "no such webhook source, or it has no secret configured", "code": "unknown_source"}),
            );
        }
    };
    if let Err(why) = w.produce(&mapped.events).await {
        w.count(&source, "unavailable");
        tracing::warn!(source, error = %why, "webhook events not acknowledged by the broker");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "5")],
            axum::Json(json!({"error": "the broker did not acknowledge the events; retry", "code": "broker_unavailable"})),
        )
            .into_response();
    }
    w.count(&source, "accepted");
    answer(
        StatusCode::OK,
        json!({"accepted": mapped.events.len(), "ignored": mapped.ignored}),
    )
}

async fn post_only() -> Response {
    answer(
        StatusCode::METHOD_NOT_ALLOWED,
        json!({"error": "webhooks take POST", "code": "method_not_allowed"}),
    )
}

async fn unknown_path() -> Response {
    answer(
        StatusCode::NOT_FOUND,
        json!({"error": "no such endpoint: POST /webhooks/{source}", "code": "unknown_path"}),
    )
}

/// Serves `POST /webhooks/{source}` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    webhooks: Webhooks,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limit = webhooks.config.max_body_bytes;
    let app = Router::new()
        .route("/webhooks/{source}", post(webhook))
        .fallback(unknown_path)
        .method_not_allowed_fallback(post_only)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(webhooks);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests;
