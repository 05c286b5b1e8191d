//! What the `jobs` example's processes share: the messages, the consumer, the job queue and the
//! configuration. The web server (`jobs serve`), the worker (`jobs worker`) and the broadcaster
//! (the `announce` example) each include this module, as the parts of a real app would share a
//! library crate, so every event one of them sends is checked against the consumer that handles it.
//!
//! Configuration, from the environment, the same for every process of one app:
//!
//! | variable | default | what |
//! |---|---|---|
//! | `REDIS_URL` | `redis://127.0.0.1:6379` | the Redis of the channel layer named `jobs` |
//! | `LAYER_PREFIX` | `jobs` | that layer's key prefix |
//! | `NATS_URL` | `nats://127.0.0.1:4222` | the NATS server holding the job queue |
//! | `JOBS_STREAM` | `chanx_jobs` | the JetStream stream of the queue (its subject is `{stream}.run`) |

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use chanx::layer::{LayerError, RedisLayer};
use chanx::{Consumer, Context, Layer, Message};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The name of the router's layer the consumer uses (`#[consumer(layer = "jobs")]`).
pub(crate) const LAYER: &str = "jobs";

/// A job, from a client.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "job")]
pub(crate) struct Job {
    /// What to run.
    pub(crate) payload: JobRequest,
}

/// What a job runs on.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub(crate) struct JobRequest {
    /// The kind of work.
    #[serde(rename = "type", default)]
    pub(crate) kind: JobKind,
    /// The text to work on.
    pub(crate) content: String,
}

/// The kinds of work the worker knows.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum JobKind {
    /// Echoes the content back.
    #[default]
    Default,
    /// ROT13, the worker's idea of a translation.
    Translate,
    /// Counts words and characters; blank content fails.
    Analyze,
    /// Writes a short text about the content.
    Generate,
}

/// Where a job stands, to the client that sent it.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "job_status")]
pub(crate) struct JobStatus {
    /// The status and its message.
    pub(crate) payload: JobStatusPayload,
}

/// The body of [`JobStatus`].
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub(crate) struct JobStatusPayload {
    /// Where the job stands.
    pub(crate) status: Status,
    /// A human-readable message: the result, for `result`.
    pub(crate) message: String,
    /// The job's id, once queued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) job_id: Option<String>,
}

/// The statuses of chanx's background-jobs example.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    /// The connection is ready (sent once, on connect).
    Connected,
    /// The job is being handed to the queue.
    Queuing,
    /// The queue has stored the job.
    Queued,
    /// The worker finished the job.
    Result,
    /// The job could not be queued, or the worker failed it.
    Error,
}

impl JobStatus {
    fn new(status: Status, message: impl Into<String>, job_id: Option<String>) -> Self {
        JobStatus { payload: JobStatusPayload { status, message: message.into(), job_id } }
    }
}

/// An event from the worker: a job finished.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "job_result")]
pub(crate) struct JobResult {
    /// Which job, and its result.
    pub(crate) payload: JobOutcome,
}

/// An event from the worker: a job failed.
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "job_failed")]
pub(crate) struct JobFailed {
    /// Which job, and why.
    pub(crate) payload: JobOutcome,
}

/// The body of [`JobResult`] and [`JobFailed`].
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
pub(crate) struct JobOutcome {
    /// The job's id.
    pub(crate) job_id: String,
    /// The result, or the reason it failed.
    pub(crate) message: String,
}

/// A notice for everyone connected, sent from outside the server (the `announce` example).
#[derive(Message, Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq)]
#[message(action = "system_notice")]
pub(crate) struct SystemNotice {
    /// The notice's text.
    pub(crate) payload: String,
}

/// A job as the queue holds it: the work and the channel name of the connection that asked,
/// where the worker sends the outcome.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub(crate) struct Task {
    /// The job's id.
    pub(crate) job_id: String,
    /// What to run.
    pub(crate) kind: JobKind,
    /// On what.
    pub(crate) content: String,
    /// The channel name of the connection that asked.
    pub(crate) reply_to: String,
}

