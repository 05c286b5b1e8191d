//! The load generator: runs every scenario of docs/benchmarks.md against each target in turn, in
//! one run, and prints a Markdown table of the results and the first target's ratio to each of
//! the others (the baselines).
//!
//! ```sh
//! loadgen --target chanx=ws://127.0.0.1:8080/ws/bench/@PID --target raw=ws://127.0.0.1:8081/@PID
//! ```
//!
//! `@PID` is the server's process id, read for its resident memory. A target may list several
//! URLs, comma-separated (one per process sharing a Redis): connections are spread over them.
//! `bench/run.sh` builds and starts the servers and passes these arguments.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type Error = Box<dyn std::error::Error + Send + Sync>;

const PING: &str = r#"{"action":"ping"}"#;
/// Broadcasts kept in flight by the fan-out sender (counted in deliveries still owed).
const FANOUT_WINDOW: u64 = 8;

struct Target {
    name: String,
    /// One URL per server process; connections are spread over them in turn.
    urls: Vec<String>,
    pid: u32,
}

struct Options {
    targets: Vec<Target>,
    duration: Duration,
    idle: usize,
    accepts: usize,
    echo: Vec<usize>,
    fanout: Vec<usize>,
    rounds: usize,
}

fn main() -> Result<(), Error> {
    let options = parse_args()?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(run(options))
}

