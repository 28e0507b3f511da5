//! # lifecycle: a customer lifecycle event-stream processor
//!
//! CRM events come in; every customer moves through the stages
//! `prospect -> new -> mature -> churning -> churned` (and back, on win-back); care,
//! retention and marketing actions go out, each with the facts it was decided on.
//! The product contract is `SPEC.md` of the shared folder; `docs/decisions.md` records where
//! this implementation had to choose.
//!
//! ## Layout
//!
//! - [`domain`]: the pure core, no I/O, no clock, no logging.
//!   - [`domain::decode`](mod@domain::decode): bytes to a typed [`domain::Event`] or a [`domain::Rejection`], over
//!     [`domain::json`], a strict hand-written JSON parser.
//!   - [`domain::engine`]: transitions, timers, de-duplication, erasure.
//!   - [`domain::planner`]: actions, net change, cooldown, consent, action ids.
//!   - [`domain::customer`], [`domain::store`]: per-customer state and its index (a
//!     linear-probing table, `id_index.rs`, whose entries can be prefetched: `prefetch.rs`);
//!     [`domain::customer_bytes`]: that state as the changelog's fixed-width bytes;
//!     [`domain::timers`]: one timer per customer, by day buckets and a small heap.
//!   - [`domain::kano`]: the KANO evaluation table; [`domain::voc`]: the voice-of-the-customer
//!     counts (SPEC 10: KANO per feature, NPS per stage), for replay's summary and
//!     `lifecycle voc` ([`voc_command`]).
//!   - [`domain::inspect`]: the answer about one customer (SPEC 9: state, why, what next),
//!     for `lifecycle inspect` ([`inspect_command`]) and the service, and its JSON Schema.
//!   - [`domain::record`]: transition and action records; written as JSON lines by a
//!     hand-written encoder (`record_json.rs`). [`domain::explain`] holds why each
//!     happened as its parts, put into words only when a record is encoded.
//! - [`config`]: one serde tree; defaults only in `config/default.toml`.
//! - [`replay`]: the engine over a JSONL file, in three threads (decode | engine | encode).
//! - [`tally`]: one function per notable thing an edge sees (event handled, input rejected,
//!   record written) that logs it and counts it: replay's summary or the service's metrics.
//! - [`generate`]: a deterministic synthetic CRM stream (and BG/NBD buyers, `--bgnbd`).
//! - [`predict`]: churn prediction, pure: the BG/NBD and MBG/NBD models, their fit, the
//!   per-customer purchase tally; [`domain::prediction`] is where the engine uses them
//!   (P(alive) in the facts, the `churn_risk` timer); [`fit_command`] is `lifecycle fit`.
//! - [`kafka`]: the service, the only code that knows rdkafka:
//!   - [`kafka::service`]: the loop (poll, answer queries, restore, handle, tick, commit) and
//!     the restart of its clients after fatal errors.
//!   - [`kafka::processor`]: an engine per assigned partition; messages in, records out,
//!     routed by [`kafka::outputs::Output`]; restoring and claiming partitions.
//!   - [`kafka::commit`]: the commit protocol of each guarantee (the `at_least_once`
//!     pipeline, the `exactly_once` transaction), owning the sink, batch and offsets.
//!   - [`kafka::queries`]: questions into the loop, answered between polls.
//!   - [`kafka::changelog`], [`kafka::membership`], [`kafka::sink`]: restore, fencing, producer.
//! - [`app`]: the composition root: `run` wires the runtime, [`http`], the service, the
//!   [`metrics`], the [`health`] state and the [`shutdown`] flag; `main.rs` only parses.
//! - [`http`]: `/metrics`, `/healthz`, `/readyz`, `/v1/status`, `/voc`, `/v1/customers/{id}`.
//! - [`metrics`], [`health`]: the Prometheus registry; liveness and readiness.
//! - [`shutdown`]: signals and the shutdown deadline.
//! - [`memory`]: process-wide memory settings (transparent huge pages off).
//!
//! ## Message flow
//!
//! ```text
//! source (JSONL line | Kafka message) -> decode -> Engine::apply_batch (timers first, then
//!     rules 1-6) -> planner (net change, cooldown, consent) -> records
//!     -> replay: encode (JSON line) -> file
//!     -> service: route by Output -> commit protocol: outputs and dead letters, then the
//!        changelog (changed customers, progress record), then the input offsets (or all of
//!        it in one transaction) -> topics
//! ```
//!
//! Replay mode and the Kafka service drive the same [`domain::Engine`]; only the edges differ.
//! `docs/decisions.md` ("Architecture") has the module map and why the seams are there.

pub mod app;
pub mod cloudevents;
pub mod config;
pub mod diff_command;
pub mod domain;
pub mod fit_command;
pub mod generate;
pub mod health;
pub mod http;
pub mod inspect_command;
pub mod kafka;
pub mod memory;
pub mod metrics;
pub mod predict;
pub mod record_lines;
pub mod replay;
pub mod report;
pub mod sched_slice;
pub mod schemas;
pub mod shutdown;
pub mod tally;
pub mod voc_command;
pub mod webhooks;
