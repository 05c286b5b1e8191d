//! A separate program, with no server, that broadcasts into a running app's groups: a notice to
//! every connection of the `jobs` example, in whichever server process it is (chanx's
//! `external_sender.py`). It joins nothing and listens to nothing: it publishes one event through
//! the same channel layer (`REDIS_URL`, `LAYER_PREFIX`) and exits.
//!
//! Run with, while `cargo run --example jobs -- serve` runs:
//!
//! ```sh
//! cargo run --example announce -- "Maintenance at noon"
//! ```
//!
//! Every client connected to `/ws/background_jobs/` receives
//! `{"action": "system_notice", "payload": "Maintenance at noon"}`.

// The messages and the consumer of the app it talks to; this program uses only part of them.
#[allow(dead_code)]
#[path = "jobs_app/mod.rs"]
mod app;

use std::process::ExitCode;

use app::{Config, JobsConsumer, SystemNotice};
use chanx::Consumer;

#[tokio::main]
async fn main() -> ExitCode {
    chanx_workspace::init_logging();
    let text = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    if text.trim().is_empty() {
        eprintln!("usage: announce TEXT");
        return ExitCode::from(2);
    }
    let sent = async {
        let layer = Config::from_env().layer()?;
        // To the consumer's own groups; the type checks that the consumer handles this event.
        JobsConsumer::broadcast_event(&layer, &SystemNotice { payload: text }).await
    };
    match sent.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("could not announce: {err}");
            ExitCode::FAILURE
        }
    }
}
