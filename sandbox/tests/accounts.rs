//! Registration, login, tokens, logout, and the CSRF guard.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

use sandbox::Config;
use sandbox::accounts::NewUser;
use sandbox::accounts::tokens::{Claims, TokenType};

use crate::support::{ORIGIN, PASSWORD, TestApp, TestResponse};

/// The key earlier versions signed tokens with when `SECRET_KEY` was unset, as published in
/// their source.
const PUBLISHED_KEY: &str = "sandbox-development-secret: never use in production";

/// A new directory for a database's key file, and the configuration of `cargo run -p sandbox`
/// with its SQLite file there: no `SECRET_KEY`.
fn development_config(dir: &std::path::Path) -> Config {
    let url = format!("sqlite://{}", dir.join("db.sqlite3").display());
    let mut config = Config::from_lookup(|name| (name == "DATABASE_URL").then(|| url.clone())).expect("defaults");
    config.load_secret_key().expect("key file");
    config
}

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("chanx-sandbox-key-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

crate::on_both_databases!(
    registration_signs_in_and_refuses_bad_input,
    login_sets_http_only_cookies_and_refuses_bad_credentials,
    the_current_user_comes_from_a_cookie_or_a_bearer_header,
    refresh_rotates_the_token_and_the_old_one_stops_working,
    reusing_a_rotated_refresh_token_revokes_its_family,
    two_tabs_renewing_at_once_both_stay_signed_in,
    a_successor_saved_after_its_family_was_revoked_is_dead_on_arrival,
    logout_needs_only_the_refresh_token_and_always_clears_both_cookies,
    cross_site_requests_with_cookies_are_refused,
    malformed_bodies_get_a_parse_error,
    pages_renew_an_expired_session_from_the_refresh_cookie,
    logins_and_registrations_are_throttled_per_client,
    token_routes_are_throttled_per_client,
    password_hashes_beyond_the_limit_and_its_queue_get_429,
    a_token_forged_with_the_published_development_key_is_refused,
    the_generated_key_is_private_and_survives_a_restart,
    the_login_page_sends_the_browser_back_only_to_this_site,
);

async fn registration_signs_in_and_refuses_bad_input(app: TestApp) {
    let body = json!({"email": " Ada@Example.com ", "password1": PASSWORD, "password2": PASSWORD});
    let response = app.post("/api/accounts/registration", None, body.clone()).await;
    assert_eq!(response.status, StatusCode::CREATED, "{}", response.text);
    assert_eq!(response.json()["user"]["email"], "ada@example.com");
    assert_eq!(response.cookies().len(), 2);

    let refusals = [
        (body.clone(), "email", "A user is already registered with this email address."),
        (
            json!({"email": "bob@example.com", "password1": PASSWORD, "password2": "other"}),
            "nonFieldErrors",
            "The two password fields didn't match.",
        ),
        (
            json!({"email": "bob@example.com", "password1": "short", "password2": "short"}),
            "password1",
            "This password is too short. It must contain at least 8 characters.",
        ),
        (
            json!({"email": "bob@example.com", "password1": "12345678901", "password2": "12345678901"}),
            "password1",
            "This password is entirely numeric.",
        ),
        (
            json!({"email": "not an email", "password1": PASSWORD, "password2": PASSWORD}),
            "email",
            "Enter a valid email address.",
        ),
        (json!({"password1": PASSWORD, "password2": PASSWORD}), "email", "This field is required."),
    ];
    for (body, attr, detail) in refusals {
        let response = app.post("/api/accounts/registration", None, body).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{}", response.text);
        assert_eq!(response.json()["type"], "validation_error");
        assert_eq!(response.json()["errors"][0]["attr"], attr, "{}", response.text);
        assert_eq!(response.json()["errors"][0]["detail"], detail);
        assert!(response.cookies().is_empty());
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1, "no refused registration was saved");
}

async fn login_sets_http_only_cookies_and_refuses_bad_credentials(app: TestApp) {
    let ada = app.user("ada@example.com").await;
    let response =
        app.post("/api/accounts/login", None, json!({"email": "ADA@example.com", "password": PASSWORD})).await;
    assert_eq!(response.status, StatusCode::OK, "{}", response.text);
    let body = response.json();
    assert_eq!(body["user"], json!({"id": ada.id, "email": "ada@example.com", "firstName": "", "lastName": ""}));
    assert_eq!(body["refresh"], "", "the refresh token is only in its HttpOnly cookie");
    assert!(body["access"].as_str().is_some_and(|t| t.split('.').count() == 3));
    let cookies = response.cookies();
    for name in ["my-jwt-auth=", "my-jwt-refresh="] {
        let cookie = cookies.iter().find(|c| c.starts_with(name)).expect("cookie set");
        assert!(cookie.contains("; HttpOnly; SameSite=Lax; Path=/; Max-Age="), "{cookie}");
    }
    // The trailing slash is optional, as in the Django original.
    let again = app.post("/api/accounts/login/", None, json!({"email": "ada@example.com", "password": PASSWORD})).await;
    assert_eq!(again.status, StatusCode::OK);

    for body in [
        json!({"email": "ada@example.com", "password": "wrong password"}),
        json!({"email": "nobody@example.com", "password": PASSWORD}),
    ] {
        let response = app.post("/api/accounts/login", None, body).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST);
        assert_eq!(response.json()["errors"][0]["detail"], "Unable to log in with provided credentials.");
        assert!(response.cookies().is_empty());
    }
    let missing = app.post("/api/accounts/login", None, json!({"email": "ada@example.com"})).await;
    assert_eq!(
        (missing.status, missing.json()["errors"][0]["attr"].clone()),
        (StatusCode::BAD_REQUEST, json!("password"))
    );
}

