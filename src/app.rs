//! The composition root: what each command wires together, so that `main.rs` only parses the
//! command line and a test can run the whole service in-process ([`run`]).
//!
//! `lifecycle run` is: a small tokio runtime serving HTTP ([`http`](crate::http): metrics,
//! health, readiness, and questions into the loop through [`queries`]), the processing loop
//! ([`service::run`]) on the calling thread, one [`Telemetry`] they share, and a
//! shutdown flag set by the signal handlers ([`shutdown`](crate::shutdown)) or the caller.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::config::{Config, LogConfig, LogFormat};
use crate::domain::{TimeError, Timestamp};
use crate::kafka::members::{Owners, read_members};
use crate::kafka::partitioner::Partitioner;
use crate::kafka::queries;
use crate::kafka::service::{self, RunReport, Telemetry};
use crate::replay::{ReplayOptions, Summary, replay};

/// Logs to stderr, as text or JSON; RUST_LOG, when set, overrides the configured level.
/// Once per process: later calls (a second service in one test process) keep the first.
pub fn init_tracing(log: &LogConfig) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        // Colours only on a terminal: a log file or pipeline gets plain text.
        .with_ansi(io::stderr().is_terminal());
    let _ = match log.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// The service until `shutdown` is set: HTTP on `http.address` (on a small runtime), the
/// processing loop on this thread. Returns what the loop did once it has committed, left the
/// group and the HTTP server has stopped.
pub fn run(config: &Config, shutdown: &AtomicBool) -> Result<RunReport> {
    let telemetry = Telemetry::new(Duration::from_millis(config.http.stuck_after_ms));
    run_with(config, shutdown, &telemetry)
}

/// [`run`], reporting to `telemetry` (a benchmark or test reads its metrics in-process).
pub fn run_with(
    config: &Config,
    shutdown: &AtomicBool,
    telemetry: &Telemetry,
) -> Result<RunReport> {
    let (asker, inbox) = queries::channel();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .on_thread_start(crate::sched_slice::request_short_slice)
        .enable_all()
        .build()?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(&config.http.address))
        .with_context(|| format!("cannot listen on http.address {}", config.http.address))?;
    let (stop_http, stopped) = tokio::sync::oneshot::channel::<()>();
    let owners = Owners::default();
    let endpoints = crate::http::Endpoints {
        metrics: telemetry.metrics.clone(),
        health: telemetry.health.clone(),
        queries: asker,
        owners: owners.clone(),
        partitioner: Partitioner::of(&config.kafka.partitioner),
        advertised_url: config.http.advertised(),
    };
    // The members topic, read from its start in a thread of its own (SPEC 9 routing).
    let reader_config = crate::kafka::client::restorer(&config.kafka)?;
    let stop_reader = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, topics) = (stop_reader.clone(), config.kafka.topics.clone());
        std::thread::Builder::new()
            .name("members".into())
            .spawn(move || {
                read_members(
                    &reader_config,
                    &topics.members,
                    &topics.input,
                    &owners,
                    &stop,
                )
            })
            .context("cannot start the members reader")?
    };
    let server = runtime.spawn(crate::http::serve(listener, endpoints, async {
        let _ = stopped.await;
    }));
    tracing::info!(address = %config.http.address, "serving /metrics, /healthz, /readyz, /v1/status, /voc, /v1/customers/{{id}}");
    let (stop_webhooks, webhooks_stopped) = tokio::sync::oneshot::channel::<()>();
    let webhooks = start_webhooks(config, telemetry, &runtime, async {
        let _ = webhooks_stopped.await;
    })?;
    let result = service::run(config, shutdown, telemetry, &inbox);
    let _ = stop_webhooks.send(());
    if let Some((server, webhooks)) = webhooks {
        let _ = runtime.block_on(server);
        webhooks.flush();
    }
    let _ = stop_http.send(());
    let _ = runtime.block_on(server);
    stop_reader.store(true, Ordering::Relaxed);
    let _ = reader.join();
    let report = result?;
    tracing::info!(?report, "stopped");
    Ok(report)
}

/// The webhook listener (SPEC 11), when `webhooks.address` is set.
type WebhookServer = (
    tokio::task::JoinHandle<std::io::Result<()>>,
    crate::webhooks::Webhooks,
);

