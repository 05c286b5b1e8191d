//! [`Scope`]: what is known about a connection before any frame: path, parameters, query, headers,
//! cookies, the client address.

use std::net::SocketAddr;

use http::HeaderMap;

/// The request a connection came from.
///
/// ```
/// let scope = chanx::Scope::builder("/ws/chat/5/")
///     .param("pk", "5")
///     .query("room=main&lang=en")
///     .header("x-user", "ada")
///     .build();
/// assert_eq!(scope.param("pk"), Some("5"));
/// assert_eq!(scope.query("lang"), Some("en"));
/// assert_eq!(scope.header("x-user"), Some("ada"));
/// ```
#[derive(Debug, Default)]
pub struct Scope {
    path: String,
    params: Vec<(String, String)>,
    query: Vec<(String, String)>,
    headers: HeaderMap,
    peer_addr: Option<SocketAddr>,
}

impl Scope {
    /// Starts a scope for `path` (used by the server, the test communicator and custom transports).
    pub fn builder(path: &str) -> ScopeBuilder {
        ScopeBuilder(Scope { path: path.to_owned(), ..Scope::default() })
    }

    /// The request path, without the query string.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// A path parameter, such as `pk` in `/ws/chat/{pk}/`, percent-decoded.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every path parameter, in route order.
    pub fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// The first value of a query parameter, decoded.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every query parameter, in order.
    pub fn query_pairs(&self) -> &[(String, String)] {
        &self.query
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// A header's value, when present and valid text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A cookie of the request's `Cookie` headers, by name. Malformed pairs are skipped; values
    /// are returned as sent (surrounding double quotes removed).
    ///
    /// ```
    /// let scope = chanx::Scope::builder("/").header("cookie", "theme=dark; sessionid=\"abc\"").build();
    /// assert_eq!(scope.cookie("sessionid"), Some("abc"));
    /// assert_eq!(scope.cookie("missing"), None);
    /// ```
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies().find(|(k, _)| *k == name).map(|(_, v)| v)
    }

    /// Every `name=value` pair of the request's `Cookie` headers, in order.
    pub fn cookies(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|line| line.split(';'))
            .filter_map(|pair| {
                let (name, value) = pair.split_once('=')?;
                let name = name.trim();
                let value = value.trim();
                let value = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(value);
                (!name.is_empty()).then_some((name, value))
            })
    }

    /// The client's address, when the transport knows it.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer_addr
    }
}

/// Builds a [`Scope`].
#[derive(Debug)]
pub struct ScopeBuilder(Scope);

impl ScopeBuilder {
    /// Adds a path parameter.
    pub fn param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.0.params.push((name.into(), value.into()));
        self
    }

    /// Parses a raw query string (`a=1&b=two`), percent-decoding it.
    pub fn query(mut self, raw: &str) -> Self {
        self.0.query = form_urlencoded::parse(raw.as_bytes()).into_owned().collect();
        self
    }

    /// Adds a header; invalid names or values are ignored.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(name), Ok(value)) =
            (http::HeaderName::from_bytes(name.as_bytes()), http::HeaderValue::from_str(value))
        {
            self.0.headers.append(name, value);
        }
        self
    }

    /// Replaces the headers.
    pub fn headers(mut self, headers: HeaderMap) -> Self {
        self.0.headers = headers;
        self
    }

    /// Sets the client's address.
    pub fn peer_addr(mut self, addr: Option<SocketAddr>) -> Self {
        self.0.peer_addr = addr;
        self
    }

    /// The scope.
    pub fn build(self) -> Scope {
        self.0
    }
}
