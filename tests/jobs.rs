//! The `jobs` and `announce` examples end to end, as separate processes on the machine's Redis and
//! NATS JetStream: the built example binaries run as a web server, a worker and a broadcaster,
//! and real WebSocket clients talk to the server. Each test has its own layer prefix and its own
//! JetStream stream (deleted at the end).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use chanx_workspace::{Client, skip_or_fail, test_redis_url, unique_prefix};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The NATS server to test against: `CHANX_TEST_NATS_URL`, else `nats://127.0.0.1:4222`.
async fn test_nats_url() -> Option<String> {
    let url = std::env::var("CHANX_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let connected = tokio::time::timeout(Duration::from_secs(2), async_nats::connect(url.as_str())).await;
    match connected {
        Ok(Ok(_)) => Some(url),
        outcome => skip_or_fail(&format!("NATS at {url} is unreachable: {outcome:?}")),
    }
}

/// The path of a built example binary. `cargo test --workspace` builds both examples before it
/// runs any test (they are plain examples, `test = false`); run this file alone after
/// `cargo build --workspace --examples`.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    // target/debug/deps/jobs-HASH → target/debug/examples/NAME
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target/debug");
    let binary = dir.join("examples").join(name);
    let built = std::fs::metadata(&binary).and_then(|m| m.modified());
    let Ok(built) = built else {
        panic!(
            "{} is missing: run `cargo build --workspace --examples` (or `cargo test --workspace`)",
            binary.display()
        );
    };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for source in ["jobs.rs", "announce.rs", "jobs_app/mod.rs"] {
        let changed = std::fs::metadata(root.join(source)).and_then(|m| m.modified()).expect("the example's source");
        assert!(
            changed <= built,
            "{} is older than examples/{source}: run `cargo build --workspace --examples`",
            binary.display()
        );
    }
    binary
}

/// One app's environment: its services, and a layer prefix and stream of its own.
struct App {
    env: Vec<(&'static str, String)>,
    nats_url: String,
    stream: String,
}

impl App {
    async fn new(test: &str) -> Option<App> {
        let redis_url = test_redis_url().await?;
        let nats_url = test_nats_url().await?;
        let stream = format!("chanx_test_{test}_{}", uuid::Uuid::new_v4().simple());
        let env = vec![
            ("REDIS_URL", redis_url),
            ("LAYER_PREFIX", unique_prefix(test)),
            ("NATS_URL", nats_url.clone()),
            ("JOBS_STREAM", stream.clone()),
            ("RUST_LOG", "info".to_owned()),
        ];
        Some(App { env, nats_url, stream })
    }

    fn command(&self, example_name: &str, args: &[&str]) -> Command {
        let mut command = Command::new(example(example_name));
        command.args(args).envs(self.env.iter().map(|(k, v)| (*k, v.as_str()))).kill_on_drop(true);
        command
    }

    /// Starts a process and waits until its log says `ready` (a line containing it); returns the
    /// process and that line. The rest of its log goes to the test's output.
    async fn start(&self, example_name: &str, args: &[&str], ready: &str) -> (Child, String) {
        let mut child = self
            .command(example_name, args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{example_name} starts: {e}"));
        // The examples log to stdout (chanx_workspace::init_logging).
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let found = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await.expect("readable log") {
                eprintln!("[{example_name} {args:?}] {line}");
                if line.contains(ready) {
                    return line;
                }
            }
            panic!("{example_name} {args:?} exited before saying {ready:?}");
        })
        .await
        .unwrap_or_else(|_| panic!("{example_name} {args:?} did not say {ready:?} within 30 s"));
        let label = format!("[{example_name} {args:?}]");
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("{label} {line}");
            }
        });
        (child, found)
    }

    /// Starts the web server; returns it and its address.
    async fn server(&self) -> (Child, std::net::SocketAddr) {
        let (child, line) = self.start("jobs", &["serve", "--addr", "127.0.0.1:0"], "listening on ws://").await;
        let addr = line.split("ws://").nth(1).and_then(|rest| rest.split('/').next()).expect("an address");
        (child, addr.parse().expect("a socket address"))
    }

    async fn worker(&self) -> Child {
        self.start("jobs", &["worker"], "worker ready").await.0
    }

    /// Deletes the app's stream.
    async fn clean_up(self) {
        let client = async_nats::connect(self.nats_url.as_str()).await.expect("NATS");
        async_nats::jetstream::new(client).delete_stream(&self.stream).await.expect("stream deleted");
    }
}

/// A client at `/ws/background_jobs/`, past its `connected` status (so it is in its groups).
async fn connect(addr: std::net::SocketAddr) -> Client {
    let mut client = Client::connect(addr, "/ws/background_jobs/").await;
    assert_eq!(client.receive_json().await["payload"]["status"], "connected");
    client
}

/// The next status, as `(status, message)`; also returns the job id it carries.
async fn status(client: &mut Client) -> (String, String, Option<String>) {
    let frame = client.receive_json().await;
    assert_eq!(frame["action"], "job_status", "{frame}");
    let payload = &frame["payload"];
    let text = |key: &str| payload[key].as_str().map(str::to_owned);
    (text("status").expect("a status"), text("message").expect("a message"), text("job_id"))
}