async fn the_current_user_comes_from_a_cookie_or_a_bearer_header(app: TestApp) {
    let ada = app.user("ada@example.com").await;
    let me = app.get("/api/accounts/user", Some(&ada)).await;
    assert_eq!((me.status, me.json()["email"].clone()), (StatusCode::OK, json!("ada@example.com")));

    let token = app.sandbox.state.tokens.access(ada.id).expect("token").token;
    let bearer =
        Request::get("/api/accounts/user").header("authorization", format!("Bearer {token}")).body(Body::empty());
    let response = app.send(bearer.expect("request")).await;
    assert_eq!(response.status, StatusCode::OK);

    let anonymous = app.get("/api/accounts/user", None).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.json()["errors"][0]["code"], "not_authenticated");

    let refresh = app.sandbox.state.tokens.refresh(app.db(), ada.id).await.expect("token").token;
    for token in ["garbage", "a.b.c", refresh.as_str()] {
        let request = Request::get("/api/accounts/user").header("authorization", format!("Bearer {token}"));
        let response = app.send(request.body(Body::empty()).expect("request")).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{token}");
        assert_eq!(response.json()["errors"][0]["code"], "token_not_valid");
    }
}

/// The value `response` sets for cookie `name` (empty when it deletes it).
fn set_cookie(response: &TestResponse, name: &str) -> String {
    let prefix = format!("{name}=");
    let cookie = response.cookies().into_iter().find(|c| c.starts_with(&prefix));
    let cookie = cookie.unwrap_or_else(|| panic!("no {name} cookie set: {response:?}"));
    cookie[prefix.len()..].split(';').next().unwrap_or_default().to_owned()
}

/// Whether `response` deletes both session cookies.
fn clears_both_cookies(response: &TestResponse) -> bool {
    ["my-jwt-auth=;", "my-jwt-refresh=;"]
        .iter()
        .all(|name| response.cookies().iter().any(|c| c.starts_with(name) && c.contains("Max-Age=0")))
}

/// Logs `email` in (with [`PASSWORD`]) and returns the refresh cookie's token.
async fn login_refresh_token(app: &TestApp, email: &str) -> String {
    let login = app.post("/api/accounts/login", None, json!({"email": email, "password": PASSWORD})).await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.text);
    set_cookie(&login, "my-jwt-refresh")
}

/// `POST path` from a page of the site carrying only the refresh cookie `token`, as a browser
/// does once its access cookie has expired.
async fn post_with_refresh_cookie(app: &TestApp, path: &str, token: &str) -> TestResponse {
    let request = Request::post(path)
        .header("origin", ORIGIN)
        .header("cookie", format!("my-jwt-refresh={token}"))
        .body(Body::empty());
    app.send(request.expect("request")).await
}

