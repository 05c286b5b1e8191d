//! Work done in another process, answering one connection: chanx's background-jobs example.
//!
//! A client at `/ws/background_jobs/` sends `{"action": "job", "payload": {"type": "translate",
//! "content": "Hello"}}`. The handler answers `queuing`, stores the job on a NATS JetStream work
//! queue with the connection's channel name, and answers `queued` with the job's id once JetStream
//! has it. A worker process takes the job, runs it, and sends the outcome to that one connection
//! by its channel name through the Redis channel layer named `jobs`; the connection turns it into
//! `result` (or `error`, when the worker fails the job). Every connection also gets the notices
//! the `announce` example broadcasts.
//!
//! Run with (Redis and NATS with JetStream on their default ports; see `jobs_app/mod.rs` for
//! the environment variables):
//!
//! ```sh
//! cargo run --example jobs -- serve --addr 127.0.0.1:8000   # the web server
//! cargo run --example jobs -- worker                        # any number of workers
//! cargo run --example announce -- "Maintenance at noon"     # a notice to every connection
//! ```
//!
//! then, with any WebSocket client (`websocat ws://127.0.0.1:8000/ws/background_jobs/`), send the
//! job above. Export the AsyncAPI document with `cargo run --example jobs -- --asyncapi jobs.json`.

#[path = "jobs_app/mod.rs"]
mod app;

use std::process::ExitCode;

use app::{Config, JobQueue, JobsConsumer, QueueError, Task};
use async_nats::jetstream::AckKind;
use chanx::layer::LayerError;
use chanx::{Router, Scope};
use futures_util::StreamExt;

/// The app's routes; `consumer` builds the consumer of each connection.
fn router(consumer: impl Fn(&Scope) -> JobsConsumer + Send + Sync + 'static) -> Router {
    Router::new().route("/ws/background_jobs/", consumer)
}

/// How the API is documented.
fn spec() -> chanx::asyncapi::AsyncApi {
    chanx::asyncapi::AsyncApi::new("Background jobs", "1.0.0").description("The jobs example.")
}

/// The web server: the consumer on the layer named `jobs`, enqueueing on the queue.
async fn serve(config: Config) -> Result<(), QueueError> {
    let queue = JobQueue::connect(&config.nats_url, &config.stream).await?;
    let router = router(move |_: &Scope| JobsConsumer::new(queue.clone()))
        .with_named_layer(app::LAYER, config.layer()?)
        .asyncapi("/asyncapi/", spec());
    let listener = tokio::net::TcpListener::bind(chanx_workspace::addr_arg("127.0.0.1:8000")).await?;
    tracing::info!("listening on ws://{}/ws/background_jobs/", listener.local_addr()?);
    Ok(chanx::serve(listener, router).await?)
}

/// A worker: takes jobs one at a time until Ctrl-C or SIGTERM, and sends each outcome to the
/// connection that asked.
async fn worker(config: Config) -> Result<(), QueueError> {
    let layer = config.layer()?;
    let queue = JobQueue::connect(&config.nats_url, &config.stream).await?;
    let mut jobs = queue.workers().await?.messages().await?;
    tracing::info!(stream = %config.stream, "worker ready");
    let stop = chanx::shutdown_signal();
    tokio::pin!(stop);
    loop {
        let job = tokio::select! {
            () = &mut stop => return Ok(()),
            job = jobs.next() => job,
        };
        let Some(job) = job else { return Err("the queue's message stream ended".into()) };
        let job = job?;
        let task: Task = match serde_json::from_slice(&job.payload) {
            Ok(task) => task,
            Err(err) => {
                // Not ours to run: never redeliver it.
                tracing::warn!(error = %err, "dropping a job that is not a task");
                job.ack_with(AckKind::Term).await?;
                continue;
            }
        };
        let outcome = app::run_job(task.kind, &task.content);
        tracing::info!(job_id = %task.job_id, ok = outcome.is_ok(), "job done");
        match app::reply(&layer, &task, outcome).await {
            Ok(()) => {}
            // Nobody waits for it any more: the job is done all the same.
            Err(LayerError::ChannelNotFound(_)) => {
                tracing::info!(job_id = %task.job_id, "the connection that asked has gone");
            }
            Err(err) => {
                // The layer is down: let the queue hand the job out again later.
                tracing::warn!(job_id = %task.job_id, error = %err, "could not deliver; the job will be retried");
                job.ack_with(AckKind::Nak(Some(std::time::Duration::from_secs(1)))).await?;
                continue;
            }
        }
        job.ack().await?;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    chanx_workspace::init_logging();
    let args: Vec<String> = std::env::args().collect();
    if let Some(file) = args.windows(2).find(|w| w[0] == "--asyncapi").map(|w| &w[1]) {
        let router = router(|_: &Scope| unreachable!("documenting builds no consumer"));
        return match spec().write(&router, file) {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                eprintln!("could not write {file}: {err}");
                ExitCode::FAILURE
            }
        };
    }
    let config = Config::from_env();
    let outcome = match args.get(1).map(String::as_str) {
        Some("worker") => worker(config).await,
        Some("serve") | None => serve(config).await,
        Some(other) => Err(format!("unknown command {other:?}: use serve or worker").into()),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "stopped");
            ExitCode::FAILURE
        }
    }
}
