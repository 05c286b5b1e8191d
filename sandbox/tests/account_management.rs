//! Managing an account: password change (with the current password), password reset by a
//! mailed, signed, single-use link, and updating one's names; each password change ends every
//! session of the user, sockets included. Mail goes through the real SMTP client to a local sink.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};

use sandbox::sessions::SESSION_ENDED;

use crate::smtp_sink::SmtpSink;
use crate::support::{ORIGIN, PASSWORD, TestApp, TestResponse};

crate::on_both_databases!(
    changing_the_password_needs_the_current_one_and_ends_every_other_session,
    a_reset_link_is_mailed_only_to_known_addresses_and_works_once,
    a_reset_link_stops_working_once_its_user_logs_in,
    reset_mails_to_one_account_are_limited_without_saying_so,
    the_current_user_updates_their_names_with_put_and_patch,
    the_account_pages_need_a_session_and_hide_a_dead_link,
);

const NEW_PASSWORD: &str = "a brand new password";

/// These tests log in more often than the default budget of ten a minute allows.
fn generous(app: TestApp, more: &[(&str, String)]) -> TestApp {
    let mut vars = vec![("AUTH_ATTEMPTS_PER_MINUTE", "1000".to_owned())];
    vars.extend(more.iter().cloned());
    app.configured(&vars)
}

/// Sends `method path` from a page of the site with this `Cookie` header and JSON body.
async fn with_cookie(app: &TestApp, method: Method, path: &str, cookie: &str, body: Value) -> TestResponse {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "localhost:8000")
        .header("origin", ORIGIN)
        .header("cookie", cookie)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()));
    app.send(request.expect("request")).await
}

/// The `name=value` pairs `response` sets, as a `Cookie` header.
fn cookies_set(response: &TestResponse) -> String {
    response.cookies().iter().filter_map(|c| c.split(';').next()).collect::<Vec<_>>().join("; ")
}

async fn login(app: &TestApp, email: &str, password: &str) -> TestResponse {
    app.post("/api/accounts/login", None, json!({"email": email, "password": password})).await
}

/// The single error of a 400 answer: `(attr, code)`.
fn refusal(response: &TestResponse) -> (String, String) {
    assert_eq!(response.status, StatusCode::BAD_REQUEST, "{}", response.text);
    let body = response.json();
    assert_eq!(body["type"], "validation_error", "{}", response.text);
    let error = &body["errors"][0];
    (error["attr"].as_str().unwrap_or("").to_owned(), error["code"].as_str().unwrap_or("").to_owned())
}

