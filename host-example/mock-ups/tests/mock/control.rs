//! The `/mock/*` control endpoints answer only loopback peers.

use super::*;

#[tokio::test]
async fn control_endpoints_answer_only_on_loopback() {
    use axum::body::Body;
    use axum::extract::connect_info::MockConnectInfo;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    let mock = MockUps::new(MockConfig::default());
    // `/mock/stats`, from `peer` (`None`: the peer address is not known).
    let stats_from = |peer: Option<&str>| {
        let mut router = mock.router();
        if let Some(peer) = peer {
            let peer: std::net::SocketAddr = peer.parse().unwrap();
            router = router.layer(MockConnectInfo(peer));
        }
        let request = axum::http::Request::builder()
            .uri("/mock/stats")
            .body(Body::empty())
            .unwrap();
        router.oneshot(request)
    };
    // No peer address known: refused.
    let resp = stats_from(None).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // A remote peer: refused.
    let resp = stats_from(Some("192.0.2.7:5555")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "forbidden");
    // Loopback: answered.
    let resp = stats_from(Some("127.0.0.1:5555")).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // The OAuth endpoints do not need the peer address.
    let resp = mock
        .router()
        .oneshot(
            axum::http::Request::builder()
                .uri(format!(
                    "/security/v1/oauth/validate-client?client_id=demo-client&redirect_uri={}",
                    url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>()
                ))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}
