//! [`Router`]: which consumer serves which path, with `{param}` segments and nested includes.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{oneshot, watch};
use tracing::Instrument;

use crate::asyncapi::AsyncApi;
use crate::auth::{Authenticator, Credential, Location};
use crate::connection::Io;
use crate::layer::DEFAULT_LAYER;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;
use crate::{Consumer, ConsumerInfo, Layer, Scope, Settings, consumer};

/// What every connection of a router shares.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) layer: Layer,
    pub(crate) settings: Arc<Settings>,
    pub(crate) metrics: Arc<Metrics>,
    /// Held for the life of the connection (see [`Shutdown`]).
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// One routed consumer, type-erased.
pub(crate) trait Endpoint: Send + Sync + 'static {
    /// The connection over `io`, a stream after its handshake; `read` holds what the client
    /// sent after the handshake, read with it.
    fn connect(
        &self,
        io: Box<dyn Io>,
        read: Vec<u8>,
        scope: Scope,
        shared: Shared,
        ready: Option<oneshot::Sender<()>>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>>;
    fn info(&self) -> ConsumerInfo;
    /// The name of the router's layer the consumer uses ([`Consumer::LAYER`]).
    fn layer_name(&self) -> &'static str;
    fn camelize(&self, settings: &Settings) -> bool;
    /// The credentials the route's authenticator reads.
    fn credentials(&self) -> Vec<Credential>;
}

struct ConsumerEndpoint<C: Consumer, F> {
    factory: F,
    authenticator: Arc<C::Authenticator>,
}

impl<C, F> Endpoint for ConsumerEndpoint<C, F>
where
    C: Consumer,
    F: Fn(&Scope) -> C + Send + Sync + 'static,
{
    fn connect(
        &self,
        io: Box<dyn Io>,
        read: Vec<u8>,
        scope: Scope,
        shared: Shared,
        ready: Option<oneshot::Sender<()>>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let consumer = (self.factory)(&scope);
        // The handshake's request id (as set by a proxy or tower-http) when it is short and
        // plain, else a new one, so that every log line of a connection can be tied to it.
        let request_id = crate::request_id::from_header(scope.header("x-request-id"));
        let span = tracing::info_span!("websocket", path = scope.path(), request_id);
        Box::pin(
            consumer::run(
                consumer,
                self.authenticator.clone(),
                Box::new(consumer::Accepted { io, read, scope }),
                shared,
                ready,
            )
            .instrument(span),
        )
    }

    fn info(&self) -> ConsumerInfo {
        C::info()
    }

    fn layer_name(&self) -> &'static str {
        C::LAYER
    }

    fn camelize(&self, settings: &Settings) -> bool {
        C::CAMELIZE.unwrap_or(settings.camelizes())
    }

    fn credentials(&self) -> Vec<Credential> {
        self.authenticator.credentials()
    }
}

/// The value of the route `path` matches in `matcher`, and the route's parameters,
/// percent-decoded. A parameter matches at least one character: matchit 0.8 gives `{room}` the
/// empty segment of `/ws/chat//`, and such a path is refused here (as matchit 0.9 does; no other
/// route is then tried, a catch-all included).
pub(crate) fn match_path<'m, T>(matcher: &'m matchit::Router<T>, path: &str) -> Option<(&'m T, Vec<(String, String)>)> {
    let matched = matcher.at(path).ok()?;
    if matched.params.iter().any(|(_, value)| value.is_empty()) {
        return None;
    }
    Some((matched.value, decoded_params(&matched.params)))
}

/// A matched route's parameters, percent-decoded (invalid UTF-8 replaced).
pub(crate) fn decoded_params(params: &matchit::Params<'_, '_>) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(k, v)| (k.to_owned(), percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned()))
        .collect()
}