async fn verify(app: &TestApp, token: &str) -> StatusCode {
    app.post("/api/accounts/token/verify", None, json!({"token": token})).await.status
}

/// Whether a page load with only this refresh cookie is signed in.
async fn page_signs_in_with(app: &TestApp, token: &str) -> bool {
    let page = Request::get("/chat/").header("cookie", format!("my-jwt-refresh={token}")).body(Body::empty());
    app.send(page.expect("request")).await.text.contains("ada@example.com")
}

async fn refresh_rotates_the_token_and_the_old_one_stops_working(app: TestApp) {
    app.user("ada@example.com").await;
    let login = app.post("/api/accounts/login", None, json!({"email": "ada@example.com", "password": PASSWORD})).await;
    let first = set_cookie(&login, "my-jwt-refresh");
    assert_eq!(verify(&app, &first).await, StatusCode::OK);

    let renewed = post_with_refresh_cookie(&app, "/api/accounts/token/refresh", &first).await;
    assert_eq!(renewed.status, StatusCode::OK, "{}", renewed.text);
    let second = set_cookie(&renewed, "my-jwt-refresh");
    assert!(!second.is_empty() && second != first, "a new refresh token");
    assert!(!set_cookie(&renewed, "my-jwt-auth").is_empty(), "and a new access token");
    assert_eq!(renewed.json()["refresh"], "", "a cookie's token stays in its HttpOnly cookie");
    assert_eq!(
        renewed.json()["refreshExpiration"],
        login.json()["refreshExpiration"],
        "a session still ends REFRESH_TOKEN_DAYS after its login"
    );
    assert_eq!(verify(&app, &second).await, StatusCode::OK);
    assert_eq!(verify(&app, &first).await, StatusCode::UNAUTHORIZED, "the old token no longer verifies");

    // An API client sends the token in the body and gets the next one in the body.
    let api = app.post("/api/accounts/token/refresh", None, json!({"refresh": second})).await;
    assert_eq!(api.status, StatusCode::OK, "{}", api.text);
    let third = api.json()["refresh"].as_str().expect("in the body").to_owned();
    assert!(!third.is_empty() && third != second);
    assert_eq!(verify(&app, &third).await, StatusCode::OK);
}

async fn reusing_a_rotated_refresh_token_revokes_its_family(app: TestApp) {
    app.user("ada@example.com").await;
    let stolen = login_refresh_token(&app, "ada@example.com").await;
    let other_device = login_refresh_token(&app, "ada@example.com").await;
    // The thief uses the copied token first and gets a fresh pair of their own.
    let thief = post_with_refresh_cookie(&app, "/api/accounts/token/refresh", &stolen).await;
    assert_eq!(thief.status, StatusCode::OK);
    let thiefs_token = set_cookie(&thief, "my-jwt-refresh");

    // A minute later (past the leeway for tabs renewing together), the owner's browser presents
    // the same, now rotated, token: that is the alarm.
    sqlx::query("UPDATE refresh_tokens SET rotated_at = rotated_at - 60")
        .execute(app.db().pool())
        .await
        .expect("a minute passes");
    let replay = post_with_refresh_cookie(&app, "/api/accounts/token/refresh", &stolen).await;
    assert_eq!(replay.status, StatusCode::UNAUTHORIZED);
    assert_eq!(replay.json()["errors"][0]["code"], "token_not_valid");
    assert!(clears_both_cookies(&replay), "{:?}", replay.cookies());

    // Every token descended from that login is revoked, the thief's included.
    let after = post_with_refresh_cookie(&app, "/api/accounts/token/refresh", &thiefs_token).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED, "the thief is signed out too");
    assert_eq!(verify(&app, &thiefs_token).await, StatusCode::UNAUTHORIZED);
    assert!(!page_signs_in_with(&app, &thiefs_token).await, "pages do not renew a revoked family");
    // Another login of the same user is another family, untouched.
    let elsewhere = post_with_refresh_cookie(&app, "/api/accounts/token/refresh", &other_device).await;
    assert_eq!(elsewhere.status, StatusCode::OK, "{}", elsewhere.text);
}

