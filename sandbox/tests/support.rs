//! A sandbox per test, on its own SQLite file or its own PostgreSQL schema, with helpers to call
//! it over HTTP (in process, no port) and to open its sockets with the test communicator.

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use chanx::testing::WebsocketCommunicator;
use http_body_util::BodyExt;
use sandbox::accounts::{NewUser, User};
use sandbox::{Config, Db, Sandbox};
use serde_json::Value;
use tower::ServiceExt;

/// The origin the test requests come from: `SERVER_URL`'s default.
pub(crate) const ORIGIN: &str = "http://localhost:8000";
/// The password of every test user.
pub(crate) const PASSWORD: &str = "a long test password";

/// Runs each listed `async fn name(app: TestApp)` once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::support::TestApp::sqlite().await).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() {
                   if let Some(app) = $crate::support::TestApp::postgres().await { super::$name(app).await }
               } )*
        }
    };
}

/// Where the test database lives, removed when the test ends.
enum Storage {
    SqliteFile(std::path::PathBuf),
    PostgresSchema { admin_url: String, schema: String },
}

/// One sandbox with its own database.
pub(crate) struct TestApp {
    /// The app.
    pub(crate) sandbox: Sandbox,
    router: axum::Router,
    storage: Storage,
    /// The `SECRET_KEY` of this app and of its restarts and other processes, so that they
    /// accept each other's tokens.
    secret: String,
}

/// A configuration from these variables, with `SECRET_KEY` set to `secret` unless they set it.
fn config_with(vars: &[(&str, String)], secret: &str) -> Config {
    Config::from_lookup(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
            .or_else(|| (name == "SECRET_KEY").then(|| secret.to_owned()))
    })
    .expect("valid configuration")
}

/// What a request answered.
#[derive(Debug)]
pub(crate) struct TestResponse {
    /// The status.
    pub(crate) status: StatusCode,
    /// The headers.
    pub(crate) headers: HeaderMap,
    /// The body as text.
    pub(crate) text: String,
}

impl TestResponse {
    /// The body as JSON (null if it is not JSON).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// The `Location` header.
    pub(crate) fn location(&self) -> &str {
        self.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// Every `Set-Cookie` header.
    pub(crate) fn cookies(&self) -> Vec<String> {
        self.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).map(str::to_owned).collect()
    }
}