/// The queue: a JetStream stream with work-queue retention, so that each job is stored until one
/// worker acknowledges it, and redelivered if that worker dies first.
#[derive(Clone, Debug)]
pub(crate) struct JobQueue {
    jetstream: jetstream::Context,
    stream: String,
}

/// Why the queue failed.
pub(crate) type QueueError = Box<dyn std::error::Error + Send + Sync>;

impl JobQueue {
    /// Connects to NATS and creates the stream if it does not exist (every process does the same,
    /// so none has to start first).
    pub(crate) async fn connect(url: &str, stream: &str) -> Result<Self, QueueError> {
        let client = async_nats::ConnectOptions::new().connection_timeout(Duration::from_secs(5)).connect(url).await?;
        let jetstream = jetstream::new(client);
        jetstream
            .get_or_create_stream(stream::Config {
                name: stream.to_owned(),
                subjects: vec![format!("{stream}.run")],
                retention: stream::RetentionPolicy::WorkQueue,
                // A job nobody takes within a day is dropped rather than run very late.
                max_age: Duration::from_secs(24 * 3600),
                ..Default::default()
            })
            .await?;
        Ok(JobQueue { jetstream, stream: stream.to_owned() })
    }

    /// Stores a task; returns once JetStream has it (the `queued` status means exactly that).
    /// Its id doubles as `Nats-Msg-Id`, so a publish retried after a lost acknowledgement is
    /// stored once.
    pub(crate) async fn enqueue(&self, task: &Task) -> Result<(), QueueError> {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", task.job_id.as_str());
        let payload = serde_json::to_vec(task)?;
        self.jetstream.publish_with_headers(format!("{}.run", self.stream), headers, payload.into()).await?.await?;
        Ok(())
    }

    /// The workers' shared durable consumer: each task goes to one of them, and one not
    /// acknowledged within `ack_wait` (its worker died) goes to another, up to three times.
    pub(crate) async fn workers(&self) -> Result<consumer::PullConsumer, QueueError> {
        let stream = self.jetstream.get_stream(&self.stream).await?;
        let config = consumer::pull::Config {
            durable_name: Some("workers".to_owned()),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_secs(30),
            max_deliver: 3,
            ..Default::default()
        };
        Ok(stream.get_or_create_consumer("workers", config).await?)
    }
}

/// Runs one job, as the worker does: the result, or why it failed.
pub(crate) fn run_job(kind: JobKind, content: &str) -> Result<String, String> {
    match kind {
        JobKind::Default => Ok(format!("Processed: {content}")),
        JobKind::Translate => Ok(content.chars().map(rot13).collect()),
        JobKind::Analyze => {
            let words = content.split_whitespace().count();
            if words == 0 {
                return Err("nothing to analyze: the content is blank".to_owned());
            }
            Ok(format!("{words} words, {} characters", content.chars().count()))
        }
        JobKind::Generate => Ok(format!("A short story about {content}: once upon a time, there was {content}.")),
    }
}

fn rot13(c: char) -> char {
    match c {
        'a'..='z' => (((c as u8 - b'a') + 13) % 26 + b'a') as char,
        'A'..='Z' => (((c as u8 - b'A') + 13) % 26 + b'A') as char,
        _ => c,
    }
}

/// One connection at `/ws/background_jobs/`: it sends jobs and gets their statuses; the results
/// come from a worker process through the layer named `jobs`.
pub(crate) struct JobsConsumer {
    /// Where jobs go.
    queue: JobQueue,
    /// Held by `job` from before the job is stored until its `queued` status is queued for the
    /// client, and by the event handlers before they send theirs: a quick worker's result can
    /// reach this connection before the queue's acknowledgement reaches the handler, and the
    /// client must still see `queued` first.
    statuses: tokio::sync::Mutex<()>,
}

impl JobsConsumer {
    /// The consumer of one connection.
    pub(crate) fn new(queue: JobQueue) -> Self {
        JobsConsumer { queue, statuses: tokio::sync::Mutex::new(()) }
    }
}

