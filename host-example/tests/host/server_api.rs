//! The server API for the portal's backend (`/api/v1`): API keys and `POST /api/v1/sessions`.

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use host_example::access::ApiKeys;
use serde_json::{json, Value};

use crate::harness::*;

async fn create_session(h: &Harness, auth: Option<&str>, body: &Value) -> (StatusCode, Value) {
    let mut b = Request::post("/api/v1/sessions").header(header::CONTENT_TYPE, "application/json");
    if let Some(a) = auth {
        b = b.header(header::AUTHORIZATION, a);
    }
    let (s, _, v) = h.send(b.body(Body::from(body.to_string())).unwrap()).await;
    (s, v)
}

fn good() -> Value {
    json!({
        "user": {"id": "ada", "name": "Ada Admin"},
        "companies": [
            {"id": "demo-co", "name": "Demonstration Co.", "role": "admin"},
            {"id": "newco", "name": "New Co", "role": "viewer"},
        ],
        "ttl_secs": 900,
    })
}

#[tokio::test]
async fn a_session_is_minted_for_the_api_key_and_opens_the_widget_api_for_its_companies() {
    let h = Harness::new().await;
    let key = format!("Bearer {}", h.api_key);
    let before = chrono_now();
    let (s, b) = create_session(&h, Some(&key), &good()).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let token = b["session_token"].as_str().unwrap().to_owned();
    let expires = b["expires_at"].as_i64().unwrap();
    assert!((before + 900_000..=chrono_now() + 900_000).contains(&expires));
    assert!(token.starts_with("tms1."));
    // A company named for the first time now exists, with its name.
    let name = h.query_one("SELECT name FROM companies WHERE id = 'newco'");
    assert_eq!(name.text(), "New Co");
    // The token opens the widget API: admin where admin, viewer where viewer.
    let ada = Harness {
        auth: format!("Bearer {token}"),
        ..h
    };
    assert!(ada.tokens("demo-co").await.can_manage);
    let newco = ada.tokens("newco").await;
    assert!(!newco.can_manage);
    assert_eq!(newco.total, 0);
    let r = ada.start("newco").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // ... and nothing else.
    let r = ada
        .tokens_page("acme", 1, token_manager_core::PerPage::Ten)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Defaults: ttl 900 s, names default to ids.
    let (s, b) = create_session(
        &ada,
        Some(&key),
        &json!({"user": {"id": "u"}, "companies": [{"id": "acme", "role": "admin"}]}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let expires = b["expires_at"].as_i64().unwrap();
    assert!(expires - chrono_now() <= 900_000 && expires - chrono_now() > 890_000);
    // The API serves its OpenAPI document.
    let (s, doc) = ada.get("/api/v1/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["paths"]["/sessions"]["post"].is_object());
}

#[tokio::test]
async fn without_a_right_key_nothing_is_minted() {
    let h = Harness::new().await;
    for auth in [
        None,
        Some("Bearer ".to_owned()),
        Some(format!("Bearer {}", ApiKeys::generate())),
        Some(format!("Basic {}", h.api_key)),
        Some(format!("Bearer {}x", h.api_key)),
        // A session token is not an API key.
        Some(h.auth.clone()),
    ] {
        let (s, b) = create_session(&h, auth.as_deref(), &good()).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("unauthenticated")),
            "{auth:?}"
        );
    }
    // The scheme is case-insensitive, the key exact.
    let (s, _) = create_session(&h, Some(&format!("bearer {}", h.api_key)), &good()).await;
    assert_eq!(s, StatusCode::CREATED);
}

#[tokio::test]
async fn every_bad_body_gets_a_400_with_a_stable_code_and_says_what_is_wrong() {
    let h = Harness::new().await;
    let key = format!("Bearer {}", h.api_key);
    let with = |path: &[&str], value: Value| {
        let mut j = good();
        let mut at = &mut j;
        for p in &path[..path.len() - 1] {
            at = match p.parse::<usize>() {
                Ok(i) => &mut at[i],
                Err(_) => &mut at[*p],
            };
        }
        at[path[path.len() - 1]] = value;
        j
    };
    #[rustfmt::skip]
    let cases: Vec<(&str, Value, &str)> = vec![
        ("no user", json!({"companies": good()["companies"]}), "user"),
        ("empty user id", with(&["user", "id"], json!("")), "user.id"),
        ("user id of 129", with(&["user", "id"], json!("u".repeat(129))), "user.id"),
        ("user id with a newline", with(&["user", "id"], json!("a\nb")), "user.id"),
        ("user name of 201", with(&["user", "name"], json!("n".repeat(201))), "user.name"),
        ("no companies", with(&["companies"], json!([])), "companies"),
        ("101 companies", with(&["companies"], json!((0..101).map(|i| json!({"id": format!("c{i}"), "role": "admin"})).collect::<Vec<_>>())), "companies"),
        ("upper-case company id", with(&["companies", "0", "id"], json!("DEMO")), "companies[0].id"),
        ("company id with a space", with(&["companies", "0", "id"], json!("a b")), "companies[0].id"),
        ("company id of 65", with(&["companies", "0", "id"], json!("c".repeat(65))), "companies[0].id"),
        ("empty company name", with(&["companies", "1", "name"], json!(" ")), "companies[1].name"),
        ("unknown role", with(&["companies", "0", "role"], json!("owner")), "role"),
        ("company listed twice", with(&["companies", "1", "id"], json!("demo-co")), "twice"),
        ("ttl of 59", with(&["ttl_secs"], json!(59)), "ttl_secs"),
        ("ttl of 3601", with(&["ttl_secs"], json!(3601)), "ttl_secs"),
        ("negative ttl", with(&["ttl_secs"], json!(-1)), "ttl_secs"),
        ("unknown field", with(&["admin"], json!(true)), "admin"),
        ("unknown user field", with(&["user", "email"], json!("a@b")), "email"),
    ];
    for (name, body, mentions) in cases {
        let (s, b) = create_session(&h, Some(&key), &body).await;
        assert_eq!(
            (s, b["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_request")),
            "{name}: {b}"
        );
        let message = b["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(mentions),
            "{name}: {message:?} should mention {mentions:?}"
        );
    }
    // None of them created anything.
    assert_eq!(h.query_one("SELECT COUNT(*) FROM companies").int(), 0);
}

#[tokio::test]
async fn several_keys_work_at_once_for_a_rotation() {
    let h = Harness::new().await;
    let (old, new) = (ApiKeys::generate(), ApiKeys::generate());
    // The harness's host, with two keys (a rotation in progress).
    let state = build_state_with_keys(
        &h.dir.path().join("rotation.db"),
        &h.key,
        &[old.as_str(), new.as_str()],
        &h.mock_base,
        h.host_config.clone(),
        h.limits,
        h.clock.clone(),
        &h.hooks,
    );
    let rotated = Harness { state, ..h };
    for key in [&old, &new] {
        let (s, b) = create_session(&rotated, Some(&format!("Bearer {key}")), &good()).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let (s, _) = create_session(
        &rotated,
        Some(&format!("Bearer {}", rotated.api_key)),
        &good(),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a key not listed");
}