async fn a_successor_saved_after_its_family_was_revoked_is_dead_on_arrival(app: TestApp) {
    let ada = app.user("ada@example.com").await;
    let login = login_refresh_token(&app, "ada@example.com").await;
    let tokens = &app.sandbox.state.tokens;
    let family = tokens.verify(&login, TokenType::Refresh).expect("claims").jti;
    // A renewal and a revocation of the same login cross: the renewal marks the old token
    // rotated, the revocation revokes every token of the family it finds, and only then does the
    // renewal save the successor, unrevoked. Here the successor is saved by hand, after the revoke.
    tokens.revoke(app.db(), &family).await.expect("revoked");
    let successor = tokens.refresh(app.db(), ada.id).await.expect("token").token;
    let jti = tokens.verify(&successor, TokenType::Refresh).expect("claims").jti;
    sqlx::query("UPDATE refresh_tokens SET family = $1 WHERE jti = $2")
        .bind(&family)
        .bind(&jti)
        .execute(app.db().pool())
        .await
        .expect("saved into the revoked family");

    assert_eq!(verify(&app, &successor).await, StatusCode::UNAUTHORIZED, "a revoked family never verifies again");
    let renewal = post_with_refresh_cookie(&app, "/api/accounts/token/refresh", &successor).await;
    assert_eq!(renewal.status, StatusCode::UNAUTHORIZED, "nor renews: {}", renewal.text);
    assert!(!page_signs_in_with(&app, &successor).await, "nor signs a page in");
}

async fn two_tabs_renewing_at_once_both_stay_signed_in(app: TestApp) {
    app.user("ada@example.com").await;
    let shared = login_refresh_token(&app, "ada@example.com").await;
    // Both tabs of one browser send the same cookie at the same moment; one wins.
    let first = post_with_refresh_cookie(&app, "/api/accounts/token/refresh", &shared).await;
    let second = post_with_refresh_cookie(&app, "/api/accounts/token/refresh", &shared).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(second.status, StatusCode::UNAUTHORIZED, "the token was spent a moment ago");
    assert!(second.cookies().is_empty(), "the loser does not delete the winner's cookies: {:?}", second.cookies());
    // The browser now holds the winner's token, with which the loser's retry succeeds.
    let winners = set_cookie(&first, "my-jwt-refresh");
    let retry = post_with_refresh_cookie(&app, "/api/accounts/token/refresh", &winners).await;
    assert_eq!(retry.status, StatusCode::OK, "nothing was revoked: {}", retry.text);
}

