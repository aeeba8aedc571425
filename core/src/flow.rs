//! The opt-in flow, split between the host (which holds the PKCE verifier: the BFF pattern of
//! RFC 9700 §2.1.1) and the tab (which holds only a [`ReturnMarker`]).
//!
//! ```text
//!  host: PendingAuthorization::start(config, entropy, now, company, return_to)
//!        │  state (256 bits), PKCE verifier + S256 challenge    RFC 6749 §4.1.1, RFC 7636 §4.1-4.3
//!        ▼
//!   (authorize URL, PendingAuthorization) ── the host stores it (single use, 10 minutes);
//!        │                                    the tab gets the URL and pending.marker()
//!        │  browser returns to redirect_uri?code&state | ?error  RFC 6749 §4.1.2 / §4.1.2.1
//!        ▼
//!  tab:  CallbackParams::parse(url) ──▶ marker.handle_callback(params, now, max_age)
//!        │ ok: state equal (constant time), age < max_age        RFC 9700 §4.7
//!        ▼
//!   ExchangeBody {company, code, state} ──▶ POST {api}/exchange
//!  host: the stored pending for that state (same user, same company)
//!        .handle_callback(params, now, max_age) ──▶ ExchangeRequest (code + verifier)
//!        ──▶ the token endpoint                                  RFC 6749 §4.1.3
//! ```
//!
//! Before validating, a panel asks [`classify_return`] whether the return is its own (several
//! companies' panels can share a tab and a page); see [`ReturnClaim`].

use base64::engine::general_purpose::URL_SAFE_NO_PAD as BASE64_URL_SAFE_NO_PAD;
use base64::Engine as _;
use oauth2::{AuthorizationCode, CsrfToken, PkceCodeVerifier};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use url::{form_urlencoded, Url};

use crate::api::{ConfigResponse, ExchangeBody};
use crate::messages::ErrorCode;
use crate::time::Timestamp;

mod return_url;

pub use return_url::{
    claim_popup_return, classify_return, is_same_page, return_path, OwnReturn, ReturnClaim,
    TabPending,
};

/// Default maximum age of an authorization attempt (10 minutes).
pub const DEFAULT_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(600);
/// Longest accepted value of any callback parameter (bytes).
pub const MAX_PARAM_LEN: usize = 2048;

/// An authorization in progress, kept by the host between Authorize and the exchange.
/// Serializable (the host seals it in its store); single use:
/// [`handle_callback`](Self::handle_callback) consumes it.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingAuthorization {
    /// Company the opt-in is for.
    pub company: String,
    /// Random state sent to the provider (secret; compare in constant time).
    state: CsrfToken,
    /// PKCE verifier (secret), moved into the [`ExchangeRequest`].
    code_verifier: PkceCodeVerifier,
    /// Redirect URI used in the authorize request.
    pub redirect_uri: String,
    /// When Authorize was clicked.
    pub created_at: Timestamp,
    /// Same-origin path to return to after the exchange, if any.
    pub return_to: Option<String>,
    /// OpenID Connect `nonce` sent with the request (when the scope has `openid`): the ID
    /// token must carry it back.
    #[serde(default)]
    pub nonce: Option<String>,
}

/// Why an authorization could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The host's config is unusable (bad authorize URL, empty client id).
    #[error("invalid provider configuration: {0}")]
    Config(String),
    /// `return_to` is not a same-origin path (open-redirect attempt).
    #[error("return_to must be a same-origin path")]
    BadReturnTo,
    /// The company name is empty or too long.
    #[error("invalid company")]
    BadCompany,
}

/// The return from the provider, parsed but not yet trusted. `Debug` redacts `code` and `state`.
pub struct CallbackParams {
    /// `code`, when present.
    pub code: Option<AuthorizationCode>,
    /// `state`, when present.
    pub state: Option<String>,
    /// `error`, when present.
    pub error: Option<String>,
    /// `error_description`, when present (plain text; never render as HTML).
    pub error_description: Option<String>,
    /// RFC 9207 `iss`, when present.
    pub iss: Option<String>,
}

