//! The mock UPS over real HTTP on loopback: sign-in screens, code exchange, PKCE, replay,
//! refresh rotation, password change, data API counters, every fault, control endpoints,
//! and the `mock-ups` binary. One test binary; the harness is here, the tests in the modules.
#![allow(clippy::unwrap_used, missing_docs)]

mod binary;
mod control;
mod faults;
mod signin;
mod tokens;

use std::time::{Duration, Instant};

use mock_ups::testing::{sign_in, SignIn};
use mock_ups::{
    spawn, token_fingerprint, EndpointFault, FaultKind, Faults, MockClient, MockConfig, MockStats,
    MockUps,
};
use reqwest::header::{AUTHORIZATION, CONTENT_SECURITY_POLICY, LOCATION};
use reqwest::StatusCode;
use serde_json::{json, Value};
use url::Url;

const REDIRECT: &str = "http://127.0.0.1:8080/admin/token-manager";
const AGREEMENT: &str = "By continuing, I agree to the UPS Technology Agreement and authorize Token Manager Demo to access data associated with my UPS.com username listed above, including UPS shipping account numbers, contact information, rates, and package tracking status.";

struct Mock {
    base: String,
    mock: MockUps,
    http: reqwest::Client,
}

/// A verifier and its S256 challenge.
fn pkce_pair() -> (String, String) {
    let verifier = String::from_utf8(pkce::code_verifier(64)).unwrap();
    let challenge = pkce::code_challenge(verifier.as_bytes());
    (verifier, challenge)
}

fn query(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The value of the hidden `txn` field.
fn txn_of(html: &str) -> String {
    mock_ups::testing::txn_of(html).expect("page has a txn field")
}

fn ups_error_code(body: &Value) -> &str {
    body["response"]["errors"][0]["code"].as_str().unwrap()
}

impl Mock {
    async fn new() -> Self {
        Self::with(MockConfig::default()).await
    }

    async fn with(config: MockConfig) -> Self {
        let (addr, mock) = spawn(config).await.unwrap();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            base: format!("http://{addr}"),
            mock,
            http,
        }
    }

    fn signin_url(&self, state: &str, challenge: Option<&str>) -> String {
        let mut url = Url::parse(&format!("{}/lasso/signin", self.base)).unwrap();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", "demo-client")
                .append_pair("redirect_uri", REDIRECT)
                .append_pair("response_type", "code")
                .append_pair("scope", "read")
                .append_pair("type", "ups_com_api")
                .append_pair("state", state);
            if let Some(c) = challenge {
                q.append_pair("code_challenge", c)
                    .append_pair("code_challenge_method", "S256");
            }
        }
        url.into()
    }

    async fn get(&self, url: &str) -> reqwest::Response {
        self.http.get(url).send().await.unwrap()
    }

    async fn post_signin(&self, fields: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}/lasso/signin", self.base))
            .form(fields)
            .send()
            .await
            .unwrap()
    }

    /// Open the Log In screen (200, with a `txn` field); returns the transaction id.
    async fn open(&self, state: &str, challenge: Option<&str>) -> String {
        let (signin, _log_in) = SignIn::open(&self.http, &self.signin_url(state, challenge))
            .await
            .unwrap_or_else(|e| panic!("the Log In screen should open: {e}"));
        signin.txn().to_owned()
    }

    /// Log In → Password ("Welcome back,") → redirect; returns the redirect target.
    async fn sign_in_as(
        &self,
        user: &str,
        password: &str,
        state: &str,
        challenge: Option<&str>,
    ) -> Url {
        sign_in(
            &self.http,
            &self.signin_url(state, challenge),
            user,
            password,
        )
        .await
        .unwrap_or_else(|e| panic!("sign-in should redirect: {e}"))
    }

    async fn code(&self, challenge: Option<&str>) -> String {
        let back = self
            .sign_in_as("demo", "demo-password", "st-1", challenge)
            .await;
        assert_eq!(query(&back, "state").as_deref(), Some("st-1"));
        query(&back, "code").expect("redirect carries a code")
    }

    async fn exchange(
        &self,
        code: &str,
        redirect_uri: &str,
        verifier: Option<&str>,
    ) -> reqwest::Response {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
        ];
        if let Some(v) = verifier {
            form.push(("code_verifier", v));
        }
        self.http
            .post(format!("{}/security/v1/oauth/token", self.base))
            .basic_auth("demo-client", Some("demo-secret"))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    async fn tokens(&self) -> Value {
        let code = self.code(None).await;
        let resp = self.exchange(&code, REDIRECT, None).await;
        assert_eq!(resp.status(), StatusCode::OK);
        resp.json().await.unwrap()
    }

    async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/security/v1/oauth/refresh", self.base))
            .basic_auth("demo-client", Some("demo-secret"))
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ])
            .send()
            .await
            .unwrap()
    }

    async fn track(&self, access_token: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(format!(
            "{}/api/track/v1/details/1Z999AA10123456784",
            self.base
        ));
        if let Some(t) = access_token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    async fn set_faults(&self, faults: Value) -> reqwest::Response {
        self.http
            .post(format!("{}/mock/faults", self.base))
            .json(&faults)
            .send()
            .await
            .unwrap()
    }

    async fn stats(&self) -> MockStats {
        self.get(&format!("{}/mock/stats", self.base))
            .await
            .json()
            .await
            .unwrap()
    }
}

fn s(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is a string"))
        .to_owned()
}