/// A route: its path pattern and consumer.
#[derive(Clone)]
pub(crate) struct Route {
    pub(crate) path: String,
    pub(crate) endpoint: Arc<dyn Endpoint>,
    /// The marker subprotocols of the authenticator's credentials, read once at start-up: the
    /// handshake answers with the first one a client offers.
    pub(crate) subprotocols: Vec<String>,
}

/// Maps paths to consumers, and holds the channel layer and settings they share.
///
/// Paths use `{name}` for a segment parameter, which matches one non-empty segment (read with
/// [`Context::param`](crate::Context::param)), and `{*name}` for the non-empty rest of the path.
/// A `Router` is cheap to clone; serve it with [`serve`](crate::serve), test it with
/// [`WebsocketCommunicator`](crate::testing::WebsocketCommunicator), or mount it in axum.
///
/// ```
/// use chanx::{Router, Scope, messages::{Ping, Pong}};
///
/// #[derive(Default)]
/// struct ChatConsumer;
///
/// #[chanx::consumer]
/// impl ChatConsumer {
///     #[ws_handler]
///     async fn ping(&self, _msg: Ping) -> Pong {
///         Pong {}
///     }
/// }
///
/// let chat = Router::new().route("/{room}/", |_: &Scope| ChatConsumer);
/// let app = Router::new().nest("/ws/chat", chat);
/// assert_eq!(app.paths(), ["/ws/chat/{room}/"]);
/// ```
#[derive(Clone)]
pub struct Router {
    routes: Vec<Route>,
    matcher: matchit::Router<usize>,
    layer: Layer,
    /// The layers consumers choose by name, besides the default one.
    named_layers: BTreeMap<String, Layer>,
    settings: Arc<Settings>,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
    /// The AsyncAPI pages' path prefix and settings.
    docs: Option<Arc<(String, AsyncApi)>>,
}

impl Default for Router {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router").field("paths", &self.paths()).field("settings", &self.settings).finish()
    }
}

impl Router {
    /// An empty router with a fresh in-memory layer and default settings.
    pub fn new() -> Self {
        Router {
            routes: Vec::new(),
            matcher: matchit::Router::new(),
            layer: Layer::memory(),
            named_layers: BTreeMap::new(),
            settings: Arc::default(),
            metrics: Arc::default(),
            shutdown: Shutdown::default(),
            docs: None,
        }
    }

    /// Serves `path` with a consumer built by `factory` for each connection. The consumer's
    /// authenticator is made with `Default` (most consumers have [`AllowAll`](crate::auth::AllowAll)); one that needs
    /// configuration is given with [`route_authenticated`](Self::route_authenticated).
    ///
    /// # Panics
    ///
    /// When the path is invalid or conflicts with another route, as axum does: a route table is
    /// fixed at start-up, so this is a programming error.
    pub fn route<C, F>(self, path: &str, factory: F) -> Self
    where
        C: Consumer,
        C::Authenticator: Default,
        F: Fn(&Scope) -> C + Send + Sync + 'static,
    {
        self.route_authenticated(path, C::Authenticator::default(), factory)
    }

    /// Serves `path` with a consumer built by `factory` for each connection, authenticated by
    /// `authenticator` (shared by every connection of the route).
    ///
    /// ```
    /// use chanx::auth::{BearerToken, IsAuthenticated, TokenAuthenticator};
    /// use chanx::messages::{Ping, Pong};
    /// use chanx::{Router, Scope};
    ///
    /// struct User(String);
    /// type Auth = TokenAuthenticator<User>;
    ///
    /// struct Private;
    ///
    /// #[chanx::consumer(authenticator = Auth)]
    /// impl Private {
    ///     #[ws_handler]
    ///     async fn ping(&self, _msg: Ping) -> Pong {
    ///         Pong {}
    ///     }
    /// }
    ///
    /// let auth = Auth::new(BearerToken, |token: String| async move { (token == "s3cr3t").then(|| User("ada".into())) })
    ///     .permission(IsAuthenticated);
    /// let router = Router::new().route_authenticated("/ws/private/", auth, |_: &Scope| Private);
    /// ```
    ///
    /// # Panics
    ///
    /// As [`route`](Self::route).
    pub fn route_authenticated<C, F>(mut self, path: &str, authenticator: C::Authenticator, factory: F) -> Self
    where
        C: Consumer,
        F: Fn(&Scope) -> C + Send + Sync + 'static,
    {
        let endpoint = Arc::new(ConsumerEndpoint { factory, authenticator: Arc::new(authenticator) });
        self.insert(path.to_owned(), endpoint);
        self
    }