impl std::fmt::Debug for CallbackParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackParams")
            .field("code", &self.code)
            .field("state", &self.state.as_ref().map(|_| "[redacted]"))
            .field("error", &self.error)
            .field("error_description", &self.error_description)
            .field("iss", &self.iss)
            .finish()
    }
}

/// What is wrong with a return. Each maps to a stable [`ErrorCode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallbackError {
    /// Protocol violation: the returned state is not ours (CSRF or a mixed-up tab).
    #[error("state mismatch")]
    StateMismatch,
    /// The attempt is older than allowed.
    #[error("authorization attempt expired after {age_secs}s")]
    Expired {
        /// Age in seconds.
        age_secs: u64,
    },
    /// The user declined at the provider (`error=access_denied`).
    #[error("consent declined")]
    ConsentDeclined,
    /// The provider returned another `error`.
    #[error("provider returned {code}")]
    Provider {
        /// `error`.
        code: String,
        /// `error_description` (plain text).
        description: Option<String>,
    },
    /// Missing, repeated or over-long parameters.
    #[error("malformed callback: {0}")]
    Malformed(&'static str),
}

impl CallbackError {
    /// The stable code for the widget.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            CallbackError::StateMismatch => ErrorCode::StateMismatch,
            CallbackError::Expired { .. } => ErrorCode::ExpiredAttempt,
            CallbackError::ConsentDeclined => ErrorCode::ConsentDeclined,
            CallbackError::Provider { code, .. }
                if code == "temporarily_unavailable" || code == "server_error" =>
            {
                ErrorCode::ProviderUnavailable
            }
            CallbackError::Provider { .. } => ErrorCode::ProviderError,
            CallbackError::Malformed(_) => ErrorCode::MalformedCallback,
        }
    }
}

/// What the tab keeps between Authorize and the return: which company, the `state` it expects
/// back, when, and where to go afterwards. It holds no verifier (that stays on the host), so a
/// script that reads `sessionStorage` learns nothing that redeems a code. Serializable; single
/// use: [`handle_callback`](Self::handle_callback) consumes it.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReturnMarker {
    /// Company the opt-in is for.
    pub company: String,
    /// The state sent to the provider (compare in constant time).
    state: CsrfToken,
    /// When Authorize was clicked.
    pub created_at: Timestamp,
    /// Same-origin path to return to after the exchange, if any.
    pub return_to: Option<String>,
}

impl ReturnMarker {
    /// Has this attempt outlived `max_age` at `now`?
    pub fn is_expired(&self, now: Timestamp, max_age: std::time::Duration) -> bool {
        now.since(self.created_at) > max_age
    }
    /// The state value (to find which marker a return belongs to).
    pub fn state(&self) -> &CsrfToken {
        &self.state
    }
    /// Does `state` equal ours? Constant-time.
    pub fn state_matches(&self, state: &str) -> bool {
        self.state
            .secret()
            .as_bytes()
            .ct_eq(state.as_bytes())
            .into()
    }
    /// Validate the return: ours (state, constant time), not refused by the provider, fresh, with
    /// a code. Gives the `POST /exchange` body.
    pub fn handle_callback(
        self,
        params: CallbackParams,
        now: Timestamp,
        max_age: std::time::Duration,
    ) -> Result<ExchangeBody, CallbackError> {
        // 1. Is this return ours? Only with our state: an error without one is not taken as
        //    this attempt's answer (a forged `?error=…` must not end the admin's attempt).
        match params.state.as_deref() {
            Some(state) if !self.state_matches(state) => return Err(CallbackError::StateMismatch),
            None => return Err(CallbackError::Malformed("state is missing")),
            _ => {}
        }
        // 2. Did the provider refuse? (RFC 6749 §4.1.2.1)
        if let Some(error) = params.error {
            return Err(if error == "access_denied" {
                CallbackError::ConsentDeclined
            } else {
                CallbackError::Provider {
                    code: error,
                    description: params.error_description,
                }
            });
        }
        // 3. Is the attempt still fresh?
        if self.is_expired(now, max_age) {
            return Err(CallbackError::Expired {
                age_secs: now.since(self.created_at).as_secs(),
            });
        }
        // 4. Is there a code to redeem?
        let code = match params.code {
            Some(code) if !code.secret().is_empty() => code,
            Some(_) => return Err(CallbackError::Malformed("code is empty")),
            None => return Err(CallbackError::Malformed("code is missing")),
        };
        Ok(ExchangeBody {
            company: self.company,
            code: code.into_secret(),
            state: self.state.into_secret(),
            iss: params.iss,
        })
    }
}

