//! The REST API's OpenAPI document at `/api/schema/`: its formats, its validity (checked by a
//! real validator), and that it names exactly the operations the router serves.

use std::path::PathBuf;

use axum::http::{Method, StatusCode};
use serde_json::Value;

use crate::support::TestApp;

async fn document(app: &TestApp) -> Value {
    let response = app.get("/api/schema/?format=json", None).await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.headers["content-type"], "application/vnd.oai.openapi+json");
    response.json()
}

#[tokio::test]
async fn the_schema_is_yaml_by_default_and_json_on_request() {
    let app = TestApp::sqlite().await;
    let yaml = app.get("/api/schema/", None).await;
    assert_eq!(yaml.status, StatusCode::OK);
    assert_eq!(yaml.headers["content-type"], "application/vnd.oai.openapi");
    assert!(yaml.text.starts_with("openapi: 3.1.0"), "{}", &yaml.text[..80.min(yaml.text.len())]);
    let json = document(&app).await;
    assert_eq!(json["openapi"], "3.1.0");
    assert_eq!(json["info"]["title"], "Chanx Example API Documentation");
    assert_eq!(app.get("/api/schema/?format=xml", None).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_schema_names_the_error_envelope_and_the_jwt_cookie_and_bearer() {
    let app = TestApp::sqlite().await;
    let doc = document(&app).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(
        schemes["jwtCookieAuth"],
        serde_json::json!({"type": "apiKey", "in": "cookie", "name": "my-jwt-auth",
        "description": "The access token (a JWT) in the HttpOnly cookie that login sets."})
    );
    assert_eq!(schemes["jwtBearerAuth"]["scheme"], "bearer");
    let envelope = &doc["components"]["schemas"]["ErrorEnvelope"];
    assert_eq!(envelope["required"], serde_json::json!(["type", "errors"]));
    let login = &doc["paths"]["/api/accounts/login"]["post"];
    assert_eq!(
        login["responses"]["4XX"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorEnvelope"
    );
    // Login is open to anyone; the chats need a token.
    assert!(login["security"].as_array().is_some_and(|s| s.contains(&serde_json::json!({}))));
    assert!(doc["paths"]["/api/chat/"]["get"].get("security").is_none(), "inherits the global requirement");
    assert!(doc["security"].as_array().is_some_and(|s| s.len() == 2));
}

/// Every property of every schema is camelCase, as `rest::Json` writes and reads bodies.
#[tokio::test]
async fn the_schema_is_camel_case_like_the_bodies() {
    let app = TestApp::sqlite().await;
    let doc = document(&app).await;
    let mut names = Vec::new();
    collect_property_names(&doc["components"]["schemas"], &mut names);
    assert!(names.iter().any(|name| name == "memberCount"), "{names:?}");
    let snake: Vec<_> = names.iter().filter(|name| name.contains('_')).collect();
    assert!(snake.is_empty(), "snake_case properties: {snake:?}");
    // What the API really answers has the keys the document names.
    let user = app.user("camel@example.com").await;
    let chat = app.post("/api/chat/", Some(&user), serde_json::json!({"title": "t"})).await.json();
    let group_chat = &doc["components"]["schemas"]["GroupChat"]["properties"];
    let mut answered: Vec<_> = chat.as_object().expect("a chat").keys().cloned().collect();
    let mut documented: Vec<_> = group_chat.as_object().expect("properties").keys().cloned().collect();
    answered.sort();
    documented.sort();
    assert_eq!(answered, documented);
}

fn collect_property_names(value: &Value, names: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(properties)) = map.get("properties") {
                names.extend(properties.keys().cloned());
            }
            map.values().for_each(|v| collect_property_names(v, names));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_property_names(v, names)),
        _ => {}
    }
}

/// Each documented path answers each documented method (anything but the router's 405), and
/// every other method with the 405 of the router's fallback; the trailing-slash aliases of the
/// account routes answer the same methods as the documented paths. The document and the routes
/// come from the same `OpenApiRouter` registrations, so a route without an operation cannot be
/// added to the API (see `sandbox::openapi`); this proves the operations are the served ones.
#[tokio::test]
async fn every_documented_operation_is_served_and_no_other_method_is() {
    let app = TestApp::sqlite().await;
    let user = app.user("routes@example.com").await;
    let doc = document(&app).await;
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 30, "{} paths", paths.len());
    let methods = [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE];
    let mut checked = 0;
    for (path, item) in paths {
        let concrete = concrete(path);
        let aliases = if path.starts_with("/api/accounts/") {
            vec![concrete.clone(), format!("{concrete}/")]
        } else {
            vec![concrete]
        };
        for url in aliases {
            for method in &methods {
                let documented = item.get(method.as_str().to_lowercase()).is_some();
                let status = app.call(method.clone(), &url, Some(&user), Some(serde_json::json!({}))).await.status;
                if documented {
                    assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {url} is documented but not served");
                    checked += 1;
                } else {
                    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {url} is served but not documented");
                }
            }
        }
    }
    assert!(checked >= 50, "{checked} operations");
}

/// `path` with each `{parameter}` filled in with a value of the right shape.
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').map_or(rest.len(), |end| start + end + 1);
        out.push_str(if &rest[start..end] == "{id}" { "00000000-0000-4000-8000-000000000000" } else { "1" });
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The document (JSON and YAML) validates with @apidevtools/swagger-parser, which `.ci/run`
/// installs with npm.
#[tokio::test]
async fn the_schema_validates_with_an_openapi_validator() {
    let modules = std::env::var("OPENAPI_NODE_MODULES")
        .or_else(|_| std::env::var("CHANX_TEST_NODE_MODULES"))
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/ci-node/node_modules"));
    if !modules.join("@apidevtools/swagger-parser").is_dir() {
        let reason = format!("@apidevtools/swagger-parser is not in {}", modules.display());
        if std::env::var("CHANX_REQUIRE_SERVICES").is_ok_and(|v| v == "1") {
            panic!("the OpenAPI validator is required (CHANX_REQUIRE_SERVICES=1): {reason}");
        }
        eprintln!("skipped: {reason}");
        return;
    }
    let app = TestApp::sqlite().await;
    let dir = std::env::temp_dir().join(format!("sandbox-openapi-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let json = dir.join("openapi.json");
    let yaml = dir.join("openapi.yaml");
    std::fs::write(&json, app.get("/api/schema/?format=json", None).await.text).expect("write");
    std::fs::write(&yaml, app.get("/api/schema/", None).await.text).expect("write");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.ci/validate-openapi.cjs");
    let output = tokio::process::Command::new("node")
        .arg(script)
        .arg(&json)
        .arg(&yaml)
        .env("OPENAPI_NODE_MODULES", &modules)
        .output()
        .await
        .expect("node runs");
    let _ = std::fs::remove_dir_all(&dir);
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{said}");
    assert!(said.contains("valid OpenAPI 3.1.0"), "{said}");
}