fn parse_args() -> Result<Options, Error> {
    let mut options = Options {
        targets: Vec::new(),
        duration: Duration::from_secs(5),
        idle: 5_000,
        accepts: 3_000,
        echo: vec![1, 50, 500],
        fanout: vec![100, 1_000],
        rounds: 3,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let list = |s: &str| s.split(',').filter(|n| !n.is_empty()).map(str::parse).collect::<Result<Vec<usize>, _>>();
    for pair in args.chunks(2) {
        let [flag, value] = pair else { return Err(format!("{pair:?}: every flag takes a value").into()) };
        match flag.as_str() {
            "--target" => {
                let (name, rest) = value.split_once('=').ok_or("--target NAME=URL@PID")?;
                let (url, pid) = rest.rsplit_once('@').ok_or("--target NAME=URL@PID")?;
                let urls = url.split(',').map(str::to_owned).collect();
                options.targets.push(Target { name: name.into(), urls, pid: pid.parse()? });
            }
            "--duration" => options.duration = Duration::from_secs_f64(value.parse()?),
            "--idle" => options.idle = value.parse()?,
            "--accepts" => options.accepts = value.parse()?,
            "--echo" => options.echo = list(value)?,
            "--fanout" => options.fanout = list(value)?,
            "--rounds" => options.rounds = value.parse::<usize>()?.max(1),
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    if options.targets.is_empty() {
        return Err("give at least one --target NAME=URL@PID".into());
    }
    Ok(options)
}

/// One row of the report: a value per target.
struct Row {
    label: String,
    values: Vec<f64>,
    unit: &'static str,
    /// Whether a bigger value is better (ratios are then target / baseline).
    higher_is_better: bool,
}

async fn run(options: Options) -> Result<(), Error> {
    let mut rows = Vec::new();
    let names: Vec<&str> = options.targets.iter().map(|t| t.name.as_str()).collect();
    eprintln!("targets: {names:?}; {} s per measurement", options.duration.as_secs_f64());

    // Memory first, on fresh servers: later scenarios leave allocator caches behind.
    if options.idle > 0 {
        let mut row = Row::new(format!("RSS per idle connection ({} open)", options.idle), "KiB", false);
        for target in &options.targets {
            let per_conn = idle_memory(target, options.idle).await?;
            eprintln!("{}: {per_conn:.1} KiB per idle connection", target.name);
            row.values.push(per_conn);
        }
        rows.push(row);
    }

    if options.accepts > 0 {
        let mut row = Row::new(format!("connections accepted/s ({} in all)", options.accepts), "/s", true);
        for target in &options.targets {
            let rate = accept_rate(target, options.accepts).await?;
            eprintln!("{}: {rate:.0} accepts/s", target.name);
            row.values.push(rate);
        }
        rows.push(row);
    }

    // Throughput drifts on a shared machine: each target is measured `rounds` times, the targets
    // taking turns, and the median round is reported.
    for &conns in &options.echo {
        let results =
            rounds(&options, &format!("echo {conns}"), |target| echo(target, conns, options.duration)).await?;
        let mut rps = Row::new(format!("echo, {conns} conns: round trips/s"), "/s", true);
        let mut p50 = Row::new(format!("echo, {conns} conns: p50 latency"), "µs", false);
        let mut p99 = Row::new(format!("echo, {conns} conns: p99 latency"), "µs", false);
        for result in results {
            rps.values.push(result.rate);
            p50.values.push(result.p50 as f64);
            p99.values.push(result.p99 as f64);
        }
        rows.extend([rps, p50, p99]);
    }

    for &members in &options.fanout {
        let results =
            rounds(&options, &format!("fan-out {members}"), |target| fanout(target, members, options.duration)).await?;
        let mut rate = Row::new(format!("fan-out, {members} members: deliveries/s"), "/s", true);
        let mut p99 = Row::new(format!("fan-out, {members} members: p99 delivery latency"), "µs", false);
        for result in results {
            rate.values.push(result.rate);
            p99.values.push(result.p99 as f64);
        }
        rows.extend([rate, p99]);
    }

    print_table(&names, &rows);
    Ok(())
}

/// Runs `scenario` `options.rounds` times per target, the targets taking turns; returns each
/// target's median round (by rate).
async fn rounds<'t, F, Fut>(options: &'t Options, label: &str, mut scenario: F) -> Result<Vec<Measured>, Error>
where
    F: FnMut(&'t Target) -> Fut,
    Fut: std::future::Future<Output = Result<Measured, Error>>,
{
    let mut per_target: Vec<Vec<Measured>> = options.targets.iter().map(|_| Vec::new()).collect();
    for round in 1..=options.rounds {
        for (target, results) in options.targets.iter().zip(&mut per_target) {
            let result = scenario(target).await?;
            eprintln!(
                "{} {label}, round {round}: {:.0}/s p50 {} µs p99 {} µs",
                target.name, result.rate, result.p50, result.p99
            );
            results.push(result);
        }
    }
    Ok(per_target
        .into_iter()
        .map(|mut results| {
            results.sort_by(|a, b| a.rate.total_cmp(&b.rate));
            results.swap_remove(results.len() / 2)
        })
        .collect())
}

impl Row {
    fn new(label: String, unit: &'static str, higher_is_better: bool) -> Row {
        Row { label, values: Vec::new(), unit, higher_is_better }
    }
}

/// Each target's value, then the first target's ratio to each of the others.
fn print_table(names: &[&str], rows: &[Row]) {
    let ratios: Vec<String> = names[1..].iter().map(|n| format!("{} / {n}", names[0])).collect();
    println!("| measurement | {} | {} |", names.join(" | "), ratios.join(" | "));
    println!("|---|{}", "---:|".repeat(names.len() + ratios.len()));
    for row in rows {
        let values: Vec<String> = row.values.iter().map(|v| format!("{} {}", human(*v), row.unit)).collect();
        let first = row.values[0];
        let ratios: Vec<String> = row.values[1..]
            .iter()
            .map(|&other| if other == 0.0 { "n/a".to_owned() } else { format!("{:.2}×", first / other) })
            .collect();
        let better = if row.higher_is_better { "" } else { " (lower is better)" };
        println!("| {}{better} | {} | {} |", row.label, values.join(" | "), ratios.join(" | "));
    }
}

fn human(v: f64) -> String {
    if v >= 100.0 { format!("{v:.0}") } else { format!("{v:.1}") }
}

fn client_config() -> WebSocketConfig {
    // The load generator holds thousands of sockets too: keep its own buffers small.
    WebSocketConfig::default().read_buffer_size(4 * 1024)
}

async fn connect(url: &str) -> Result<Ws, Error> {
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(client_config()), true).await?;
    Ok(ws)
}

/// Opens `n` connections over the target's URLs in turn, `parallel` handshakes at a time.
async fn connect_many(urls: &[String], n: usize, parallel: usize) -> Result<Vec<Ws>, Error> {
    let mut all = Vec::with_capacity(n);
    let mut pending = JoinSet::new();
    for url in urls.iter().cycle().take(n) {
        if pending.len() >= parallel
            && let Some(ws) = pending.join_next().await
        {
            all.push(ws??);
        }
        let url = url.to_owned();
        pending.spawn(async move { connect(&url).await });
    }
    while let Some(ws) = pending.join_next().await {
        all.push(ws??);
    }
    Ok(all)
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> Result<f64, Error> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).ok_or("no VmRSS")?;
    Ok(line.split_whitespace().nth(1).ok_or("bad VmRSS")?.parse()?)
}

async fn idle_memory(target: &Target, n: usize) -> Result<f64, Error> {
    let before = rss_kib(target.pid)?;
    let conns = connect_many(&target.urls, n, 100).await?;
    // Let the server finish each connection's setup (group joins) and settle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = rss_kib(target.pid)?;
    close_all(conns).await;
    Ok((after - before) / n as f64)
}

async fn close_all(conns: Vec<Ws>) {
    let mut closing = JoinSet::new();
    for mut ws in conns {
        closing.spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
        });
    }
    while closing.join_next().await.is_some() {}
    // Let the server tear the connections down before the next measurement.
    tokio::time::sleep(Duration::from_millis(500)).await;
}

