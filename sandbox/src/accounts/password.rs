//! Password hashing with argon2id (the crate's recommended parameters) on a small, fixed pool of
//! threads, with a bounded queue in front of it.
//!
//! Each hash needs 19 MiB of working memory. Hashing on tokio's blocking pool allocated it afresh
//! on as many threads as there were hashes at once (up to 512), and glibc kept it: a freed 19 MiB
//! block raises glibc's dynamic mmap threshold, so the next ones come from per-thread arenas, which
//! are not given back. A burst of logins grew the process to hundreds of MiB for good. Here at most
//! [`HashLimits::at_once`] hashes run, each on a worker thread that allocates its 19 MiB once and
//! reuses it for every hash, and gives it back after [`HashLimits::release_after`] without work;
//! the next [`HashLimits::queue`] requests wait up to [`HashLimits::wait`], and the rest are told
//! to come back later ([`HashError::Busy`], 429 with `Retry-After`).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{Semaphore, oneshot};

/// How long a refused client is asked to wait before trying again.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// The most memory a stored hash may ask for (64 MiB); our own hashes use 19 MiB.
const MAX_BLOCKS: usize = 64 * 1024;

/// The capacity a worker reserves for its blocks (33 MiB), of which a hash touches only what it
/// needs (19 MiB). glibc serves a request this large with a fresh mapping, and unmaps it on free,
/// whatever threshold earlier frees have set (its dynamic mmap threshold stops at 32 MiB): so a
/// released buffer really goes back to the system, and the next one never comes from an arena.
const RESERVED_BLOCKS: usize = 33 * 1024;

/// How many password hashes may run and wait at once.
///
/// ```
/// use sandbox::accounts::password::HashLimits;
///
/// let limits = HashLimits::default();
/// assert!(limits.at_once >= 1);
/// assert_eq!(limits.queue, 16 * limits.at_once);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashLimits {
    /// Hashes running at once, each on its own thread with 19 MiB of its own
    /// (`PASSWORD_HASHES_AT_ONCE`). Defaults to the number of cores.
    pub at_once: usize,
    /// Requests that may wait for a free thread (`PASSWORD_HASH_QUEUE`); beyond them a request is
    /// refused at once. Defaults to 16 per thread.
    pub queue: usize,
    /// The longest a request waits for a free thread before it is refused
    /// (`PASSWORD_HASH_WAIT_SECONDS`). Defaults to 5 seconds.
    pub wait: Duration,
    /// A worker without a hash for this long gives its memory back. Defaults to 10 seconds.
    pub release_after: Duration,
}

impl Default for HashLimits {
    fn default() -> Self {
        let at_once = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        HashLimits {
            at_once,
            queue: 16 * at_once,
            wait: Duration::from_secs(5),
            release_after: Duration::from_secs(10),
        }
    }
}

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every thread is busy and the queue is full, or the wait ran out: try again after this long.
    #[error("too many passwords are being checked; try again in {0:?}")]
    Busy(Duration),
    /// The worker threads are gone (the app is shutting down).
    #[error("the password hasher has stopped")]
    Stopped,
    /// argon2 refused the input.
    #[error("argon2: {0}")]
    Argon2(String),
}

impl From<HashError> for crate::rest::ApiError {
    fn from(err: HashError) -> Self {
        match err {
            HashError::Busy(retry_after) => crate::rest::ApiError::Throttled(retry_after),
            other => crate::rest::ApiError::Internal(other.to_string()),
        }
    }
}

/// A unit of work for a worker: it gets the worker's reusable argon2 memory.
type Job = Box<dyn FnOnce(&mut Vec<Block>) + Send>;

/// The pool of hashing threads and the queue in front of it; the threads end when it is dropped.
///
/// ```
/// use sandbox::accounts::password::{HashLimits, Hasher};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let hasher = Hasher::new(HashLimits::default());
/// let hash = hasher.hash("correct horse".into()).await.expect("hashed");
/// assert!(hash.starts_with("$argon2id$"));
/// assert!(hasher.verify("correct horse".into(), Some(hash)).await.expect("checked"));
/// # }
/// ```
#[derive(Debug)]
pub struct Hasher {
    limits: HashLimits,
    /// One permit per worker: holding one means a worker is free for the job.
    permits: Arc<Semaphore>,
    /// Requests waiting for a permit.
    waiting: AtomicUsize,
    jobs: flume::Sender<Job>,
    /// Signalled each time a worker gives its memory back, so that a test can wait for it.
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "only the release test waits on it; the workers notify it always")
    )]
    released: Arc<tokio::sync::Notify>,
}

