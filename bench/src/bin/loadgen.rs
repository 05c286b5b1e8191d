//! The load generator: runs the scenarios of docs/benchmarks.md against each target in turn, in
//! one run, and prints a Markdown table of the results with the first target's ratio to each of
//! the others (the baselines), each ratio with its spread over the rounds. `--json PATH` also
//! writes every round's numbers, machine-readable, for `bench/charts.py`.
//!
//! ```sh
//! loadgen --target chanx=ws://127.0.0.1:8080/ws/bench/@PID --target raw=ws://127.0.0.1:8081/@PID
//! ```
//!
//! `@PID` is the server's process id, read for its resident memory and its CPU time
//! (`/proc/PID/stat`). A target may list several `URL@PID`, comma-separated (one per process):
//! connections are spread over them in turn, and memory and CPU are summed over the processes.
//!
//! The generator is built not to be the bottleneck: it speaks WebSocket itself over plain TCP
//! (pre-masked, pre-serialized frames; replies are matched by their opcode and, for fan-out, the
//! send stamp they carry; nothing is parsed as JSON), on a Tokio runtime with one worker per core
//! it may use. It measures its own CPU time too, and marks a measurement "generator saturated"
//! when it used ≥ 90 % of its cores: the server was then not the limit.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::Instant;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Broadcasts kept in flight by the fan-out sender (counted in deliveries still owed).
const FANOUT_WINDOW: u64 = 8;

/// The fan-out window of `--drive`: `FANOUT_WINDOW` in the environment, else [`FANOUT_WINDOW`].
/// A window of 1 makes every wake-up of a member carry one delivery, so that a profile shows the
/// cost of a wake-up, which full speed (about 7 deliveries per write) pays more often than
/// valgrind's slow motion (about 11).
fn drive_window() -> u64 {
    std::env::var("FANOUT_WINDOW").ok().and_then(|w| w.parse().ok()).filter(|w| *w > 0).unwrap_or(FANOUT_WINDOW)
}
/// The generator counts as saturated above this share of its cores.
const SATURATED: f64 = 0.9;
/// The mask of every client frame: any key will do, the server unmasks either way.
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
/// Clock ticks per second of /proc/PID/stat (USER_HZ, 100 on Linux).
const TICKS: f64 = 100.0;

#[derive(Clone)]
struct Endpoint {
    host: String,
    path: String,
    pid: u32,
}

struct Target {
    name: String,
    endpoints: Vec<Endpoint>,
}

impl Target {
    fn pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self.endpoints.iter().map(|e| e.pid).collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }
}

struct Options {
    targets: Vec<Target>,
    duration: Duration,
    idle: usize,
    accepts: usize,
    echo: Vec<usize>,
    fanout: Vec<usize>,
    groups: usize,
    rounds: usize,
    json: Option<String>,
    /// Put before every scenario's name, so that two runs' rows (and charts) stay apart.
    prefix: String,
    /// The action of a fan-out frame: `broadcast` (group `bench`) or `publish` (a feed topic).
    action: String,
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(workers).enable_all().build()?;
    if args.first().map(String::as_str) == Some("--hold") {
        // A helper process of the idle scenario: one process may hold only so many sockets.
        return runtime.block_on(hold(&args[1..]));
    }
    if args.first().map(String::as_str) == Some("--drive") {
        // A fixed amount of work, for instruction counts under callgrind (bench/callgrind.sh).
        return runtime.block_on(drive(&args[1..]));
    }
    let options = parse_args(&args)?;
    runtime.block_on(run(options))
}

fn parse_endpoint(spec: &str) -> Result<Endpoint, Error> {
    let (url, pid) = spec.rsplit_once('@').ok_or("--target NAME=URL@PID[,URL@PID...]")?;
    let rest = url.strip_prefix("ws://").ok_or("only ws:// URLs")?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Ok(Endpoint { host: host.to_owned(), path: path.to_owned(), pid: pid.parse()? })
}