async fn changing_the_password_needs_the_current_one_and_ends_every_other_session(app: TestApp) {
    let app = generous(app, &[]);
    let ada = app.user("ada@example.com").await;
    // Another device: a login (refresh cookie) and an open socket.
    let other_device = cookies_set(&login(&app, "ada@example.com", PASSWORD).await);
    let mut socket = app.member_socket("/ws/discussion/", &ada).await;
    let this_browser = app.cookie_for(&ada);
    let change =
        |old: &str, new1: &str, new2: &str| json!({"oldPassword": old, "newPassword1": new1, "newPassword2": new2});
    let path = "/api/accounts/password/change";

    for (body, attr, code) in [
        (change(PASSWORD, NEW_PASSWORD, "another one"), "newPassword2", "password_mismatch"),
        (change(PASSWORD, "short", "short"), "newPassword2", "password_too_weak"),
        (change(PASSWORD, "ada@example.com", "ada@example.com"), "newPassword2", "password_too_weak"),
        (change("not my password", NEW_PASSWORD, NEW_PASSWORD), "oldPassword", "password_incorrect"),
        (json!({"newPassword1": NEW_PASSWORD, "newPassword2": NEW_PASSWORD}), "oldPassword", "required"),
    ] {
        let refused = with_cookie(&app, Method::POST, path, &this_browser, body).await;
        assert_eq!(refusal(&refused), (attr.to_owned(), code.to_owned()));
    }
    let missing = with_cookie(&app, Method::POST, path, &this_browser, json!({})).await;
    let attrs: Vec<Value> =
        missing.json()["errors"].as_array().expect("errors").iter().map(|e| e["attr"].clone()).collect();
    assert_eq!(attrs, [json!("oldPassword"), json!("newPassword1"), json!("newPassword2")]);
    let anonymous = app.post(path, None, change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD)).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    let cross_site = Request::post(path)
        .header("origin", "https://evil.example")
        .header("cookie", &this_browser)
        .header("content-type", "application/json")
        .body(Body::from(change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD).to_string()));
    assert_eq!(app.send(cross_site.expect("request")).await.status, StatusCode::FORBIDDEN);
    assert_eq!(login(&app, "ada@example.com", PASSWORD).await.status, StatusCode::OK, "nothing changed yet");

    let changed =
        with_cookie(&app, Method::POST, path, &this_browser, change(PASSWORD, NEW_PASSWORD, NEW_PASSWORD)).await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text);
    assert_eq!(changed.json(), json!({"detail": "New password has been saved."}));
    // Every session ends: the socket, the other device's login, this browser's old access token.
    socket.assert_closed(SESSION_ENDED).await;
    let renewal = with_cookie(&app, Method::POST, "/api/accounts/token/refresh", &other_device, json!({})).await;
    assert_eq!(renewal.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        with_cookie(&app, Method::GET, "/api/accounts/user", &this_browser, json!({})).await.status,
        StatusCode::UNAUTHORIZED
    );
    // ... and this browser has a new one.
    let me = with_cookie(&app, Method::GET, "/api/accounts/user", &cookies_set(&changed), json!({})).await;
    assert_eq!((me.status, me.json()["email"].clone()), (StatusCode::OK, json!("ada@example.com")));
    assert_eq!(login(&app, "ada@example.com", PASSWORD).await.status, StatusCode::BAD_REQUEST);
    assert_eq!(login(&app, "ada@example.com", NEW_PASSWORD).await.status, StatusCode::OK);
}

/// The reset page's `(uid, token)` in the mail's link.
fn link_parts(text: &str) -> (String, String) {
    let start = text.find("http://localhost:8000/account/password/reset/").expect("a link in the mail");
    let link = text[start..].split_whitespace().next().expect("link");
    let parts: Vec<&str> = link.trim_end_matches('/').rsplitn(3, '/').collect();
    (parts[1].to_owned(), parts[0].to_owned())
}