impl Hasher {
    /// Starts `limits.at_once` worker threads (at least one). Each allocates its argon2 memory on
    /// its first hash and keeps it.
    pub fn new(limits: HashLimits) -> Self {
        let limits = HashLimits { at_once: limits.at_once.max(1), ..limits };
        let (jobs, receiver) = flume::bounded::<Job>(limits.at_once);
        let released = Arc::new(tokio::sync::Notify::new());
        for n in 0..limits.at_once {
            let receiver = receiver.clone();
            let release_after = limits.release_after;
            let released = released.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("argon2-{n}"))
                .spawn(move || work(&receiver, release_after, &released));
            if let Err(err) = spawned {
                tracing::error!(error = %err, "could not start a password hashing thread");
            }
        }
        Hasher {
            limits,
            permits: Arc::new(Semaphore::new(limits.at_once)),
            waiting: AtomicUsize::new(0),
            jobs,
            released,
        }
    }

    /// The limits it runs with.
    pub fn limits(&self) -> HashLimits {
        self.limits
    }

    /// A PHC string (`$argon2id$v=19$...`) for `password`, with a random salt.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(move |blocks| {
            let salt = SaltString::generate(&mut OsRng);
            let argon2 = Argon2::default();
            let output = compute(&argon2, password.as_bytes(), &salt, Params::DEFAULT_OUTPUT_LEN, blocks)?;
            let hash = PasswordHash {
                algorithm: Algorithm::Argon2id.ident(),
                version: Some(Version::V0x13.into()),
                params: argon2::password_hash::ParamsString::try_from(argon2.params()).map_err(|e| e.to_string())?,
                salt: Some(salt.as_salt()),
                hash: Some(output),
            };
            Ok(hash.to_string())
        })
        .await?
        .map_err(HashError::Argon2)
    }

    /// Whether `password` matches `stored` (a PHC string). Without a stored hash (an unknown
    /// email) the password is hashed anyway, so the answer takes as long either way.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool, HashError> {
        self.run(move |blocks| match stored {
            Some(stored) => matches(password.as_bytes(), &stored, blocks),
            None => {
                let salt = SaltString::generate(&mut OsRng);
                let _ = compute(&Argon2::default(), password.as_bytes(), &salt, Params::DEFAULT_OUTPUT_LEN, blocks);
                false
            }
        })
        .await
    }

    /// Runs `job` on a worker once one is free, waiting in the queue if there is room.
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let _waiting = Waiting::enter(&self.waiting, self.limits.queue).ok_or(HashError::Busy(RETRY_AFTER))?;
                match tokio::time::timeout(self.limits.wait, self.permits.clone().acquire_owned()).await {
                    Ok(Ok(permit)) => permit,
                    Ok(Err(_)) => return Err(HashError::Stopped),
                    Err(_) => return Err(HashError::Busy(RETRY_AFTER)),
                }
            }
        };
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move |blocks| {
            let result = job(blocks);
            // The permit goes back when the job ends, even if the request stopped waiting, and
            // before the answer, so that whoever gets the answer finds the worker free.
            drop(permit);
            let _ = done.send(result);
        });
        // There are as many slots as permits, so a permit holder always finds one.
        if self.jobs.try_send(job).is_err() {
            return Err(HashError::Stopped);
        }
        result.await.map_err(|_| HashError::Stopped)
    }
}

/// A place in the queue, given back on drop; `None` when the queue is full.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn enter(count: &'a AtomicUsize, limit: usize) -> Option<Self> {
        count.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < limit).then_some(n + 1)).ok()?;
        Some(Waiting(count))
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A worker: takes jobs until the hasher is dropped, lending each one this thread's memory, and
/// frees that memory after `release_after` without a job.
fn work(jobs: &flume::Receiver<Job>, release_after: Duration, released: &tokio::sync::Notify) {
    let mut blocks: Vec<Block> = Vec::new();
    loop {
        let job = if blocks.capacity() == 0 {
            jobs.recv().ok()
        } else {
            match jobs.recv_timeout(release_after) {
                Ok(job) => Some(job),
                Err(flume::RecvTimeoutError::Timeout) => {
                    blocks = Vec::new();
                    released.notify_one();
                    continue;
                }
                Err(flume::RecvTimeoutError::Disconnected) => None,
            }
        };
        let Some(job) = job else { return };
        // A panicking job must not take the thread (and its permit's future jobs) with it.
        if std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut blocks))).is_err() {
            tracing::error!("a password hashing job panicked");
        }
    }
}

