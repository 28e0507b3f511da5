//! `GET /v1/customers/{customer_id}` (SPEC 9): the owner answers from its engine (through the
//! loop's query channel), any other instance redirects (307) to the owner's advertised URL as
//! the members topic says, and a partition restoring, behind `?min_position=` or owned by
//! nobody answers 503 with `Retry-After`. Errors are JSON: `{"error": ..., "code": ...}`.
//! Customer ids are logged at DEBUG only.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use super::Endpoints;
use crate::domain::inspect::check_customer_id;
use crate::kafka::queries::{CustomerAnswer, CustomerQuery, QueryError};

/// How long the loop may take to answer before the caller is told to retry.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// A JSON error with a stable `code`.
pub(super) fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = Json(serde_json::json!({ "error": message, "code": code }));
    match status {
        StatusCode::SERVICE_UNAVAILABLE => {
            (status, [(header::RETRY_AFTER, "1")], body).into_response()
        }
        _ => (status, body).into_response(),
    }
}

/// `GET /v1/customers/` (no id).
pub(super) async fn no_id() -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "invalid_customer_id",
        "the customer id is empty",
    )
}

/// Whether every `%` of `raw` starts a `%XX` escape.
fn well_escaped(raw: &str) -> bool {
    let b = raw.as_bytes();
    (0..b.len()).all(|i| {
        b[i] != b'%'
            || (i + 2 < b.len() && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit())
    })
}

/// `?min_position=N`, an offset (decimal digits only: no sign, no second one): `Ok(None)`
/// when absent.
fn min_position(query: Option<&str>) -> Result<Option<i64>, ()> {
    let Some(query) = query else {
        return Ok(None);
    };
    let mut found = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("min_position", v))
                if found.is_none() && !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) =>
            {
                found = Some(v.parse::<i64>().map_err(|_| ())?);
            }
            _ => return Err(()),
        }
    }
    Ok(found)
}

pub(super) async fn customer(
    State(s): State<Arc<Endpoints>>,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let raw = uri.path().rsplit('/').next().unwrap_or_default();
    let id = match id {
        Ok(Path(id)) if well_escaped(raw) => id,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_customer_id",
                "the customer id is not valid percent-encoded UTF-8",
            );
        }
    };
    if let Err(e) = check_customer_id(&id) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_customer_id",
            &e.to_string(),
        );
    }
    let Ok(min_position) = min_position(uri.query()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_query",
            "the only parameter is min_position, an input offset",
        );
    };
    let partitions = s.owners.input_partitions();
    let partition = s
        .partitioner
        .filter(|_| partitions > 0)
        .map(|p| p.partition(id.as_bytes(), partitions));
    tracing::debug!(customer_id = %id, ?partition, "customer query");
    let query = CustomerQuery {
        customer_id: id,
        partition,
        min_position,
    };
    let answer = match s.queries.customer(query, ANSWER_TIMEOUT).await {
        Ok(answer) => answer,
        Err(e) => {
            let code = match e {
                QueryError::Busy => "busy",
                QueryError::Timeout => "timeout",
                QueryError::Stopped => "stopped",
            };
            return error(StatusCode::SERVICE_UNAVAILABLE, code, &e.to_string());
        }
    };
    match answer {
        CustomerAnswer::Found(view) => Json(view).into_response(),
        CustomerAnswer::Unknown => error(
            StatusCode::NOT_FOUND,
            "unknown_customer",
            "no such customer: never seen, or erased",
        ),
        CustomerAnswer::Behind { applied } => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "behind",
            &format!(
                "the customer's partition has applied up to offset {}, before min_position",
                applied.map_or("none".into(), |a| a.to_string())
            ),
        ),
        CustomerAnswer::Restoring => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "restoring",
            "the customer's partition is being restored here",
        ),
        CustomerAnswer::NotHere => redirect(&s, partition, &uri),
    }
}

/// To the owner of `partition` as the members topic says, unless that is this instance (an
/// old record: the partition has moved and its new owner has not said so yet).
fn redirect(s: &Endpoints, partition: Option<i32>, uri: &Uri) -> Response {
    let Some(partition) = partition else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unroutable",
            "not here, and kafka.partitioner gives ids no fixed partition (or the input's partitions are not known yet)",
        );
    };
    match s.owners.owner(partition) {
        Some(owner) if owner != s.advertised_url => {
            let target = format!("{owner}{}", uri.path_and_query().map_or("", |p| p.as_str()));
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, target.clone())],
                Json(serde_json::json!({ "owner": owner, "partition": partition })),
            )
                .into_response()
        }
        _ => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_owner",
            &format!("partition {partition} has no owner that answers yet (a rebalance?)"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_positions_are_checked() {
        assert!(well_escaped("c-1%20x%C3%BC"));
        assert!(!well_escaped("c%ZZ"));
        assert!(!well_escaped("c%2"));
        assert!(!well_escaped("%"));
        assert_eq!(min_position(None), Ok(None));
        assert_eq!(min_position(Some("min_position=41")), Ok(Some(41)));
        assert_eq!(min_position(Some("min_position=x")), Err(()));
        assert_eq!(min_position(Some("other=1")), Err(()));
        for refused in ["-1", "+5", "", "1e3", "99999999999999999999"] {
            let query = format!("min_position={refused}");
            assert_eq!(min_position(Some(&query)), Err(()), "{query}");
        }
        assert_eq!(
            min_position(Some("min_position=1&min_position=2")),
            Err(()),
            "given twice"
        );
    }
}
