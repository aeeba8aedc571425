//! The `/mock/*` control endpoints answer only loopback peers.

use super::*;

#[tokio::test]
async fn control_endpoints_answer_only_on_loopback() {
    use axum::body::Body;
    use axum::extract::connect_info::MockConnectInfo;
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;

    let mock = MockUps::new(MockConfig::default());
    let request = || {
        axum::http::Request::builder()
            .uri("/mock/stats")
            .body(Body::empty())
            .unwrap()
    };
    // No peer address known: refused.
    let resp = mock.router().oneshot(request()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    // A remote peer: refused.
    let remote: std::net::SocketAddr = "192.0.2.7:5555".parse().unwrap();
    let resp = mock
        .router()
        .layer(MockConnectInfo(remote))
        .oneshot(request())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["code"], "forbidden");
    // Loopback: answered.
    let local: std::net::SocketAddr = "127.0.0.1:5555".parse().unwrap();
    let resp = mock
        .router()
        .layer(MockConnectInfo(local))
        .oneshot(request())
        .await
        .unwrap();
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
