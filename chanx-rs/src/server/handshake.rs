//! The WebSocket upgrade: match the route, check the handshake headers and the `Origin`, answer
//! 101, and hand the upgraded stream to the consumer.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::connection::{Io, ws_config};
use crate::metrics::Refusal;
use crate::{Router, Scope};

/// Answers one HTTP request: a WebSocket upgrade on a routed path, or an error status.
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
        return plain(StatusCode::NOT_FOUND, "Not Found");
    };
    let Some(key) = upgrade_key(&request) else {
        return plain(StatusCode::UPGRADE_REQUIRED, "This path only accepts WebSocket connections");
    };
    let Some(shared) = router.shared(route) else {
        // `serve` checks the router before accepting (Router::check); a router served some other
        // way unchecked gets here.
        tracing::error!(
            path,
            layer = route.endpoint.layer_name(),
            "the route's consumer names a layer the router lacks"
        );
        return plain(StatusCode::INTERNAL_SERVER_ERROR, "This route's channel layer is not configured");
    };
    if let Some(origin) = request.headers().get(header::ORIGIN) {
        let host = request.headers().get(header::HOST).and_then(|h| h.to_str().ok());
        let allowed = origin.to_str().is_ok_and(|origin| shared.settings.allows_origin(origin, host));
        if !allowed {
            tracing::warn!(?origin, ?host, path, ?peer, "refused a WebSocket handshake from a foreign origin");
            shared.metrics.refused(Refusal::Origin);
            return plain(StatusCode::FORBIDDEN, "Origin not allowed");
        }
    }
    if router.is_shutting_down() {
        shared.metrics.refused(Refusal::ShuttingDown);
        return plain(StatusCode::SERVICE_UNAVAILABLE, "The server is shutting down");
    }
    let mut scope = Scope::builder(path);
    for (name, value) in params {
        scope = scope.param(name, value);
    }
    let scope =
        scope.query(request.uri().query().unwrap_or("")).headers(owned_headers(&request)).peer_addr(peer).build();
    let protocol = subprotocol(request.headers(), &route.subprotocols);
    let endpoint = route.endpoint.clone();
    let on_upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => {
                let io: Box<dyn Io> = Box::new(TokioIo::new(upgraded));
                let config = ws_config(&shared.settings);
                let ws = WebSocketStream::from_raw_socket(io, Role::Server, Some(config)).await;
                endpoint.connect(ws, scope, shared, None).await;
            }
            Err(err) => tracing::debug!(error = %err, "WebSocket upgrade failed"),
        }
    });
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    if let Some(protocol) = protocol {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, protocol);
    }
    response
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
fn upgrade_key<B>(request: &Request<B>) -> Option<String> {
    let headers = request.headers();
    let has_token = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|part| part.trim().eq_ignore_ascii_case(token)))
    };
    let valid = request.method() == http::Method::GET
        && has_token(header::CONNECTION, "upgrade")
        && has_token(header::UPGRADE, "websocket")
        && headers.get(header::SEC_WEBSOCKET_VERSION).is_some_and(|v| v == "13");
    if !valid {
        return None;
    }
    headers.get(header::SEC_WEBSOCKET_KEY)?.to_str().ok().map(str::to_owned)
}

fn plain(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
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
