//! The WebSocket upgrade: match the route, check the handshake headers and the `Origin`, answer
//! 101, and hand the upgraded stream to the consumer. [`websocket_request`] and [`accept`] decide;
//! hyper's path ([`handle`]) and the direct one ([`super::upgrade`]) only carry the answer out.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::connection::Io;
use crate::metrics::Refusal;
use crate::router::{Endpoint, Route, Shared};
use crate::{Router, Scope};

/// Answers one HTTP request: an AsyncAPI page, a WebSocket upgrade on a routed path, or an
/// error status.
pub(crate) fn handle<B>(router: &Router, mut request: Request<B>, peer: Option<SocketAddr>) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    if request.method() == http::Method::GET
        && let Some((content_type, body)) = router.docs_page(path)
    {
        let mut response = Response::new(Full::new(Bytes::from(body)));
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        return response;
    }
    let Some((route, params)) = router.find(path) else {
        return Refused::NOT_FOUND.response();
    };
    let Some(key) = upgrade_key(request.method(), request.headers()) else {
        return Refused::UPGRADE_REQUIRED.response();
    };
    let uri = request.uri();
    let (path, query) = (uri.path(), uri.query().unwrap_or(""));
    let upgrade = match accept(router, route, params, (path, query), &key, owned_headers(&request), peer) {
        Ok(upgrade) => upgrade,
        Err(refused) => return refused.response(),
    };
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&upgrade.accept_key) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    if let Some(protocol) = &upgrade.protocol {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, protocol.clone());
    }
    let on_upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => upgrade.connection(Box::new(TokioIo::new(upgraded)), Vec::new()).await,
            Err(err) => tracing::debug!(error = %err, "WebSocket upgrade failed"),
        }
    });
    response
}

/// A path's parameters, name and value, in the route's order.
pub(crate) type PathParams = Vec<(String, String)>;

/// The route, path parameters and `Sec-WebSocket-Key` of a WebSocket handshake on one of
/// `router`'s paths; `None` for any other request (an AsyncAPI page, a plain request, a path
/// the router lacks), which [`handle`] answers.
pub(crate) fn websocket_request<'r>(
    router: &'r Router,
    method: &http::Method,
    path: &str,
    headers: &HeaderMap,
) -> Option<(&'r Route, PathParams, String)> {
    if router.is_docs_path(path) {
        return None;
    }
    let key = upgrade_key(method, headers)?;
    let (route, params) = router.find(path)?;
    Some((route, params, key))
}

/// A handshake accepted: what to answer and what to run once the 101 is sent.
pub(crate) struct Upgrade {
    endpoint: Arc<dyn Endpoint>,
    shared: Shared,
    scope: Scope,
    /// The `Sec-WebSocket-Accept` of the answer.
    pub(crate) accept_key: String,
    /// The `Sec-WebSocket-Protocol` of the answer, when the client offered a credential marker.
    pub(crate) protocol: Option<HeaderValue>,
}

impl Upgrade {
    /// The scope the connection will have.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The connection's consumer over `io`, the stream after the handshake; `read` holds the
    /// bytes the client sent after its request head, read with it.
    pub(crate) fn connection(self, io: Box<dyn Io>, read: Vec<u8>) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        self.endpoint.connect(io, read, self.scope, self.shared, None)
    }
}

/// Why a WebSocket handshake is answered with an error status instead of 101.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refused {
    pub(crate) status: StatusCode,
    pub(crate) body: &'static str,
}

impl Refused {
    const NOT_FOUND: Refused = Refused { status: StatusCode::NOT_FOUND, body: "Not Found" };
    const UPGRADE_REQUIRED: Refused =
        Refused { status: StatusCode::UPGRADE_REQUIRED, body: "This path only accepts WebSocket connections" };
    const NO_LAYER: Refused =
        Refused { status: StatusCode::INTERNAL_SERVER_ERROR, body: "This route's channel layer is not configured" };
    const FOREIGN_ORIGIN: Refused = Refused { status: StatusCode::FORBIDDEN, body: "Origin not allowed" };
    const SHUTTING_DOWN: Refused =
        Refused { status: StatusCode::SERVICE_UNAVAILABLE, body: "The server is shutting down" };