/// The argon2 output of `password` and `salt` with `argon2`'s parameters, in `blocks`, which
/// grows (once) to the size the parameters need.
fn compute(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: &SaltString,
    output_len: usize,
    blocks: &mut Vec<Block>,
) -> Result<Output, String> {
    let needed = argon2.params().block_count();
    if needed > MAX_BLOCKS {
        return Err(format!("a hash asking for {needed} KiB of memory is refused"));
    }
    if blocks.capacity() == 0 {
        *blocks = Vec::with_capacity(needed.max(RESERVED_BLOCKS));
    }
    if blocks.len() < needed {
        blocks.resize(needed, Block::default());
    }
    let mut salt_bytes = [0u8; argon2::password_hash::Salt::MAX_LENGTH];
    let salt = salt.as_salt().decode_b64(&mut salt_bytes).map_err(|e| e.to_string())?;
    Output::init_with(output_len, |out| {
        argon2
            .hash_password_into_with_memory(password, salt, out, &mut blocks[..needed])
            .map_err(|_| argon2::password_hash::Error::Crypto)
    })
    .map_err(|e| e.to_string())
}

/// Whether `password` matches the PHC string `stored`, computed in `blocks`.
fn matches(password: &[u8], stored: &str, blocks: &mut Vec<Block>) -> bool {
    let Ok(hash) = PasswordHash::new(stored) else { return false };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else { return false };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm) else { return false };
    let Ok(version) = hash.version.map_or(Ok(Version::default()), Version::try_from) else { return false };
    let Ok(params) = Params::try_from(&hash) else { return false };
    let Ok(salt) = SaltString::from_b64(salt.as_str()) else { return false };
    let argon2 = Argon2::new(algorithm, version, params);
    // `Output`'s equality is constant-time.
    compute(&argon2, password, &salt, expected.len(), blocks).is_ok_and(|computed| computed == expected)
}