fn parse_args(args: &[String]) -> Result<Options, Error> {
    let mut options = Options {
        targets: Vec::new(),
        duration: Duration::from_secs(5),
        idle: 5_000,
        accepts: 3_000,
        echo: vec![1, 50, 500],
        fanout: vec![100, 1_000],
        groups: 1_000,
        rounds: 3,
        json: None,
        prefix: String::new(),
        action: "broadcast".to_owned(),
    };
    let list = |s: &str| s.split(',').filter(|n| !n.is_empty()).map(str::parse).collect::<Result<Vec<usize>, _>>();
    for pair in args.chunks(2) {
        let [flag, value] = pair else { return Err(format!("{pair:?}: every flag takes a value").into()) };
        match flag.as_str() {
            "--target" => {
                let (name, rest) = value.split_once('=').ok_or("--target NAME=URL@PID")?;
                let endpoints = rest.split(',').map(parse_endpoint).collect::<Result<_, _>>()?;
                options.targets.push(Target { name: name.into(), endpoints });
            }
            "--duration" => options.duration = Duration::from_secs_f64(value.parse()?),
            "--idle" => options.idle = value.parse()?,
            "--accepts" => options.accepts = value.parse()?,
            "--echo" => options.echo = list(value)?,
            "--fanout" => options.fanout = list(value)?,
            "--groups" => options.groups = value.parse()?,
            "--rounds" => options.rounds = value.parse::<usize>()?.max(1),
            "--json" => options.json = Some(value.clone()),
            "--prefix" => options.prefix = value.clone(),
            "--action" => options.action = value.clone(),
            other => return Err(format!("unknown flag {other}").into()),
        }
    }
    if options.targets.is_empty() {
        return Err("give at least one --target NAME=URL@PID".into());
    }
    Ok(options)
}

// ---------------------------------------------------------------------------------------------
// A minimal WebSocket client.

/// A client frame: FIN + opcode, the masked length, the mask, the masked payload.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = Vec::with_capacity(payload.len() + 14);
    frame.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= 0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&MASK);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    frame
}

fn text_frame(text: &str) -> Vec<u8> {
    client_frame(0x1, text.as_bytes())
}

/// The read side of a connection: frames out of a buffer, without copying their payloads.
struct Reader<R> {
    io: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

/// Server frames are unmasked: a 2-byte header, then 2 or 8 bytes of length for long ones.
fn header(buf: &[u8]) -> Option<(u8, usize, usize)> {
    let (&b0, &b1) = (buf.first()?, buf.get(1)?);
    let (skip, len) = match b1 & 0x7f {
        126 => (4, u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize),
        127 => (10, u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize),
        n => (2, n as usize),
    };
    Some((b0 & 0x0f, skip, len))
}

impl<R: AsyncRead + Unpin> Reader<R> {
    fn new(io: R, capacity: usize) -> Self {
        Reader { io, buf: vec![0; capacity], start: 0, end: 0 }
    }

    /// The next data frame's opcode and payload; `None` at a close frame or the end of the stream.
    async fn next(&mut self) -> std::io::Result<Option<(u8, &[u8])>> {
        loop {
            if let Some((opcode, skip, len)) = header(&self.buf[self.start..self.end])
                && self.end - self.start >= skip + len
            {
                let payload = self.start + skip..self.start + skip + len;
                self.start = payload.end;
                match opcode {
                    0x8 => return Ok(None),
                    0x9 | 0xa => continue, // pings need no answer here: every client frame counts as alive
                    _ => return Ok(Some((opcode, &self.buf[payload]))),
                }
            }
            // Need more bytes: make room at the end, growing for a frame longer than the buffer.
            if self.start == self.end {
                (self.start, self.end) = (0, 0);
            } else if self.end == self.buf.len() {
                self.buf.copy_within(self.start..self.end, 0);
                (self.start, self.end) = (0, self.end - self.start);
                if self.end == self.buf.len() {
                    self.buf.resize(self.buf.len() * 2, 0);
                }
            }
            let n = self.io.read(&mut self.buf[self.end..]).await?;
            if n == 0 {
                return Ok(None);
            }
            self.end += n;
        }
    }
}

struct Conn {
    reader: Reader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

/// Connects and performs the opening handshake (no `Origin`, as non-browser clients send none).
async fn connect(endpoint: &Endpoint) -> Result<Conn, Error> {
    let stream = TcpStream::connect(&endpoint.host).await?;
    stream.set_nodelay(true)?;
    let (read, mut writer) = stream.into_split();
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        endpoint.path, endpoint.host
    );
    writer.write_all(request.as_bytes()).await?;
    let mut reader = Reader::new(read, 2048);
    loop {
        if let Some(at) = reader.buf[..reader.end].windows(4).position(|w| w == b"\r\n\r\n") {
            if !reader.buf.starts_with(b"HTTP/1.1 101") {
                let head = String::from_utf8_lossy(&reader.buf[..at]).into_owned();
                return Err(format!("handshake refused: {head}").into());
            }
            reader.start = at + 4;
            return Ok(Conn { reader, writer });
        }
        if reader.end == reader.buf.len() {
            return Err("handshake response too long".into());
        }
        let n = reader.io.read(&mut reader.buf[reader.end..]).await?;
        if n == 0 {
            return Err("closed during the handshake".into());
        }
        reader.end += n;
    }
}

/// Opens `n` connections over the endpoints in turn, `parallel` handshakes at a time.
async fn connect_many(endpoints: &[Endpoint], n: usize, parallel: usize) -> Result<Vec<Conn>, Error> {
    let mut all = Vec::with_capacity(n);
    let mut pending = JoinSet::new();
    for endpoint in endpoints.iter().cycle().take(n) {
        if pending.len() >= parallel
            && let Some(conn) = pending.join_next().await
        {
            all.push(conn??);
        }
        let endpoint = endpoint.clone();
        pending.spawn(async move { connect(&endpoint).await });
    }
    while let Some(conn) = pending.join_next().await {
        all.push(conn??);
    }
    Ok(all)
}

/// Sends close frames and drops the sockets, then lets the servers tear down.
async fn close_all(conns: Vec<Conn>) {
    let close = client_frame(0x8, &1000u16.to_be_bytes());
    let mut closing = JoinSet::new();
    for mut conn in conns {
        let close = close.clone();
        closing.spawn(async move {
            let _ = conn.writer.write_all(&close).await;
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while let Ok(Some(_)) = conn.reader.next().await {}
            })
            .await;
        });
    }
    while closing.join_next().await.is_some() {}
    tokio::time::sleep(Duration::from_millis(500)).await;
}