    /// Serves one topic on a route of its own, as chanx's `Topic.as_consumer()`: a connection
    /// follows the topic its path names from the start (the server pushes `subscribed`, with
    /// no `ref`, once [`Topic::authorize`](crate::Topic::authorize) agrees), every frame goes to
    /// that topic without naming it, and replies carry `topic`. It is the same topic, and the
    /// same group, as a consumer hosting the type serves: pushes reach both kinds of route.
    ///
    /// ```
    /// # use chanx::{Router, Topic};
    /// # #[derive(Default)] struct RoomTopic;
    /// # #[chanx::topic(pattern = "room:{name}")] impl RoomTopic {}
    /// let router = Router::new().topic::<RoomTopic>("/ws/rooms/{name}/");
    /// ```
    ///
    /// # Panics
    ///
    /// At start-up, when the pattern has a placeholder the path does not (chanx would fail at
    /// each connection instead), and as [`route`](Self::route).
    pub fn topic<T: crate::Topic>(self, path: &str) -> Self {
        self.topic_authenticated::<T, crate::auth::AllowAll>(path, crate::auth::AllowAll)
    }

    /// [`topic`](Self::topic), with connections authenticated by `authenticator` first (the
    /// topic's `authorize` then sees the user in [`Context::extension`](crate::Context::extension)).
    ///
    /// # Panics
    ///
    /// As [`topic`](Self::topic).
    pub fn topic_authenticated<T: crate::Topic, A: Authenticator>(self, path: &str, authenticator: A) -> Self {
        let route_params = crate::asyncapi::path_parameters(path);
        for name in crate::topic::parameter_names(T::PATTERN) {
            if !route_params.iter().any(|p| p == name) {
                panic!(
                    "the route {path:?} cannot serve {}: its pattern {:?} needs the parameter {{{name}}}, which the \
                     path does not have",
                    T::TYPE_NAME,
                    T::PATTERN
                );
            }
        }
        self.route_authenticated::<crate::topic::Standalone<T, A>, _>(path, authenticator, |_: &Scope| {
            crate::topic::Standalone::new()
        })
    }

    /// Includes every route of `other` under `prefix` (its layers, settings, metrics and shutdown
    /// are not used: its consumers use this router's layers, by name).
    pub fn nest(mut self, prefix: &str, other: Router) -> Self {
        for route in other.routes {
            let path = format!("{}/{}", prefix.trim_end_matches('/'), route.path.trim_start_matches('/'));
            self.insert(path, route.endpoint);
        }
        self
    }

    /// Uses this channel layer (by default, a new in-memory one); read back with
    /// [`layer`](Self::layer). It is the layer named [`DEFAULT_LAYER`], which every consumer
    /// uses unless it names another with `#[consumer(layer = "...")]`.
    pub fn with_layer(mut self, layer: Layer) -> Self {
        self.layer = layer;
        self
    }

