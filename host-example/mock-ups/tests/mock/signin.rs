//! validate-client, authorize, the sign-in screens, Cancel and access_denied, and the
//! redirect URI checks.

use super::*;

#[tokio::test]
async fn validate_client_json_is_exact() {
    let m = Mock::new().await;
    let url =
        |client: &str, redirect: &str| validate_client_url(&m.base, client, redirect).to_string();
    let resp = m.get(&url("demo-client", REDIRECT)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    assert_eq!(
        text,
        format!(
            r#"{{"result":"success","type":"ups_com_api","LassoRedirectURL":"{}/lasso/signin"}}"#,
            m.base
        )
    );

    let resp = m.get(&url("nobody", REDIRECT)).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"response":{"errors":[{"code":"10401","message":"ClientId is Invalid"}]}})
    );

    for bad in [
        "http://127.0.0.1:8080/admin/token-manager/",
        "http://127.0.0.1:8080/admin/token-manager?x=1",
        "http://localhost:8080/admin/token-manager",
        "https://evil.example/admin/token-manager",
    ] {
        let resp = m.get(&url("demo-client", bad)).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(ups_error_code(&body), "10400");
    }
    let resp = m
        .get(&m.url("/security/v1/oauth/validate-client?client_id=demo-client"))
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // A redirect URI registered at run time (host on an ephemeral port).
    let ephemeral = "http://127.0.0.1:45678/admin/token-manager";
    m.mock.add_redirect_uri("demo-client", ephemeral);
    let resp = m.get(&url("demo-client", ephemeral)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(m.stats().await.validate_client_requests, 8);
}

