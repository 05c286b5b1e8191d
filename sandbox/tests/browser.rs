//! Real Chromium windows (headless) driven by playwright-core: in `browser/chat.cjs` two people
//! register, create a chat, add a member, see each other online, talk live both ways, get the
//! messages posted while the server had dropped one's socket (once each, without a reload),
//! reconnect after a server restart and remove the member; in `browser/assistant.cjs` an anonymous visitor watches the offline
//! assistant's answer stream in; in `browser/discussion.cjs` two people see each other's question,
//! answer, vote and accepted answer appear, and the topic list, following each topic it shows over
//! its one socket, counts new answers, again after a server restart; in `browser/asyncapi.cjs` the
//! offline AsyncAPI page renders its descriptions' Markdown; in `browser/account.cjs` a person sets
//! their names, changes their password, and resets it with the link mailed to the test's SMTP sink;
//! in `browser/admin.cjs` a superuser finds a user by search and deactivates him in his change
//! form while his open page loses its socket.
//! Needs Node.js, playwright-core
//! (`npm install --prefix target/ci-node playwright-core`, or `CHANX_TEST_NODE_MODULES`) and
//! Chromium (`/usr/bin/chromium`, or `CHANX_TEST_CHROMIUM`); `.ci/run` installs them.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use sandbox::accounts::password::{HashLimits, Hasher};
use sandbox::accounts::{NewUser, User};
use sandbox::{Config, Db, Sandbox};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::smtp_sink::SmtpSink;