    /// Adds a channel layer under `name`, for the consumers that choose it with
    /// `#[consumer(layer = "name")]` (chanx's `channel_layer_alias`): one app can keep its chat on
    /// one Redis prefix and its job results on another, or one consumer in memory. The name
    /// [`DEFAULT_LAYER`] replaces the default layer, as [`with_layer`](Self::with_layer) does. Read
    /// back with [`named_layer`](Self::named_layer); [`check`](Self::check), run by
    /// [`serve`](crate::serve), refuses a router whose consumers name a layer it lacks.
    ///
    /// ```
    /// use chanx::{Layer, Router, Scope, messages::{Ping, Pong}};
    ///
    /// struct Jobs;
    ///
    /// #[chanx::consumer(layer = "jobs")]
    /// impl Jobs {
    ///     #[ws_handler]
    ///     async fn ping(&self, _msg: Ping) -> Pong {
    ///         Pong {}
    ///     }
    /// }
    ///
    /// let router = Router::new().route("/ws/jobs/", |_: &Scope| Jobs);
    /// assert!(router.check().is_err(), "no layer is named jobs yet");
    /// let router = router.with_named_layer("jobs", Layer::memory());
    /// assert!(router.check().is_ok());
    /// assert!(router.named_layer("jobs").is_some());
    /// ```
    pub fn with_named_layer(mut self, name: impl Into<String>, layer: Layer) -> Self {
        let name = name.into();
        if name == DEFAULT_LAYER {
            self.layer = layer;
        } else {
            self.named_layers.insert(name, layer);
        }
        self
    }

    /// Adds each `(name, layer)`, as [`with_named_layer`](Self::with_named_layer) does: the
    /// layers of a configuration read by [`layer::from_config`](crate::layer::from_config).
    pub fn with_named_layers<N: Into<String>>(self, layers: impl IntoIterator<Item = (N, Layer)>) -> Self {
        layers.into_iter().fold(self, |router, (name, layer)| router.with_named_layer(name, layer))
    }

    /// The layer named `name` ([`DEFAULT_LAYER`] is the default layer), to send events to the
    /// consumers using it from HTTP handlers and background tasks.
    pub fn named_layer(&self, name: &str) -> Option<&Layer> {
        if name == DEFAULT_LAYER { Some(&self.layer) } else { self.named_layers.get(name) }
    }

    /// The names of this router's layers, [`DEFAULT_LAYER`] first.
    pub fn layer_names(&self) -> Vec<&str> {
        std::iter::once(DEFAULT_LAYER).chain(self.named_layers.keys().map(String::as_str)).collect()
    }

    /// Checks that the router can serve every route: each consumer's layer
    /// ([`Consumer::LAYER`]) is one of the router's. [`serve`](crate::serve) and
    /// `chanx::axum::serve` return this error before accepting anything, `chanx::axum::routes`
    /// and the test communicator panic with it; call it yourself to fail earlier.
    pub fn check(&self) -> Result<(), RouterError> {
        for route in &self.routes {
            let layer = route.endpoint.layer_name();
            if self.named_layer(layer).is_none() {
                return Err(RouterError::UnknownLayer {
                    path: route.path.clone(),
                    consumer: route.endpoint.info().type_name,
                    layer,
                    available: self.layer_names().into_iter().map(str::to_owned).collect(),
                });
            }
        }
        Ok(())
    }

    /// Uses these settings (by default, [`Settings::default`]); read back with
    /// [`settings`](Self::settings).
    pub fn with_settings(mut self, settings: Settings) -> Self {
        self.settings = Arc::new(settings);
        self
    }

    /// Serves this router's AsyncAPI document over HTTP under `prefix` (which ends with `/`):
    /// `{prefix}` is an HTML page that needs no network, `{prefix}asyncapi.json` and
    /// `{prefix}asyncapi.yaml` the document. Served by [`serve`](crate::serve) and by
    /// `chanx::axum::routes`.
    ///
    /// ```
    /// use chanx::asyncapi::AsyncApi;
    /// let router = chanx::Router::new().asyncapi("/asyncapi/", AsyncApi::new("Chat", "1.0.0"));
    /// ```
    pub fn asyncapi(mut self, prefix: &str, spec: AsyncApi) -> Self {
        let prefix = if prefix.ends_with('/') { prefix.to_owned() } else { format!("{prefix}/") };
        self.docs = Some(Arc::new((prefix, spec)));
        self
    }