fn start_webhooks(
    config: &Config,
    telemetry: &Telemetry,
    runtime: &tokio::runtime::Runtime,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Option<WebhookServer>> {
    let address = &config.webhooks.address;
    if address.is_empty() {
        return Ok(None);
    }
    let webhooks = crate::webhooks::Webhooks::new(config, &telemetry.metrics)?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(address))
        .with_context(|| format!("cannot listen on webhooks.address {address}"))?;
    let server = runtime.spawn(crate::webhooks::serve(listener, webhooks.clone(), shutdown));
    tracing::info!(address = %address, "serving POST /webhooks/{{source}}");
    Ok(Some((server, webhooks)))
}

/// `lifecycle replay`: the engine over `input` (a path or `-`), records to `output`.
pub fn replay_file(
    input: &str,
    config: &Config,
    as_of: Option<&str>,
    output: &str,
    rejects: Option<&Path>,
) -> Result<Summary> {
    let as_of = as_of.map(parse_as_of).transpose()?;
    let mut reader = open_input(input)?;
    let mut writer = open_raw_output(output)?;
    let mut rejects_file = rejects
        .map(|p| {
            File::create(p)
                .map(BufWriter::new)
                .with_context(|| format!("cannot create {}", p.display()))
        })
        .transpose()?;
    let options = ReplayOptions {
        rules: config.rules(),
        as_of,
        now: Timestamp::now(),
        progress: io::stderr().is_terminal(),
        until: None,
        voc_max_features: config.voc.max_features,
    };
    replay(
        &mut reader,
        &mut writer,
        rejects_file.as_mut().map(|w| w as &mut dyn Write),
        &options,
    )
    .context("replay failed")
}

/// The engine over `input` (a path or `-`) with its records discarded, the clock moved to
/// `as_of` when given, and only the events up to `until` when given: what the offline
/// commands (`fit`, `inspect`, `voc`) read their answers from. Replay's own decoding, so
/// rejects, duplicates and erasures are handled as replay handles them.
pub fn replay_quietly(
    input: &str,
    config: &Config,
    as_of: Option<Timestamp>,
    until: Option<Timestamp>,
) -> Result<(Summary, crate::domain::Engine)> {
    let mut reader = open_input(input)?;
    let options = ReplayOptions {
        rules: config.rules(),
        as_of,
        now: Timestamp::now(),
        progress: false,
        until,
        voc_max_features: config.voc.max_features,
    };
    crate::replay::replay_to_state(&mut reader, &mut io::sink(), None, &options)
        .with_context(|| format!("cannot read {input}"))
}

/// `--as-of`: past or future values are taken as given (SPEC 5); beyond the nanosecond range
/// (1677..2262) the clock saturates at its end.
pub fn parse_as_of(s: &str) -> Result<Timestamp> {
    match Timestamp::parse_rfc3339(s) {
        Ok(t) => Ok(t),
        Err(TimeError::TooLate) => Ok(Timestamp::MAX),
        Err(TimeError::TooEarly) => Ok(Timestamp::MIN),
        Err(_) => Err(anyhow::anyhow!(
            "--as-of `{s}` is not an RFC 3339 date-time"
        )),
    }
}

/// The input file, or stdin for `-`, buffered.
pub fn open_input(path: &str) -> Result<Box<dyn io::BufRead + Send>> {
    Ok(if path == "-" {
        Box::new(BufReader::with_capacity(1 << 20, io::stdin()))
    } else {
        let file = File::open(path).with_context(|| format!("cannot read {path}"))?;
        Box::new(BufReader::with_capacity(1 << 20, file))
    })
}

/// The output file (truncated) or stdout, buffered.
pub fn open_output(path: &str) -> Result<Box<dyn Write + Send>> {
    Ok(Box::new(BufWriter::with_capacity(
        256 * 1024,
        open_raw_output(path)?,
    )))
}

/// The output file (truncated) or stdout, unbuffered: for a writer that already writes in
/// large chunks (replay's encoder writes 64 KiB of whole lines at a time), where a buffer
/// would only copy every byte once more.
fn open_raw_output(path: &str) -> Result<Box<dyn Write + Send>> {
    Ok(if path == "-" {
        Box::new(io::stdout())
    } else {
        Box::new(File::create(path).with_context(|| format!("cannot create {path}"))?)
    })
}
