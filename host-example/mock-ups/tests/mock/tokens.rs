//! The token and refresh endpoints (client authentication, PKCE, replay, expiry, rotation),
//! password changes and the data API.

use super::*;

/// A refresh request whose refresh token the mock never issued.
const UNKNOWN_REFRESH: [(&str, &str); 2] =
    [("grant_type", "refresh_token"), ("refresh_token", "x")];

#[tokio::test]
async fn client_authentication_is_checked() {
    let m = Mock::new().await;
    let code = m.code(None).await;
    let url = m.url(TOKEN_PATH);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
    ];
    let cases: [(Option<&str>, &str); 4] = [
        (None, "10400"),
        (Some("Basic !!!not-base64"), "10400"),
        (Some("Bearer abc"), "10400"),
        (Some("Basic ZGVtby1jbGllbnQ6d3Jvbmc="), "10401"), // demo-client:wrong
    ];
    for (header, expected) in cases {
        let mut req = m.http.post(&url).form(&form);
        if let Some(h) = header {
            req = req.header(AUTHORIZATION, h);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{header:?}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(ups_error_code(&body), expected, "{header:?}");
    }
    let resp = m
        .post_form(TOKEN_PATH, Some(("other-client", "demo-secret")), &form)
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    // Failed client authentication does not spend the code.
    assert_eq!(
        m.exchange(&code, REDIRECT, None).await.status(),
        StatusCode::OK
    );
    // Wrong secret on refresh too.
    let resp = m
        .post_form(
            REFRESH_PATH,
            Some(("demo-client", "nope")),
            &UNKNOWN_REFRESH,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn basic_credentials_are_compared_raw_as_ups_sdks_send_them() {
    let config = MockConfig {
        clients: vec![MockClient {
            client_id: "demo-client".into(),
            client_secret: "s3cr+t/=~%2B".into(),
            redirect_uris: vec![REDIRECT.into()],
        }],
        ..MockConfig::default()
    };
    let m = Mock::with(config).await;
    // Raw `id:secret`, base64: authenticated, so the refresh token is what fails.
    let resp = m
        .post_form(
            REFRESH_PATH,
            Some(("demo-client", "s3cr+t/=~%2B")),
            &UNKNOWN_REFRESH,
        )
        .await;
    let body = ups_error(resp, StatusCode::BAD_REQUEST, "10400").await;
    assert!(body.to_string().contains("Invalid Refresh Token"), "{body}");
    // RFC 6749 §2.3.1's form-encoding first (what the oauth2 crate sends) is a wrong secret.
    let resp = m
        .post_form(
            REFRESH_PATH,
            Some(("demo-client", "s3cr%2Bt%2F%3D%7E%252B")),
            &UNKNOWN_REFRESH,
        )
        .await;
    ups_error(resp, StatusCode::UNAUTHORIZED, "10401").await;
}

#[tokio::test]
async fn pkce_is_verified() {
    let m = Mock::new().await;
    let (verifier, challenge) = pkce_pair();

    // Wrong verifier.
    let code = m.code(Some(&challenge)).await;
    let (other, _) = pkce_pair();
    let resp = m.exchange(&code, REDIRECT, Some(&other)).await;
    let body = ups_error(resp, StatusCode::BAD_REQUEST, "10400").await;
    assert!(
        body.to_string().contains("Invalid authorization code"),
        "{body}"
    );
    // The failed attempt spent the code.
    assert_eq!(
        m.exchange(&code, REDIRECT, Some(&verifier)).await.status(),
        StatusCode::BAD_REQUEST
    );

    // Missing verifier.
    let code = m.code(Some(&challenge)).await;
    assert_eq!(
        m.exchange(&code, REDIRECT, None).await.status(),
        StatusCode::BAD_REQUEST
    );

    // Right verifier.
    let code = m.code(Some(&challenge)).await;
    assert_eq!(
        m.exchange(&code, REDIRECT, Some(&verifier)).await.status(),
        StatusCode::OK
    );

    // The undocumented mix (Basic header and a verifier) is refused, and spends the code.
    let code = m.code(Some(&challenge)).await;
    let mix = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", &verifier),
    ];
    let body = ups_error(
        m.post_form(TOKEN_PATH, Some(DEMO_CLIENT), &mix).await,
        StatusCode::BAD_REQUEST,
        "10400",
    )
    .await;
    assert!(body.to_string().contains("PKCE"), "{body}");
    // A code bound to a challenge is not redeemed by the plain flow either.
    let code = m.code(Some(&challenge)).await;
    assert_eq!(
        m.exchange(&code, REDIRECT, None).await.status(),
        StatusCode::BAD_REQUEST
    );

    // UPS's PKCE flow 2: no Basic header, client_id and code_verifier in the body.
    let code = m.code(Some(&challenge)).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", REDIRECT),
        ("client_id", "demo-client"),
        ("code_verifier", &verifier),
    ];
    assert_eq!(
        m.post_form(TOKEN_PATH, None, &form).await.status(),
        StatusCode::OK
    );

    // A bad challenge or method never reaches the screens: the error goes back.
    let mut u = Url::parse(&m.signin_url("st", Some("short"))).unwrap();
    let back = redirect_of(&m.get(u.as_str()).await);
    assert_eq!(query(&back, "error").as_deref(), Some("invalid_request"));
    assert_eq!(query(&back, "state").as_deref(), Some("st"));
    u.set_query(Some(
        &u.query()
            .unwrap()
            .replace("short", &challenge)
            .replace("S256", "plain"),
    ));
    let resp = m.get(u.as_str()).await;
    assert_eq!(resp.status(), StatusCode::FOUND);
}