// ---------------------------------------------------------------------------------------------
// Measuring the processes.

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> Result<f64, Error> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).ok_or("no VmRSS")?;
    Ok(line.split_whitespace().nth(1).ok_or("bad VmRSS")?.parse()?)
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    // The command may hold spaces; the fields after it are space-separated.
    let Some(after) = stat.rsplit_once(')').map(|(_, rest)| rest) else { return 0.0 };
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of the line; `after` starts at field 3.
    let ticks = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(14) + ticks(15)) / TICKS
}

/// CPU seconds of the servers and of the generator at one instant.
#[derive(Clone, Copy)]
struct CpuMark {
    at: Instant,
    servers: f64,
    own: f64,
}

fn cpu_mark(pids: &[u32]) -> CpuMark {
    CpuMark {
        at: Instant::now(),
        servers: pids.iter().map(|p| cpu_seconds(&p.to_string())).sum(),
        own: cpu_seconds("self"),
    }
}

/// What a measurement cost: server CPU per operation and the generator's load.
#[derive(Clone, Copy, Default)]
struct Cost {
    /// Server CPU time per operation, µs.
    server_us_per_op: f64,
    /// The generator's CPU time over the window as a share of its cores (1.0 = all of them).
    generator_load: f64,
}

fn cost(from: CpuMark, to: CpuMark, ops: u64) -> Cost {
    let wall = (to.at - from.at).as_secs_f64().max(1e-9);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    Cost {
        server_us_per_op: if ops == 0 { 0.0 } else { (to.servers - from.servers) * 1e6 / ops as f64 },
        generator_load: (to.own - from.own) / wall / cores,
    }
}

/// Marks the CPU at `warmup` and at `end`, from a task of its own.
fn spawn_cpu_window(pids: Vec<u32>, warmup: Instant, end: Instant) -> tokio::task::JoinHandle<(CpuMark, CpuMark)> {
    tokio::spawn(async move {
        tokio::time::sleep_until(warmup).await;
        let from = cpu_mark(&pids);
        tokio::time::sleep_until(end).await;
        (from, cpu_mark(&pids))
    })
}

// ---------------------------------------------------------------------------------------------
// Scenarios.

#[derive(Clone, Copy, Default)]
struct Measured {
    rate: f64,
    p50: u64,
    p99: u64,
    cost: Cost,
}

fn percentiles(mut micros: Vec<u64>, count: u64, elapsed: Duration, cost: Cost) -> Measured {
    micros.sort_unstable();
    let at = |q: f64| micros.get(((micros.len() as f64 * q) as usize).min(micros.len().saturating_sub(1))).copied();
    Measured {
        rate: count as f64 / elapsed.as_secs_f64(),
        p50: at(0.50).unwrap_or(0),
        p99: at(0.99).unwrap_or(0),
        cost,
    }
}