/// Why a new password is refused, or `None`.
pub fn weakness(password: &str, email: &str) -> Option<&'static str> {
    let local = email.split('@').next().unwrap_or_default();
    if password.chars().count() < 8 {
        Some("This password is too short. It must contain at least 8 characters.")
    } else if password.len() > 1024 {
        Some("This password is too long.")
    } else if password.chars().all(|c| c.is_ascii_digit()) {
        Some("This password is entirely numeric.")
    } else if !local.is_empty() && password.eq_ignore_ascii_case(local) || password.eq_ignore_ascii_case(email) {
        Some("The password is too similar to the email address.")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    fn hasher(at_once: usize, queue: usize) -> Hasher {
        Hasher::new(HashLimits {
            at_once,
            queue,
            wait: Duration::from_secs(5),
            release_after: Duration::from_secs(600),
        })
    }

    #[tokio::test]
    async fn hashes_verify_and_differ() {
        let hasher = hasher(2, 4);
        let one = hasher.hash("correct horse".into()).await.expect("hash");
        let two = hasher.hash("correct horse".into()).await.expect("hash");
        assert_ne!(one, two, "salted");
        assert!(hasher.verify("correct horse".into(), Some(one.clone())).await.expect("verify"));
        assert!(!hasher.verify("wrong horse".into(), Some(one)).await.expect("verify"));
        assert!(!hasher.verify("correct horse".into(), None).await.expect("verify"));
        assert!(!hasher.verify("x".into(), Some("not a hash".into())).await.expect("verify"));
    }

    #[tokio::test]
    async fn hashes_are_the_argon2_crates_own() {
        let hasher = hasher(1, 1);
        let ours = hasher.hash("correct horse".into()).await.expect("hash");
        let parsed = PasswordHash::new(&ours).expect("a PHC string");
        assert!(Argon2::default().verify_password(b"correct horse", &parsed).is_ok(), "{ours}");
        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default().hash_password(b"correct horse", &salt).expect("hash").to_string();
        assert!(hasher.verify("correct horse".into(), Some(theirs)).await.expect("verify"));
    }

    /// A job that holds its worker until the returned sender is dropped or sent to.
    fn blocker() -> (std::sync::mpsc::Sender<()>, impl FnOnce(&mut Vec<Block>) + Send + 'static) {
        let (release, held) = std::sync::mpsc::channel::<()>();
        (release, move |_: &mut Vec<Block>| {
            let _ = held.recv();
        })
    }

    type Job<T> = tokio::task::JoinHandle<Result<T, HashError>>;

    /// A hasher with one worker and a queue of one: its worker held by a job (until `release`
    /// is sent to), and a second job waiting in the queue.
    async fn one_busy_one_waiting() -> (Arc<Hasher>, std::sync::mpsc::Sender<()>, Job<()>, Job<&'static str>) {
        let hasher = Arc::new(hasher(1, 1));
        let (release, hold) = blocker();
        let busy = tokio::spawn({
            let hasher = hasher.clone();
            async move { hasher.run(hold).await }
        });
        while hasher.permits.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let waiting = tokio::spawn({
            let hasher = hasher.clone();
            async move { hasher.run(|_| "ran").await }
        });
        while hasher.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        (hasher, release, busy, waiting)
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_waits_in_a_bounded_queue_then_is_refused() {
        // The only worker is busy: the next request waits, the one after finds the queue full.
        let (hasher, release, busy, waiting) = one_busy_one_waiting().await;
        assert!(matches!(hasher.run(|_| ()).await, Err(HashError::Busy(RETRY_AFTER))), "the queue is full");
        // Past its deadline the waiting request is refused too, and leaves the queue.
        assert!(matches!(waiting.await.expect("joined"), Err(HashError::Busy(_))));
        assert_eq!(hasher.waiting.load(Ordering::Acquire), 0);
        release.send(()).expect("released");
        busy.await.expect("joined").expect("the held job ends normally");
        assert_eq!(hasher.run(|_| 7).await.expect("the worker is free again"), 7);
    }

    // Not on a paused clock: while the worker thread finishes, an idle runtime would jump to the
    // waiting request's deadline.
    #[tokio::test]
    async fn a_request_waiting_in_the_queue_runs_when_a_worker_frees() {
        let (_hasher, release, busy, waiting) = one_busy_one_waiting().await;
        release.send(()).expect("released");
        busy.await.expect("joined").expect("ends");
        assert_eq!(waiting.await.expect("joined").expect("ran after the first"), "ran");
    }

    #[tokio::test]
    async fn each_worker_keeps_one_buffer_while_busy() {
        let hasher = hasher(1, 4);
        for _ in 0..3 {
            hasher.hash("correct horse".into()).await.expect("hash");
        }
        let (len, capacity) = hasher.run(|blocks| (blocks.len(), blocks.capacity())).await.expect("ran");
        assert_eq!((len, capacity), (Params::DEFAULT_M_COST as usize, RESERVED_BLOCKS), "one reservation, reused");
    }

    #[tokio::test]
    async fn an_idle_worker_gives_its_memory_back() {
        let limits = HashLimits { at_once: 1, queue: 4, wait: Duration::from_secs(5), release_after: Duration::ZERO };
        let hasher = Hasher::new(limits);
        hasher.hash("correct horse".into()).await.expect("hash");
        // With no wait allowed, the worker frees its buffer as soon as it finds no job waiting.
        tokio::time::timeout(Duration::from_secs(10), hasher.released.notified()).await.expect("released");
        assert_eq!(hasher.run(|blocks| blocks.capacity()).await.expect("ran"), 0, "nothing kept");
        assert!(hasher.verify("correct horse".into(), None).await.is_ok(), "and allocated again when needed");
    }

    #[test]
    fn weak_passwords() {
        assert!(super::weakness("short", "a@b.co").is_some());
        assert!(super::weakness("12345678901", "a@b.co").is_some());
        assert!(super::weakness("alice.smith", "alice.smith@b.co").is_some());
        assert_eq!(super::weakness("a good passphrase", "a@b.co"), None);
    }
}