/// What the host needs to redeem the code. The verifier moved here from the pending state.
#[derive(Debug)]
pub struct ExchangeRequest {
    /// Company.
    pub company: String,
    /// Authorization code (secret).
    pub code: AuthorizationCode,
    /// PKCE verifier (secret).
    pub code_verifier: PkceCodeVerifier,
    /// Redirect URI of the authorize request.
    pub redirect_uri: String,
    /// Where to go afterwards.
    pub return_to: Option<String>,
    /// The `nonce` the ID token must carry, when one was sent.
    pub nonce: Option<String>,
}

impl PendingAuthorization {
    /// Start: derive state (first 32 bytes) and PKCE verifier (last 32 bytes) from `entropy`,
    /// build the authorize URL (`response_type=code`, `client_id`, `redirect_uri`, `scope`,
    /// `state`, extra params, and `code_challenge` + `code_challenge_method=S256` when PKCE is on).
    pub fn start(
        config: &ConfigResponse,
        entropy: &[u8; 64],
        now: Timestamp,
        company: &str,
        return_to: Option<&str>,
    ) -> Result<(Url, PendingAuthorization), StartError> {
        let company = company.trim();
        if company.is_empty()
            || company.len() > MAX_COMPANY_LEN
            || company.chars().any(char::is_control)
        {
            return Err(StartError::BadCompany);
        }
        if let Some(r) = return_to {
            if !is_safe_return_to(r) {
                return Err(StartError::BadReturnTo);
            }
        }
        let mut url = Url::parse(&config.authorize_url)
            .map_err(|_| StartError::Config("authorize_url is not an absolute URL".into()))?;
        if !matches!(url.scheme(), "https" | "http") || url.cannot_be_a_base() {
            return Err(StartError::Config(
                "authorize_url must be an http(s) URL".into(),
            ));
        }
        url.set_fragment(None);
        if config.client_id.trim().is_empty() {
            return Err(StartError::Config("client_id is missing".into()));
        }
        let redirect = Url::parse(&config.redirect_uri)
            .map_err(|_| StartError::Config("redirect_uri is not an absolute URL".into()))?;
        if redirect.fragment().is_some() {
            return Err(StartError::Config(
                "redirect_uri must not carry a fragment".into(),
            ));
        }

        // RFC 6749 §10.10 / RFC 9700 §4.7: state is 256 bits of entropy; RFC 7636 §4.1: the
        // verifier is base64url of 32 octets (43 characters, all unreserved).
        let (state_bytes, verifier_bytes) = entropy.split_at(32);
        let state = CsrfToken::new(BASE64_URL_SAFE_NO_PAD.encode(state_bytes));
        let code_verifier = PkceCodeVerifier::new(BASE64_URL_SAFE_NO_PAD.encode(verifier_bytes));
        // OpenID Connect Core §3.1.2.1: a nonce binds the ID token to this request (some servers
        // refuse `openid` without one). Derived from the secret verifier, so it is as
        // unguessable, and never equal to the challenge (another input).
        let openid = config.scope.split_whitespace().any(|s| s == "openid");
        let nonce = openid.then(|| code_challenge(&format!("nonce.{}", code_verifier.secret())));

        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &config.client_id);
            q.append_pair("redirect_uri", &config.redirect_uri);
            q.append_pair("response_type", "code");
            if !config.scope.trim().is_empty() {
                q.append_pair("scope", config.scope.trim());
            }
            for (k, v) in &config.extra_params {
                if !RESERVED_AUTHORIZE_PARAMS.contains(&k.as_str()) {
                    q.append_pair(k, v);
                }
            }
            q.append_pair("state", state.secret());
            if let Some(n) = &nonce {
                q.append_pair("nonce", n);
            }
            if config.pkce {
                q.append_pair("code_challenge", &code_challenge(code_verifier.secret()));
                if config.challenge_method {
                    q.append_pair("code_challenge_method", "S256");
                }
            }
        }
        let pending = PendingAuthorization {
            company: company.to_owned(),
            state,
            code_verifier,
            redirect_uri: config.redirect_uri.clone(),
            created_at: now,
            return_to: return_to.map(str::to_owned),
            nonce,
        };
        Ok((url, pending))
    }
    /// What the tab keeps: everything but the verifier.
    pub fn marker(&self) -> ReturnMarker {
        ReturnMarker {
            company: self.company.clone(),
            state: self.state.clone(),
            created_at: self.created_at,
            return_to: self.return_to.clone(),
        }
    }
    /// The state value (the host's key for finding this pending authorization).
    pub fn state(&self) -> &CsrfToken {
        &self.state
    }
    /// Has this attempt outlived `max_age` at `now`?
    pub fn is_expired(&self, now: Timestamp, max_age: std::time::Duration) -> bool {
        now.since(self.created_at) > max_age
    }
    /// Validate the return exactly as [`ReturnMarker::handle_callback`] does and move the
    /// verifier into an [`ExchangeRequest`].
    pub fn handle_callback(
        self,
        params: CallbackParams,
        now: Timestamp,
        max_age: std::time::Duration,
    ) -> Result<ExchangeRequest, CallbackError> {
        let body = self.marker().handle_callback(params, now, max_age)?;
        Ok(ExchangeRequest {
            company: self.company,
            code: AuthorizationCode::new(body.code),
            code_verifier: self.code_verifier,
            redirect_uri: self.redirect_uri,
            return_to: self.return_to,
            nonce: self.nonce,
        })
    }
}