/// Memory per idle connection, `n` connections spread over the target's processes; the sockets
/// are held by helper processes (`--hold`) of at most 15,000 each, for the file limit.
async fn idle_memory(target: &Target, n: usize) -> Result<f64, Error> {
    let pids = target.pids();
    let before: f64 = pids.iter().map(|&p| rss_kib(p)).sum::<Result<_, _>>()?;
    let helpers = n.div_ceil(15_000).max(target.endpoints.len().min(n));
    let exe = std::env::current_exe()?;
    let mut children = Vec::new();
    for h in 0..helpers {
        let count = n / helpers + usize::from(h < n % helpers);
        // Each helper connects to one endpoint; they take the endpoints in turn.
        let e = &target.endpoints[h % target.endpoints.len()];
        let url = format!("{}{}@{}", e.host, e.path, e.pid);
        let child = tokio::process::Command::new(&exe)
            .args(["--hold", &url, &count.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        children.push(child);
    }
    for child in &mut children {
        let mut line = String::new();
        let stdout = child.stdout.take().ok_or("no stdout")?;
        tokio::io::AsyncBufReadExt::read_line(&mut BufReader::new(stdout), &mut line).await?;
        if line.trim() != "ready" {
            return Err(format!("{}: an idle helper failed: {line}", target.name).into());
        }
    }
    // Let the servers finish each connection's setup (group joins) and settle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after: f64 = pids.iter().map(|&p| rss_kib(p)).sum::<Result<_, _>>()?;
    for mut child in children {
        drop(child.stdin.take()); // the helper closes its connections and exits
        let _ = tokio::time::timeout(Duration::from_secs(20), child.wait()).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    Ok((after - before) / n as f64)
}

/// `--hold HOST/PATH@PID N`: opens N connections, says `ready`, holds them until stdin closes.
async fn hold(args: &[String]) -> Result<(), Error> {
    let [url, n] = args else { return Err("--hold URL@PID N".into()) };
    let endpoint = parse_endpoint(&format!("ws://{url}"))?;
    let conns = connect_many(&[endpoint], n.parse()?, 100).await;
    match conns {
        Ok(conns) => {
            println!("ready");
            let mut rest = Vec::new();
            let _ = tokio::io::stdin().read_to_end(&mut rest).await;
            close_all(conns).await;
            Ok(())
        }
        Err(err) => {
            println!("{err}");
            Err(err)
        }
    }
}

/// `--drive echo URL@PID CONNS OPS`, `--drive fanout URL@PID MEMBERS BROADCASTS [ACTION]` or
/// `--drive accept URL@PID PARALLEL CONNECTIONS`: exactly that many round trips (spread over the
/// connections), broadcasts (each delivered to every member; ACTION `broadcast` by default,
/// `publish` for a feed topic) or connections (opened PARALLEL at a time, as the accept
/// benchmark does, then closed), then closes; prints how many operations the server did.
async fn drive(args: &[String]) -> Result<(), Error> {
    let (kind, url, conns, ops, action) = match args {
        [kind, url, conns, ops] => (kind, url, conns, ops, "broadcast"),
        [kind, url, conns, ops, action] => (kind, url, conns, ops, action.as_str()),
        _ => return Err("--drive echo|fanout|accept URL@PID CONNS OPS [ACTION]".into()),
    };
    let endpoint = parse_endpoint(url)?;
    let (conns, ops): (usize, u64) = (conns.parse()?, ops.parse()?);
    if kind == "accept" {
        let opened = connect_many(std::slice::from_ref(&endpoint), ops as usize, conns).await?;
        // Let the servers finish setting each connection up before it closes.
        tokio::time::sleep(Duration::from_millis(500)).await;
        close_all(opened).await;
        println!("{ops} connections");
        return Ok(());
    }
    let clients = connect_many(std::slice::from_ref(&endpoint), conns, 16).await?;
    tokio::time::sleep(Duration::from_millis(500 + conns as u64)).await;
    let done = match kind.as_str() {
        "echo" => {
            let ping: Arc<[u8]> = text_frame(PING).into();
            let mut tasks = JoinSet::new();
            for (i, mut conn) in clients.into_iter().enumerate() {
                let ping = ping.clone();
                let mine = ops / conns as u64 + u64::from((i as u64) < ops % conns as u64);
                tasks.spawn(async move {
                    for _ in 0..mine {
                        conn.writer.write_all(&ping).await?;
                        conn.reader.next().await?.ok_or("the server closed the connection")?;
                    }
                    Ok::<_, Error>(conn)
                });
            }
            let mut done = Vec::new();
            while let Some(conn) = tasks.join_next().await {
                done.push(conn??);
            }
            println!("{ops} round trips");
            done
        }
        "fanout" => {
            let mut clients = clients;
            let Conn { reader, writer: mut sink } = clients.pop().ok_or("fan-out needs a member")?;
            let (readers, writers): (Vec<_>, Vec<_>) = clients.into_iter().map(|c| (c.reader, c.writer)).unzip();
            let delivered = Arc::new(AtomicU64::new(0));
            let mut receivers = JoinSet::new();
            for mut reader in readers.into_iter().chain(std::iter::once(reader)) {
                let delivered = delivered.clone();
                receivers.spawn(async move {
                    let mut received = 0;
                    while received < ops {
                        let Some((_, text)) = reader.next().await? else {
                            return Err(Error::from("the server closed the connection"));
                        };
                        // Only the broadcasts count: a topic route answers `subscribed` first.
                        if stamp(text).is_some() {
                            received += 1;
                            delivered.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok::<_, Error>(reader)
                });
            }
            let members = conns as u64;
            let window = drive_window();
            for sent in 0..ops {
                while sent * members - delivered.load(Ordering::Relaxed) >= window * members {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                let text = format!(r#"{{"action":"{action}","payload":{{"t":{sent},"text":"hello, everyone"}}}}"#);
                sink.write_all(&text_frame(&text)).await?;
            }
            let mut done = Vec::new();
            while let Some(reader) = receivers.join_next().await {
                done.push(reader??);
            }
            drop((sink, writers, done));
            println!("{} deliveries", ops * members);
            Vec::new()
        }
        other => return Err(format!("--drive {other}: echo, fanout or accept").into()),
    };
    close_all(done).await;
    Ok(())
}

async fn accept_rate(target: &Target, n: usize) -> Result<Measured, Error> {
    let from = cpu_mark(&target.pids());
    let start = Instant::now();
    let conns = connect_many(&target.endpoints, n, 64).await?;
    let elapsed = start.elapsed();
    let cost = cost(from, cpu_mark(&target.pids()), n as u64);
    close_all(conns).await;
    Ok(Measured { rate: n as f64 / elapsed.as_secs_f64(), cost, ..Measured::default() })
}

const PING: &str = r#"{"action":"ping"}"#;

/// Each connection sends a ping and waits for the pong, again and again.
async fn echo(target: &Target, conns: usize, duration: Duration) -> Result<Measured, Error> {
    let clients = connect_many(&target.endpoints, conns, 64).await?;
    let warmup = Instant::now() + Duration::from_secs(1);
    let end = warmup + duration;
    let window = spawn_cpu_window(target.pids(), warmup, end);
    let ping: Arc<[u8]> = text_frame(PING).into();
    let mut tasks = JoinSet::new();
    for mut conn in clients {
        let ping = ping.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(16 * 1024);
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                conn.writer.write_all(&ping).await?;
                match conn.reader.next().await? {
                    Some(_) => {}
                    None => return Err(Error::from("the server closed the connection")),
                }
                if sent >= warmup {
                    latencies.push(sent.elapsed().as_micros() as u64);
                }
            }
            Ok::<_, Error>((latencies, conn))
        });
    }
    let mut all = Vec::new();
    let mut done = Vec::new();
    while let Some(result) = tasks.join_next().await {
        let (latencies, conn) = result??;
        all.extend(latencies);
        done.push(conn);
    }
    let (from, to) = window.await?;
    let count = all.len() as u64;
    close_all(done).await;
    Ok(percentiles(all, count, duration, cost(from, to, count)))
}

/// The `"t":<nanos>` stamp of a relayed broadcast.
fn stamp(text: &[u8]) -> Option<u64> {
    let start = text.windows(4).position(|w| w == b"\"t\":")? + 4;
    let mut value = 0u64;
    let mut digits = 0;
    for &b in &text[start..] {
        if !b.is_ascii_digit() {
            break;
        }
        value = value * 10 + u64::from(b - b'0');
        digits += 1;
    }
    (digits > 0).then_some(value)
}

/// One member broadcasts, stamped with the send time, keeping `FANOUT_WINDOW` broadcasts'
/// deliveries in flight; every member (the sender too) records each delivery's latency.
async fn fanout(target: &Target, members: usize, duration: Duration, action: &str) -> Result<Measured, Error> {
    let mut clients = connect_many(&target.endpoints, members, 64).await?;
    // Group joins happen after the handshake; give them time.
    tokio::time::sleep(Duration::from_millis(500 + members as u64 / 20)).await;
    let epoch = Instant::now();
    let warmup = epoch + Duration::from_secs(1);
    let end = warmup + duration;
    let window = spawn_cpu_window(target.pids(), warmup, end);
    let delivered = Arc::new(AtomicU64::new(0));
    let Conn { reader: sender_reader, writer: mut sink } = clients.pop().ok_or("fan-out needs a member")?;
    let mut receivers = JoinSet::new();
    // The write halves are kept: dropping one would end that connection (a TCP half-close).
    let (readers, writers): (Vec<_>, Vec<_>) = clients.into_iter().map(|c| (c.reader, c.writer)).unzip();
    let readers = readers.into_iter().chain(std::iter::once(sender_reader));
    let (warm_ns, end_ns) = ((warmup - epoch).as_nanos() as u64, (end - epoch).as_nanos() as u64);
    for mut reader in readers {
        let delivered = delivered.clone();
        receivers.spawn(async move {
            let mut latencies = Vec::new();
            let mut counted = 0u64;
            let deadline = end + Duration::from_secs(2);
            while let Ok(Ok(Some((_, text)))) = tokio::time::timeout_at(deadline, reader.next()).await {
                let now = epoch.elapsed().as_nanos() as u64;
                let Some(sent) = stamp(text) else { continue };
                delivered.fetch_add(1, Ordering::Relaxed);
                if sent >= warm_ns && now <= end_ns {
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
    let mut text = String::with_capacity(128);
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
        text.clear();
        let stamp = epoch.elapsed().as_nanos() as u64;
        let _ = write!(text, r#"{{"action":"{action}","payload":{{"t":{stamp},"text":"hello, everyone"}}}}"#);
        sink.write_all(&text_frame(&text)).await?;
        sent += 1;
    }
    let (from, to) = window.await?;
    let mut all = Vec::new();
    let mut count = 0;
    while let Some(result) = receivers.join_next().await {
        let (latencies, counted) = result?;
        all.extend(latencies);
        count += counted;
    }
    drop((sink, writers));
    tokio::time::sleep(Duration::from_millis(300 + members / 10)).await;
    Ok(percentiles(all, count, duration, cost(from, to, count)))
}

/// Group churn: one connection joins and leaves a group again and again, first while in one
/// group (the consumer's), then while in `held` more. Returns (per op with 1, per op with held).
async fn group_churn(target: &Target, held: usize) -> Result<(Measured, Measured), Error> {
    let mut conn = connect(&target.endpoints[0]).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let join = |g: &str| text_frame(&format!(r#"{{"action":"join","payload":{{"group":"{g}"}}}}"#));
    let leave = |g: &str| text_frame(&format!(r#"{{"action":"leave","payload":{{"group":"{g}"}}}}"#));
    // 64 frames in flight: joins and leaves of 32 churn groups.
    let burst: Vec<u8> =
        (0..32).flat_map(|i| [join(&format!("churn.{i}")), leave(&format!("churn.{i}"))]).flatten().collect();
    let pids = target.pids();
    async fn exchange(conn: &mut Conn, bytes: &[u8], replies: usize) -> Result<(), Error> {
        conn.writer.write_all(bytes).await?;
        for _ in 0..replies {
            conn.reader.next().await?.ok_or("the server closed the connection")?;
        }
        Ok(())
    }
    let timed = async |conn: &mut Conn| -> Result<Measured, Error> {
        let bursts = 400; // 25,600 operations
        exchange(conn, &burst, 64).await?; // warm-up
        let from = cpu_mark(&pids);
        for _ in 0..bursts {
            exchange(conn, &burst, 64).await?;
        }
        let to = cpu_mark(&pids);
        let ops = bursts * 64;
        let elapsed = to.at - from.at;
        Ok(Measured { rate: ops as f64 / elapsed.as_secs_f64(), cost: cost(from, to, ops), ..Measured::default() })
    };
    let one = timed(&mut conn).await?;
    let holding: Vec<u8> = (0..held).flat_map(|i| join(&format!("held.{i}"))).collect();
    exchange(&mut conn, &holding, held).await?;
    let many = timed(&mut conn).await?;
    close_all(vec![conn]).await;
    Ok((one, many))
}

// ---------------------------------------------------------------------------------------------
// Rounds, rows and the report.

/// One measurement: a value per target and round.
struct Row {
    scenario: String,
    label: String,
    unit: &'static str,
    /// Whether a bigger value is better (ratios are then target / baseline).
    higher_is_better: bool,
    /// `values[target][round]`.
    values: Vec<Vec<f64>>,
    /// Whether the generator was saturated in any round, per target.
    saturated: Vec<bool>,
}

impl Row {
    fn new(scenario: &str, label: String, unit: &'static str, higher_is_better: bool) -> Row {
        Row { scenario: scenario.to_owned(), label, unit, higher_is_better, values: Vec::new(), saturated: Vec::new() }
    }

    fn median(&self, target: usize) -> f64 {
        median(&self.values[target])
    }

    /// The first target's ratio to `other` in each round (same round: neighbours in time).
    fn ratios(&self, other: usize) -> Vec<f64> {
        self.values[0].iter().zip(&self.values[other]).map(|(a, b)| if *b == 0.0 { f64::NAN } else { a / b }).collect()
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Runs `scenario` `options.rounds` times per target, the targets taking turns.
async fn rounds<'t, F, Fut>(options: &'t Options, label: &str, mut scenario: F) -> Result<Vec<Vec<Measured>>, Error>
where
    F: FnMut(&'t Target) -> Fut,
    Fut: std::future::Future<Output = Result<Measured, Error>>,
{
    let mut per_target: Vec<Vec<Measured>> = options.targets.iter().map(|_| Vec::new()).collect();
    for round in 1..=options.rounds {
        for (target, results) in options.targets.iter().zip(&mut per_target) {
            let r = scenario(target).await?;
            let saturated = if r.cost.generator_load >= SATURATED { " — generator saturated" } else { "" };
            eprintln!(
                "{} {label}, round {round}: {:.0}/s p50 {} µs p99 {} µs, server {:.2} µs CPU/op, generator {:.0}% of its cores{saturated}",
                target.name,
                r.rate,
                r.p50,
                r.p99,
                r.cost.server_us_per_op,
                r.cost.generator_load * 100.0
            );
            results.push(r);
        }
    }
    Ok(per_target)
}

/// The rows of a throughput scenario: rate, server CPU per op, latencies.
fn throughput_rows(scenario: &str, what: &str, per_op: &str, results: &[Vec<Measured>], latencies: bool) -> Vec<Row> {
    let mut rate = Row::new(scenario, format!("{scenario}: {what}/s"), "/s", true);
    let mut cpu = Row::new(scenario, format!("{scenario}: server CPU per {per_op}"), "µs", false);
    let mut p50 = Row::new(scenario, format!("{scenario}: p50 latency"), "µs", false);
    let mut p99 = Row::new(scenario, format!("{scenario}: p99 latency"), "µs", false);
    for rounds in results {
        let saturated = rounds.iter().any(|r| r.cost.generator_load >= SATURATED);
        rate.values.push(rounds.iter().map(|r| r.rate).collect());
        cpu.values.push(rounds.iter().map(|r| r.cost.server_us_per_op).collect());
        p50.values.push(rounds.iter().map(|r| r.p50 as f64).collect());
        p99.values.push(rounds.iter().map(|r| r.p99 as f64).collect());
        for row in [&mut rate, &mut cpu, &mut p50, &mut p99] {
            row.saturated.push(saturated);
        }
    }
    if latencies { vec![rate, cpu, p50, p99] } else { vec![rate, cpu, p99] }
}

async fn run(options: Options) -> Result<(), Error> {
    let mut rows = Vec::new();
    let names: Vec<&str> = options.targets.iter().map(|t| t.name.as_str()).collect();
    let started = std::time::SystemTime::now();
    eprintln!("targets: {names:?}; {} s per measurement, {} rounds", options.duration.as_secs_f64(), options.rounds);

    // Memory first, on fresh servers: later scenarios leave allocator caches behind.
    if options.idle > 0 {
        let scenario = format!("{}idle {}", options.prefix, options.idle);
        let mut row = Row::new(&scenario, format!("RSS per idle connection ({} open)", options.idle), "KiB", false);
        for target in &options.targets {
            let per_conn = idle_memory(target, options.idle).await?;
            eprintln!("{}: {per_conn:.2} KiB per idle connection", target.name);
            row.values.push(vec![per_conn]);
            row.saturated.push(false);
        }
        rows.push(row);
    }

    if options.accepts > 0 {
        let scenario = format!("{}accepts {}", options.prefix, options.accepts);
        let results = rounds(&options, &scenario, |t| accept_rate(t, options.accepts)).await?;
        let mut rows_here = throughput_rows(&scenario, "connections accepted", "accept", &results, false);
        rows_here.truncate(2);
        rows.extend(rows_here);
    }

    for &conns in &options.echo {
        let scenario = format!("{}echo {conns}", options.prefix);
        let results = rounds(&options, &scenario, |t| echo(t, conns, options.duration)).await?;
        rows.extend(throughput_rows(&scenario, "round trips", "round trip", &results, true));
    }

    for &members in &options.fanout {
        let scenario = format!("{}fan-out {members}", options.prefix);
        let results = rounds(&options, &scenario, |t| fanout(t, members, options.duration, &options.action)).await?;
        rows.extend(throughput_rows(&scenario, "deliveries", "delivery", &results, false));
    }

    if options.groups > 0 {
        let scenario = format!("{}groups {}", options.prefix, options.groups);
        let mut one = Row::new(&scenario, "join or leave, in 1 group: server CPU per op".into(), "µs", false);
        let mut many = Row::new(
            &scenario,
            format!("join or leave, in {} groups: server CPU per op", options.groups + 1),
            "µs",
            false,
        );
        let mut growth =
            Row::new(&scenario, format!("join or leave: cost in {} groups / in 1", options.groups + 1), "×", false);
        let mut per_target: Vec<Vec<(Measured, Measured)>> = options.targets.iter().map(|_| Vec::new()).collect();
        for round in 1..=options.rounds {
            for (target, results) in options.targets.iter().zip(&mut per_target) {
                let (a, b) = group_churn(target, options.groups).await?;
                eprintln!(
                    "{} {scenario}, round {round}: {:.2} µs CPU/op in 1 group ({:.0}/s), {:.2} µs in {} ({:.0}/s)",
                    target.name,
                    a.cost.server_us_per_op,
                    a.rate,
                    b.cost.server_us_per_op,
                    options.groups + 1,
                    b.rate
                );
                results.push((a, b));
            }
        }
        for results in per_target {
            one.values.push(results.iter().map(|(a, _)| a.cost.server_us_per_op).collect());
            many.values.push(results.iter().map(|(_, b)| b.cost.server_us_per_op).collect());
            growth
                .values
                .push(results.iter().map(|(a, b)| b.cost.server_us_per_op / a.cost.server_us_per_op).collect());
            for row in [&mut one, &mut many, &mut growth] {
                row.saturated.push(false);
            }
        }
        rows.extend([one, many, growth]);
    }

    print_table(&names, &rows);
    if let Some(path) = &options.json {
        std::fs::write(path, to_json(&names, &rows, &options, started))?;
        eprintln!("results written to {path}");
    }
    Ok(())
}

/// Each target's median, then the first target's ratio to each of the others: the median of the
/// per-round ratios, with their min–max.
fn print_table(names: &[&str], rows: &[Row]) {
    let ratios: Vec<String> = names[1..].iter().map(|n| format!("{} / {n} (min–max)", names[0])).collect();
    println!("| measurement | {} | {} |", names.join(" | "), ratios.join(" | "));
    println!("|---|{}", "---:|".repeat(names.len() + ratios.len()));
    for row in rows {
        let values: Vec<String> = (0..row.values.len())
            .map(|t| {
                let mark = if row.saturated[t] { " (generator saturated)" } else { "" };
                format!("{} {}{mark}", human(row.median(t)), row.unit)
            })
            .collect();
        let ratios: Vec<String> = (1..row.values.len())
            .map(|other| {
                let r = row.ratios(other);
                let (lo, hi) = r.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| (lo.min(x), hi.max(x)));
                if r.len() > 1 {
                    format!("{:.2}× ({lo:.2}–{hi:.2})", median(&r))
                } else {
                    format!("{:.2}×", median(&r))
                }
            })
            .collect();
        let better = if row.higher_is_better { "" } else { " (lower is better)" };
        println!("| {}{better} | {} | {} |", row.label, values.join(" | "), ratios.join(" | "));
    }
}

fn human(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn json_str(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

fn json_num(v: f64) -> String {
    if v.is_finite() { format!("{v}") } else { "null".to_owned() }
}

/// The results as JSON: the run, then each row with every target's value in every round.
fn to_json(names: &[&str], rows: &[Row], options: &Options, started: std::time::SystemTime) -> String {
    let unix = started.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut out = format!(
        "{{\n  \"started_unix\": {unix},\n  \"loadavg\": {},\n  \"duration_s\": {},\n  \"rounds\": {},\n  \"targets\": [{}],\n  \"rows\": [\n",
        json_str(load.trim()),
        options.duration.as_secs_f64(),
        options.rounds,
        names.iter().map(|n| json_str(n)).collect::<Vec<_>>().join(", ")
    );
    for (i, row) in rows.iter().enumerate() {
        let values: Vec<String> = row
            .values
            .iter()
            .map(|rounds| format!("[{}]", rounds.iter().map(|v| json_num(*v)).collect::<Vec<_>>().join(", ")))
            .collect();
        let saturated: Vec<String> = row.saturated.iter().map(bool::to_string).collect();
        let _ = writeln!(
            out,
            "    {{\"scenario\": {}, \"label\": {}, \"unit\": {}, \"higher_is_better\": {}, \"values\": [{}], \"generator_saturated\": [{}]}}{}",
            json_str(&row.scenario),
            json_str(&row.label),
            json_str(row.unit),
            row.higher_is_better,
            values.join(", "),
            saturated.join(", "),
            if i + 1 < rows.len() { "," } else { "" }
        );
    }
    out.push_str("  ]\n}\n");
    out
}
