//! Customer queries under load (issue 21): the whole service in process (`app::run_with`:
//! HTTP, the members reader, the loop) processing the input at its full rate while a client
//! asks `GET /v1/customers/{id}` at a fixed rate over one keep-alive connection, from the
//! moment the service is ready (assigned and restored) until the input is processed; against
//! the same run without queries.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lifecycle::config::Config;
use lifecycle::kafka::service::Telemetry;

/// Sends `request` in one write, as HTTP clients do: `write!` on the socket would send each
/// piece of the format in a segment of its own (the socket has `TCP_NODELAY`), waking the
/// server for a partial request and costing a system call apiece.
pub fn send(stream: &mut BufReader<TcpStream>, request: &str) {
    stream
        .get_mut()
        .write_all(request.as_bytes())
        .expect("write");
}

/// One GET over a keep-alive connection; the status.
fn get(stream: &mut BufReader<TcpStream>, path: &str) -> u16 {
    send(
        stream,
        &format!("GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n"),
    );
    let mut status_line = String::new();
    stream.read_line(&mut status_line).expect("status");
    read_answer(stream, &status_line)
}

/// Reads an answer's headers and body after its status line; the status.
pub fn read_answer(stream: &mut BufReader<TcpStream>, status_line: &str) -> u16 {
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut length = 0;
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).expect("header");
        if line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).expect("body");
    status
}

/// CPU seconds of this process's threads named `name` (the HTTP runtime's `tokio-rt-worker`,
/// the loop's [`LOOP_THREAD`]).
fn threads_cpu(name: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .flatten()
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == name))
        .map(|t| super::stat_cpu_seconds(&t.path().join("stat").to_string_lossy()))
        .sum()
}

/// One round's result.
pub struct Round {
    /// Seconds from the start until the input was processed, and until the service was ready
    /// (assigned and restored): the processing is the time between.
    pub secs: f64,
    pub ready_secs: f64,
    /// Query latencies, ms.
    pub latencies: Vec<f64>,
    pub statuses: Vec<u16>,
    /// CPU seconds of the service's HTTP threads, and of the asking client's thread.
    pub http_cpu: f64,
    pub asker_cpu: f64,
    /// CPU seconds of the processing loop's thread.
    pub loop_cpu: f64,
}

/// The name of the thread the benchmark runs the service's loop on.
const LOOP_THREAD: &str = "service-loop";

/// Runs the service until `total` input events are committed, asking about `ids` at `rate`
/// queries/s meanwhile (none when 0).
pub fn round(config: &Config, total: u64, ids: &[String], rate: f64) -> Round {
    let telemetry = Telemetry::new(Duration::from_secs(600));
    let committed = telemetry.metrics.batch_events.clone();
    let shutdown = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let service = {
        let (cfg, flag, telemetry) = (config.clone(), shutdown.clone(), telemetry.clone());
        std::thread::Builder::new()
            .name(LOOP_THREAD.into())
            .spawn(move || lifecycle::app::run_with(&cfg, &flag, &telemetry))
            .expect("spawn the service")
    };
    let done = Arc::new(AtomicBool::new(false));
    let asker = (rate > 0.0).then(|| {
        let (done, ids, address) = (done.clone(), ids.to_vec(), config.http.address.clone());
        let health = telemetry.health.clone();
        std::thread::spawn(move || {
            // While the service processes: from its readiness (partitions assigned and
            // restored) on; before, the loop is joining the group or restoring, and a query
            // waits for that (the HTTP answer is then 503 after 2 s at worst).
            while !health.ready() && !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(1));
            }
            let connect = || loop {
                if let Ok(s) = TcpStream::connect(&address) {
                    s.set_nodelay(true).expect("nodelay");
                    return BufReader::new(s);
                }
                std::thread::sleep(Duration::from_millis(5));
            };
            let mut stream = connect();
            let (mut latencies, mut statuses) = (Vec::new(), Vec::new());
            let gap = Duration::from_secs_f64(1.0 / rate);
            let mut next = Instant::now();
            let mut i = 0;
            while !done.load(Ordering::Relaxed) {
                let sent = Instant::now();
                let status = get(
                    &mut stream,
                    &format!("/v1/customers/{}", ids[i % ids.len()]),
                );
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                statuses.push(status);
                i += 1;
                next += gap;
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            let cpu = super::stat_cpu_seconds("/proc/thread-self/stat");
            (latencies, statuses, cpu)
        })
    });
    let mut ready_secs = None;
    while (committed.get_sample_sum() as u64) < total {
        assert!(!service.is_finished(), "the service stopped early");
        if ready_secs.is_none() && telemetry.health.ready() {
            ready_secs = Some(started.elapsed().as_secs_f64());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    let secs = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let (latencies, statuses, asker_cpu) =
        asker.map_or((Vec::new(), Vec::new(), 0.0), |a| a.join().expect("asker"));
    // The service's threads are this round's (a new runtime each round).
    let http_cpu = threads_cpu("tokio-rt-worker");
    let loop_cpu = threads_cpu(LOOP_THREAD);
    shutdown.store(true, Ordering::Relaxed);
    service
        .join()
        .expect("service thread")
        .expect("service run");
    Round {
        secs,
        ready_secs: ready_secs.expect("the service was ready before it processed its input"),
        latencies,
        statuses,
        http_cpu,
        asker_cpu,
        loop_cpu,
    }
}
