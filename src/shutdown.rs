//! Shutdown as a protocol with a deadline: the first SIGTERM/SIGINT asks the loop to stop
//! (finish the batch, commit, leave the group); if it has not exited by the deadline, or a
//! second signal comes, the process exits at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Exit code when the deadline passes or a second signal arrives.
pub const FORCED_EXIT: i32 = 130;

/// Listens for SIGTERM and SIGINT from the moment it returns (the handlers are registered
/// before it returns, not by the thread it starts, so a signal during the rest of startup is
/// not lost to the default action); returns the flag the loop polls.
pub fn install(deadline: Duration) -> std::io::Result<Arc<AtomicBool>> {
    use tokio::signal::unix::{SignalKind, signal};
    let flag = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (mut term, mut int) = {
        let _context = runtime.enter();
        (
            signal(SignalKind::terminate())?,
            signal(SignalKind::interrupt())?,
        )
    };
    let set = flag.clone();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            runtime.block_on(async move {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
                tracing::info!(deadline_ms = deadline.as_millis() as u64, "shutdown requested");
                set.store(true, Ordering::Relaxed);
                tokio::select! {
                    _ = term.recv() => tracing::warn!("second signal: exiting now"),
                    _ = int.recv() => tracing::warn!("second signal: exiting now"),
                    _ = tokio::time::sleep(deadline) => tracing::error!("shutdown deadline passed: exiting now"),
                }
                std::process::exit(FORCED_EXIT);
            });
        })?;
    Ok(flag)
}