    /// The AsyncAPI page at `path`, if one is mounted there: its content type and body.
    pub(crate) fn docs_page(&self, path: &str) -> Option<(&'static str, String)> {
        let docs = self.docs.as_ref()?;
        docs.1.page(self, &docs.0, path)
    }

    /// Whether `path` is under the AsyncAPI pages' prefix (served over HTTP, never upgraded).
    pub(crate) fn is_docs_path(&self, path: &str) -> bool {
        self.docs.as_ref().is_some_and(|docs| path.starts_with(docs.0.as_str()))
    }

    /// The paths of the AsyncAPI pages, if mounted.
    #[cfg(feature = "axum")]
    pub(crate) fn docs_paths(&self) -> Vec<String> {
        self.docs.iter().flat_map(|d| ["", "asyncapi.json", "asyncapi.yaml"].map(|f| format!("{}{f}", d.0))).collect()
    }

    /// The default channel layer (named [`DEFAULT_LAYER`]), to send events from HTTP handlers and
    /// background tasks to the consumers that name no other ([`named_layer`](Self::named_layer)).
    pub fn layer(&self) -> &Layer {
        &self.layer
    }

    /// The settings.
    ///
    /// ```
    /// use chanx::{Router, Settings};
    /// let router = Router::new().with_settings(Settings::default().camelize(true));
    /// let stricter = router.clone().with_settings(router.settings().clone().max_message_size(64 * 1024));
    /// assert!(stricter.settings().camelizes());
    /// ```
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The counters of this router's connections (shared by its clones).
    ///
    /// ```
    /// let router = chanx::Router::new();
    /// let metrics = router.metrics().clone(); // e.g. for a `/metrics` HTTP handler
    /// println!("{}", metrics.snapshot().to_prometheus());
    /// ```
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Shuts this router's connections down gracefully: new handshakes get 503, every open
    /// connection is closed with 1001 once the handlers it is running finish (each within
    /// [`Settings::drain_timeout`]), and this waits for them, up to [`Settings::shutdown_timeout`].
    /// Returns `false` when some were still open at that deadline.
    ///
    /// [`serve`](crate::serve) and `chanx::axum::serve` do this themselves on their shutdown
    /// signal; call it directly when serving some other way.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let router = chanx::Router::new();
    /// assert!(router.shutdown().await);
    /// # }
    /// ```
    pub async fn shutdown(&self) -> bool {
        self.shutdown.trigger(self.settings.shutdown_timeout).await
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutdown.is_triggered()
    }

    /// Every routed path pattern, in the order added.
    pub fn paths(&self) -> Vec<&str> {
        self.routes.iter().map(|r| r.path.as_str()).collect()
    }

    /// The routed consumers' metadata, with their path patterns (what AsyncAPI documents).
    pub fn consumers(&self) -> Vec<(&str, ConsumerInfo)> {
        self.routes.iter().map(|r| (r.path.as_str(), r.endpoint.info())).collect()
    }

    /// Each route's path, consumer metadata and the credentials its authenticator reads.
    pub(crate) fn routes_info(&self) -> Vec<(&str, ConsumerInfo, Vec<Credential>)> {
        self.routes.iter().map(|r| (r.path.as_str(), r.endpoint.info(), r.endpoint.credentials())).collect()
    }

    /// Whether every routed consumer camelizes its frames (with these settings).
    pub(crate) fn all_camelize(&self) -> bool {
        !self.routes.is_empty() && self.routes.iter().all(|r| r.endpoint.camelize(&self.settings))
    }

    fn insert(&mut self, path: String, endpoint: Arc<dyn Endpoint>) {
        if let Err(err) = self.matcher.insert(path.clone(), self.routes.len()) {
            panic!("invalid chanx route {path:?}: {err}");
        }
        let subprotocols = endpoint
            .credentials()
            .into_iter()
            .filter(|credential| credential.location == Location::Subprotocol)
            .map(|credential| credential.name)
            .collect();
        self.routes.push(Route { path, endpoint, subprotocols });
    }

