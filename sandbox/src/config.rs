//! Configuration from the environment, with development defaults that need nothing installed.

use std::time::Duration;

/// Where the app runs: development allows a built-in secret and local origins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The default: a built-in secret key, local origins allowed, readable logs.
    Development,
    /// `SANDBOX_ENV=production`: `SECRET_KEY` is required.
    Production,
}

/// The OpenAI-compatible provider of the assistant (used by the assistant app).
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// `OPENAI_API_KEY`; none selects the offline model.
    pub api_key: Option<String>,
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
    /// `SECRET_KEY`: signs the JWTs.
    pub secret_key: String,
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
    /// `ASSISTANT_REQUESTS_PER_MINUTE` (default 20): assistant messages and anonymous
    /// conversations per client address.
    pub assistant_per_minute: u32,
    /// `TRUST_PROXY=1`: the client address is the last `X-Forwarded-For` entry, as set by the
    /// reverse proxy in front of the app.
    pub trust_proxy: bool,
    /// `CHATS_PER_HOUR` (default 20): chats one user may create.
    pub chats_per_hour: u32,
    /// `CHAT_INVITATIONS_PER_HOUR` (default 100): members one user may add to chats.
    pub invitations_per_hour: u32,
}

/// A configuration that cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Production without `SECRET_KEY`.
    #[error("SECRET_KEY must be set when SANDBOX_ENV=production")]
    MissingSecret,
    /// A number that does not parse.
    #[error("{0} must be a positive whole number")]
    NotANumber(&'static str),
}

/// The secret used in development only; production refuses to start with it.
const DEVELOPMENT_SECRET: &str = "sandbox-development-secret: never use in production";

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
        let secret_key = match (get("SECRET_KEY"), mode) {
            (Some(key), _) => key,
            (None, Mode::Development) => DEVELOPMENT_SECRET.to_owned(),
            (None, Mode::Production) => return Err(ConfigError::MissingSecret),
        };
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
        Ok(Config {
            mode,
            database_url: get("DATABASE_URL").unwrap_or_else(|| "sqlite://sandbox.sqlite3".into()),
            redis_url: get("REDIS_URL"),
            secret_key,
            server_url,
            allowed_origins,
            access_ttl: Duration::from_secs(60 * number("ACCESS_TOKEN_MINUTES", 30)?),
            refresh_ttl: Duration::from_secs(86_400 * number("REFRESH_TOKEN_DAYS", 7)?),
            auth_per_minute: u32::try_from(number("AUTH_ATTEMPTS_PER_MINUTE", 10)?).unwrap_or(u32::MAX),
            assistant_per_minute: u32::try_from(number("ASSISTANT_REQUESTS_PER_MINUTE", 20)?).unwrap_or(u32::MAX),
            trust_proxy: get("TRUST_PROXY").is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true")),
            chats_per_hour: u32::try_from(number("CHATS_PER_HOUR", 20)?).unwrap_or(u32::MAX),
            invitations_per_hour: u32::try_from(number("CHAT_INVITATIONS_PER_HOUR", 100)?).unwrap_or(u32::MAX),
            openai: OpenAiConfig {
                api_key: get("OPENAI_API_KEY"),
                base_url: get("OPENAI_BASE_URL").unwrap_or_else(|| "https://api.openai.com/v1".into()),
                model: get("OPENAI_MODEL").unwrap_or_else(|| "gpt-4o-mini".into()),
                org: get("OPENAI_ORG"),
                timeout: Duration::from_secs(number("OPENAI_TIMEOUT_SECONDS", 30)?),
                answer_deadline: Duration::from_secs(number("OPENAI_ANSWER_SECONDS", 120)?),
            },
        })
    }

    /// Whether the secret is the built-in development one.
    pub fn uses_development_secret(&self) -> bool {
        self.secret_key == DEVELOPMENT_SECRET
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
        assert!(config.uses_development_secret());
        assert_eq!(config.database_url, "sqlite://sandbox.sqlite3");
        assert_eq!(config.allowed_origins, ["http://localhost:8000"]);
        assert!(config.openai.api_key.is_none());
    }

    #[test]
    fn production_requires_a_secret() {
        assert!(matches!(config(&[("SANDBOX_ENV", "production")]), Err(ConfigError::MissingSecret)));
        let config = config(&[("SANDBOX_ENV", "production"), ("SECRET_KEY", "s3cret")]).expect("complete");
        assert!(!config.uses_development_secret());
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
}