/// Background jobs: each job is queued on NATS JetStream, run by a worker process, and its result
/// sent back to the connection that asked, by its channel name.
#[chanx::consumer(name = "background_jobs", groups = ["background_jobs"], passthrough = [SystemNotice], emits = [JobStatus])]
impl Consumer for JobsConsumer {
    /// The router's layer named `jobs` (`#[consumer(layer = "jobs")]` on an inherent impl).
    const LAYER: &'static str = LAYER;

    async fn post_authentication(&self, ctx: &Context) {
        let _ = ctx.send(&JobStatus::new(Status::Connected, "Connected: send a job", None));
    }

    /// Queues a job: `queuing`, then `queued` with its id once the queue has stored it (or
    /// `error` if it could not); `result` or `error` follow from the worker.
    #[ws_handler(output = [JobStatus])]
    async fn job(&self, ctx: &Context, msg: Job) {
        // Queued frames only fail once the client is gone or not reading, and then it is being
        // disconnected anyway.
        let _ = ctx.send(&JobStatus::new(Status::Queuing, "Queuing your job", None));
        let task = Task {
            job_id: uuid::Uuid::new_v4().to_string(),
            kind: msg.payload.kind,
            content: msg.payload.content,
            reply_to: ctx.channel_name().to_owned(),
        };
        let _in_order = self.statuses.lock().await;
        let status = match self.queue.enqueue(&task).await {
            Ok(()) => JobStatus::new(Status::Queued, "Your job is queued", Some(task.job_id)),
            Err(err) => {
                tracing::error!(error = %err, "could not queue a job");
                JobStatus::new(Status::Error, "The job could not be queued; try again later", None)
            }
        };
        let _ = ctx.send(&status);
    }

    /// The worker finished a job of this connection.
    #[event_handler]
    async fn job_result(&self, event: JobResult) -> JobStatus {
        let _in_order = self.statuses.lock().await;
        JobStatus::new(Status::Result, event.payload.message, Some(event.payload.job_id))
    }

    /// The worker failed a job of this connection.
    #[event_handler]
    async fn job_failed(&self, event: JobFailed) -> JobStatus {
        let _in_order = self.statuses.lock().await;
        JobStatus::new(Status::Error, event.payload.message, Some(event.payload.job_id))
    }
}

/// The process's configuration (see the module's table).
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// `REDIS_URL`.
    pub(crate) redis_url: String,
    /// `LAYER_PREFIX`.
    pub(crate) layer_prefix: String,
    /// `NATS_URL`.
    pub(crate) nats_url: String,
    /// `JOBS_STREAM`.
    pub(crate) stream: String,
}

impl Config {
    /// Reads the environment.
    pub(crate) fn from_env() -> Config {
        let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
        Config {
            redis_url: var("REDIS_URL", "redis://127.0.0.1:6379"),
            layer_prefix: var("LAYER_PREFIX", "jobs"),
            nats_url: var("NATS_URL", "nats://127.0.0.1:4222"),
            stream: var("JOBS_STREAM", "chanx_jobs"),
        }
    }

    /// The channel layer named `jobs`: Redis pub/sub, shared by the server, the workers and the
    /// broadcaster.
    pub(crate) fn layer(&self) -> Result<Layer, LayerError> {
        Ok(Layer::new(RedisLayer::builder([self.redis_url.as_str()]).prefix(self.layer_prefix.as_str()).build()?))
    }
}

/// Sends a job's outcome to the connection that asked; the connection may have gone, which only
/// the sender can tell (`ChannelNotFound`).
pub(crate) async fn reply(layer: &Layer, task: &Task, outcome: Result<String, String>) -> Result<(), LayerError> {
    let job_id = task.job_id.clone();
    match outcome {
        Ok(message) => {
            JobsConsumer::send_event(layer, &task.reply_to, &JobResult { payload: JobOutcome { job_id, message } })
                .await
        }
        Err(message) => {
            JobsConsumer::send_event(layer, &task.reply_to, &JobFailed { payload: JobOutcome { job_id, message } })
                .await
        }
    }
}
