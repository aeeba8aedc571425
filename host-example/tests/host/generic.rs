//! A generic RFC 6749 provider: revocation is the host's own RFC 7009 request (plain http on
//! loopback allowed, as for every other endpoint here), and Clear reports what happened.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Form, Router};
use host_example::config::HttpLimits;
use host_example::provider::Provider;
use host_example::tokens::TokenPair;
use oauth2::{AccessToken, ClientSecret, RefreshToken};
use token_manager_core::config::ProviderConfig;

use crate::harness::REDIRECT;

/// One revocation request: its `Authorization` header and form.
type Call = (Option<String>, Vec<(String, String)>);

#[derive(Clone, Default)]
struct Seen {
    calls: Arc<Mutex<Vec<Call>>>,
    status: Arc<Mutex<u16>>,
}

async fn revoke(
    State(seen): State<Seen>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> (StatusCode, String) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    seen.calls.lock().unwrap().push((auth, form));
    let status = *seen.status.lock().unwrap();
    let body = if status == 200 {
        String::new()
    } else {
        r#"{"error":"unsupported_token_type","error_description":"no"}"#.to_owned()
    };
    (StatusCode::from_u16(status).unwrap(), body)
}

#[tokio::test]
async fn revocation_is_an_rfc_7009_request_the_host_makes_itself() {
    let seen = Seen::default();
    *seen.status.lock().unwrap() = 200;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new()
        .route("/revoke", post(revoke))
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let config = ProviderConfig::generic(
        &format!("{base}/authorize"),
        &format!("{base}/token"),
        Some(&format!("{base}/revoke")),
        "cid with space",
        REDIRECT,
        "openid",
    )
    .unwrap();
    let provider = Provider::new(
        config,
        ClientSecret::new("s3cr+t".into()),
        HttpLimits::default(),
        None,
    )
    .unwrap();
    let pair = TokenPair {
        access: AccessToken::new("at-1".into()),
        refresh: Some(RefreshToken::new("rt-1".into())),
    };
    // Plain http on loopback: revoked (the oauth2 crate would refuse this URL).
    assert!(provider.revoke(&pair).await.unwrap());
    let (auth, form) = seen.calls.lock().unwrap()[0].clone();
    assert_eq!(
        form,
        [
            ("token".to_owned(), "rt-1".to_owned()),
            ("token_type_hint".to_owned(), "refresh_token".to_owned())
        ]
    );
    // RFC 6749 §2.3.1 for a generic provider: form-encoded, then Basic.
    use base64::Engine as _;
    let expected = base64::engine::general_purpose::STANDARD.encode("cid+with+space:s3cr%2Bt");
    assert_eq!(auth.as_deref(), Some(format!("Basic {expected}").as_str()));
    // Without a refresh token, the access token; a refusal is reported with its code.
    *seen.status.lock().unwrap() = 400;
    let access_only = TokenPair {
        refresh: None,
        ..pair
    };
    let e = provider.revoke(&access_only).await.unwrap_err();
    assert_eq!(e.code, "unsupported_token_type");
    let (_, form) = seen.calls.lock().unwrap()[1].clone();
    assert_eq!(
        form[1],
        ("token_type_hint".to_owned(), "access_token".to_owned())
    );
}

#[tokio::test]
async fn discovery_says_what_each_well_known_url_answered() {
    use axum::routing::get;
    let big = "x".repeat(token_manager_core::config::MAX_METADATA + 1);
    let app = Router::new().route(
        "/.well-known/oauth-authorization-server/tenant",
        get(move || {
            let big = big.clone();
            async move { big }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let issuer = url::Url::parse(&format!("{base}/tenant")).unwrap();
    let e = host_example::provider::discovery::fetch_metadata(&issuer, HttpLimits::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("no RFC 8414 / OpenID metadata found for"),
        "{e}"
    );
    assert!(e.contains("over the 65536-byte limit"), "{e}");
    assert!(
        e.contains("/tenant/.well-known/openid-configuration: HTTP 404"),
        "{e}"
    );
}
