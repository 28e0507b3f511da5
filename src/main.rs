//! The `lifecycle` binary: parses the command line and calls into the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::{Parser, Subcommand};

use lifecycle::app;
use lifecycle::config::Config;
use lifecycle::domain::Timestamp;
use lifecycle::fit_command;
use lifecycle::generate::{BuyerProcess, GenerateOptions, generate};
use lifecycle::inspect_command;
use lifecycle::voc_command;

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
        /// Instead of the archetypes, buyers drawn from a BG/NBD process with these
        /// parameters ("r,alpha,a,b", weekly rates), for checking `lifecycle fit`.
        #[arg(long)]
        bgnbd: Option<String>,
    },
    /// Fit the churn-prediction model (BG/NBD, or MBG/NBD with prediction.model = "mbg_nbd")
    /// to a CRM history: prints the parameters as JSON, and the [prediction] lines to paste.
    Fit {
        /// The JSONL input, or - for standard input (decoded as replay decodes it).
        #[arg(long)]
        input: String,
        /// Only events that occurred at or before this RFC 3339 time count; T is measured
        /// to it.
        #[arg(long)]
        until: String,
        /// A TOML file overriding config/default.toml.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Write one JSON line per customer: customer_id, x, t_x, T, p_alive (at --until).
        #[arg(long)]
        summary: Option<PathBuf>,
    },
    /// Answer for one customer after a replay (SPEC 9): its state, why it is in its stage,
    /// what happens next, as one JSON object (docs/schemas/customer.schema.json). Exit 1 when
    /// no such customer remains (never seen, or erased), 2 for an id no customer can have.
    Inspect {
        /// The JSONL input, or - for standard input (decoded and applied as replay does).
        #[arg(long)]
        input: String,
        /// The customer id (1 to 128 bytes, no control character).
        #[arg(long)]
        customer: String,
        /// After the last event, advance the clock to this RFC 3339 time (firing due timers).
        #[arg(long)]
        as_of: Option<String>,
        /// A TOML file overriding config/default.toml.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// A report people read (SPEC 12): one self-contained HTML file of charts (stages over
    /// time, flows, cohorts, actions, KANO, NPS; P(alive) and uplift when on; and a what-if
    /// with --against).
    Report {
        /// The JSONL input, or - for standard input.
        #[arg(long)]
        input: String,
        /// A TOML file overriding config/default.toml.
        #[arg(long)]
        config: Option<PathBuf>,
        /// After the last event, advance the clock to this RFC 3339 time (firing due timers).
        #[arg(long)]
        as_of: Option<String>,
        /// Where the HTML goes, or - for standard output.
        #[arg(long)]
        output: PathBuf,
        /// Add a what-if section: the same input under these rules.
        #[arg(long)]
        against: Option<PathBuf>,
    },
    /// What-if (SPEC 12): replay the input under two rule sets and compare final stages,
    /// transitions, actions and the customers whose records differ (markdown, or --json).
    Diff {
        /// The JSONL input (a file; - is read into a temporary file first).
        #[arg(long)]
        input: String,
        /// The rules as they are.
        #[arg(long)]
        config: PathBuf,
        /// The rules to compare with.
        #[arg(long)]
        against: PathBuf,
        /// After the last event, advance the clock to this RFC 3339 time (firing due timers).
        #[arg(long)]
        as_of: Option<String>,
        /// One JSON object instead of markdown.
        #[arg(long)]
        json: bool,
    },
    /// Write the JSON Schemas of the input event, the output records, the dead-letter headers,
    /// the per-customer answer and the members topic's records (SPEC 9, 11) into a directory,
    /// as docs/schemas/ has them.
    Schemas {
        /// The directory (created if needed); each file is overwritten.
        #[arg(long, default_value = "docs/schemas")]
        output_dir: PathBuf,
    },
    /// The voice of the customer (SPEC 10) after a replay: per feature the KANO class counts,
    /// Better, Worse and category; per stage the NPS answers and mean satisfaction; as one
    /// JSON object.
    Voc {
        /// The JSONL input, or - for standard input (decoded and applied as replay does).
        #[arg(long)]
        input: String,
        /// A TOML file overriding config/default.toml.
        #[arg(long)]
        config: Option<PathBuf>,
        /// After the last event, advance the clock to this RFC 3339 time (firing due timers).
        #[arg(long)]
        as_of: Option<String>,
    },
    /// Send a JSONL file to the input topic, each line keyed by its customer_id.
    Produce {
        /// The JSONL input, or - for standard input.
        #[arg(long)]
        input: String,
        /// A TOML file overriding config/default.toml.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Validate a configuration file, with the Kafka clients' settings as librdkafka checks
    /// them (without connecting), and print every problem found.
    CheckConfig {
        /// A TOML file overriding config/default.toml.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// The Kafka service: consume CRM events, produce transitions and actions.
    Run {
        /// A TOML file overriding config/default.toml.
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

/// The problems of the Kafka clients' settings (they never quote a configured value).
/// Writes a command's answer to standard output: a full disk or a closed pipe is an error
/// (exit 1), not a panic as `println!` makes it.
fn print_out(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|e| anyhow::anyhow!("cannot write to standard output: {e}"))
}

/// Writes a file a command produces and says so on stderr.
fn write_reporting(path: &std::path::Path, contents: impl AsRef<[u8]>) -> Result<()> {
    std::fs::write(path, contents)
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

/// What check-config (and `run`, before it starts) finds beyond the keys' own checks: the
/// Kafka clients' settings as librdkafka sees them, and the webhook secrets.
fn kafka_problems(config: &Config) -> Vec<String> {
    let mut problems: Vec<String> = lifecycle::kafka::client::problems(&config.kafka)
        .iter()
        .map(ToString::to_string)
        .collect();
    problems.extend(lifecycle::webhooks::secret_problems(config));
    problems
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
            let summary = app::replay_file(
                &input,
                &config,
                as_of.as_deref(),
                &output,
                rejects.as_deref(),
            )?;
            eprint!("{summary}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate {
            customers,
            seed,
            from,
            to,
            output,
            bgnbd,
        } => {
            let mut options = GenerateOptions::new(customers, seed, &from, &to, Timestamp::now())?;
            if let Some(text) = bgnbd {
                let process = BuyerProcess::parse(&text, lifecycle::predict::Model::BgNbd)?;
                options = options.with_bgnbd(process)?;
            }
            let mut writer = app::open_output(&output)?;
            let lines = generate(&options, &mut writer)?;
            writer.flush()?;
            eprintln!("generated {lines} lines for {customers} customers (seed {seed})");
            Ok(ExitCode::SUCCESS)
        }
        Command::Fit {
            input,
            until,
            config,
            summary,
        } => {
            let config = Config::load(config.as_deref())?;
            let report = fit_command::fit_file(&input, &until, &config, summary.as_deref())?;
            print_out(&(serde_json::to_string(&report)? + "\n"))?;
            eprint!("{}", fit_command::paste_lines(&report));
            Ok(ExitCode::SUCCESS)
        }
        Command::Inspect {
            input,
            customer,
            as_of,
            config,
        } => {
            let config = Config::load(config.as_deref())?;
            match inspect_command::inspect_file(&input, &customer, as_of.as_deref(), &config) {
                Ok(view) => {
                    print_out(&(serde_json::to_string(&view)? + "\n"))?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("lifecycle: {e:#}");
                    Ok(ExitCode::from(e.exit_code()))
                }
            }
        }
        Command::Report {
            input,
            config,
            as_of,
            output,
            against,
        } => {
            let config = Config::load(config.as_deref())?;
            let as_of = as_of.as_deref().map(app::parse_as_of).transpose()?;
            let b = against
                .as_deref()
                .map(|p| Config::load(Some(p)))
                .transpose()?;
            let name = against.as_ref().map(|p| p.display().to_string());
            let against = b.as_ref().zip(name.as_deref());
            let html = lifecycle::report::report_file(&input, &config, as_of, against)?;
            if output.as_os_str() == "-" {
                print_out(&html)?;
            } else {
                write_reporting(&output, html)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Diff {
            input,
            config,
            against,
            as_of,
            json,
        } => {
            let a = Config::load(Some(&config))?;
            let b = Config::load(Some(&against))?;
            let as_of = as_of.as_deref().map(app::parse_as_of).transpose()?;
            let (input, _temp) = lifecycle::diff_command::input_file(&input)?;
            let report = lifecycle::diff_command::diff_file(&input, &a, &b, as_of)?;
            if json {
                print_out(&(serde_json::to_string(&report)? + "\n"))?;
            } else {
                print_out(&lifecycle::diff_command::markdown(
                    &report,
                    &config.display().to_string(),
                    &against.display().to_string(),
                ))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Schemas { output_dir } => {
            std::fs::create_dir_all(&output_dir)?;
            for (name, text) in lifecycle::schemas::documents() {
                write_reporting(&output_dir.join(name), text)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Voc {
            input,
            config,
            as_of,
        } => {
            let config = Config::load(config.as_deref())?;
            let report = voc_command::voc_file(&input, as_of.as_deref(), &config)?;
            print_out(&(serde_json::to_string(&report)? + "\n"))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Produce { input, config } => {
            let config = Config::load(config.as_deref())?;
            let mut reader = app::open_input(&input)?;
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
            print_out("configuration is valid\n")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { config: path } => {
            // Signals are taken from the start (a SIGTERM while the clients' settings are
            // checked shuts down cleanly rather than killing the process).
            // On a problem, the full list check-config gives (with the clients' settings).
            let config = Config::load(path.as_deref())
                .or_else(|_| Config::load_checked(path.as_deref(), &kafka_problems))?;
            let deadline = Duration::from_millis(config.kafka.shutdown_timeout_ms);
            let shutdown = lifecycle::shutdown::install(deadline)?;
            // Refuses what check-config refuses, before listening or connecting.
            let config = Config::load_checked(path.as_deref(), &kafka_problems)?;
            app::init_tracing(&config.log);
            app::run(&config, &shutdown)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