impl CallbackParams {
    /// Parse a full URL or a query string (`?a=b` or `a=b`). `Ok(None)` when it carries none
    /// of `code`, `state`, `error` (not a return). Repeated or over-long parameters are errors.
    pub fn parse(url_or_query: &str) -> Result<Option<CallbackParams>, CallbackError> {
        if url_or_query.len() > MAX_CALLBACK_LEN {
            return Err(CallbackError::Malformed("the return URL is too long"));
        }
        let query = query_of(url_or_query);
        let mut params = CallbackParams {
            code: None,
            state: None,
            error: None,
            error_description: None,
            iss: None,
        };
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let (slot, repeated, too_long): (&mut Option<String>, _, _) = match key.as_ref() {
                "state" => (&mut params.state, "state is repeated", "state is too long"),
                "error" => (&mut params.error, "error is repeated", "error is too long"),
                "iss" => (&mut params.iss, "iss is repeated", "iss is too long"),
                "error_description" => (
                    &mut params.error_description,
                    "error_description is repeated",
                    "error_description is too long",
                ),
                "code" => {
                    if params.code.is_some() {
                        return Err(CallbackError::Malformed("code is repeated"));
                    }
                    if value.len() > MAX_PARAM_LEN {
                        return Err(CallbackError::Malformed("code is too long"));
                    }
                    params.code = Some(AuthorizationCode::new(value.into_owned()));
                    continue;
                }
                _ => continue,
            };
            if slot.is_some() {
                return Err(CallbackError::Malformed(repeated));
            }
            if value.len() > MAX_PARAM_LEN {
                return Err(CallbackError::Malformed(too_long));
            }
            *slot = Some(value.into_owned());
        }
        if params.code.is_none() && params.state.is_none() && params.error.is_none() {
            return Ok(None);
        }
        Ok(Some(params))
    }
}

