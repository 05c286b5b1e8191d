//! Bodies an attacker would post: each is answered in time linear in its size. (These would run
//! for minutes on quadratic key conversion; speed itself is measured by `bench/src/bin/parsers.rs`.)

use axum::http::StatusCode;
use serde_json::json;

use crate::support::TestApp;

crate::on_both_databases!(
    a_megabyte_key_of_underscores_in_a_body_is_answered,
    a_long_value_is_quoted_cut_short_in_the_error
);

/// A key as long as a body under axum's 2 MB limit comfortably carries: the 1 MiB frame limit's size.
const HUGE: usize = (1 << 20) - 100;

async fn a_megabyte_key_of_underscores_in_a_body_is_answered(app: TestApp) {
    // Anonymous, as an attacker would be: the login form is refused for its missing password
    // before any password hashing, once the key has been converted.
    let body = json!({"email": "ada@example.com", "_".repeat(HUGE): 1});
    let response = app.post("/api/accounts/login", None, body).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST, "{}", response.text);
    assert_eq!(response.json()["errors"][0]["attr"], "password");
    // Signed in, the same key next to a valid form is ignored and the chat created.
    let ada = app.user("ada@example.com").await;
    let body = json!({"title": "Hostile keys", "aA".repeat(HUGE / 2): 1, "-_".repeat(HUGE / 2): 2});
    let response = app.post("/api/chat/", Some(&ada), body).await;
    assert_eq!(response.status, StatusCode::CREATED, "{:.200}", response.text);
    assert_eq!(response.json()["title"], "Hostile keys");
}

async fn a_long_value_is_quoted_cut_short_in_the_error(app: TestApp) {
    let ada = app.user("ada@example.com").await;
    let chat = app.post("/api/chat/", Some(&ada), json!({"title": "Roles"})).await.json();
    let path = format!("/api/chat/{}/members/", chat["id"]);
    let body = json!({"email": "bob@example.com", "chatRole": "9".repeat(HUGE)});
    let response = app.post(&path, Some(&ada), body).await;
    assert_eq!(response.status, StatusCode::BAD_REQUEST);
    let detail = response.json()["errors"][0]["detail"].as_str().map(str::to_owned).unwrap_or_default();
    assert!(detail.starts_with("Invalid body: invalid type: string \"999"), "{detail:.200}");
    assert!(detail.len() < 400, "the detail quotes {} bytes", detail.len());
}
