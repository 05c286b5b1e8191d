//! Request budgets per client address, for the endpoints worth abusing: logins and registrations
//! (password guessing) and the assistant (every message costs a model call).
//!
//! Each client has a bucket of `per_minute` requests that refills continuously; a request that
//! finds it empty gets 429 with `Retry-After`. The client is the peer address, or, with
//! `TRUST_PROXY=1`, the last `X-Forwarded-For` entry (the address the proxy saw).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::app::AppState;
use crate::rest::ApiError;

/// Beyond this many clients, buckets that have refilled are forgotten (at most once a second).
const MAX_CLIENTS: usize = 10_000;

/// One budget, shared by the endpoints that use it.
#[derive(Debug)]
pub struct Throttle {
    per_minute: f64,
    clients: Mutex<Clients>,
}

/// The buckets, and when full ones were last forgotten.
#[derive(Debug)]
struct Clients {
    buckets: HashMap<IpAddr, (f64, Instant)>,
    swept: Instant,
}

impl Throttle {
    /// A budget of `per_minute` requests per client, all of which may come at once.
    pub fn per_minute(per_minute: u32) -> Self {
        let clients = Clients { buckets: HashMap::new(), swept: Instant::now() };
        Throttle { per_minute: f64::from(per_minute.max(1)), clients: Mutex::new(clients) }
    }

    /// Spends one request of `client`'s budget, or says how long until one is available.
    pub fn spend(&self, client: IpAddr) -> Result<(), Duration> {
        let now = Instant::now();
        let rate = self.per_minute / 60.0;
        let mut clients = self.clients.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Sweeping scans every bucket, so it runs at most once a second: when many clients are
        // mid-budget nothing can be forgotten, and a scan per request would cost more than it saves.
        if clients.buckets.len() >= MAX_CLIENTS && now.duration_since(clients.swept) >= Duration::from_secs(1) {
            let full = self.per_minute;
            clients.buckets.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * rate < full);
            clients.swept = now;
        }
        let (tokens, at) = clients.buckets.entry(client).or_insert((self.per_minute, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate).min(self.per_minute);
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

/// Extracting it spends one login or registration attempt (`AUTH_ATTEMPTS_PER_MINUTE`).
#[derive(Debug)]
pub struct AuthAttempt;

impl FromRequestParts<AppState> for AuthAttempt {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let client = client(parts, state.config.trust_proxy);
        state.throttles.auth.spend(client).map(|()| AuthAttempt).map_err(ApiError::Throttled)
    }
}

/// Extracting it spends one assistant request (`ASSISTANT_REQUESTS_PER_MINUTE`).
#[derive(Debug)]
pub struct AssistantRequest;

impl FromRequestParts<AppState> for AssistantRequest {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let client = client(parts, state.config.trust_proxy);
        state.throttles.assistant.spend(client).map(|()| AssistantRequest).map_err(ApiError::Throttled)
    }
}

/// The budgets of the app.
#[derive(Debug)]
pub struct Throttles {
    /// Logins and registrations.
    pub auth: Throttle,
    /// Anonymous conversations and assistant messages.
    pub assistant: Throttle,
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