/// `url` without the OAuth return parameters (`code`, `state`, `error`, `error_description`,
/// `error_uri`, `iss`, `scope`), for `history.replaceState`. Other parameters and the fragment stay.
pub fn strip_callback_params(url: &str) -> String {
    let (before_fragment, fragment) = match url.find('#') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let Some(q) = before_fragment.find('?') else {
        return url.to_owned();
    };
    let (base, query) = (&before_fragment[..q], &before_fragment[q + 1..]);
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty() && !is_callback_pair(pair))
        .collect();
    let mut out = String::with_capacity(url.len());
    out.push_str(base);
    if !kept.is_empty() {
        out.push('?');
        out.push_str(&kept.join("&"));
    }
    out.push_str(fragment);
    out
}

/// Is this `key=value` pair of a query one of the OAuth return parameters ([`CALLBACK_PARAMS`])?
fn is_callback_pair(pair: &str) -> bool {
    let key = form_urlencoded::parse(pair.as_bytes())
        .next()
        .map(|(k, _)| k.into_owned())
        .unwrap_or_default();
    CALLBACK_PARAMS.contains(&key.as_str())
}

/// Is `return_to` a same-origin path (`/x`, not `//host`, not `/\host`, no scheme)?
pub fn is_safe_return_to(return_to: &str) -> bool {
    let bytes = return_to.as_bytes();
    if return_to.len() > MAX_PARAM_LEN || bytes.first() != Some(&b'/') {
        return false;
    }
    // `//host` and `/\host` are network-path references to browsers; controls (tab, CR, LF)
    // are stripped by URL parsers, so `/\t/host` would become `//host`.
    if matches!(bytes.get(1), Some(b'/' | b'\\'))
        || return_to.chars().any(|c| c == '\\' || c.is_control())
    {
        return false;
    }
    // Belt and braces: resolving it against an origin must stay on that origin.
    let origin = Url::parse("https://origin.invalid/").expect("static URL parses");
    origin
        .join(return_to)
        .is_ok_and(|u| u.origin() == origin.origin())
}

/// Parameters removed by [`strip_callback_params`].
const CALLBACK_PARAMS: &[&str] = &[
    "code",
    "state",
    "error",
    "error_description",
    "error_uri",
    "iss",
    "scope",
];
/// Authorize-URL parameters core sets itself; `extra_params` cannot override them.
const RESERVED_AUTHORIZE_PARAMS: &[&str] = &[
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
];
/// Longest accepted company name (bytes).
pub const MAX_COMPANY_LEN: usize = 256;
/// Longest accepted return URL or query (bytes): a few maximal parameters plus the rest.
pub const MAX_CALLBACK_LEN: usize = 8 * MAX_PARAM_LEN;

/// The query part of a full URL, `?query` or a bare query; the fragment is dropped.
fn query_of(input: &str) -> &str {
    let input = input.split('#').next().unwrap_or_default();
    if let Some(i) = input.find('?') {
        return &input[i + 1..];
    }
    // A URL without a query (`https://host/path`) carries no parameters.
    if input.contains("://") || input.starts_with('/') {
        return "";
    }
    input
}

