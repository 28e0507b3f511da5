//! `GET /metrics` (Prometheus text), `/healthz` (alive, loop not stuck), `/readyz` (every
//! assigned partition restored, producer usable) and `/v1/status` (what the processing loop
//! holds, answered by the loop itself through [`queries`](crate::kafka::queries)), and `/voc`
//! (the voice-of-the-customer counts and holdout experiments of this instance, SPEC 10).

use std::future::Future;
use std::sync::Arc;

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;

use crate::health::Health;
use crate::kafka::members::Owners;
use crate::kafka::partitioner::Partitioner;
use crate::kafka::queries::{Queries, QueryError};
use crate::metrics::Metrics;

mod customers;

/// What the endpoints read: the metrics, the health state, the way into the loop, and where
/// the other instances are.
#[derive(Clone, Debug)]
pub struct Endpoints {
    pub metrics: Metrics,
    pub health: Arc<Health>,
    pub queries: Queries,
    /// The owners of the input partitions (the members topic).
    pub owners: Owners,
    /// How ids are partitioned (`kafka.partitioner`; `None` for `random`).
    pub partitioner: Option<Partitioner>,
    /// This instance's `http.advertised_url`.
    pub advertised_url: String,
}

/// Shared, not cloned per request: `Metrics` carries its label caches.
type AppState = Arc<Endpoints>;

/// How long an HTTP request waits for the processing loop's answer: it answers between
/// runs of messages, and at once when idle (its bell), unless it is restoring or restarting its clients.
const LOOP_ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

async fn metrics(State(s): State<AppState>) -> impl IntoResponse {
    s.metrics.ready.set(i64::from(s.health.ready()));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
}

async fn healthz(State(s): State<AppState>) -> impl IntoResponse {
    if s.health.alive() {
        (StatusCode::OK, "ok\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "processing loop stuck\n")
    }
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    if s.health.ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: joining, restoring, or producer unusable\n",
        )
    }
}

/// The loop's status as JSON; 503 with `Retry-After` when the loop does not answer in time.
async fn status(State(s): State<AppState>) -> Response {
    loop_answer(s.queries.status(LOOP_ANSWER_TIMEOUT).await)
}

/// The loop's answer as JSON, or 503 with `Retry-After` when it did not come in time.
fn loop_answer<T: serde::Serialize>(answer: Result<T, QueryError>) -> Response {
    match answer {
        Ok(answer) => Json(answer).into_response(),
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            Json(serde_json::json!({ "error": e.to_string(), "code": error_code(&e) })),
        )
            .into_response(),
    }
}

/// This instance's voice-of-the-customer counts and holdout experiments (SPEC 10), as
/// `lifecycle voc` prints them; 503 with `Retry-After` when the loop does not answer in time.
async fn voc(State(s): State<AppState>) -> Response {
    loop_answer(s.queries.voc(LOOP_ANSWER_TIMEOUT).await)
}

/// A stable code per [`QueryError`], for programs reading the answer.
fn error_code(e: &QueryError) -> &'static str {
    match e {
        QueryError::Busy => "busy",
        QueryError::Timeout => "timeout",
        QueryError::Stopped => "stopped",
    }
}

async fn read_only() -> Response {
    customers::error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "the endpoints are read-only: GET",
    )
}

async fn unknown_path() -> Response {
    customers::error(StatusCode::NOT_FOUND, "unknown_path", "no such endpoint")
}

/// Serves the endpoints on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    endpoints: Endpoints,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(self::metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/v1/status", get(status))
        .route("/voc", get(voc))
        .route("/v1/customers/", get(customers::no_id))
        .route("/v1/customers/{customer_id}", get(customers::customer))
        .fallback(unknown_path)
        .method_not_allowed_fallback(read_only)
        .with_state(Arc::new(endpoints));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