    fn response(self) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(Bytes::from_static(self.body.as_bytes())));
        *response.status_mut() = self.status;
        if self.status == StatusCode::UPGRADE_REQUIRED {
            // What to upgrade to, and the one WebSocket version spoken (RFC 9110 §15.5.22,
            // RFC 6455 §4.4).
            let headers = response.headers_mut();
            headers.insert(http::header::UPGRADE, HeaderValue::from_static("websocket"));
            headers.insert(http::header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        }
        response
    }
}

/// Decides a WebSocket handshake on `route` (found by [`websocket_request`]) for the request
/// target `(path, query)`: the `Origin`, the route's channel layer and the server's state, each
/// refusal logged and counted here. `headers`, the request's without its `Sec-WebSocket-Key`
/// (`key`), become the connection's [`Scope::headers`].
pub(crate) fn accept(
    router: &Router,
    route: &Route,
    params: PathParams,
    (path, query): (&str, &str),
    key: &str,
    headers: HeaderMap,
    peer: Option<SocketAddr>,
) -> Result<Upgrade, Refused> {
    let Some(shared) = router.shared(route) else {
        // `serve` checks the router before accepting (Router::check); a router served some other
        // way unchecked gets here.
        tracing::error!(
            path,
            layer = route.endpoint.layer_name(),
            "the route's consumer names a layer the router lacks"
        );
        return Err(Refused::NO_LAYER);
    };
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        let allowed = origin.to_str().is_ok_and(|origin| shared.settings.allows_origin(origin, host));
        if !allowed {
            tracing::warn!(?origin, ?host, path, ?peer, "refused a WebSocket handshake from a foreign origin");
            shared.metrics.refused(Refusal::Origin);
            return Err(Refused::FOREIGN_ORIGIN);
        }
    }
    if router.is_shutting_down() {
        shared.metrics.refused(Refusal::ShuttingDown);
        return Err(Refused::SHUTTING_DOWN);
    }
    let mut scope = Scope::builder(path);
    for (name, value) in params {
        scope = scope.param(name, value);
    }
    let protocol = subprotocol(&headers, &route.subprotocols);
    let scope = scope.query(query).headers(headers).peer_addr(peer).build();
    Ok(Upgrade {
        endpoint: route.endpoint.clone(),
        protocol,
        accept_key: derive_accept_key(key.as_bytes()),
        shared,
        scope,
    })
}

/// The marker protocol of a [`ProtocolToken`](crate::auth::ProtocolToken) credential the client
/// offers: a browser drops the connection unless the server picks one of its protocols, and the
/// server must pick the marker, never the token.
pub(crate) fn subprotocol(headers: &HeaderMap, markers: &[String]) -> Option<HeaderValue> {
    if markers.is_empty() {
        return None;
    }
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find(|offered| markers.iter().any(|marker| marker == offered))
        .and_then(|marker| HeaderValue::from_str(marker).ok())
}

/// The request headers, copied: hyper's values share its 8 KiB read buffer, which would otherwise
/// live as long as the connection. The one-time handshake nonce is left out.
fn owned_headers<B>(request: &Request<B>) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(request.headers().len());
    for (name, value) in request.headers() {
        if name != header::SEC_WEBSOCKET_KEY
            && let Ok(value) = HeaderValue::from_bytes(value.as_bytes())
        {
            headers.append(name.clone(), value);
        }
    }
    headers
}

/// The `Sec-WebSocket-Key` of a valid upgrade request (RFC 6455 §4.2.1).
pub(crate) fn upgrade_key(method: &http::Method, headers: &HeaderMap) -> Option<String> {
    let has_token = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|part| part.trim().eq_ignore_ascii_case(token)))
    };
    let valid = method == http::Method::GET
        && has_token(header::CONNECTION, "upgrade")
        && has_token(header::UPGRADE, "websocket")
        && headers.get(header::SEC_WEBSOCKET_VERSION).is_some_and(|v| v == "13");
    if !valid {
        return None;
    }
    headers.get(header::SEC_WEBSOCKET_KEY)?.to_str().ok().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_is_found_among_many_offered_protocols_in_one_pass() {
        let mut headers = HeaderMap::new();
        let offered = "chat, ".repeat(100_000) + "access_token, t0k3n";
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_str(&offered).expect("a header value"));
        let markers = ["access_token".to_owned()];
        assert_eq!(subprotocol(&headers, &markers), Some(HeaderValue::from_static("access_token")));
        assert_eq!(subprotocol(&headers, &[]), None);
        assert_eq!(subprotocol(&headers, &["other".to_owned()]), None);
    }
}