    /// The route for a request path and its decoded parameters.
    pub(crate) fn find(&self, path: &str) -> Option<(&Route, Vec<(String, String)>)> {
        let (index, params) = match_path(&self.matcher, path)?;
        Some((&self.routes[*index], params))
    }

    /// What a connection of `route` shares with the others: `None` when its consumer names a
    /// layer the router lacks (which [`check`](Self::check) reports at start-up).
    pub(crate) fn shared(&self, route: &Route) -> Option<Shared> {
        Some(Shared {
            layer: self.named_layer(route.endpoint.layer_name())?.clone(),
            settings: self.settings.clone(),
            metrics: self.metrics.clone(),
            shutdown: self.shutdown.subscribe(),
        })
    }
}

/// Why a [`Router`] cannot serve its routes ([`Router::check`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouterError {
    /// A consumer names a layer (`#[consumer(layer = "...")]`) that the router does not have.
    #[error(
        "the consumer {consumer} at {path:?} uses the channel layer {layer:?}, which this router does not have \
         (it has {available:?}): add it with Router::with_named_layer({layer:?}, layer)"
    )]
    UnknownLayer {
        /// The route's path pattern.
        path: String,
        /// The consumer's Rust type name.
        consumer: &'static str,
        /// The layer it names.
        layer: &'static str,
        /// The names of the router's layers.
        available: Vec<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_for(header: &str) -> String {
        let scope = Scope::builder("/").header("x-request-id", header).build();
        crate::request_id::from_header(scope.header("x-request-id"))
    }

    #[test]
    fn a_clients_request_id_is_kept_only_when_short_and_plain() {
        assert_eq!(id_for("5f0c-proxy.id:1"), "5f0c-proxy.id:1");
        for hostile in
            ["x".repeat(crate::request_id::MAX_LEN + 1), "a b".into(), "a\"b".into(), "é".into(), String::new()]
        {
            let id = id_for(&hostile);
            assert_ne!(id, hostile);
            assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
        }
    }

    struct Room;

    #[crate::consumer]
    impl Room {
        #[ws_handler]
        async fn ping(&self, _msg: crate::messages::Ping) -> crate::messages::Pong {
            crate::messages::Pong {}
        }
    }

    #[test]
    fn an_empty_segment_is_no_parameter() {
        let router =
            Router::new().route("/ws/chat/{room}/", |_: &Scope| Room).route("/ws/files/{*path}", |_: &Scope| Room);
        let params = |path: &str| router.find(path).map(|(_, params)| params);
        assert_eq!(params("/ws/chat/main/"), Some(vec![("room".to_owned(), "main".to_owned())]));
        assert_eq!(params("/ws/chat//"), None);
        assert_eq!(params("/ws/files/a/b"), Some(vec![("path".to_owned(), "a/b".to_owned())]));
        assert_eq!(params("/ws/files/"), None);
    }

    #[test]
    fn long_paths_are_matched_in_one_pass() {
        let routes = ["/ws/chat/{room}/", "/ws/chat/{room}/{topic}/", "/ws/{*rest}", "/ws/chat/lobby/"];
        let mut matcher = matchit::Router::new();
        for (index, route) in routes.iter().enumerate() {
            matcher.insert(*route, index).expect("a valid route");
        }
        let path = format!("/ws/chat/{}/", "%41".repeat(100_000));
        let matched = matcher.at(&path).expect("matched");
        assert_eq!(*matched.value, 0);
        assert_eq!(decoded_params(&matched.params), [("room".to_owned(), "A".repeat(100_000))]);
        let deep = format!("/ws/chat/x/{}", "a/".repeat(100_000));
        assert_eq!(matcher.at(&deep).map(|m| *m.value).ok(), Some(2));
    }
}