/// A running server: its sockets (to shut them down) and the handle to stop it.
struct Running {
    sockets: chanx::Router,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn start(db_url: &str, smtp_url: &str, listener: TcpListener) -> Running {
    let db = Db::connect(db_url).await.expect("database");
    db.migrate().await.expect("migrations");
    // As `cargo run -p sandbox` does: the generated key, kept beside the database, so that
    // sessions survive the restart.
    // Mail goes to the test's SMTP sink, which hands reset links to the script.
    let mut config = Config::from_lookup(|name| match name {
        "DATABASE_URL" => Some(db_url.to_owned()),
        "SMTP_URL" => Some(smtp_url.to_owned()),
        _ => None,
    })
    .expect("config");
    config.load_secret_key().expect("key file");
    let sandbox = Sandbox::new(db, config).expect("app");
    let (stop, stopped) = oneshot::channel::<()>();
    let serve = sandbox.serve(listener);
    let task = tokio::spawn(async move {
        serve
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    Running { sockets: sandbox.sockets, stop, task }
}

impl Running {
    /// Closes every socket (1001, as on a deploy) and stops serving.
    async fn stop(self) {
        self.sockets.shutdown().await;
        let _ = self.stop.send(());
        let abort = self.task.abort_handle();
        if tokio::time::timeout(Duration::from_secs(5), self.task).await.is_err() {
            abort.abort();
        }
    }
}

/// Node's module folder holding playwright-core and the Chromium binary, or why not.
fn browser_tools() -> Result<(PathBuf, PathBuf), String> {
    let modules = std::env::var("CHANX_TEST_NODE_MODULES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ci-node/node_modules"));
    let chromium = PathBuf::from(std::env::var("CHANX_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    if !modules.join("playwright-core").is_dir() {
        return Err(format!("playwright-core is not in {}", modules.display()));
    }
    if !chromium.exists() {
        return Err(format!("Chromium is not at {}", chromium.display()));
    }
    Ok((modules, chromium))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_chat_live_in_real_browsers() {
    run_in_browser("chat.cjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_visitor_watches_the_offline_answer_stream() {
    run_in_browser("assistant.cjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_see_the_forum_change_live() {
    run_in_browser("discussion.cjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_manages_their_account_and_resets_a_forgotten_password() {
    run_in_browser("account.cjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_superuser_deactivates_a_user_from_the_admin_and_his_page_goes_offline() {
    run_in_browser("admin.cjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_asyncapi_page_renders_descriptions_as_markdown_offline() {
    run_in_browser("asyncapi.cjs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_and_redoc_render_the_rest_api_with_no_network() {
    run_in_browser("openapi.cjs").await;
}

/// Serves a fresh sandbox and runs `tests/browser/{script}` against it, restarting the server
/// when the script asks.
async fn run_in_browser(script: &str) {
    let (modules, chromium) = match browser_tools() {
        Ok(tools) => tools,
        Err(reason) if std::env::var("CHANX_REQUIRE_SERVICES").is_ok_and(|v| v == "1") => {
            panic!("the browser test is required (CHANX_REQUIRE_SERVICES=1): {reason}")
        }
        Err(reason) => {
            eprintln!("skipped: {reason}");
            return;
        }
    };
    let dir = std::env::temp_dir().join(format!("chanx-sandbox-browser-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let db_url = format!("sqlite://{}", dir.join("browser.sqlite3").display());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("port");
    let addr = listener.local_addr().expect("addr");
    let mut sink = SmtpSink::start().await;
    let mut server = start(&db_url, &sink.url, listener).await;

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser").join(script);
    // Screenshots of the last run, for people to look at: target/browser-*.png.
    let screenshots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target");
    let mut child = tokio::process::Command::new("node")
        .arg(script)
        .arg(format!("http://{addr}"))
        .env("NODE_PATH", &modules)
        .env("CHANX_TEST_CHROMIUM", &chromium)
        .env("CHANX_TEST_SCREENSHOTS", &screenshots)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut stderr = child.stderr.take().expect("stderr");
    let outcome = tokio::time::timeout(Duration::from_secs(120), async {
        while let Some(line) = lines.next_line().await.expect("read") {
            match line.as_str() {
                "RESTART" => {
                    server.stop().await;
                    let listener = TcpListener::bind(addr).await.expect("the same port again");
                    server = start(&db_url, &sink.url, listener).await;
                    stdin.write_all(b"RESTARTED\n").await.expect("write");
                }
                "MAIL" => {
                    let mail = sink.next().await;
                    let link = mail.text.split_whitespace().find(|word| word.contains("/account/password/reset/"));
                    stdin.write_all(format!("{}\n", link.unwrap_or("no link")).as_bytes()).await.expect("write");
                }
                "SUPERUSER" => {
                    let db = Db::connect(&db_url).await.expect("database");
                    let hasher = Hasher::new(HashLimits::default());
                    let root = NewUser {
                        email: "root@example.com".into(),
                        password: "a root password".into(),
                        is_staff: true,
                        is_superuser: true,
                    };
                    User::create(&db, &hasher, root).await.expect("superuser");
                    db.close().await;
                    stdin.write_all(b"READY\n").await.expect("write");
                }
                line if line.starts_with("DROP ") => {
                    // The server drops every socket of that user, as an instance that sheds
                    // connections does; the pages reconnect by themselves (1000 is not a refusal).
                    let email = line.trim_start_matches("DROP ");
                    let db = Db::connect(&db_url).await.expect("database");
                    let user = User::find_by_email(&db, email).await.expect("query").expect("a registered user");
                    db.close().await;
                    let group = sandbox::sessions::user_group(user.id);
                    server.sockets.layer().close_group(&group, 1000, "dropped by the server").await.expect("closed");
                    stdin.write_all(b"DROPPED\n").await.expect("write");
                }
                "OK" => return true,
                _ => {}
            }
        }
        false
    })
    .await;
    let status = child.wait().await.expect("exit");
    let mut log = String::new();
    tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut log).await.expect("stderr");
    // What the scripts measured goes to the test's output (`--nocapture`), also when they pass.
    for line in log.lines().filter(|l| l.starts_with("measured:")) {
        eprintln!("{line}");
    }
    assert_eq!(outcome, Ok(true), "the browser script did not finish:\n{log}");
    assert!(status.success(), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