#[tokio::test]
async fn code_replay_is_rejected_and_revokes_its_tokens() {
    let m = Mock::new().await;
    let code = m.code(None).await;
    let t: Value = m
        .exchange(&code, REDIRECT, None)
        .await
        .json()
        .await
        .unwrap();
    let access = s(&t, "access_token");
    assert_eq!(m.track(Some(&access)).await.status(), StatusCode::OK);

    let resp = m.exchange(&code, REDIRECT, None).await;
    ups_error(resp, StatusCode::BAD_REQUEST, "10400").await;

    // RFC 6749 §4.1.2: the tokens issued from the code are revoked.
    assert_eq!(
        m.track(Some(&access)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(m.refresh(&t).await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(m.stats().await.codes_replayed, 1);
}

#[tokio::test]
async fn code_expires_and_redirect_uri_must_match() {
    let config = MockConfig {
        code_ttl: Duration::from_millis(300),
        ..MockConfig::default()
    };
    let m = Mock::with(config).await;
    let code = m.code(None).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let resp = m.exchange(&code, REDIRECT, None).await;
    let body = ups_error(resp, StatusCode::BAD_REQUEST, "10400").await;
    assert!(
        body.to_string().contains("Invalid authorization code"),
        "{body}"
    );

    let code = m.code(None).await;
    let resp = m
        .exchange(&code, "http://127.0.0.1:8080/admin/token-manager/", None)
        .await;
    ups_error(resp, StatusCode::BAD_REQUEST, "10400").await;

    let resp = m.exchange("no-such-code", REDIRECT, None).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // Wrong grant type, missing parameters, not a form.
    for (grant_type, code) in [("password", "10400"), ("authorization_code", "10400")] {
        let resp = m
            .post_form(TOKEN_PATH, Some(DEMO_CLIENT), &[("grant_type", grant_type)])
            .await;
        ups_error(resp, StatusCode::BAD_REQUEST, code).await;
    }
    let resp = m
        .http
        .post(m.url(TOKEN_PATH))
        .basic_auth(DEMO_CLIENT.0, Some(DEMO_CLIENT.1))
        .json(&json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    ups_error(resp, StatusCode::BAD_REQUEST, "10400").await;
}

#[tokio::test]
async fn refresh_rotates_and_the_old_refresh_token_is_dead() {
    let m = Mock::new().await;
    let t0 = m.tokens().await;
    let resp = m.refresh(&t0).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let t1: Value = resp.json().await.unwrap();
    assert!(t1.as_object().unwrap().values().all(Value::is_string));
    assert_eq!(s(&t1, "refresh_count"), "1");
    assert_eq!(s(&t1, "refresh_token_status"), "approved");
    assert_ne!(s(&t1, "access_token"), s(&t0, "access_token"));
    assert_ne!(s(&t1, "refresh_token"), s(&t0, "refresh_token"));

    // The spent refresh token: invalid_grant, every time.
    for _ in 0..2 {
        let resp = m.refresh(&t0).await;
        let body = ups_error(resp, StatusCode::BAD_REQUEST, "10400").await;
        let err = token_manager_core::token::parse_error_response(400, body.to_string().as_bytes());
        assert_eq!(
            err.kind,
            token_manager_core::token::ProviderErrorKind::InvalidGrant
        );
    }
    // The new one works and rotates again.
    let t2: Value = m.refresh(&t1).await.json().await.unwrap();
    assert_eq!(s(&t2, "refresh_count"), "2");
    // Access tokens stay valid until they expire.
    assert_eq!(
        m.track(Some(&s(&t0, "access_token"))).await.status(),
        StatusCode::OK
    );

    let stats = m.stats().await;
    assert_eq!(stats.refresh_requests, 4);
    assert_eq!(stats.refreshes_succeeded, 2);
    assert_eq!(stats.refresh_tokens_spent, 2);
    assert_eq!(stats.active_refresh_tokens, 1);
    assert_eq!(stats.active_access_tokens, 3);
    assert_eq!(stats.users["demo"].refreshes, 2);

    // Wrong grant type on refresh.
    let form = [
        ("grant_type", "authorization_code"),
        ("refresh_token", &s(&t2, "refresh_token")),
    ];
    let resp = m.post_form(REFRESH_PATH, Some(DEMO_CLIENT), &form).await;
    ups_error(resp, StatusCode::BAD_REQUEST, "10400").await;
}

#[tokio::test]
async fn password_change_invalidates_refresh_and_access_tokens() {
    let m = Mock::new().await;
    let t = m.tokens().await;
    let access = s(&t, "access_token");
    assert_eq!(m.track(Some(&access)).await.status(), StatusCode::OK);

    let resp = m
        .password_change(&json!({"user": "demo", "new_password": "changed-1"}))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let change: Value = resp.json().await.unwrap();
    assert_eq!(change["revoked_refresh_tokens"], 1);
    assert_eq!(change["revoked_access_tokens"], 1);

    let resp = m.refresh(&t).await;
    let body = ups_error(resp, StatusCode::BAD_REQUEST, "10400").await;
    assert!(body.to_string().contains("Invalid Refresh Token"), "{body}");

    let resp = m.track(Some(&access)).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"response":{"errors":[{"code":"250002","message":"Invalid Authentication Information."}]}})
    );

    // The old password no longer signs in; the new one does.
    let txn = m.open_password_screen("s").await;
    let resp = m.login(&txn, "demo-password").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let back = m.sign_in_as("demo", "changed-1", "s2", None).await;
    assert!(query(&back, "code").is_some());

    // The Rust API does the same.
    let code = query(&back, "code").unwrap();
    let t2: Value = m
        .exchange(&code, REDIRECT, None)
        .await
        .json()
        .await
        .unwrap();
    m.mock.change_password("demo", "changed-2");
    assert_eq!(m.refresh(&t2).await.status(), StatusCode::BAD_REQUEST);
    let stats = m.mock.stats();
    assert_eq!(stats.users["demo"].password_changes, 2);
    assert_eq!(stats.active_access_tokens, 0);
    assert_eq!(stats.active_refresh_tokens, 0);

    // Unknown user / bad body.
    let resp = m
        .password_change(&json!({"user": "nobody", "new_password": "x"}))
        .await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = m.password_change(&json!({"usr": "demo"})).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn data_api_counts_calls_per_token() {
    let m = Mock::new().await;
    let t = m.tokens().await;
    let access = s(&t, "access_token");
    for _ in 0..3 {
        let resp = m.track(Some(&access)).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let body: Value = resp.json().await.unwrap();
        let pkg = &body["trackResponse"]["shipment"][0]["package"][0];
        assert_eq!(pkg["trackingNumber"], "1Z999AA10123456784");
        assert_eq!(pkg["currentStatus"]["description"], "Delivered");
    }
    assert_eq!(m.track(None).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        m.track(Some("forged")).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let resp = m
        .http
        .get(m.url("/api/track/v1/details/not-a-number!"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    let stats = m.stats().await;
    let fp = token_fingerprint(&access);
    assert_eq!(fp.len(), 12);
    assert_eq!(stats.data_calls_by_token[&fp], 4);
    assert_eq!(stats.data_calls_by_token[&token_fingerprint("forged")], 1);
    assert_eq!(stats.data_calls_total, 6);
    assert_eq!(stats.data_calls_rejected, 2);
    assert_eq!(stats.users["demo"].data_calls, 4);

    // Stats never carry a token.
    let raw = m.get(&m.url("/mock/stats")).await.text().await.unwrap();
    assert!(!raw.contains(&access));
    assert!(!raw.contains(&s(&t, "refresh_token")));
}

#[tokio::test]
async fn expired_access_tokens_are_refused() {
    let config = MockConfig {
        access_ttl: Duration::from_millis(1500),
        ..MockConfig::default()
    };
    let m = Mock::with(config).await;
    let t = m.tokens().await;
    assert_eq!(s(&t, "expires_in"), "1", "whole seconds, rounded down");
    let access = s(&t, "access_token");
    assert_eq!(m.track(Some(&access)).await.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(
        m.track(Some(&access)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(m.stats().await.active_access_tokens, 0);
    // The refresh token still works.
    assert_eq!(m.refresh(&t).await.status(), StatusCode::OK);
}
