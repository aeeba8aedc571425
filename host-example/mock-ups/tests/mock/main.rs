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
const TOKEN_PATH: &str = "/security/v1/oauth/token";
const REFRESH_PATH: &str = "/security/v1/oauth/refresh";
/// The default client: its id and secret.
const DEMO_CLIENT: (&str, &str) = ("demo-client", "demo-secret");
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

/// Check that `resp` is a UPS error answer with `status` and error `code`; returns its body.
async fn ups_error(resp: reqwest::Response, status: StatusCode, code: &str) -> Value {
    assert_eq!(resp.status(), status);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(ups_error_code(&body), code, "{body}");
    body
}

/// Check that `resp` is a 302; returns its `Location`.
fn redirect_of(resp: &reqwest::Response) -> Url {
    assert_eq!(resp.status(), StatusCode::FOUND);
    Url::parse(resp.headers()[LOCATION].to_str().unwrap()).unwrap()
}

/// `/security/v1/oauth/validate-client` of the mock at `base`, for `client_id` and `redirect`.
fn validate_client_url(base: &str, client_id: &str, redirect: &str) -> Url {
    let mut u = Url::parse(&format!("{base}/security/v1/oauth/validate-client")).unwrap();
    u.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect);
    u
}

/// A POST of `form` to `url`, with the Basic credentials of `client` (id, secret) if any.
fn form_request(
    http: &reqwest::Client,
    url: &str,
    client: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    let req = http.post(url).form(form);
    match client {
        Some((id, secret)) => req.basic_auth(id, Some(secret)),
        None => req,
    }
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
        let mut url = Url::parse(&self.url("/lasso/signin")).unwrap();
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

    /// The mock's URL of `path`.
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get(&self, url: &str) -> reqwest::Response {
        self.http.get(url).send().await.unwrap()
    }

    /// POST `form` to the mock's `path`, with the Basic credentials of `client` if any.
    async fn post_form(
        &self,
        path: &str,
        client: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        form_request(&self.http, &self.url(path), client, form)
            .send()
            .await
            .unwrap()
    }

    /// POST `body` as JSON to the mock's `path`.
    async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn post_signin(&self, fields: &[(&str, &str)]) -> reqwest::Response {
        self.post_form("/lasso/signin", None, fields).await
    }

    /// Log In screen of sign-in `txn`: Continue as `user`, the agreement checked.
    async fn continue_as(&self, txn: &str, user: &str) -> reqwest::Response {
        self.post_signin(&[
            ("txn", txn),
            ("action", "continue"),
            ("username", user),
            ("agree", "yes"),
        ])
        .await
    }

    /// Password screen of sign-in `txn`: Login with `password`.
    async fn login(&self, txn: &str, password: &str) -> reqwest::Response {
        self.post_signin(&[("txn", txn), ("action", "login"), ("password", password)])
            .await
    }

    /// Cancel on either screen of sign-in `txn`.
    async fn cancel(&self, txn: &str) -> reqwest::Response {
        self.post_signin(&[("txn", txn), ("action", "cancel")])
            .await
    }

    /// Open the Log In screen (200, with a `txn` field); returns the transaction id.
    async fn open(&self, state: &str, challenge: Option<&str>) -> String {
        let (signin, _log_in) = SignIn::open(&self.http, &self.signin_url(state, challenge))
            .await
            .unwrap_or_else(|e| panic!("the Log In screen should open: {e}"));
        signin.txn().to_owned()
    }

    /// Open the Log In screen and Continue as demo, to the Password screen; returns the
    /// transaction id.
    async fn open_password_screen(&self, state: &str) -> String {
        let txn = self.open(state, None).await;
        self.continue_as(&txn, "demo").await;
        txn
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
        // UPS's two documented flows: PKCE (no Basic header; client_id and code_verifier in
        // the body) or Basic without a verifier.
        match verifier {
            Some(v) => {
                form.push(("client_id", DEMO_CLIENT.0));
                form.push(("code_verifier", v));
                self.post_form(TOKEN_PATH, None, &form).await
            }
            None => self.post_form(TOKEN_PATH, Some(DEMO_CLIENT), &form).await,
        }
    }

    async fn tokens(&self) -> Value {
        let code = self.code(None).await;
        let resp = self.exchange(&code, REDIRECT, None).await;
        assert_eq!(resp.status(), StatusCode::OK);
        resp.json().await.unwrap()
    }

    /// A refresh request of demo-client with the refresh token of the token answer `tokens`.
    fn refresh_request(&self, tokens: &Value) -> reqwest::RequestBuilder {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", &s(tokens, "refresh_token")),
        ];
        form_request(
            &self.http,
            &self.url(REFRESH_PATH),
            Some(DEMO_CLIENT),
            &form,
        )
    }

    /// Refresh with the refresh token of the token answer `tokens`.
    async fn refresh(&self, tokens: &Value) -> reqwest::Response {
        self.refresh_request(tokens).send().await.unwrap()
    }

    async fn track(&self, access_token: Option<&str>) -> reqwest::Response {
        let mut req = self
            .http
            .get(self.url("/api/track/v1/details/1Z999AA10123456784"));
        if let Some(t) = access_token {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap()
    }

    async fn set_faults(&self, faults: Value) -> reqwest::Response {
        self.post_json("/mock/faults", &faults).await
    }

    async fn password_change(&self, body: &Value) -> reqwest::Response {
        self.post_json("/mock/password-change", body).await
    }

    async fn stats(&self) -> MockStats {
        self.get(&self.url("/mock/stats"))
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