/// Sends a job and reads `queuing` then `queued`; returns the job id.
async fn queue_job(client: &mut Client, kind: &str, content: &str) -> String {
    client.send_json(&json!({"action": "job", "payload": {"type": kind, "content": content}})).await;
    let (queuing, _, _) = status(client).await;
    assert_eq!(queuing, "queuing");
    let (queued, _, job_id) = status(client).await;
    assert_eq!(queued, "queued");
    job_id.expect("a queued job has an id")
}

/// Nothing arrives for a while (the only short wait: for something that must not come).
async fn receives_nothing(client: &mut Client) -> bool {
    tokio::time::timeout(Duration::from_millis(500), client.receive_json()).await.is_err()
}

#[tokio::test]
async fn a_result_reaches_exactly_the_connection_that_asked() {
    let Some(app) = App::new("result").await else { return };
    let (_server, addr) = app.server().await;
    let (mut ada, mut bob) = (connect(addr).await, connect(addr).await);

    // Queued while no worker runs: JetStream keeps the job until one starts.
    let job_id = queue_job(&mut ada, "translate", "Hello, World").await;
    let _worker = app.worker().await;
    assert_eq!(status(&mut ada).await, ("result".to_owned(), "Uryyb, Jbeyq".to_owned(), Some(job_id)));
    assert!(receives_nothing(&mut bob).await, "bob did not ask");

    // Bob's own job comes back to him alone.
    let bobs_job = queue_job(&mut bob, "analyze", "three little words").await;
    assert_eq!(status(&mut bob).await, ("result".to_owned(), "3 words, 18 characters".to_owned(), Some(bobs_job)));
    assert!(receives_nothing(&mut ada).await, "ada did not ask");

    ada.close().await;
    bob.close().await;
    app.clean_up().await;
}

#[tokio::test]
async fn a_job_the_worker_fails_ends_with_an_error_status() {
    let Some(app) = App::new("failure").await else { return };
    let (_server, addr) = app.server().await;
    let _worker = app.worker().await;
    let mut ada = connect(addr).await;
    let job_id = queue_job(&mut ada, "analyze", "   ").await;
    assert_eq!(
        status(&mut ada).await,
        ("error".to_owned(), "nothing to analyze: the content is blank".to_owned(), Some(job_id))
    );
    // The worker goes on with the next job.
    let next = queue_job(&mut ada, "default", "again").await;
    assert_eq!(status(&mut ada).await, ("result".to_owned(), "Processed: again".to_owned(), Some(next)));
    ada.close().await;
    app.clean_up().await;
}

#[tokio::test]
async fn a_job_the_queue_refuses_ends_with_an_error_status() {
    let Some(app) = App::new("refused").await else { return };
    let (_server, addr) = app.server().await;
    let mut ada = connect(addr).await;
    // The stream disappears under the running server: JetStream refuses the publish.
    let client = async_nats::connect(app.nats_url.as_str()).await.expect("NATS");
    async_nats::jetstream::new(client).delete_stream(&app.stream).await.expect("stream deleted");
    ada.send_json(&json!({"action": "job", "payload": {"type": "default", "content": "x"}})).await;
    assert_eq!(status(&mut ada).await.0, "queuing");
    assert_eq!(
        status(&mut ada).await,
        ("error".to_owned(), "The job could not be queued; try again later".to_owned(), None)
    );
    ada.close().await;
}

#[tokio::test]
async fn a_separate_program_broadcasts_into_the_running_app() {
    let Some(app) = App::new("announce").await else { return };
    let (_server, addr) = app.server().await;
    let (mut ada, mut bob) = (connect(addr).await, connect(addr).await);
    let output = app.command("announce", &["Maintenance", "at", "noon"]).output().await.expect("announce runs");
    assert!(output.status.success(), "announce failed: {}", String::from_utf8_lossy(&output.stderr));
    let notice: Value = json!({"action": "system_notice", "payload": "Maintenance at noon"});
    assert_eq!(ada.receive_json().await, notice);
    assert_eq!(bob.receive_json().await, notice);

    let usage = app.command("announce", &[]).output().await.expect("announce runs");
    assert_eq!(usage.status.code(), Some(2), "no text is a usage error");
    ada.close().await;
    bob.close().await;
    app.clean_up().await;
}

#[tokio::test]
async fn the_exported_asyncapi_document_matches_the_committed_one() {
    // The export needs no service: it builds no consumer.
    let dir = std::env::temp_dir().join(format!("chanx-jobs-asyncapi-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    for format in ["json", "yaml"] {
        let file = dir.join(format!("jobs.asyncapi.{format}"));
        let file_arg = file.to_str().expect("a UTF-8 path");
        let output = Command::new(example("jobs")).args(["--asyncapi", file_arg]).output().await.expect("jobs runs");
        assert!(output.status.success(), "the export failed: {}", String::from_utf8_lossy(&output.stderr));
        let document = std::fs::read_to_string(&file).expect("the exported document");
        chanx_workspace::assert_golden(&format!("jobs.asyncapi.{format}"), &document);
    }
    std::fs::remove_dir_all(&dir).expect("cleaned up");
}
