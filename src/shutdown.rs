//! Shutdown as a protocol with a deadline: the first SIGTERM/SIGINT asks the loop to stop
//! (finish the batch, commit, leave the group); if it has not exited by the deadline, or a
//! second signal comes, the process exits at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Exit code when the deadline passes or a second signal arrives.
pub const FORCED_EXIT: i32 = 130;

/// Starts a thread that watches for signals; returns the flag the loop polls.
pub fn install(deadline: Duration) -> std::io::Result<Arc<AtomicBool>> {
    let flag = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let set = flag.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            runtime.block_on(async move {
                let mut term =
                    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::error!(error = %e, "cannot listen for SIGTERM");
                            return;
                        }
                    };
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
                tracing::info!(deadline_ms = deadline.as_millis() as u64, "shutdown requested");
                set.store(true, Ordering::Relaxed);
                tokio::select! {
                    _ = term.recv() => tracing::warn!("second signal: exiting now"),
                    _ = tokio::signal::ctrl_c() => tracing::warn!("second signal: exiting now"),
                    _ = tokio::time::sleep(deadline) => tracing::error!("shutdown deadline passed: exiting now"),
                }
                std::process::exit(FORCED_EXIT);
            });
        })?;
    Ok(flag)
}