async fn logout_needs_only_the_refresh_token_and_always_clears_both_cookies(app: TestApp) {
    app.user("ada@example.com").await;
    // The access cookie has expired; only the refresh cookie is left, one rotation in.
    let first = login_refresh_token(&app, "ada@example.com").await;
    let rotated = post_with_refresh_cookie(&app, "/api/accounts/token/refresh", &first).await;
    let current = set_cookie(&rotated, "my-jwt-refresh");

    let logout = post_with_refresh_cookie(&app, "/api/accounts/logout", &current).await;
    assert_eq!((logout.status, logout.json()), (StatusCode::OK, json!({"detail": "Successfully logged out."})));
    assert!(clears_both_cookies(&logout), "{:?}", logout.cookies());
    assert_eq!(
        post_with_refresh_cookie(&app, "/api/accounts/token/refresh", &current).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(verify(&app, &current).await, StatusCode::UNAUTHORIZED);
    assert!(!page_signs_in_with(&app, &current).await, "the next page load stays signed out");

    // A stale token of a login ends the whole login; a token in the body works as the cookie does.
    let stale = login_refresh_token(&app, "ada@example.com").await;
    let renewed = post_with_refresh_cookie(&app, "/api/accounts/token/refresh", &stale).await;
    let live = set_cookie(&renewed, "my-jwt-refresh");
    let api_logout = app.post("/api/accounts/logout", None, json!({"refresh": stale})).await;
    assert_eq!(api_logout.status, StatusCode::OK);
    assert_eq!(verify(&app, &live).await, StatusCode::UNAUTHORIZED, "the family is revoked");

    // Nothing valid, or nothing at all: still 200, still both cookies cleared.
    for cookie in
        [None, Some("my-jwt-auth=garbage; my-jwt-refresh=garbage"), Some(&*format!("my-jwt-refresh={current}"))]
    {
        let mut request = Request::post("/api/accounts/logout").header("origin", ORIGIN);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let response = app.send(request.body(Body::empty()).expect("request")).await;
        assert_eq!(response.status, StatusCode::OK, "{cookie:?}: {}", response.text);
        assert!(clears_both_cookies(&response), "{cookie:?}: {:?}", response.cookies());
    }

    // Logging out is still an unsafe request: another site cannot do it with our cookies.
    let kept = login_refresh_token(&app, "ada@example.com").await;
    let forged = Request::post("/api/accounts/logout")
        .header("origin", "https://evil.example")
        .header("cookie", format!("my-jwt-refresh={kept}"))
        .body(Body::empty());
    assert_eq!(app.send(forged.expect("request")).await.status, StatusCode::FORBIDDEN);
    assert_eq!(verify(&app, &kept).await, StatusCode::OK, "nothing was revoked");
}

async fn cross_site_requests_with_cookies_are_refused(app: TestApp) {
    let ada = app.user("ada@example.com").await;
    let attempt = |origin: Option<&str>, referer: Option<&str>| {
        let mut request = Request::post("/api/chat/")
            .header("host", "localhost:8000")
            .header("cookie", app.cookie_for(&ada))
            .header("content-type", "application/json");
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        if let Some(referer) = referer {
            request = request.header("referer", referer);
        }
        request.body(Body::from(r#"{"title": "t"}"#)).expect("request")
    };
    for (origin, referer) in
        [(Some("https://evil.example"), None), (None, None), (None, Some("https://evil.example/page"))]
    {
        let response = app.send(attempt(origin, referer)).await;
        assert_eq!(response.status, StatusCode::FORBIDDEN, "{origin:?} {referer:?}");
        assert!(response.json()["errors"][0]["detail"].as_str().is_some_and(|d| d.starts_with("CSRF")));
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM group_chats").await, 0, "nothing was created");

    let same_site = app.send(attempt(None, Some("http://localhost:8000/chat/"))).await;
    assert_eq!(same_site.status, StatusCode::CREATED);
    // A script with a Bearer token and no cookies is not a browser being tricked.
    let token = app.sandbox.state.tokens.access(ada.id).expect("token").token;
    let api_client = Request::post("/api/chat/")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .body(Body::from(r#"{"title": "from a script"}"#));
    assert_eq!(app.send(api_client.expect("request")).await.status, StatusCode::CREATED);
}

async fn malformed_bodies_get_a_parse_error(app: TestApp) {
    let ada = app.user("ada@example.com").await;
    let cases: [(&str, &str); 4] = [
        ("application/json", "{not json"),
        ("application/json", r#"{"title": 42}"#),
        ("application/json", "[]"),
        ("text/plain", r#"{"title": "x"}"#),
    ];
    for (kind, body) in cases {
        let request = Request::post("/api/chat/")
            .header("origin", ORIGIN)
            .header("cookie", app.cookie_for(&ada))
            .header("content-type", kind)
            .body(Body::from(body));
        let response = app.send(request.expect("request")).await;
        assert_eq!(response.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(response.json()["type"], "client_error");
        assert_eq!(response.json()["errors"][0]["code"], "parse_error");
    }
    assert_eq!(app.count("SELECT COUNT(*) FROM group_chats").await, 0);
    let wrong_method = app.get("/api/accounts/login", None).await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.json()["errors"][0]["code"], "method_not_allowed");
    assert_eq!(app.get("/api/nothing/here/", None).await.json()["errors"][0]["code"], "not_found");
}

async fn pages_renew_an_expired_session_from_the_refresh_cookie(app: TestApp) {
    let ada = app.user("ada@example.com").await;
    let refresh = app.sandbox.state.tokens.refresh(app.db(), ada.id).await.expect("token").token;
    let page = |cookie: String| Request::get("/chat/").header("cookie", cookie).body(Body::empty()).expect("request");
    // The access cookie has expired (the browser dropped it); the refresh cookie is still valid.
    let renewed = app.send(page(format!("my-jwt-refresh={refresh}"))).await;
    assert!(renewed.text.contains("ada@example.com") && renewed.text.contains("My Group Chats"), "signed in again");
    assert!(renewed.cookies().iter().any(|c| c.starts_with("my-jwt-auth=") && c.contains("HttpOnly")));
    // Renewing used the refresh token: the browser gets the next one.
    let next = set_cookie(&renewed, "my-jwt-refresh");
    assert_ne!(next, refresh);
    // A garbage access cookie is replaced the same way.
    let replaced = app.send(page(format!("my-jwt-auth=garbage; my-jwt-refresh={next}"))).await;
    assert!(replaced.text.contains("ada@example.com"));
    let latest = set_cookie(&replaced, "my-jwt-refresh");
    // Static files need no session and spend no token.
    let script = Request::get("/static/app.js").header("cookie", format!("my-jwt-refresh={latest}"));
    assert!(app.send(script.body(Body::empty()).expect("request")).await.cookies().is_empty());

    let claims =
        app.sandbox.state.tokens.verify(&latest, sandbox::accounts::tokens::TokenType::Refresh).expect("claims");
    app.sandbox.state.tokens.revoke(app.db(), &claims.jti).await.expect("revoked");
    let revoked = app.send(page(format!("my-jwt-refresh={latest}"))).await;
    assert!(
        !revoked.text.contains("ada@example.com") && revoked.cookies().is_empty(),
        "a revoked session stays signed out"
    );
    // API requests are not renewed behind the client's back: they get 401 and renew explicitly.
    let api =
        Request::get("/api/accounts/user").header("cookie", format!("my-jwt-refresh={latest}")).body(Body::empty());
    assert_eq!(app.send(api.expect("request")).await.status, StatusCode::UNAUTHORIZED);
}

async fn logins_and_registrations_are_throttled_per_client(app: TestApp) {
    let app = app.configured(&[("AUTH_ATTEMPTS_PER_MINUTE", "3".into()), ("TRUST_PROXY", "1".into())]);
    let attempt = |path: &str, forwarded_for: &str, body: serde_json::Value| {
        let mut request = Request::post(path)
            .header("content-type", "application/json")
            .header("x-forwarded-for", format!("203.0.113.9, {forwarded_for}"))
            .body(Body::from(body.to_string()))
            .expect("request");
        let peer: std::net::SocketAddr = "10.0.0.1:5000".parse().expect("address");
        request.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        app.send(request)
    };
    let guess = json!({"email": "ada@example.com", "password": "guess"});
    for _ in 0..3 {
        assert_eq!(attempt("/api/accounts/login", "198.51.100.1", guess.clone()).await.status, StatusCode::BAD_REQUEST);
    }
    let throttled = attempt("/api/accounts/login", "198.51.100.1", guess.clone()).await;
    assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(throttled.json()["errors"][0]["code"], "throttled");
    let retry: u64 = throttled
        .headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=20).contains(&retry), "{retry}");
    let register = json!({"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD});
    assert_eq!(
        attempt("/api/accounts/registration", "198.51.100.1", register.clone()).await.status,
        StatusCode::TOO_MANY_REQUESTS,
        "one budget for both"
    );
    assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 0, "a throttled registration saves nothing");
    // Another client, as the proxy reports it, has its own budget.
    assert_eq!(attempt("/api/accounts/registration", "198.51.100.2", register).await.status, StatusCode::CREATED);
}

async fn token_routes_are_throttled_per_client(app: TestApp) {
    let app = app.configured(&[("TOKEN_REQUESTS_PER_MINUTE", "2".into()), ("TRUST_PROXY", "1".into())]);
    let from = |path: &str, address: &str| {
        let request = Request::post(path)
            .header("content-type", "application/json")
            .header("x-forwarded-for", address)
            .body(Body::from(json!({"token": "garbage", "refresh": "garbage"}).to_string()))
            .expect("request");
        app.send(request)
    };
    for path in ["/api/accounts/token/verify", "/api/accounts/token/refresh", "/api/accounts/logout"] {
        let address = format!("198.51.100.{}", path.len());
        for _ in 0..2 {
            assert_ne!(from(path, &address).await.status, StatusCode::TOO_MANY_REQUESTS, "{path}");
        }
        let throttled = from(path, &address).await;
        assert_eq!(throttled.status, StatusCode::TOO_MANY_REQUESTS, "{path}: {}", throttled.text);
        assert_eq!(throttled.json()["errors"][0]["code"], "throttled");
        let retry: u64 = throttled
            .headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .expect("Retry-After");
        assert!((1..=30).contains(&retry), "{retry}");
        if path.ends_with("/logout") {
            // The work is refused, but the browser is still signed out.
            let cleared =
                throttled.headers.get_all("set-cookie").iter().filter(|v| v.as_bytes().contains(&b'=')).count();
            assert_eq!(cleared, 2, "a throttled logout still deletes both cookies");
        }
        let other = format!("203.0.113.{}", path.len());
        assert_ne!(from(path, &other).await.status, StatusCode::TOO_MANY_REQUESTS, "another client");
    }
    // Logins have their own budget: renewals do not lock a user out of logging in.
    let login = json!({"email": "ada@example.com", "password": "guess"});
    let request = Request::post("/api/accounts/login")
        .header("content-type", "application/json")
        .header("x-forwarded-for", "203.0.113.1")
        .body(Body::from(login.to_string()))
        .expect("request");
    assert_eq!(app.send(request).await.status, StatusCode::BAD_REQUEST);
}

async fn password_hashes_beyond_the_limit_and_its_queue_get_429(app: TestApp) {
    // One hash at a time and no queue: of a burst arriving together, those that find the hasher
    // busy are told to come back, instead of each taking 19 MiB on a thread of its own.
    let app = app.configured(&[
        ("PASSWORD_HASHES_AT_ONCE", "1".into()),
        ("PASSWORD_HASH_QUEUE", "0".into()),
        ("AUTH_ATTEMPTS_PER_MINUTE", "100".into()),
    ]);
    let register = |n: usize| {
        let body = json!({"email": format!("user{n}@example.com"), "password1": PASSWORD, "password2": PASSWORD});
        app.post("/api/accounts/registration", None, body)
    };
    let burst = futures_util::future::join_all((0..20).map(register)).await;
    let created = burst.iter().filter(|r| r.status == StatusCode::CREATED).count();
    let refused: Vec<_> = burst.iter().filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS).collect();
    let statuses: Vec<_> = burst.iter().map(|r| r.status.as_u16()).collect();
    // Which ones, and how many, get in depends on timing; with twenty at once and room for one,
    // some are refused, and every other one is hashed.
    assert!(created >= 1 && !refused.is_empty() && created + refused.len() == 20, "{statuses:?}");
    for response in refused {
        assert_eq!(response.json()["errors"][0]["code"], "throttled");
        assert_eq!(response.headers.get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
        assert!(response.cookies().is_empty());
    }
    let saved = app.count("SELECT COUNT(*) FROM users").await;
    assert_eq!(saved, i64::try_from(created).expect("small"), "a refused registration saves nothing");
    assert_eq!(register(20).await.status, StatusCode::CREATED, "the hasher is free again");
}

async fn a_token_forged_with_the_published_development_key_is_refused(app: TestApp) {
    let dir = temp_dir();
    let app = app.restarted(development_config(&dir), chanx::Layer::memory());
    let new =
        NewUser { email: "root@example.com".into(), password: PASSWORD.into(), is_staff: true, is_superuser: true };
    let root = sandbox::accounts::User::create(app.db(), &app.sandbox.state.hasher, new).await.expect("superuser");
    let now = sandbox::timestamp::unix_now();
    let claims = Claims {
        token_type: TokenType::Access,
        exp: now + 3600,
        iat: now,
        iat_us: now * 1_000_000,
        jti: "forged".into(),
        user_id: root.id,
    };
    let forged = chanx::auth::JwtHs256::<Claims>::new(PUBLISHED_KEY).sign(&claims).expect("signed");
    for (name, value) in [("authorization", format!("Bearer {forged}")), ("cookie", format!("my-jwt-auth={forged}"))] {
        let request = Request::get("/api/accounts/user").header(name, value).body(Body::empty()).expect("request");
        let response = app.send(request).await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED, "{name}: {}", response.text);
        assert_eq!(response.json()["errors"][0]["code"], "token_not_valid");
    }
    let admin = Request::get("/admin/").header("cookie", format!("my-jwt-auth={forged}")).body(Body::empty());
    assert_ne!(app.send(admin.expect("request")).await.status, StatusCode::OK, "no way into the admin");
    assert_eq!(app.get("/api/accounts/user", Some(&root)).await.status, StatusCode::OK, "the app's own tokens work");
    std::fs::remove_dir_all(&dir).expect("cleaned");
}

async fn the_generated_key_is_private_and_survives_a_restart(app: TestApp) {
    let dir = temp_dir();
    let config = development_config(&dir);
    let key_file = dir.join("db.sqlite3.secret_key");
    assert_eq!(config.key_file(), key_file, "beside the database file");
    let metadata = std::fs::metadata(&key_file).expect("the key file exists");
    #[cfg(unix)]
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&metadata.permissions()) & 0o777, 0o600, "owner only");
    let key = std::fs::read_to_string(&key_file).expect("readable by us");
    assert!(key.trim().len() >= 32 && !key.contains(PUBLISHED_KEY), "{key}");

    let app = app.restarted(config, chanx::Layer::memory());
    app.user("ada@example.com").await;
    let login = app.post("/api/accounts/login", None, json!({"email": "ada@example.com", "password": PASSWORD})).await;
    let access = login.json()["access"].as_str().expect("an access token").to_owned();

    // The next start reads the same key: the session is still valid.
    let app = app.restarted(development_config(&dir), chanx::Layer::memory());
    assert_eq!(std::fs::read_to_string(&key_file).expect("still there"), key, "reused, not replaced");
    let me = Request::get("/api/accounts/user").header("authorization", format!("Bearer {access}"));
    let me = app.send(me.body(Body::empty()).expect("request")).await;
    assert_eq!((me.status, me.json()["email"].clone()), (StatusCode::OK, json!("ada@example.com")));
    std::fs::remove_dir_all(&dir).expect("cleaned");
}

async fn the_login_page_sends_the_browser_back_only_to_this_site(app: TestApp) {
    // Where the page's script goes after login: its `data-next`, HTML-escaped by the template.
    let next_of = |page: &TestResponse| {
        let start = page.text.find("data-next=\"").expect("data-next") + "data-next=\"".len();
        let escaped = &page.text[start..start + page.text[start..].find('"').expect("closing quote")];
        escaped.replace("&#x2f;", "/").replace("&amp;", "&").replace("&#x3d;", "=")
    };
    let elsewhere = [
        "/%09/evil.example",
        "/%0A/evil.example",
        "/%0D/evil.example",
        "/%09%0A%0D/evil.example",
        "//evil.example",
        "///evil.example",
        "/%5Cevil.example",
        "%5C%5Cevil.example",
        "/%5C/evil.example",
        "%5C/evil.example",
        "https://evil.example/",
        "HTTPS://evil.example",
        "https:evil.example",
        "%20//evil.example",
        "%01//evil.example",
        "/.//evil.example",
        "javascript:alert(document.cookie)",
        "data:text/html,hi",
        "//localhost:8000@evil.example",
    ];
    for next in elsewhere {
        let page = app.get(&format!("/login?next={next}"), None).await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(next_of(&page), "/chat/", "{next}");
    }
    for (next, kept) in
        [("/chat/7/", "/chat/7/"), ("/discussion/new/%3Fdraft%3D1%23top", "/discussion/new/?draft=1#top")]
    {
        assert_eq!(next_of(&app.get(&format!("/login?next={next}"), None).await), kept, "{next}");
    }
    // The pages' own redirects to the login page name a path here, which comes back intact.
    let ask = app.form("/discussion/new/", None, &[("title", "Why?"), ("content", "Tell me.")]).await;
    assert_eq!(ask.status, StatusCode::FOUND);
    let back = app.get(ask.location(), None).await;
    assert_eq!(next_of(&back), "/discussion/new/");
}