async fn a_reset_link_is_mailed_only_to_known_addresses_and_works_once(app: TestApp) {
    let mut sink = SmtpSink::start().await;
    let app = generous(app, &[("SMTP_URL", sink.url.clone()), ("EMAIL_FROM", "Sandbox <noreply@example.com>".into())]);
    let ada = app.user("ada@example.com").await;
    let mut socket = app.member_socket("/ws/discussion/", &ada).await;
    let device = cookies_set(&login(&app, "ada@example.com", PASSWORD).await);
    let path = "/api/accounts/password/reset";

    let unknown = app.post(path, None, json!({"email": "nobody@example.com"})).await;
    let known = app.post(path, None, json!({"email": " ADA@example.com "})).await;
    assert_eq!((unknown.status, unknown.json()), (known.status, known.json()), "the same answer either way");
    assert_eq!(known.json(), json!({"detail": "Password reset e-mail has been sent."}));
    assert_eq!(refusal(&app.post(path, None, json!({})).await), ("email".into(), "required".into()));
    assert_eq!(
        refusal(&app.post(path, None, json!({"email": "not an email"})).await),
        ("email".into(), "invalid".into())
    );

    let mail = sink.next().await;
    assert_eq!(mail.recipients, ["ada@example.com"]);
    assert!(mail.text.contains("From: Sandbox <noreply@example.com>"), "{}", mail.text);
    assert!(mail.text.contains("Subject: Password reset on Chanx Example"), "{}", mail.text);
    assert!(sink.is_empty(), "no mail for the unknown address");
    let (uid, token) = link_parts(&mail.text);

    let page = app.get(&format!("/account/password/reset/{uid}/{token}/"), None).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("passwordResetConfirmForm"), "{}", page.text);
    assert_eq!(page.headers.get("referrer-policy").and_then(|v| v.to_str().ok()), Some("no-referrer"));

    let confirm = |uid: &str, token: &str, new1: &str, new2: &str| json!({"uid": uid, "token": token, "newPassword1": new1, "newPassword2": new2});
    let path = "/api/accounts/password/reset/confirm";
    for (body, attr, code) in [
        (confirm(&uid, &token, NEW_PASSWORD, "other"), "newPassword2", "password_mismatch"),
        (confirm(&uid, &token, "12345678901", "12345678901"), "newPassword2", "password_too_weak"),
        (confirm(&uid, &format!("{token}0"), NEW_PASSWORD, NEW_PASSWORD), "token", "invalid"),
        (confirm("MA", &token, NEW_PASSWORD, NEW_PASSWORD), "token", "invalid"),
        (confirm(&uid, "", NEW_PASSWORD, NEW_PASSWORD), "token", "required"),
    ] {
        assert_eq!(refusal(&app.post(path, None, body).await), (attr.to_owned(), code.to_owned()));
    }
    let reset = app.post(path, None, confirm(&uid, &token, NEW_PASSWORD, NEW_PASSWORD)).await;
    assert_eq!(reset.status, StatusCode::OK, "{}", reset.text);
    assert_eq!(reset.json(), json!({"detail": "Password has been reset with the new password."}));
    socket.assert_closed(SESSION_ENDED).await;
    let renewal = with_cookie(&app, Method::POST, "/api/accounts/token/refresh", &device, json!({})).await;
    assert_eq!(renewal.status, StatusCode::UNAUTHORIZED, "the other device's login ended");
    assert_eq!(login(&app, "ada@example.com", PASSWORD).await.status, StatusCode::BAD_REQUEST);

    // Once used, the link is dead: the password it signed is gone.
    let again = app.post(path, None, confirm(&uid, &token, "yet another password", "yet another password")).await;
    assert_eq!(refusal(&again), ("token".into(), "invalid".into()));
    let page = app.get(&format!("/account/password/reset/{uid}/{token}/"), None).await;
    assert!(page.text.contains("resetLinkInvalid") && !page.text.contains(&token), "{}", page.text);
    assert_eq!(login(&app, "ada@example.com", NEW_PASSWORD).await.status, StatusCode::OK);
}

async fn a_reset_link_stops_working_once_its_user_logs_in(app: TestApp) {
    let mut sink = SmtpSink::start().await;
    let app = app.configured(&[("SMTP_URL", sink.url.clone())]);
    app.user("ada@example.com").await;
    let asked = app.post("/api/accounts/password/reset", None, json!({"email": "ada@example.com"})).await;
    assert_eq!(asked.status, StatusCode::OK);
    let (uid, token) = link_parts(&sink.next().await.text);
    // Her password came back to her: she logs in, and the link she no longer needs dies.
    assert_eq!(login(&app, "ada@example.com", PASSWORD).await.status, StatusCode::OK);
    let body = json!({"uid": uid, "token": token, "newPassword1": NEW_PASSWORD, "newPassword2": NEW_PASSWORD});
    let late = app.post("/api/accounts/password/reset/confirm", None, body).await;
    assert_eq!(refusal(&late), ("token".into(), "invalid".into()));
}