fn require_services() -> bool {
    std::env::var("CHANX_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

impl TestApp {
    async fn start(db: Db, storage: Storage) -> TestApp {
        TestApp::start_with(db, storage, chanx::Layer::memory()).await
    }

    async fn start_with(db: Db, storage: Storage, layer: chanx::Layer) -> TestApp {
        db.migrate().await.expect("migrations run");
        let secret = sandbox::accounts::secret_key::generate().expect("random key");
        let sandbox = Sandbox::with_layer(db, config_with(&[], &secret), layer);
        let router = sandbox.router();
        TestApp { sandbox, router, storage, secret }
    }

    /// A sandbox on a new SQLite file.
    pub(crate) async fn sqlite() -> TestApp {
        TestApp::sqlite_with(chanx::Layer::memory()).await
    }

    /// A sandbox on a new SQLite file with this channel layer.
    pub(crate) async fn sqlite_with(layer: chanx::Layer) -> TestApp {
        let dir = std::env::temp_dir().join("chanx-sandbox-tests");
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join(format!("{}.sqlite3", uuid::Uuid::new_v4().simple()));
        let db = Db::connect(&format!("sqlite://{}", path.display())).await.expect("sqlite opens");
        TestApp::start_with(db, Storage::SqliteFile(path), layer).await
    }

    /// The same app and database, restarted with these environment variables.
    pub(crate) fn configured(self, vars: &[(&str, String)]) -> TestApp {
        self.configured_with(vars, chanx::Layer::memory())
    }

    /// The same app and database, restarted with these environment variables and this layer.
    pub(crate) fn configured_with(self, vars: &[(&str, String)], layer: chanx::Layer) -> TestApp {
        let config = config_with(vars, &self.secret);
        self.restarted(config, layer)
    }

    /// The same app and database, restarted with this configuration as it is (no test key).
    pub(crate) fn restarted(mut self, config: Config, layer: chanx::Layer) -> TestApp {
        self.sandbox = Sandbox::with_layer(self.db().clone(), config, layer);
        self.router = self.sandbox.router();
        self
    }

    /// Another process of the same app: same database and key, its own channel layer and sockets.
    pub(crate) fn another_process(&self, layer: chanx::Layer) -> Sandbox {
        Sandbox::with_layer(self.db().clone(), config_with(&[], &self.secret), layer)
    }

    /// A sandbox on a new schema of `CHANX_TEST_DATABASE_URL` (default: the local `test`
    /// database); `None`, with the reason printed, when PostgreSQL is unreachable, unless
    /// `CHANX_REQUIRE_SERVICES=1`.
    pub(crate) async fn postgres() -> Option<TestApp> {
        let admin_url = std::env::var("CHANX_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let admin = match Db::connect(&admin_url).await {
            Ok(admin) => admin,
            Err(err) if !require_services() => {
                eprintln!("skipped: PostgreSQL at {admin_url} is unreachable ({err}); set CHANX_TEST_DATABASE_URL");
                return None;
            }
            Err(err) => panic!("PostgreSQL at {admin_url} is required (CHANX_REQUIRE_SERVICES=1): {err}"),
        };
        let schema = format!("sandbox_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(&format!("CREATE SCHEMA {schema}")).execute(admin.pool()).await.expect("schema created");
        admin.close().await;
        let separator = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{separator}options=-c%20search_path%3D{schema}");
        let db = Db::connect(&url).await.expect("schema connects");
        Some(TestApp::start(db, Storage::PostgresSchema { admin_url, schema }).await)
    }

    /// The database.
    pub(crate) fn db(&self) -> &Db {
        &self.sandbox.state.db
    }

    /// A new user with [`PASSWORD`].
    pub(crate) async fn user(&self, email: &str) -> User {
        let new = NewUser { email: email.into(), password: PASSWORD.into(), ..NewUser::default() };
        User::create(self.db(), &self.sandbox.state.hasher, new).await.expect("user created")
    }

    /// The `Cookie` header of a signed-in browser.
    pub(crate) fn cookie_for(&self, user: &User) -> String {
        let access = self.sandbox.state.tokens.access(user.id).expect("token");
        format!("my-jwt-auth={}", access.token)
    }

    /// Sends a request from a browser on the site, signed in as `user` (by cookie) when given.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        user: Option<&User>,
        body: Option<Value>,
    ) -> TestResponse {
        let mut request =
            Request::builder().method(method).uri(path).header("host", "localhost:8000").header("origin", ORIGIN);
        if let Some(user) = user {
            request = request.header("cookie", self.cookie_for(user));
        }
        let body = match body {
            Some(json) => {
                request = request.header("content-type", "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).expect("request")).await
    }

    /// `GET path` as `user`.
    pub(crate) async fn get(&self, path: &str, user: Option<&User>) -> TestResponse {
        self.call(Method::GET, path, user, None).await
    }

    /// `POST path` with a JSON body as `user`.
    pub(crate) async fn post(&self, path: &str, user: Option<&User>, body: Value) -> TestResponse {
        self.call(Method::POST, path, user, Some(body)).await
    }

    /// `POST path` with a form body as `user`, as a page's form does.
    pub(crate) async fn form(&self, path: &str, user: Option<&User>, fields: &[(&str, &str)]) -> TestResponse {
        let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        let mut request = Request::post(path)
            .header("host", "localhost:8000")
            .header("origin", ORIGIN)
            .header("content-type", "application/x-www-form-urlencoded");
        if let Some(user) = user {
            request = request.header("cookie", self.cookie_for(user));
        }
        self.send(request.body(Body::from(body)).expect("request")).await
    }

    /// Sends any request.
    pub(crate) async fn send(&self, request: Request<Body>) -> TestResponse {
        let response = self.router.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        TestResponse { status, headers, text: String::from_utf8_lossy(&bytes).into_owned() }
    }

    /// Opens socket `path` signed in as `user` (or anonymously).
    pub(crate) async fn socket(&self, path: &str, user: Option<&User>) -> WebsocketCommunicator {
        let mut builder =
            WebsocketCommunicator::builder(&self.sandbox.sockets, path).timeout(std::time::Duration::from_secs(3));
        if let Some(user) = user {
            builder = builder.header("cookie", &self.cookie_for(user));
        }
        builder.connect().await
    }

    /// Opens socket `path` as `user` and checks that it was accepted.
    pub(crate) async fn member_socket(&self, path: &str, user: &User) -> WebsocketCommunicator {
        let mut comm = self.socket(path, Some(user)).await;
        comm.assert_authenticated_status_ok().await;
        comm
    }

    /// How many rows `sql` (a `SELECT COUNT(*) …`) counts.
    pub(crate) async fn count(&self, sql: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(sql).fetch_one(self.db().pool()).await.expect("count");
        n
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        match &self.storage {
            Storage::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Storage::PostgresSchema { admin_url, schema } => {
                let (url, sql) = (admin_url.clone(), format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
                // Drop runs inside the test's runtime, which cannot be blocked on: use another.
                let _ = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
                    runtime.block_on(async {
                        let admin = Db::connect(&url).await.ok()?;
                        let _ = sqlx::query(&sql).execute(admin.pool()).await;
                        admin.close().await;
                        Some(())
                    })
                })
                .join();
            }
        }
    }
}
