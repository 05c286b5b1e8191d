//! Configuration from the environment, with development defaults that need nothing installed.

use std::path::PathBuf;
use std::time::Duration;

use crate::accounts::secret_key::{self, KeyFileError, MIN_SECRET_BYTES};

/// Where the app runs: development generates its secret key and allows local origins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The default: without `SECRET_KEY`, a key generated at first start and kept in a file;
    /// local origins allowed.
    Development,
    /// `SANDBOX_ENV=production`: `SECRET_KEY` is required, at least 32 bytes.
    Production,
}

/// A value that must never reach a log: its `Debug` shows `[redacted]`, so printing a [`Config`]
/// does not print the signing key or the provider's API key.
///
/// ```
/// let secret = sandbox::config::Secret::new("hunter2hunter2");
/// assert_eq!(format!("{secret:?}"), "[redacted]");
/// assert_eq!(secret.expose(), "hunter2hunter2");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The OpenAI-compatible provider of the assistant (used by the assistant app).
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// `OPENAI_API_KEY`; none selects the offline model.
    pub api_key: Option<Secret>,
    /// `OPENAI_BASE_URL`, default `https://api.openai.com/v1`.
    pub base_url: String,
    /// `OPENAI_MODEL`, default `gpt-4o-mini`.
    pub model: String,
    /// `OPENAI_ORG`, sent as `OpenAI-Organization` when set.
    pub org: Option<String>,
    /// `OPENAI_TIMEOUT_SECONDS`, default 30: the longest wait for the answer to start and between
    /// two pieces of it.
    pub timeout: Duration,
    /// `OPENAI_ANSWER_SECONDS`, default 120: the longest a whole answer may take, from the request
    /// to its last piece, however steadily the pieces come.
    pub answer_deadline: Duration,
}

/// Everything the app reads from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Development or production.
    pub mode: Mode,
    /// `DATABASE_URL`: `sqlite://…` or `postgres://…`; default `sqlite://sandbox.sqlite3`.
    pub database_url: String,
    /// `REDIS_URL`: the Redis channel layer; unset means the in-memory layer.
    pub redis_url: Option<String>,
    /// `SECRET_KEY`: signs the JWTs. `None` in development without it, until
    /// [`load_secret_key`](Config::load_secret_key) reads (or creates) the key file.
    pub secret_key: Option<Secret>,
    /// `SANDBOX_DATA_DIR`: where the key file goes when the database is not a SQLite file
    /// (default: the working directory).
    pub data_dir: Option<PathBuf>,
    /// `SERVER_URL`: the public address, default `http://localhost:8000`.
    pub server_url: String,
    /// `ALLOWED_ORIGINS` (comma-separated) plus `SERVER_URL`: origins trusted for WebSockets and
    /// cookie-authenticated unsafe requests, besides the request's own host.
    pub allowed_origins: Vec<String>,
    /// Lifetime of an access token (`ACCESS_TOKEN_MINUTES`, default 30).
    pub access_ttl: Duration,
    /// Lifetime of a refresh token (`REFRESH_TOKEN_DAYS`, default 7).
    pub refresh_ttl: Duration,
    /// The assistant's provider.
    pub openai: OpenAiConfig,
    /// `AUTH_ATTEMPTS_PER_MINUTE` (default 10): logins and registrations per client address.
    pub auth_per_minute: u32,
    /// `TOKEN_REQUESTS_PER_MINUTE` (default 60): token verifications, renewals and logouts per
    /// client address. Their own budget, not the logins': a browser whose tabs renew together
    /// must not lock its owner out of logging in.
    pub token_per_minute: u32,
    /// `ASSISTANT_REQUESTS_PER_MINUTE` (default 20): assistant messages and anonymous
    /// conversations per client address.
    pub assistant_per_minute: u32,
    /// `TRUST_PROXY=1`: the client address is the last `X-Forwarded-For` entry, as set by the
    /// reverse proxy in front of the app.
    pub trust_proxy: bool,
    /// `PASSWORD_HASHES_AT_ONCE` (default: the number of cores), `PASSWORD_HASH_QUEUE` (default
    /// 16 per hash at once) and `PASSWORD_HASH_WAIT_SECONDS` (default 5): how many argon2 hashes
    /// run at once, how many requests wait for one, and for how long, before 429.
    pub password_hashing: crate::accounts::password::HashLimits,
    /// `CHATS_PER_HOUR` (default 20): chats one user may create.
    pub chats_per_hour: u32,
    /// `CHAT_INVITATIONS_PER_HOUR` (default 100): members one user may add to chats.
    pub invitations_per_hour: u32,
    /// `SMTP_URL` (`smtp://user:password@host:587?tls=required`, `smtps://…:465`): sends mail
    /// (password-reset links) through this server. Unset: logged in development, not sent in
    /// production.
    pub smtp_url: Option<Secret>,
    /// `EMAIL_FROM` (default `Chanx Sandbox <noreply@localhost>`): the sender of that mail.
    pub email_from: String,
    /// `PASSWORD_RESET_MINUTES` (default 60, at most a day): how long a reset link works.
    pub password_reset_ttl: Duration,
    /// `RESET_MAILS_PER_HOUR` (default 5): reset mails one account may be sent; past it a request
    /// gets the same answer and no mail.
    pub reset_mails_per_hour: u32,
    /// `CONNECTIONS_PER_ADDRESS` (default 64, `0` for no cap; no cap with `TRUST_PROXY=1`, where
    /// every connection comes from the proxy): TCP connections one client address may hold open.
    pub connections_per_address: Option<usize>,
}