async fn reset_mails_to_one_account_are_limited_without_saying_so(app: TestApp) {
    let mut sink = SmtpSink::start().await;
    let app = generous(app, &[("SMTP_URL", sink.url.clone()), ("RESET_MAILS_PER_HOUR", "2".into())]);
    app.user("ada@example.com").await;
    let mut answers = Vec::new();
    for _ in 0..4 {
        let asked = app.post("/api/accounts/password/reset", None, json!({"email": "ada@example.com"})).await;
        answers.push((asked.status, asked.json()));
    }
    assert!(answers.iter().all(|answer| *answer == answers[0]), "the same answer every time: {answers:?}");
    for _ in 0..2 {
        assert_eq!(sink.next().await.recipients, ["ada@example.com"]);
    }
    // Once the mailer has nothing left to send, the sink holds everything it will ever get.
    app.sandbox.state.mailer.settled().await;
    assert!(sink.is_empty(), "two mails, not four");
}

async fn the_current_user_updates_their_names_with_put_and_patch(app: TestApp) {
    let ada = app.user("ada@example.com").await;
    let path = "/api/accounts/user";
    let put =
        app.call(Method::PUT, path, Some(&ada), Some(json!({"firstName": " Ada ", "lastName": "Lovelace"}))).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text);
    assert_eq!(
        put.json(),
        json!({"id": ada.id, "email": "ada@example.com", "firstName": "Ada", "lastName": "Lovelace"})
    );
    let patch =
        app.call(Method::PATCH, path, Some(&ada), Some(json!({"lastName": "King", "email": "x@example.com"}))).await;
    assert_eq!(patch.status, StatusCode::OK, "{}", patch.text);
    assert_eq!(patch.json()["firstName"], "Ada", "a PATCH keeps what it does not name");
    assert_eq!(patch.json()["lastName"], "King");
    assert_eq!(patch.json()["email"], "ada@example.com", "the email is read-only");
    assert_eq!(app.get(path, Some(&ada)).await.json()["lastName"], "King");

    let partial_put = app.call(Method::PUT, path, Some(&ada), Some(json!({"firstName": "Ada"}))).await;
    assert_eq!(refusal(&partial_put), ("lastName".into(), "required".into()));
    let long = app.call(Method::PATCH, path, Some(&ada), Some(json!({"firstName": "é".repeat(151)}))).await;
    assert_eq!(refusal(&long), ("firstName".into(), "max_length".into()));
    let fits = app.call(Method::PATCH, path, Some(&ada), Some(json!({"firstName": "é".repeat(150)}))).await;
    assert_eq!(fits.status, StatusCode::OK, "150 characters, 300 bytes");
    let wrong_type = app.call(Method::PATCH, path, Some(&ada), Some(json!({"firstName": 7}))).await;
    assert_eq!(wrong_type.status, StatusCode::BAD_REQUEST);
    assert_eq!(wrong_type.json()["errors"][0]["code"], "parse_error");
    let anonymous = app.call(Method::PATCH, path, None, Some(json!({"firstName": "Eve"}))).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
}

async fn the_account_pages_need_a_session_and_hide_a_dead_link(app: TestApp) {
    let ada = app.user("ada@example.com").await;
    app.call(Method::PATCH, "/api/accounts/user", Some(&ada), Some(json!({"firstName": "<b>Ada</b>"}))).await;
    let anonymous = app.get("/account/", None).await;
    assert_eq!((anonymous.status, anonymous.location()), (StatusCode::FOUND, "/login?next=%2Faccount%2F"));
    let page = app.get("/account/", Some(&ada)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.text.contains("profileForm") && page.text.contains("passwordChangeForm"));
    assert!(page.text.contains("&lt;b&gt;Ada&lt;") && !page.text.contains("<b>Ada"), "escaped");
    let reset = app.get("/account/password/reset/", None).await;
    assert!(reset.status == StatusCode::OK && reset.text.contains("passwordResetForm"));
    let login = app.get("/login", None).await;
    assert!(login.text.contains("href=\"/account/password/reset/\""), "the login page links to it");
    let dead = app.get("/account/password/reset/MQ/abc-0123/", None).await;
    assert_eq!(dead.status, StatusCode::OK);
    assert!(dead.text.contains("resetLinkInvalid") && !dead.text.contains("abc-0123"));
}