#[tokio::test]
async fn authorize_redirects_to_the_signin_screens() {
    let m = Mock::new().await;
    let (_, challenge) = pkce_pair();
    let mut u = Url::parse(&m.url("/security/v1/oauth/authorize")).unwrap();
    u.query_pairs_mut()
        .append_pair("client_id", "demo-client")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("scope", "read")
        .append_pair("state", "abc")
        .append_pair("code_challenge", &challenge);
    let resp = m.get(u.as_str()).await;
    let loc = redirect_of(&resp);
    assert_eq!(resp.headers()["appname"], "Token Manager Demo");
    assert_eq!(loc.path(), "/lasso/signin");
    assert_eq!(query(&loc, "type").as_deref(), Some("ups_com_api"));
    assert_eq!(query(&loc, "state").as_deref(), Some("abc"));
    // Exactly the spec's parameters (OAuthAuthCode.yaml, 302 `location`): the challenge
    // stays at the server, bound to the code the sign-in issues.
    let names: Vec<String> = loc.query_pairs().map(|(k, _)| k.into_owned()).collect();
    assert_eq!(
        names,
        [
            "client_id",
            "redirect_uri",
            "response_type",
            "scope",
            "state",
            "type"
        ]
    );
    assert_eq!(m.get(loc.as_str()).await.status(), StatusCode::OK);
    let (verifier, challenge) = pkce_pair();
    let mut u = Url::parse(&m.url("/security/v1/oauth/authorize")).unwrap();
    u.query_pairs_mut()
        .append_pair("client_id", "demo-client")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("response_type", "code")
        .append_pair("scope", "read")
        .append_pair("state", "bound")
        .append_pair("code_challenge", &challenge);
    let back = mock_ups::testing::sign_in(&m.http, u.as_str(), "demo", "demo-password")
        .await
        .unwrap();
    let code = query(&back, "code").unwrap();
    assert_eq!(
        m.exchange(&code, REDIRECT, Some(&verifier)).await.status(),
        StatusCode::OK,
        "the code is bound to the challenge /authorize received"
    );
    // A method other than S256 is refused at /authorize.
    let resp = m.get(&format!("{u}&code_challenge_method=plain")).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    let resp = m
        .get(&m.url("/security/v1/oauth/authorize?client_id=x&redirect_uri=y&response_type=code"))
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn signin_screens_and_full_code_exchange() {
    let m = Mock::new().await;
    // Screen 1: Log In.
    let resp = m.get(&m.signin_url("state-123", None)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let csp = resp.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:8080"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(resp.headers().get("set-cookie").is_none());
    let html = resp.text().await.unwrap();
    for needle in [
        "<title>Log In</title>",
        r#"<h1 id="page-title">Log In</h1>"#,
        "Don't have a profile?",
        "Sign up",
        r#"<label for="username">Email or Username</label>"#,
        r#"id="username""#,
        r#"<label for="agree">"#,
        AGREEMENT,
        r#"value="continue" class="primary">Continue</button>"#,
        "Forgot Username/Password",
        r#"value="cancel" class="secondary" formnovalidate>Cancel</button>"#,
    ] {
        assert!(html.contains(needle), "Log In page lacks {needle:?}");
    }
    let css = m.get(&m.url("/lasso/assets/signin.css")).await;
    assert_eq!(css.status(), StatusCode::OK);
    assert!(css.text().await.unwrap().contains("--ups-brown"));

    let txn = txn_of(&html);
    // Continue without the agreement: same screen, clear message, username kept.
    let resp = m
        .post_signin(&[("txn", &txn), ("action", "continue"), ("username", "demo")])
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    assert!(html.contains(r#"<h1 id="page-title">Log In</h1>"#));
    assert!(html.contains("To continue, check the box to agree"));
    assert!(html.contains(r#"value="demo""#));
    assert!(html.contains(r#"role="alert""#));
    // The checkbox is the field in error: it gets focus and aria-invalid.
    assert!(html.contains(
        r#"type="checkbox" value="yes" required autofocus aria-invalid="true" aria-describedby="form-error">"#
    ));
    // Empty username.
    let resp = m
        .post_signin(&[("txn", &txn), ("action", "continue"), ("agree", "yes")])
        .await;
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("Enter your Email or Username."));

    // Screen 2: Welcome back.
    let resp = m.continue_as(&txn, "Demo").await;
    let html = resp.text().await.unwrap();
    assert!(html.contains("Welcome back, demo"), "{html}");
    assert!(html.contains(r#"<label for="password">Password</label>"#));
    assert!(html.contains(r#"type="password""#));
    assert!(html.contains(r#"class="primary">Login</button>"#));
    assert!(html.contains("Forgot Username/Password"));
    assert!(html.contains(">Cancel</button>"));

    // Wrong password: same screen with an error.
    let resp = m.login(&txn, "nope").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    assert!(html.contains("Welcome back, demo"));
    assert!(html.contains("don&#39;t match our records"));

    // Right password: 302 back with code and the same state.
    let back = redirect_of(&m.login(&txn, "demo-password").await);
    assert!(back.as_str().starts_with(REDIRECT));
    assert_eq!(query(&back, "state").as_deref(), Some("state-123"));
    let code = query(&back, "code").unwrap();
    assert!(code.len() >= 32);

    // The transaction is over: replaying the form shows the expired page.
    let resp = m.login(&txn, "demo-password").await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.headers().get(LOCATION).is_none());

    // Exchange: UPS's token JSON, every value a string.
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let resp = m.exchange(&code, REDIRECT, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let t: Value = resp.json().await.unwrap();
    let obj = t.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "access_token",
            "client_id",
            "expires_in",
            "issued_at",
            "refresh_count",
            "refresh_token",
            "refresh_token_expires_in",
            "refresh_token_issued_at",
            "refresh_token_status",
            "scope",
            "status",
            "token_type"
        ]
    );
    assert!(obj.values().all(Value::is_string), "{t}");
    assert_eq!(s(&t, "token_type"), "Bearer");
    assert_eq!(s(&t, "client_id"), "demo-client");
    assert_eq!(s(&t, "expires_in"), "3599");
    assert_eq!(s(&t, "refresh_token_expires_in"), "5183999");
    assert_eq!(s(&t, "refresh_token_status"), "approved");
    assert_eq!(s(&t, "status"), "approved");
    assert_eq!(s(&t, "refresh_count"), "0");
    assert_eq!(s(&t, "scope"), "read");
    let issued: u128 = s(&t, "issued_at").parse().unwrap();
    assert!(issued >= before && issued < before + 60_000, "ms epoch");
    assert_eq!(s(&t, "refresh_token_issued_at"), s(&t, "issued_at"));
    assert_ne!(s(&t, "access_token"), s(&t, "refresh_token"));

    // Core reads it as a grant.
    let grant = token_manager_core::token::parse_token_response(
        200,
        t.to_string().as_bytes(),
        token_manager_core::time::Timestamp(i64::try_from(issued).unwrap()),
    )
    .unwrap();
    assert_eq!(grant.access_token.secret(), &s(&t, "access_token"));

    let stats = m.stats().await;
    assert_eq!(stats.token_requests, 1);
    assert_eq!(stats.tokens_issued, 1);
    assert_eq!(stats.signins_completed, 1);
    assert_eq!(stats.active_access_tokens, 1);
    assert_eq!(stats.users["demo"].tokens_issued, 1);
}

#[tokio::test]
async fn declined_consent_and_cancel_return_access_denied() {
    let m = Mock::new().await;
    // Fault: a correct sign-in ends with access_denied.
    m.set_faults(json!({"decline_consent": true})).await;
    let back = m.sign_in_as("demo", "demo-password", "st-d", None).await;
    assert!(back.as_str().starts_with(REDIRECT));
    assert_eq!(query(&back, "error").as_deref(), Some("access_denied"));
    assert!(query(&back, "error_description").is_some());
    assert_eq!(query(&back, "state").as_deref(), Some("st-d"));
    assert!(query(&back, "code").is_none());
    m.mock.set_faults(Faults::default());

    // Cancel on the Log In screen.
    let txn = m.open("st-c1", None).await;
    let back = redirect_of(&m.cancel(&txn).await);
    assert_eq!(query(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(query(&back, "state").as_deref(), Some("st-c1"));

    // Cancel on the Password screen.
    let txn = m.open_password_screen("st-c2").await;
    let back = redirect_of(&m.cancel(&txn).await);
    assert_eq!(query(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(query(&back, "state").as_deref(), Some("st-c2"));

    // Too many wrong passwords.
    let txn = m.open_password_screen("st-p").await;
    let mut last = None;
    for _ in 0..5 {
        last = Some(m.login(&txn, "wrong").await);
    }
    let back = redirect_of(&last.unwrap());
    assert_eq!(query(&back, "error").as_deref(), Some("access_denied"));
    assert_eq!(m.stats().await.signins_declined, 4);
}

#[tokio::test]
async fn signin_never_redirects_to_an_unregistered_uri() {
    let m = Mock::new().await;
    for (client, redirect) in [
        ("nobody", REDIRECT),
        ("demo-client", "https://evil.example/steal"),
        ("demo-client", "http://127.0.0.1:8080/admin/token-manager/x"),
    ] {
        let mut u = Url::parse(&m.url("/lasso/signin")).unwrap();
        u.query_pairs_mut()
            .append_pair("client_id", client)
            .append_pair("redirect_uri", redirect)
            .append_pair("response_type", "code")
            .append_pair("state", "x");
        let resp = m.get(u.as_str()).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{redirect}");
        assert!(resp.headers().get(LOCATION).is_none());
        let html = resp.text().await.unwrap();
        assert!(html.contains("We can't complete this sign-in"), "{html}");
    }
    // Valid redirect URI but wrong response_type: the error goes back to the app.
    let url = m
        .signin_url("rt", None)
        .replace("response_type=code", "response_type=token");
    let back = redirect_of(&m.get(&url).await);
    assert_eq!(
        query(&back, "error").as_deref(),
        Some("unsupported_response_type")
    );
    // Unknown transaction.
    let resp = m
        .post_signin(&[("txn", "forged"), ("action", "continue")])
        .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.headers().get(LOCATION).is_none());
}
