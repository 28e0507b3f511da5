//! The `lifecycle` binary: parses the command line and calls into the library.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use lifecycle::config::{Config, LogConfig, LogFormat};
use lifecycle::domain::{TimeError, Timestamp};
use lifecycle::generate::{GenerateOptions, generate};
use lifecycle::kafka::service::Telemetry;
use lifecycle::replay::{ReplayOptions, replay};
use std::time::Duration;

/// mimalloc: the engine allocates and frees small records at a high rate, replay frees them
/// on another thread than the one that allocated them, and glibc's malloc is slow at both.
/// With the `override` feature it is also librdkafka's `malloc` (see docs/decisions.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "lifecycle",
    version,
    about = "Customer lifecycle event-stream processor"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine over a JSONL file of CRM events, without a broker.
    Replay {
        /// The JSONL input, or - for standard input.
        #[arg(long)]
        input: String,
        /// A TOML file overriding config/default.toml.
        #[arg(long)]
        config: Option<PathBuf>,
        /// After the last event, advance the clock to this RFC 3339 time (firing due timers).
        #[arg(long)]
        as_of: Option<String>,
        /// Where transition and action records go (JSON lines), or - for standard output.
        #[arg(long, default_value = "-")]
        output: String,
        /// Write each rejected line (line number, reason, original text) here as JSON lines.
        #[arg(long)]
        rejects: Option<PathBuf>,
    },
    /// Write a deterministic synthetic CRM event stream (JSONL).
    Generate {
        /// How many customers.
        #[arg(long, default_value_t = 1000)]
        customers: u64,
        /// The random seed: the same seed and arguments give the same bytes.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// First day of the stream (YYYY-MM-DD or RFC 3339).
        #[arg(long, default_value = "2024-01-01")]
        from: String,
        /// Last day of the stream (YYYY-MM-DD or RFC 3339); must be in the past.
        #[arg(long, default_value = "2025-12-31")]
        to: String,
        /// Where to write, or - for standard output.
        #[arg(long, default_value = "-")]
        output: String,
    },
    /// Send a JSONL file to the input topic, each line keyed by its customer_id.
    Produce {
        /// The JSONL input, or - for standard input.
        #[arg(long)]
        input: String,
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Validate a configuration file, with the Kafka clients' settings as librdkafka checks
    /// them (without connecting), and print every problem found.
    CheckConfig {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// The Kafka service: consume CRM events, produce transitions and actions.
    Run {
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    lifecycle::memory::no_transparent_huge_pages();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("lifecycle: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr, as text or JSON; RUST_LOG, when set, overrides the configured level.
fn init_tracing(log: &LogConfig) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        // Colours only on a terminal: a log file or pipeline gets plain text.
        .with_ansi(io::stderr().is_terminal());
    match log.format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}

/// `lifecycle run`: the HTTP endpoints on a small runtime, the processing loop on this
/// thread, signals on their own.
fn run_service(config: &Config, shutdown: &std::sync::atomic::AtomicBool) -> Result<()> {
    let telemetry = Telemetry::new(Duration::from_millis(config.http.stuck_after_ms));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(&config.http.address))
        .with_context(|| format!("cannot listen on http.address {}", config.http.address))?;
    let (stop_http, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(lifecycle::http::serve(
        listener,
        telemetry.metrics.clone(),
        telemetry.health.clone(),
        async {
            let _ = stopped.await;
        },
    ));
    tracing::info!(address = %config.http.address, "serving /metrics, /healthz, /readyz");
    let result = lifecycle::kafka::service::run(config, shutdown, &telemetry);
    let _ = stop_http.send(());
    let _ = runtime.block_on(server);
    let report = result?;
    tracing::info!(?report, "stopped");
    Ok(())
}

/// The problems of the Kafka clients' settings (they never quote a configured value).
fn kafka_problems(config: &Config) -> Vec<String> {
    lifecycle::kafka::client::problems(&config.kafka)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn open_input(path: &str) -> Result<Box<dyn io::BufRead + Send>> {
    Ok(if path == "-" {
        Box::new(BufReader::with_capacity(1 << 20, io::stdin()))
    } else {
        let file = File::open(path).with_context(|| format!("cannot read {path}"))?;
        Box::new(BufReader::with_capacity(1 << 20, file))
    })
}

/// The output file (truncated) or stdout, buffered.
fn open_output(path: &str) -> Result<Box<dyn Write + Send>> {
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

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Replay {
            input,
            config,
            as_of,
            output,
            rejects,
        } => {
            let config = Config::load(config.as_deref())?;
            let as_of = as_of
                .map(|s| match Timestamp::parse_rfc3339(&s) {
                    Ok(t) => Ok(t),
                    // Past or future `--as-of` values are taken as given (SPEC 5); beyond the
                    // nanosecond range (1677..2262) the clock saturates at its end.
                    Err(TimeError::TooLate) => Ok(Timestamp::MAX),
                    Err(TimeError::TooEarly) => Ok(Timestamp::MIN),
                    Err(_) => Err(anyhow::anyhow!(
                        "--as-of `{s}` is not an RFC 3339 date-time"
                    )),
                })
                .transpose()?;
            let mut reader = open_input(&input)?;
            let mut writer = open_raw_output(&output)?;
            let mut rejects_file = rejects
                .map(|p| {
                    File::create(&p)
                        .map(BufWriter::new)
                        .with_context(|| format!("cannot create {}", p.display()))
                })
                .transpose()?;
            let options = ReplayOptions {
                rules: config.rules(),
                as_of,
                now: Timestamp::now(),
                progress: io::stderr().is_terminal(),
            };
            let summary = replay(
                &mut reader,
                &mut writer,
                rejects_file.as_mut().map(|w| w as &mut dyn Write),
                &options,
            )
            .context("replay failed")?;
            eprint!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate {
            customers,
            seed,
            from,
            to,
            output,
        } => {
            let options = GenerateOptions::new(customers, seed, &from, &to, Timestamp::now())?;
            let mut writer = open_output(&output)?;
            let lines = generate(&options, &mut writer)?;
            writer.flush()?;
            eprintln!("generated {lines} lines for {customers} customers (seed {seed})");
            Ok(ExitCode::SUCCESS)
        }
        Command::Produce { input, config } => {
            let config = Config::load(config.as_deref())?;
            let mut reader = open_input(&input)?;
            let (lines, secs) = lifecycle::kafka::produce::produce(&config.kafka, &mut reader)?;
            eprintln!(
                "produced {lines} events to {} in {secs:.2} s ({:.0}/s)",
                config.kafka.topics.input,
                lines as f64 / secs.max(1e-9)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckConfig { config } => {
            Config::load_checked(config.as_deref(), &kafka_problems)?;
            println!("configuration is valid");
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { config: path } => {
            // Signals are taken from the start (a SIGTERM while the clients' settings are
            // checked shuts down cleanly rather than killing the process).
            let config = Config::load(path.as_deref())?;
            let deadline = Duration::from_millis(config.kafka.shutdown_timeout_ms);
            let shutdown = lifecycle::shutdown::install(deadline)?;
            // Refuses what check-config refuses, before listening or connecting.
            let config = Config::load_checked(path.as_deref(), &kafka_problems)?;
            init_tracing(&config.log);
            run_service(&config, &shutdown)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