async fn accept_rate(target: &Target, n: usize) -> Result<f64, Error> {
    let start = Instant::now();
    let conns = connect_many(&target.urls, n, 64).await?;
    let rate = n as f64 / start.elapsed().as_secs_f64();
    close_all(conns).await;
    Ok(rate)
}

struct Measured {
    rate: f64,
    p50: u64,
    p99: u64,
}

fn percentiles(mut micros: Vec<u64>, count: u64, elapsed: Duration) -> Measured {
    micros.sort_unstable();
    let at = |q: f64| micros.get(((micros.len() as f64 * q) as usize).min(micros.len().saturating_sub(1))).copied();
    Measured { rate: count as f64 / elapsed.as_secs_f64(), p50: at(0.50).unwrap_or(0), p99: at(0.99).unwrap_or(0) }
}

/// Each connection sends a ping and waits for the pong, again and again.
async fn echo(target: &Target, conns: usize, duration: Duration) -> Result<Measured, Error> {
    let clients = connect_many(&target.urls, conns, 64).await?;
    let warmup = Instant::now() + Duration::from_secs(1);
    let end = warmup + duration;
    let mut tasks = JoinSet::new();
    for mut ws in clients {
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(16 * 1024);
            while Instant::now() < end {
                let sent = Instant::now();
                ws.send(Message::text(PING)).await?;
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Text(_))) => break,
                        Some(Ok(_)) => {}
                        Some(Err(err)) => return Err(Error::from(err)),
                        None => return Err("the server closed the connection".into()),
                    }
                }
                if sent >= warmup {
                    latencies.push(sent.elapsed().as_micros() as u64);
                }
            }
            let _ = ws.close(None).await;
            Ok::<_, Error>(latencies)
        });
    }
    let mut all = Vec::new();
    while let Some(latencies) = tasks.join_next().await {
        all.extend(latencies??);
    }
    let count = all.len() as u64;
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(percentiles(all, count, duration))
}

/// One member broadcasts, stamped with the send time, keeping `FANOUT_WINDOW` broadcasts'
/// deliveries in flight; every member (the sender too) records each delivery's latency.
async fn fanout(target: &Target, members: usize, duration: Duration) -> Result<Measured, Error> {
    let mut clients = connect_many(&target.urls, members, 64).await?;
    // Group joins happen after the handshake; give them time.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let epoch = Instant::now();
    let warmup = epoch + Duration::from_secs(1);
    let end = warmup + duration;
    let delivered = Arc::new(AtomicU64::new(0));
    let (mut sink, sender_stream) = clients.pop().ok_or("fan-out needs a member")?.split();
    let mut receivers = JoinSet::new();
    let streams = clients.into_iter().map(|ws| ws.split().1).chain(std::iter::once(sender_stream));
    for mut stream in streams {
        let delivered = delivered.clone();
        receivers.spawn(async move {
            let mut latencies = Vec::new();
            let mut counted = 0u64;
            while let Ok(Some(Ok(frame))) = tokio::time::timeout_at(end + Duration::from_secs(2), stream.next()).await {
                let Message::Text(text) = frame else { continue };
                let now = epoch.elapsed().as_nanos() as u64;
                let Some(sent) = stamp(&text) else { continue };
                delivered.fetch_add(1, Ordering::Relaxed);
                if epoch + Duration::from_nanos(sent) >= warmup && now <= (end - epoch).as_nanos() as u64 {
                    latencies.push(now.saturating_sub(sent) / 1_000);
                    counted += 1;
                }
            }
            (latencies, counted)
        });
    }
    let members = members as u64;
    let mut sent = 0u64;
    let mut stalled_since: Option<Instant> = None;
    while Instant::now() < end {
        if (sent * members).saturating_sub(delivered.load(Ordering::Relaxed)) >= FANOUT_WINDOW * members {
            let since = *stalled_since.get_or_insert_with(Instant::now);
            if since.elapsed() > Duration::from_secs(2) {
                eprintln!("{}: fan-out stalled (deliveries lost); stopping early", target.name);
                break;
            }
            tokio::task::yield_now().await;
            continue;
        }
        stalled_since = None;
        let stamp = epoch.elapsed().as_nanos() as u64;
        let frame = format!(r#"{{"action":"broadcast","payload":{{"t":{stamp},"text":"hello, everyone"}}}}"#);
        sink.send(Message::text(frame)).await?;
        sent += 1;
    }
    let _ = sink.close().await;
    let mut all = Vec::new();
    let mut count = 0;
    while let Some(result) = receivers.join_next().await {
        let (latencies, counted) = result?;
        all.extend(latencies);
        count += counted;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(percentiles(all, count, duration))
}

/// The `"t":<nanos>` stamp of a relayed broadcast.
fn stamp(text: &str) -> Option<u64> {
    let start = text.find("\"t\":")? + 4;
    let digits = text[start..].bytes().take_while(u8::is_ascii_digit).count();
    text[start..start + digits].parse().ok()
}
