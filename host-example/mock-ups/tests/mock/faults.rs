//! Every injected fault, over HTTP and from the config.

use super::*;

#[tokio::test]
async fn token_endpoint_status_faults_do_not_spend_the_code() {
    let m = Mock::new().await;
    for (kind, status) in [("status_500", 500), ("status_503", 503)] {
        let code = m.code(None).await;
        let resp = m
            .set_faults(json!({"token": {"kind": kind, "times": 1}}))
            .await;
        assert_eq!(resp.status(), StatusCode::OK);
        let resp = m.exchange(&code, REDIRECT, None).await;
        assert_eq!(resp.status().as_u16(), status);
        let body: Value = resp.json().await.unwrap();
        assert!(body["response"]["errors"][0]["code"].is_string());
        // times: 1 → the next request is normal, and the code was not spent.
        assert_eq!(
            m.exchange(&code, REDIRECT, None).await.status(),
            StatusCode::OK
        );
    }
    assert_eq!(m.stats().await.faults_applied, 2);
}

#[tokio::test]
async fn malformed_json_fault() {
    let m = Mock::new().await;
    m.set_faults(json!({"token": {"kind": "malformed_json"}}))
        .await;
    let code = m.code(None).await;
    for _ in 0..2 {
        let resp = m.exchange(&code, REDIRECT, None).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], "application/json");
        let text = resp.text().await.unwrap();
        assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
    }
    let resp = m.http.post(m.url("/mock/reset")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(m.mock.faults().is_none());
    assert_eq!(
        m.exchange(&code, REDIRECT, None).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn slow_fault_delays_then_answers() {
    let m = Mock::new().await;
    let t = m.tokens().await;
    m.mock.set_faults(Faults {
        refresh: EndpointFault {
            kind: FaultKind::Slow,
            slow_ms: Some(400),
            times: Some(1),
        },
        ..Faults::default()
    });
    let started = Instant::now();
    let resp = m.refresh(&t).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert!(m.mock.faults().is_none(), "times: 1 used up");
}

#[tokio::test]
async fn timeout_fault_hangs() {
    let m = Mock::new().await;
    let t = m.tokens().await;
    m.set_faults(json!({"refresh": {"kind": "timeout"}})).await;
    let started = Instant::now();
    let err = m
        .refresh_request(&t)
        .timeout(Duration::from_millis(500))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // The token endpoint is not affected by a refresh fault, and the refresh token is unspent.
    let code = m.code(None).await;
    assert_eq!(
        m.exchange(&code, REDIRECT, None).await.status(),
        StatusCode::OK
    );
    m.mock.set_faults(Faults::default());
    assert_eq!(m.refresh(&t).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn refresh_status_fault_is_separate_from_token() {
    let m = Mock::new().await;
    let t = m.tokens().await;
    m.set_faults(json!({"refresh": {"kind": "status_503", "times": 2}}))
        .await;
    for _ in 0..2 {
        assert_eq!(
            m.refresh(&t).await.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    let faults: Value = m.get(&m.url("/mock/faults")).await.json().await.unwrap();
    assert_eq!(faults["refresh"]["kind"], "none");
    assert_eq!(m.refresh(&t).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn invalid_fault_json_is_refused() {
    let m = Mock::new().await;
    for bad in [
        json!({"token": {"kind": "explode"}}),
        json!({"tokn": {}}),
        json!({"token": "status_500"}),
    ] {
        let resp = m.set_faults(bad.clone()).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{bad}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_request");
    }
    assert!(m.mock.faults().is_none());
}

#[tokio::test]
async fn wrong_state_fault() {
    let m = Mock::new().await;
    m.set_faults(json!({"wrong_state": true})).await;
    let back = m
        .sign_in_as("demo", "demo-password", "the-state", None)
        .await;
    assert!(query(&back, "code").is_some());
    let state = query(&back, "state").unwrap();
    assert_ne!(state, "the-state");
}

#[tokio::test]
async fn faults_parse_from_a_cli_flag() {
    let f: Faults = r#"{"token":{"kind":"timeout"},"decline_consent":true}"#
        .parse()
        .unwrap();
    assert_eq!(f.token.kind, FaultKind::Timeout);
    assert!(f.decline_consent);
    let err = "{".parse::<Faults>().unwrap_err();
    assert!(err.contains("invalid mock UPS faults JSON"), "{err}");
    // Faults from the config apply from the start.
    let m = Mock::with(MockConfig {
        faults: Faults {
            token: EndpointFault::times(FaultKind::Status500, 1),
            ..Faults::default()
        },
        ..MockConfig::default()
    })
    .await;
    let code = m.code(None).await;
    assert_eq!(
        m.exchange(&code, REDIRECT, None).await.status(),
        StatusCode::INTERNAL_SERVER_ERROR
    );
}
