//! Request budgets, for the endpoints worth abusing: per client address, logins and registrations
//! (password guessing), token verifications, renewals and logouts, and the assistant (every message costs a model call); per signed-in user,
//! creating chats and inviting members (each writes rows and sends broadcasts, and an invitation
//! tells whether an email has an account).
//!
//! Each client has a bucket of requests that refills continuously; a request that finds it empty
//! gets 429 with `Retry-After`. An address is the peer address, or, with `TRUST_PROXY=1`, the last
//! `X-Forwarded-For` entry (the address the proxy saw); a user is their id.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;

use crate::config::Config;
use crate::rest::ApiError;

/// Beyond this many clients, buckets that have refilled are forgotten (at most once a second).
const MAX_CLIENTS: usize = 10_000;

/// One budget, shared by the endpoints that use it, per client `K`: an address, or a user id.
#[derive(Debug)]
pub struct Throttle<K = IpAddr> {
    /// How many requests a full bucket holds.
    capacity: f64,
    /// How long an empty bucket takes to fill.
    period: Duration,
    clients: Mutex<Clients<K>>,
}

/// The buckets, and when full ones were last forgotten.
#[derive(Debug)]
struct Clients<K> {
    buckets: HashMap<K, (f64, Instant)>,
    swept: Instant,
}

impl<K: Hash + Eq> Throttle<K> {
    /// A budget of `per_minute` requests per client, all of which may come at once.
    pub fn per_minute(per_minute: u32) -> Self {
        Self::new(per_minute, Duration::from_secs(60))
    }

    /// A budget of `per_hour` requests per client, all of which may come at once.
    ///
    /// ```
    /// let throttle = sandbox::throttle::Throttle::<i64>::per_hour(2);
    /// assert!(throttle.spend(7).is_ok() && throttle.spend(7).is_ok());
    /// let wait = throttle.spend(7).expect_err("the third is refused");
    /// assert!(wait.as_secs() > 1700 && wait.as_secs() <= 1800, "one request every 30 minutes: {wait:?}");
    /// assert!(throttle.spend(8).is_ok(), "another user has their own budget");
    /// ```
    pub fn per_hour(per_hour: u32) -> Self {
        Self::new(per_hour, Duration::from_secs(3600))
    }

    /// A budget of `capacity` requests per client that refills completely in `period`.
    fn new(capacity: u32, period: Duration) -> Self {
        let clients = Clients { buckets: HashMap::new(), swept: Instant::now() };
        Throttle { capacity: f64::from(capacity.max(1)), period, clients: Mutex::new(clients) }
    }

    /// Spends one request of `client`'s budget, or says how long until one is available.
    pub fn spend(&self, client: K) -> Result<(), Duration> {
        let now = Instant::now();
        let rate = self.capacity / self.period.as_secs_f64();
        let mut clients = self.clients.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Sweeping scans every bucket, so it runs at most once a second: when many clients are
        // mid-budget nothing can be forgotten, and a scan per request would cost more than it saves.
        if clients.buckets.len() >= MAX_CLIENTS && now.duration_since(clients.swept) >= Duration::from_secs(1) {
            let full = self.capacity;
            clients.buckets.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * rate < full);
            clients.swept = now;
        }
        let (tokens, at) = clients.buckets.entry(client).or_insert((self.capacity, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(self.capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / rate))
        }
    }
}

/// The address a request comes from.
fn client(parts: &Parts, trust_proxy: bool) -> IpAddr {
    let forwarded = trust_proxy
        .then(|| parts.headers.get("x-forwarded-for")?.to_str().ok()?.rsplit(',').next()?.trim().parse().ok())
        .flatten();
    forwarded
        .or_else(|| parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip()))
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// Spends one request of the client's budget in `throttles`, picked by `budget`.
fn spend<S>(parts: &Parts, state: &S, budget: fn(&Throttles) -> &Throttle) -> Result<(), ApiError>
where
    Arc<Config>: FromRef<S>,
    Arc<Throttles>: FromRef<S>,
{
    let client = client(parts, Arc::<Config>::from_ref(state).trust_proxy);
    budget(&Arc::<Throttles>::from_ref(state)).spend(client).map_err(ApiError::Throttled)
}

/// Extracting it spends one login or registration attempt (`AUTH_ATTEMPTS_PER_MINUTE`).
#[derive(Debug)]
pub struct AuthAttempt;

impl<S: Send + Sync> FromRequestParts<S> for AuthAttempt
where
    Arc<Config>: FromRef<S>,
    Arc<Throttles>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        spend(parts, state, |throttles| &throttles.auth).map(|()| AuthAttempt)
    }
}

/// Extracting it spends one token request (`TOKEN_REQUESTS_PER_MINUTE`): `token/verify`,
/// `token/refresh` and `logout`, which anyone may call without credentials, and each of which
/// costs a signature check and database queries.
#[derive(Debug)]
pub struct TokenRequest;

impl<S: Send + Sync> FromRequestParts<S> for TokenRequest
where
    Arc<Config>: FromRef<S>,
    Arc<Throttles>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        spend(parts, state, |throttles| &throttles.tokens).map(|()| TokenRequest)
    }
}

/// Extracting it spends one assistant request (`ASSISTANT_REQUESTS_PER_MINUTE`).
#[derive(Debug)]
pub struct AssistantRequest;

impl<S: Send + Sync> FromRequestParts<S> for AssistantRequest
where
    Arc<Config>: FromRef<S>,
    Arc<Throttles>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        spend(parts, state, |throttles| &throttles.assistant).map(|()| AssistantRequest)
    }
}

/// The budgets of the app.
#[derive(Debug)]
pub struct Throttles {
    /// Logins and registrations, per address.
    pub auth: Throttle,
    /// Token verifications, renewals and logouts, per address.
    pub tokens: Throttle,
    /// Anonymous conversations and assistant messages, per address.
    pub assistant: Throttle,
    /// New chats, per user (`CHATS_PER_HOUR`).
    pub chats: Throttle<i64>,
    /// Members added to chats, per user who adds them (`CHAT_INVITATIONS_PER_HOUR`).
    pub invitations: Throttle<i64>,
    /// Password-reset mails, per account they go to (`RESET_MAILS_PER_HOUR`): the address budget
    /// alone would let many addresses flood one inbox.
    pub reset_mails: Throttle<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_empties_refills_and_is_per_client() {
        let throttle = Throttle::per_minute(2);
        let (one, two): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        assert!(throttle.spend(one).is_ok() && throttle.spend(one).is_ok());
        let wait = throttle.spend(one).expect_err("empty");
        assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30), "{wait:?}");
        assert!(throttle.spend(two).is_ok(), "another client has its own budget");
    }
}