/// A configuration that cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Production without `SECRET_KEY`.
    #[error(
        "SECRET_KEY must be set when SANDBOX_ENV=production (at least 32 random bytes, e.g. `openssl rand -hex 32`)"
    )]
    MissingSecret,
    /// A key that was published with the source code: anyone can sign tokens with it.
    #[error(
        "SECRET_KEY is the development key published in the sandbox's source: set a random one (`openssl rand -hex 32`)"
    )]
    PublishedSecret,
    /// A production key too short to resist guessing.
    #[error("SECRET_KEY has {0} bytes; production needs at least 32 random bytes (`openssl rand -hex 32`)")]
    ShortSecret(usize),
    /// The development key file cannot be used.
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// A number that does not parse.
    #[error("{0} must be a positive whole number")]
    NotANumber(&'static str),
    /// A count that does not parse.
    #[error("{0} must be a whole number (0 or more)")]
    NotACount(&'static str),
    /// `SMTP_URL` or `EMAIL_FROM` cannot be used.
    #[error(transparent)]
    Mail(#[from] crate::mail::MailConfigError),
}

/// Keys that were published with the source (the built-in development key of earlier versions):
/// refused in every mode, since anyone can forge tokens with them.
const PUBLISHED_SECRETS: &[&str] = &["sandbox-development-secret: never use in production"];

/// The most password hashes run at once, whatever `PASSWORD_HASHES_AT_ONCE` says: each is a
/// thread holding 19 MiB.
pub const MAX_HASHES_AT_ONCE: usize = 256;

/// The longest any configured wait or deadline may be (`OPENAI_TIMEOUT_SECONDS`,
/// `OPENAI_ANSWER_SECONDS`, `PASSWORD_HASH_WAIT_SECONDS`, `ACCESS_TOKEN_MINUTES`): one day. Larger
/// values are taken as "as long as possible" and clamped, so that adding one to the current time
/// cannot overflow.
pub const MAX_WAIT: Duration = Duration::from_secs(86_400);

/// The longest a refresh token may live (`REFRESH_TOKEN_DAYS`): ten years, clamped likewise.
pub const MAX_REFRESH_TTL: Duration = Duration::from_secs(3_650 * 86_400);

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok().filter(|value| !value.trim().is_empty()))
    }

    /// Reads variables through `get`, so tests can pass their own.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mode = match get("SANDBOX_ENV").as_deref() {
            Some("production") => Mode::Production,
            _ => Mode::Development,
        };
        let secret_key = get("SECRET_KEY").map(Secret);
        match (&secret_key, mode) {
            (Some(key), _) if PUBLISHED_SECRETS.contains(&key.expose()) => return Err(ConfigError::PublishedSecret),
            (Some(key), Mode::Production) if key.expose().len() < MIN_SECRET_BYTES => {
                return Err(ConfigError::ShortSecret(key.expose().len()));
            }
            (None, Mode::Production) => return Err(ConfigError::MissingSecret),
            _ => {}
        }
        let server_url = get("SERVER_URL").unwrap_or_else(|| "http://localhost:8000".into());
        let mut allowed_origins: Vec<String> = get("ALLOWED_ORIGINS")
            .map(|list| {
                list.split(',').map(|o| o.trim().trim_end_matches('/').to_owned()).filter(|o| !o.is_empty()).collect()
            })
            .unwrap_or_default();
        allowed_origins.push(server_url.trim_end_matches('/').to_owned());
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(text) => text.trim().parse().ok().filter(|n| *n > 0).ok_or(ConfigError::NotANumber(name)),
            }
        };
        // A duration of `value` units of `unit`, at most `max`.
        let clamped = |value: u64, unit: u64, max: Duration| Duration::from_secs(value.saturating_mul(unit)).min(max);
        let hashing_default = crate::accounts::password::HashLimits::default();
        let hashes_at_once = match get("PASSWORD_HASHES_AT_ONCE") {
            None => hashing_default.at_once,
            Some(_) => usize::try_from(number("PASSWORD_HASHES_AT_ONCE", 1)?).unwrap_or(usize::MAX),
        }
        .clamp(1, MAX_HASHES_AT_ONCE);
        let hash_queue = match get("PASSWORD_HASH_QUEUE") {
            None => hashes_at_once.saturating_mul(16),
            Some(text) => text.trim().parse().map_err(|_| ConfigError::NotACount("PASSWORD_HASH_QUEUE"))?,
        };
        let password_hashing = crate::accounts::password::HashLimits {
            at_once: hashes_at_once,
            queue: hash_queue,
            wait: clamped(number("PASSWORD_HASH_WAIT_SECONDS", hashing_default.wait.as_secs())?, 1, MAX_WAIT),
            ..hashing_default
        };
        let trust_proxy = get("TRUST_PROXY").is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
        let config = Config {
            mode,
            database_url: get("DATABASE_URL").unwrap_or_else(|| "sqlite://sandbox.sqlite3".into()),
            redis_url: get("REDIS_URL"),
            secret_key,
            data_dir: get("SANDBOX_DATA_DIR").map(PathBuf::from),
            server_url,
            allowed_origins,
            access_ttl: clamped(number("ACCESS_TOKEN_MINUTES", 30)?, 60, MAX_WAIT),
            refresh_ttl: clamped(number("REFRESH_TOKEN_DAYS", 7)?, 86_400, MAX_REFRESH_TTL),
            auth_per_minute: u32::try_from(number("AUTH_ATTEMPTS_PER_MINUTE", 10)?).unwrap_or(u32::MAX),
            token_per_minute: u32::try_from(number("TOKEN_REQUESTS_PER_MINUTE", 60)?).unwrap_or(u32::MAX),
            assistant_per_minute: u32::try_from(number("ASSISTANT_REQUESTS_PER_MINUTE", 20)?).unwrap_or(u32::MAX),
            trust_proxy,
            password_hashing,
            chats_per_hour: u32::try_from(number("CHATS_PER_HOUR", 20)?).unwrap_or(u32::MAX),
            invitations_per_hour: u32::try_from(number("CHAT_INVITATIONS_PER_HOUR", 100)?).unwrap_or(u32::MAX),
            connections_per_address: match get("CONNECTIONS_PER_ADDRESS") {
                _ if trust_proxy => None,
                None => Some(64),
                Some(text) => match text.trim().parse::<usize>() {
                    Ok(0) => None,
                    Ok(max) => Some(max),
                    Err(_) => return Err(ConfigError::NotACount("CONNECTIONS_PER_ADDRESS")),
                },
            },
            smtp_url: get("SMTP_URL").map(Secret),
            email_from: get("EMAIL_FROM").unwrap_or_else(|| "Chanx Sandbox <noreply@localhost>".into()),
            password_reset_ttl: clamped(number("PASSWORD_RESET_MINUTES", 60)?, 60, MAX_WAIT),
            reset_mails_per_hour: u32::try_from(number("RESET_MAILS_PER_HOUR", 5)?).unwrap_or(u32::MAX),
            openai: OpenAiConfig {
                api_key: get("OPENAI_API_KEY").map(Secret),
                base_url: get("OPENAI_BASE_URL").unwrap_or_else(|| "https://api.openai.com/v1".into()),
                model: get("OPENAI_MODEL").unwrap_or_else(|| "gpt-4o-mini".into()),
                org: get("OPENAI_ORG"),
                timeout: clamped(number("OPENAI_TIMEOUT_SECONDS", 30)?, 1, MAX_WAIT),
                answer_deadline: clamped(number("OPENAI_ANSWER_SECONDS", 120)?, 1, MAX_WAIT),
            },
        };
        // A mail server that cannot be used is a start-up error, not a reset link lost later.
        crate::mail::Mailer::from_config(&config)?;
        Ok(config)
    }

    /// Where the development key is kept: beside the SQLite database file
    /// (`sandbox.sqlite3.secret_key` for `sqlite://sandbox.sqlite3`), else `sandbox.secret_key`
    /// in `SANDBOX_DATA_DIR` or the working directory.
    ///
    /// ```
    /// let config = sandbox::Config::from_lookup(|name| match name {
    ///     "DATABASE_URL" => Some("sqlite:///var/lib/sandbox/db.sqlite3?mode=rwc".into()),
    ///     _ => None,
    /// })
    /// .expect("valid");
    /// assert_eq!(config.key_file(), std::path::Path::new("/var/lib/sandbox/db.sqlite3.secret_key"));
    /// ```
    pub fn key_file(&self) -> PathBuf {
        let sqlite_file = self
            .database_url
            .strip_prefix("sqlite://")
            .or_else(|| self.database_url.strip_prefix("sqlite:"))
            .filter(|_| !self.database_url.contains("mode=memory"))
            .map(|rest| rest.split('?').next().unwrap_or_default())
            .filter(|path| !path.is_empty() && *path != ":memory:")
            .map(PathBuf::from);
        match sqlite_file {
            Some(path) => {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                path.with_file_name(format!("{name}.secret_key"))
            }
            None => self.data_dir.clone().unwrap_or_default().join("sandbox.secret_key"),
        }
    }

    /// Without `SECRET_KEY`, reads the key from [`key_file`](Config::key_file), generating it
    /// there at first start; returns the file used, `None` when `SECRET_KEY` is set.
    pub fn load_secret_key(&mut self) -> Result<Option<PathBuf>, ConfigError> {
        if self.secret_key.is_some() {
            return Ok(None);
        }
        let path = self.key_file();
        self.secret_key = Some(Secret(secret_key::load_or_create(&path)?));
        Ok(Some(path))
    }

    /// `http` or `https`, from `SERVER_URL`.
    pub fn scheme(&self) -> &str {
        if self.server_url.starts_with("https://") { "https" } else { "http" }
    }

    /// Adds the local origins of the port the server listens on (development only), so that
    /// both `http://localhost:PORT` and `http://127.0.0.1:PORT` work.
    pub fn allow_local_origins(&mut self, port: u16) {
        if self.mode == Mode::Development {
            for host in ["localhost", "127.0.0.1"] {
                self.allowed_origins.push(format!("http://{host}:{port}"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Config::from_lookup(|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn development_needs_nothing() {
        let config = config(&[]).expect("defaults");
        assert_eq!(config.mode, Mode::Development);
        assert_eq!(config.secret_key, None, "no key in the source: it comes from the key file");
        assert_eq!(config.key_file(), std::path::Path::new("sandbox.sqlite3.secret_key"));
        assert_eq!(config.database_url, "sqlite://sandbox.sqlite3");
        assert_eq!(config.allowed_origins, ["http://localhost:8000"]);
        assert!(config.openai.api_key.is_none());
    }

    #[test]
    fn production_requires_a_long_unpublished_secret() {
        let production = |key: Option<&str>| {
            let mut vars = vec![("SANDBOX_ENV", "production")];
            vars.extend(key.map(|key| ("SECRET_KEY", key)));
            config(&vars)
        };
        assert!(matches!(production(None), Err(ConfigError::MissingSecret)));
        assert!(matches!(production(Some(PUBLISHED_SECRETS[0])), Err(ConfigError::PublishedSecret)));
        assert!(matches!(production(Some("s3cret")), Err(ConfigError::ShortSecret(6))));
        let key = "0123456789abcdef0123456789abcdef";
        assert_eq!(production(Some(key)).expect("complete").secret_key.as_ref().map(Secret::expose), Some(key));
        // The published key is refused in development too; a short one is allowed there.
        assert!(matches!(config(&[("SECRET_KEY", PUBLISHED_SECRETS[0])]), Err(ConfigError::PublishedSecret)));
        assert!(config(&[("SECRET_KEY", "s3cret")]).is_ok());
    }

    #[test]
    fn the_key_file_sits_beside_the_database_or_in_the_data_directory() {
        let at = |vars: &[(&str, &str)]| config(vars).expect("valid").key_file();
        assert_eq!(at(&[("DATABASE_URL", "sqlite://data/app.db")]), PathBuf::from("data/app.db.secret_key"));
        assert_eq!(at(&[("DATABASE_URL", "sqlite:app.db?mode=rwc")]), PathBuf::from("app.db.secret_key"));
        assert_eq!(at(&[("DATABASE_URL", "postgres://db/app")]), PathBuf::from("sandbox.secret_key"));
        assert_eq!(
            at(&[("DATABASE_URL", "postgres://db/app"), ("SANDBOX_DATA_DIR", "/srv/sandbox")]),
            PathBuf::from("/srv/sandbox/sandbox.secret_key")
        );
        assert_eq!(
            at(&[("DATABASE_URL", "sqlite::memory:"), ("SANDBOX_DATA_DIR", "/srv")]),
            PathBuf::from("/srv/sandbox.secret_key")
        );
    }

    #[test]
    fn origins_and_lifetimes_are_read() {
        let config =
            config(&[("ALLOWED_ORIGINS", "https://a.example, https://b.example/"), ("ACCESS_TOKEN_MINUTES", "5")])
                .expect("valid");
        assert_eq!(config.allowed_origins, ["https://a.example", "https://b.example", "http://localhost:8000"]);
        assert_eq!(config.access_ttl, Duration::from_secs(300));
        assert!(matches!(
            super::Config::from_lookup(|n| (n == "REFRESH_TOKEN_DAYS").then(|| "x".into())),
            Err(ConfigError::NotANumber(_))
        ));
    }

    #[test]
    fn huge_numbers_are_clamped_not_overflowed() {
        let huge = u64::MAX.to_string();
        let names = [
            "PASSWORD_HASHES_AT_ONCE",
            "PASSWORD_HASH_WAIT_SECONDS",
            "ACCESS_TOKEN_MINUTES",
            "REFRESH_TOKEN_DAYS",
            "OPENAI_TIMEOUT_SECONDS",
            "OPENAI_ANSWER_SECONDS",
        ];
        let vars: Vec<(&str, &str)> = names.iter().map(|name| (*name, huge.as_str())).collect();
        let clamped = config(&vars).expect("valid");
        let hashing = clamped.password_hashing;
        assert_eq!(hashing.at_once, MAX_HASHES_AT_ONCE, "not u64::MAX threads");
        assert_eq!(hashing.queue, 16 * MAX_HASHES_AT_ONCE);
        for wait in [hashing.wait, clamped.access_ttl, clamped.openai.timeout, clamped.openai.answer_deadline] {
            assert_eq!(wait, MAX_WAIT);
        }
        assert_eq!(clamped.refresh_ttl, MAX_REFRESH_TTL);
        // Now plus any of them is a time, not a panic.
        let _ = std::time::Instant::now() + clamped.openai.answer_deadline;
        let _ = crate::timestamp::unix_now() + clamped.refresh_ttl.as_secs();
        // A huge queue is taken as given: it is a counter, not an allocation.
        let queue = config(&[("PASSWORD_HASH_QUEUE", &huge)]).expect("valid").password_hashing.queue;
        assert_eq!(queue, usize::try_from(u64::MAX).unwrap_or(usize::MAX));
    }

    #[test]
    fn printing_the_config_prints_no_secret() {
        let key = "a-signing-key-of-more-than-thirty-two-bytes";
        let config = config(&[("SECRET_KEY", key), ("OPENAI_API_KEY", "sk-provider-key")]).expect("valid");
        let printed = format!("{config:?}");
        assert!(!printed.contains(key) && !printed.contains("sk-provider-key"), "{printed}");
        assert_eq!(config.secret_key.as_ref().map(Secret::expose), Some(key));
    }
}