/// RFC 7636 §4.2 S256: `BASE64URL(SHA256(ASCII(code_verifier)))`, 43 characters.
pub fn code_challenge(code_verifier: &str) -> String {
    pkce::code_challenge(code_verifier.as_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::BTreeMap;

    use super::*;

    /// A UPS-like provider whose redirect URI is `https://portal.example/admin/token-manager`
    /// (also the fixture of `return_url`'s tests).
    pub(super) fn config() -> ConfigResponse {
        ConfigResponse {
            provider: "ups".into(),
            provider_name: "UPS.com".into(),
            authorize_url: "https://www.ups.com/lasso/signin".into(),
            client_id: "client-1".into(),
            redirect_uri: "https://portal.example/admin/token-manager".into(),
            scope: "read".into(),
            pkce: true,
            challenge_method: true,
            extra_params: BTreeMap::from([("type".into(), "ups_com_api".into())]),
        }
    }

    fn entropy() -> [u8; 64] {
        let mut e = [0u8; 64];
        for (i, b) in e.iter_mut().enumerate() {
            *b = u8::try_from(i).unwrap();
        }
        e
    }

    fn start() -> (Url, PendingAuthorization) {
        PendingAuthorization::start(
            &config(),
            &entropy(),
            Timestamp(1_000),
            "Demonstration Co",
            Some("/admin"),
        )
        .unwrap()
    }

    fn query(url: &Url) -> BTreeMap<String, String> {
        url.query_pairs().into_owned().collect()
    }

    /// RFC 7636 Appendix B. (The vector as quoted in the team brief —
    /// `dBjftJeZ4CVP-mJ0kzAgXXcL9DP5ZVEIm7n5tbQnnwM` → `E9Melhoa2OwvFgYa0PWMo0uuFn8wNYhYcWcNFCvkXkM` —
    /// is not the RFC's and is not a valid S256 pair; the RFC's pair is below.)
    #[test]
    fn rfc7636_appendix_b() {
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        // Appendix B's octets give Appendix B's verifier through our encoding.
        let octets = [
            116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212,
            37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
        ];
        let mut e = [0u8; 64];
        e[32..].copy_from_slice(&octets);
        let (url, pending) =
            PendingAuthorization::start(&config(), &e, Timestamp(0), "c", None).unwrap();
        assert_eq!(
            pending.code_verifier.secret(),
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        );
        assert_eq!(
            query(&url)["code_challenge"],
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn authorize_url_carries_everything() {
        let (url, pending) = start();
        let q = query(&url);
        assert_eq!(
            url.as_str().split('?').next().unwrap(),
            "https://www.ups.com/lasso/signin"
        );
        assert_eq!(q["client_id"], "client-1");
        assert_eq!(
            q["redirect_uri"],
            "https://portal.example/admin/token-manager"
        );
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["scope"], "read");
        assert_eq!(q["type"], "ups_com_api");
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(&q["state"], pending.state().secret());
        assert_eq!(pending.state().secret().len(), 43);
        assert_eq!(pending.code_verifier.secret().len(), 43);
        assert_eq!(
            q["code_challenge"],
            code_challenge(pending.code_verifier.secret())
        );
        assert_eq!(pending.created_at, Timestamp(1_000));
        assert_eq!(pending.return_to.as_deref(), Some("/admin"));
    }

    #[test]
    fn start_rejects_bad_input() {
        let c = config();
        let e = entropy();
        let now = Timestamp(0);
        assert_eq!(
            PendingAuthorization::start(&c, &e, now, " ", None).unwrap_err(),
            StartError::BadCompany
        );
        assert_eq!(
            PendingAuthorization::start(&c, &e, now, "c", Some("//evil.example")).unwrap_err(),
            StartError::BadReturnTo
        );
        let bad = ConfigResponse {
            authorize_url: "/relative".into(),
            ..config()
        };
        assert!(matches!(
            PendingAuthorization::start(&bad, &e, now, "c", None),
            Err(StartError::Config(_))
        ));
        let bad = ConfigResponse {
            client_id: String::new(),
            ..config()
        };
        assert!(matches!(
            PendingAuthorization::start(&bad, &e, now, "c", None),
            Err(StartError::Config(_))
        ));
    }

    #[test]
    fn happy_return() {
        let (_, pending) = start();
        let state = pending.state().secret().clone();
        let params = CallbackParams::parse(&format!(
            "https://portal.example/admin/token-manager?code=abc&state={state}"
        ))
        .unwrap()
        .unwrap();
        // The tab: its marker validates the return into the exchange body (no verifier).
        let marker = pending.marker();
        let body = marker
            .handle_callback(
                CallbackParams::parse(&format!("code=abc&state={state}"))
                    .unwrap()
                    .unwrap(),
                Timestamp(2_000),
                DEFAULT_MAX_AGE,
            )
            .unwrap();
        assert_eq!(body.code, "abc");
        assert_eq!(body.company, "Demonstration Co");
        assert_eq!(body.state, state);
        // The host: the pending authorization validates the same return into the request that
        // carries the verifier.
        let ex = pending
            .handle_callback(params, Timestamp(2_000), DEFAULT_MAX_AGE)
            .unwrap();
        assert_eq!(ex.code.secret(), "abc");
        assert_eq!(ex.return_to.as_deref(), Some("/admin"));
        assert_eq!(ex.company, "Demonstration Co");
        assert_eq!(ex.code_verifier.secret().len(), 43);
    }

    #[test]
    fn openid_requests_carry_a_nonce_bound_to_the_pending_authorization() {
        let mut c = config();
        let e = [7u8; 64];
        let (url, p) = PendingAuthorization::start(&c, &e, Timestamp(0), "c", None).unwrap();
        assert!(p.nonce.is_none() && !url.query_pairs().any(|(k, _)| k == "nonce"));
        c.scope = "openid offline_access".into();
        let (url, p) = PendingAuthorization::start(&c, &e, Timestamp(0), "c", None).unwrap();
        let sent: String = url
            .query_pairs()
            .find(|(k, _)| k == "nonce")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        assert_eq!(p.nonce.as_deref(), Some(sent.as_str()));
        assert_eq!(sent.len(), 43);
        let challenge: String = url
            .query_pairs()
            .find(|(k, _)| k == "code_challenge")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        assert_ne!(sent, challenge);
        // Other entropy, another nonce; and it survives the host's storage.
        let (_, q) = PendingAuthorization::start(&c, &[8u8; 64], Timestamp(0), "c", None).unwrap();
        assert_ne!(q.nonce, p.nonce);
        let back: PendingAuthorization =
            serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back.nonce, p.nonce);
        // `extra_params` cannot set it.
        c.extra_params.insert("nonce".into(), "chosen".into());
        let (url, _) = PendingAuthorization::start(&c, &e, Timestamp(0), "c", None).unwrap();
        assert_eq!(url.query_pairs().filter(|(k, _)| k == "nonce").count(), 1);
    }

    #[test]
    fn callback_errors() {
        let cb = |q: &str| CallbackParams::parse(q).unwrap().unwrap();
        let (_, p) = start();
        let s = p.state().secret().clone();
        assert_eq!(
            p.handle_callback(cb("code=a&state=nope"), Timestamp(0), DEFAULT_MAX_AGE)
                .unwrap_err(),
            CallbackError::StateMismatch
        );
        let (_, p) = start();
        assert_eq!(
            p.handle_callback(
                cb(&format!("error=access_denied&state={s}")),
                Timestamp(0),
                DEFAULT_MAX_AGE
            )
            .unwrap_err(),
            CallbackError::ConsentDeclined
        );
        // An error return without our state is not this attempt's answer.
        let (_, p) = start();
        assert_eq!(
            p.handle_callback(
                cb("error=server_error&error_description=down"),
                Timestamp(0),
                DEFAULT_MAX_AGE,
            )
            .unwrap_err(),
            CallbackError::Malformed("state is missing")
        );
        let (_, p) = start();
        let state = p.state().secret().clone();
        let e = p
            .handle_callback(
                cb(&format!(
                    "error=server_error&error_description=down&state={state}"
                )),
                Timestamp(0),
                DEFAULT_MAX_AGE,
            )
            .unwrap_err();
        assert_eq!(
            e,
            CallbackError::Provider {
                code: "server_error".into(),
                description: Some("down".into())
            }
        );
        assert_eq!(e.error_code(), ErrorCode::ProviderUnavailable);
        let (_, p) = start();
        let late = Timestamp(1_000 + 601_000);
        assert_eq!(
            p.handle_callback(cb(&format!("code=a&state={s}")), late, DEFAULT_MAX_AGE)
                .unwrap_err(),
            CallbackError::Expired { age_secs: 601 }
        );
        let (_, p) = start();
        assert_eq!(
            p.handle_callback(cb(&format!("state={s}")), Timestamp(0), DEFAULT_MAX_AGE)
                .unwrap_err(),
            CallbackError::Malformed("code is missing")
        );
        let (_, p) = start();
        assert_eq!(
            p.handle_callback(cb("code=a"), Timestamp(0), DEFAULT_MAX_AGE)
                .unwrap_err(),
            CallbackError::Malformed("state is missing")
        );
    }

    #[test]
    fn parse_rejects_repeats_and_long_values() {
        assert!(CallbackParams::parse("https://h/cb").unwrap().is_none());
        assert!(CallbackParams::parse("?foo=1").unwrap().is_none());
        assert!(CallbackParams::parse("").unwrap().is_none());
        assert_eq!(
            CallbackParams::parse("code=a&code=b").unwrap_err(),
            CallbackError::Malformed("code is repeated")
        );
        assert_eq!(
            CallbackParams::parse("state=a&state=b").unwrap_err(),
            CallbackError::Malformed("state is repeated")
        );
        assert_eq!(
            CallbackParams::parse("error=a&error=b").unwrap_err(),
            CallbackError::Malformed("error is repeated")
        );
        let long = "x".repeat(MAX_PARAM_LEN + 1);
        assert_eq!(
            CallbackParams::parse(&format!("code={long}")).unwrap_err(),
            CallbackError::Malformed("code is too long")
        );
        let ok = "x".repeat(MAX_PARAM_LEN);
        assert!(CallbackParams::parse(&format!("code={ok}"))
            .unwrap()
            .is_some());
        let p = CallbackParams::parse("?code=a%2Bb&state=s+t#frag")
            .unwrap()
            .unwrap();
        assert_eq!(p.code.unwrap().secret(), "a+b");
        assert_eq!(p.state.as_deref(), Some("s t"));
    }

    #[test]
    fn strip_keeps_the_rest() {
        assert_eq!(
            strip_callback_params("https://h/p?code=a&state=b"),
            "https://h/p"
        );
        assert_eq!(
            strip_callback_params("https://h/p?x=1&code=a&state=b&y=%20#f"),
            "https://h/p?x=1&y=%20#f"
        );
        assert_eq!(
            strip_callback_params("/p?error=access_denied&error_description=no&iss=x&scope=read"),
            "/p"
        );
        assert_eq!(
            strip_callback_params("https://h/p#code=a"),
            "https://h/p#code=a"
        );
        assert_eq!(strip_callback_params("https://h/p"), "https://h/p");
    }

    #[test]
    fn safe_return_to() {
        for ok in ["/", "/admin", "/admin/token-manager?x=1#y", "/a//b"] {
            assert!(is_safe_return_to(ok), "{ok}");
        }
        for bad in [
            "",
            "admin",
            "//evil",
            "/\\evil",
            "/\t/evil",
            "https://evil",
            "javascript:alert(1)",
            "/a\\b",
            "/\n/evil",
        ] {
            assert!(!is_safe_return_to(bad), "{bad:?}");
        }
    }

    #[test]
    fn secrets_are_redacted_and_serde_round_trips() {
        let (_, p) = start();
        let dbg = format!("{p:?}");
        assert!(!dbg.contains(p.state().secret().as_str()));
        assert!(dbg.contains("[redacted]"));
        let json = serde_json::to_string(&p).unwrap();
        let back: PendingAuthorization = serde_json::from_str(&json).unwrap();
        assert_eq!(back.state().secret(), p.state().secret());
        assert_eq!(back.code_verifier.secret(), p.code_verifier.secret());
        // The marker: no verifier in it, its state redacted, and it round-trips too.
        let marker = p.marker();
        let json = serde_json::to_string(&marker).unwrap();
        assert!(!json.contains(p.code_verifier.secret().as_str()));
        assert!(!format!("{marker:?}").contains(p.state().secret().as_str()));
        let back: ReturnMarker = serde_json::from_str(&json).unwrap();
        assert!(back.state_matches(p.state().secret()));
        assert_eq!(back.company, p.company);
    }
}
