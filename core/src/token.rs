//! Token endpoint responses (UPS and RFC 6749) → [`TokenGrant`] or [`ProviderError`].

use oauth2::{AccessToken, RefreshToken};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::messages::ErrorCode;
use crate::time::Timestamp;

/// Access-token lifetime assumed when a provider omits `expires_in` (RFC 6749 makes it optional).
pub const DEFAULT_ACCESS_LIFETIME: std::time::Duration = std::time::Duration::from_secs(3600);

/// A successful token response, mapped. Secrets are redacting newtypes.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    /// The access token (secret).
    pub access_token: AccessToken,
    /// The refresh token (secret), if issued.
    pub refresh_token: Option<RefreshToken>,
    /// Usually `Bearer`.
    pub token_type: String,
    /// Granted scope, if stated.
    pub scope: Option<String>,
    /// Issue time of the access token (provider's `issued_at`, else `now`).
    pub token_created: Timestamp,
    /// Expiry of the access token.
    pub token_expires: Timestamp,
    /// Issue time of the refresh token.
    pub refresh_created: Option<Timestamp>,
    /// Expiry of the refresh token (`None` when the provider does not say).
    pub refresh_expires: Option<Timestamp>,
    /// The OpenID Connect ID token, when the answer carried one (see [`check_id_token`]).
    pub id_token: Option<IdToken>,
}

/// An OpenID Connect ID token (a JWT; it names the user, so it is redacted like a secret).
#[derive(Clone)]
pub struct IdToken(String);

impl IdToken {
    /// Wrap a token.
    pub fn new(token: String) -> Self {
        Self(token)
    }
    /// The token itself.
    pub fn secret(&self) -> &String {
        &self.0
    }
}

impl std::fmt::Debug for IdToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdToken([redacted])")
    }
}

/// What an ID token must say (OpenID Connect Core §3.1.3.7), checked by [`check_id_token`].
#[derive(Debug, Clone)]
pub struct IdTokenExpectations<'a> {
    /// The `nonce` sent with the authorization request.
    pub nonce: &'a str,
    /// Our client id (`aud` must contain it).
    pub client_id: &'a str,
    /// The issuer, when known (`iss` must equal it).
    pub issuer: Option<&'a str>,
}

/// Check an ID token received straight from the token endpoint over TLS: its claims, not its
/// signature (OpenID Connect Core §3.1.3.7 item 6 lets TLS server validation stand in for the
/// signature in this flow). The `nonce` must be ours (constant time), `aud` must contain our
/// client id, `iss` the issuer when known, and `exp` must not have passed.
pub fn check_id_token(
    token: &IdToken,
    expected: &IdTokenExpectations<'_>,
    now: Timestamp,
) -> Result<(), ProviderError> {
    use base64::Engine as _;
    use subtle::ConstantTimeEq;
    let bad = |why: &str| ProviderError {
        kind: ProviderErrorKind::Other,
        status: None,
        code: "id_token_invalid".into(),
        message: format!("the ID token was refused: {why}"),
    };
    let mut parts = token.secret().split('.');
    let (Some(_header), Some(payload), Some(_sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("not a JWT"));
    };
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| bad("its payload is not base64url"))?;
    let claims: Value =
        serde_json::from_slice(&json).map_err(|_| bad("its payload is not JSON"))?;
    let nonce = claims
        .get("nonce")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !bool::from(nonce.as_bytes().ct_eq(expected.nonce.as_bytes())) {
        return Err(bad("its nonce is not the one this sign-in sent"));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == expected.client_id,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(expected.client_id)),
        _ => false,
    };
    if !aud_ok {
        return Err(bad("it is not for this client (aud)"));
    }
    if let Some(issuer) = expected.issuer {
        if claims.get("iss").and_then(Value::as_str) != Some(issuer) {
            return Err(bad("it is from another issuer (iss)"));
        }
    }
    match claims.get("exp").and_then(Value::as_i64) {
        Some(exp) if exp.saturating_mul(1000) > now.0 => Ok(()),
        Some(_) => Err(bad("it has expired (exp)")),
        None => Err(bad("it has no expiry (exp)")),
    }
}

impl TokenGrant {
    /// The timestamps only (what a history record holds).
    pub fn times(&self) -> GrantTimes {
        GrantTimes {
            token_created: self.token_created,
            token_expires: self.token_expires,
            refresh_created: self.refresh_created,
            refresh_expires: self.refresh_expires,
        }
    }
}

/// Timestamps of a grant, without secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantTimes {
    /// Access token issued.
    pub token_created: Timestamp,
    /// Access token expires.
    pub token_expires: Timestamp,
    /// Refresh token issued.
    pub refresh_created: Option<Timestamp>,
    /// Refresh token expires.
    pub refresh_expires: Option<Timestamp>,
}

impl GrantTimes {
    /// The times of the authorization after a refresh whose answer has the times `answer`.
    ///
    /// RFC 6749 §6 lets a server keep the refresh token and leave `refresh_token` out of the
    /// answer. Then the refresh token is still the one issued before, and so are its times: they
    /// are kept from `previous` (an answer without a refresh token has no refresh times, see
    /// [`TokenGrant::refresh_created`]). An answer with a new refresh token brings its own
    /// times, including an unknown expiry when it states none.
    pub fn after_refresh(previous: &GrantTimes, answer: &GrantTimes) -> GrantTimes {
        if answer.refresh_created.is_some() {
            *answer
        } else {
            GrantTimes {
                refresh_created: previous.refresh_created,
                refresh_expires: previous.refresh_expires,
                ..*answer
            }
        }
    }
}

/// Who is at fault in a provider failure, and what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ProviderErrorKind {
    /// `invalid_grant`: code used/expired, refresh token revoked (UPS: password changed).
    InvalidGrant,
    /// `invalid_client`/`unauthorized_client`: our credentials are wrong.
    InvalidClient,
    /// 5xx, 429, timeouts: retry later.
    Temporary,
    /// The answer could not be parsed.
    Malformed,
    /// Any other provider error.
    Other,
}

/// A provider failure: kind, HTTP status, the provider's own code and description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("provider error {code} ({kind:?}): {message}")]
pub struct ProviderError {
    /// Classification.
    pub kind: ProviderErrorKind,
    /// HTTP status, when there was an answer.
    pub status: Option<u16>,
    /// Provider's code (`invalid_grant`, UPS numeric codes such as `10401`, …).
    pub code: String,
    /// Provider's description (plain text; never rendered as HTML).
    pub message: String,
}

impl ProviderError {
    /// A transport failure (timeout, connection refused) — always [`ProviderErrorKind::Temporary`].
    pub fn transport(message: impl Into<String>) -> Self {
        Self {
            kind: ProviderErrorKind::Temporary,
            status: None,
            code: "unavailable".into(),
            message: message.into(),
        }
    }
    /// The stable code for the widget.
    pub fn error_code(&self) -> ErrorCode {
        match self.kind {
            ProviderErrorKind::InvalidGrant => ErrorCode::InvalidGrant,
            ProviderErrorKind::InvalidClient => ErrorCode::InvalidClient,
            ProviderErrorKind::Temporary => ErrorCode::ProviderUnavailable,
            ProviderErrorKind::Malformed => ErrorCode::ProviderMalformed,
            ProviderErrorKind::Other => ErrorCode::ProviderError,
        }
    }
    /// A 2xx answer that could not be understood (kind [`ProviderErrorKind::Malformed`]).
    pub fn malformed(status: Option<u16>, message: impl Into<String>) -> Self {
        Self {
            kind: ProviderErrorKind::Malformed,
            status,
            code: "malformed_response".into(),
            message: message.into(),
        }
    }
    /// Is a later retry of the same request likely to succeed?
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.kind,
            ProviderErrorKind::Temporary | ProviderErrorKind::Malformed
        )
    }
}

/// Longest provider code / description kept from an error body (bytes); longer text is cut at a
/// character boundary so logs and error bodies stay bounded.
pub const MAX_ERROR_TEXT: usize = 512;

/// Which endpoint answered: errors are classified by it (UPS's `10400` means a dead refresh
/// token at `/refresh` only when its message says so, an unusable code at `/token`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// The authorize (or UPS validate-client) step.
    Authorize,
    /// The code exchange.
    Token,
    /// A refresh.
    Refresh,
    /// RFC 7009 revocation.
    Revoke,
    /// Unknown: the rules of every endpoint apply.
    Any,
}

/// Map a token-endpoint answer (status + body) at `now`. 2xx bodies are parsed as UPS
/// (numbers as strings, ms `issued_at`) or RFC 6749 JSON; anything else through
/// [`parse_error_response`]. Never panics.
pub fn parse_token_response(
    status: u16,
    body: &[u8],
    now: Timestamp,
) -> Result<TokenGrant, ProviderError> {
    parse_token_response_at(Endpoint::Any, status, body, now)
}

/// [`parse_token_response`] for an answer of `endpoint` (errors classified by it).
pub fn parse_token_response_at(
    endpoint: Endpoint,
    status: u16,
    body: &[u8],
    now: Timestamp,
) -> Result<TokenGrant, ProviderError> {
    if !(200..300).contains(&status) {
        return Err(parse_error_response_at(endpoint, status, body));
    }
    let malformed = |why: &str| ProviderError::malformed(Some(status), why);
    let value: Value =
        serde_json::from_slice(body).map_err(|_| malformed("token response is not JSON"))?;
    let Some(obj) = value.as_object() else {
        return Err(malformed("token response is not a JSON object"));
    };
    // Some servers answer 200 with an error body; treat it as the error it is.
    if obj.contains_key("error")
        || obj
            .get("response")
            .is_some_and(|r| r.get("errors").is_some())
    {
        return Err(parse_error_response_at(endpoint, status, body));
    }
    let access = match obj.get("access_token") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        Some(_) => return Err(malformed("access_token is not a non-empty string")),
        None => return Err(malformed("access_token is missing")),
    };
    let token_type = match obj.get("token_type") {
        None | Some(Value::Null) => "Bearer".to_owned(),
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        Some(_) => return Err(malformed("token_type is not a string")),
    };
    let refresh = match obj.get("refresh_token") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(malformed("refresh_token is not a string")),
    };
    let id_token = match obj.get("id_token") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(IdToken::new(s.clone())),
        Some(_) => return Err(malformed("id_token is not a string")),
    };
    let scope = match obj.get("scope") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err(malformed("scope is not a string")),
    };
    let expires_in = uint_field(obj, "expires_in").map_err(malformed)?;
    let issued_at = uint_field(obj, "issued_at").map_err(malformed)?;
    let refresh_issued_at = uint_field(obj, "refresh_token_issued_at").map_err(malformed)?;
    // UPS and most servers say `refresh_token_expires_in`; Keycloak says `refresh_expires_in`.
    let refresh_expires_in = match uint_field(obj, "refresh_token_expires_in").map_err(malformed)? {
        Some(v) => Some(v),
        None => uint_field(obj, "refresh_expires_in").map_err(malformed)?,
    };

    // UPS states an approval status; a 200 that says anything else granted nothing usable.
    for field in ["status", "refresh_token_status"] {
        match obj.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.trim().eq_ignore_ascii_case("approved") => {}
            Some(other) => {
                return Err(ProviderError {
                    kind: ProviderErrorKind::Other,
                    status: Some(status),
                    code: format!("{field}_not_approved"),
                    message: bounded(format!(
                        "the provider answered {field} {} instead of approved",
                        match other {
                            Value::String(s) => s.clone(),
                            v => v.to_string(),
                        }
                    )),
                });
            }
        }
    }
    // Lifetimes count from when the answer arrived (`now`), whatever the provider's clock says,
    // so a provider clock behind or ahead of ours cannot make the refresher late or early. The
    // provider's own `issued_at` is what the grid shows as "created" (never later than the
    // arrival: a provider clock ahead of ours would otherwise date a token in the future).
    let token_created = issued_at.map_or(now, millis).min(now);
    let lifetime = expires_in.map_or(DEFAULT_ACCESS_LIFETIME, std::time::Duration::from_secs);
    let token_expires = now.add(lifetime);
    let (refresh_created, refresh_expires) = if refresh.is_some() {
        let created = refresh_issued_at.map_or(token_created, millis).min(now);
        // `refresh_expires_in: 0` means "no fixed expiry" for some servers (Keycloak offline tokens).
        let expires = refresh_expires_in
            .filter(|&s| s > 0)
            .map(|s| now.add(std::time::Duration::from_secs(s)));
        (Some(created), expires)
    } else {
        (None, None)
    };
    Ok(TokenGrant {
        access_token: AccessToken::new(access),
        refresh_token: refresh.map(RefreshToken::new),
        token_type,
        scope,
        token_created,
        token_expires,
        refresh_created,
        refresh_expires,
        id_token,
    })
}

/// A timestamp from a provider's millisecond value (saturating at `i64::MAX`).
fn millis(ms: u64) -> Timestamp {
    Timestamp(i64::try_from(ms).unwrap_or(i64::MAX))
}

/// A non-negative integer field sent as a JSON number or a decimal string (UPS). `Ok(None)`
/// when absent, null or an empty string; `Err` when present but not a non-negative integer.
fn uint_field(obj: &Map<String, Value>, name: &'static str) -> Result<Option<u64>, &'static str> {
    match obj.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            if let Some(v) = n.as_u64() {
                Ok(Some(v))
            } else {
                match n.as_f64() {
                    // Integral floats such as `3600.0`; the cast is exact below 2^53 and
                    // saturating above.
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    Some(f) if f.is_finite() && f >= 0.0 && f.fract() == 0.0 => Ok(Some(f as u64)),
                    _ => Err(bad_number(name)),
                }
            }
        }
        Some(Value::String(s)) => {
            let t = s.trim();
            if t.is_empty() {
                Ok(None)
            } else {
                t.parse::<u64>().map(Some).map_err(|_| bad_number(name))
            }
        }
        Some(_) => Err(bad_number(name)),
    }
}

fn bad_number(name: &'static str) -> &'static str {
    match name {
        "expires_in" => "expires_in is not a non-negative integer",
        "issued_at" => "issued_at is not a millisecond timestamp",
        "refresh_token_issued_at" => "refresh_token_issued_at is not a millisecond timestamp",
        "refresh_token_expires_in" => "refresh_token_expires_in is not a non-negative integer",
        _ => "a numeric field is not a non-negative integer",
    }
}

/// Map an error answer: UPS `{"response":{"errors":[{"code","message"}]}}` or RFC 6749
/// `{"error","error_description"}`; unknown shapes keep the status. Never panics.
pub fn parse_error_response(status: u16, body: &[u8]) -> ProviderError {
    parse_error_response_at(Endpoint::Any, status, body)
}

/// [`parse_error_response`] for an answer of `endpoint`.
pub fn parse_error_response_at(endpoint: Endpoint, status: u16, body: &[u8]) -> ProviderError {
    let (code, message) = match serde_json::from_slice::<Value>(body) {
        Ok(v) => error_fields(&v),
        Err(_) => (None, None),
    };
    let kind = classify(endpoint, status, code.as_deref(), message.as_deref());
    let code = code.unwrap_or_else(|| {
        if kind == ProviderErrorKind::Temporary {
            "unavailable"
        } else {
            "http_error"
        }
        .into()
    });
    let message = message.unwrap_or_else(|| format!("the provider answered HTTP {status}"));
    ProviderError {
        kind,
        status: Some(status),
        code: bounded(code),
        message: bounded(message),
    }
}

/// `(code, description)` from a UPS or RFC 6749 error body.
fn error_fields(v: &Value) -> (Option<String>, Option<String>) {
    let text = |v: Option<&Value>| -> Option<String> {
        match v? {
            Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    // UPS: {"response":{"errors":[{"code":"…","message":"…"}]}}
    if let Some(first) = v
        .get("response")
        .and_then(|r| r.get("errors"))
        .and_then(|e| e.get(0))
    {
        return (text(first.get("code")), text(first.get("message")));
    }
    // RFC 6749 §5.2: {"error":"…","error_description":"…"}; some servers nest {"error":{"code","message"}}.
    match v.get("error") {
        Some(Value::Object(inner)) => (text(inner.get("code")), text(inner.get("message"))),
        Some(e) => (
            text(Some(e)),
            text(v.get("error_description")).or_else(|| text(v.get("message"))),
        ),
        None => (text(v.get("code")), text(v.get("message"))),
    }
}

/// Classify a failure (see `UPS-CONTRACT.md`): availability first (5xx, 429), then the
/// RFC 6749 §5.2 code, then UPS's codes and messages.
fn classify(
    endpoint: Endpoint,
    status: u16,
    code: Option<&str>,
    message: Option<&str>,
) -> ProviderErrorKind {
    if status >= 500 || status == 429 {
        return ProviderErrorKind::Temporary;
    }
    match code.map(str::to_ascii_lowercase).as_deref() {
        Some("invalid_grant") => return ProviderErrorKind::InvalidGrant,
        Some("invalid_client" | "unauthorized_client") => return ProviderErrorKind::InvalidClient,
        Some("temporarily_unavailable" | "server_error" | "slow_down") => {
            return ProviderErrorKind::Temporary
        }
        Some(c) if RFC6749_CODES.contains(&c) => return ProviderErrorKind::Other,
        // UPS: "ClientId is invalid" — id, secret or redirect URI do not match the app.
        Some(ups::CLIENT_CODE) => return ProviderErrorKind::InvalidClient,
        _ => {}
    }
    let words = ups::words(message.unwrap_or_default());
    if ups::says_grant_is_dead(endpoint, &words) {
        return ProviderErrorKind::InvalidGrant;
    }
    if ups::says_client_is_wrong(&words) {
        return ProviderErrorKind::InvalidClient;
    }
    if code.is_none() && message.is_none() && (200..300).contains(&status) {
        return ProviderErrorKind::Malformed;
    }
    // UPS's 10400 is "general" (missing or invalid parameters, …): a refusal we cannot read.
    ProviderErrorKind::Other
}

/// The other RFC 6749 §5.2 / §4.1.2.1 codes (all classify as [`ProviderErrorKind::Other`]).
const RFC6749_CODES: &[&str] = &[
    "invalid_request",
    "unsupported_grant_type",
    "invalid_scope",
    "access_denied",
    "unsupported_response_type",
];

/// UPS's error vocabulary. UPS's OpenAPI spec publishes the error *shape* only; its SDKs'
/// READMEs list two codes: `10400`, a *general* error ("Invalid/Missing Authorization
/// Header", missing or invalid parameters, an invalid or empty code, an unsupported response
/// type) and `10401` ("ClientId is invalid": id, secret or redirect URI). So `10400` is read by
/// its message, as whole words, and by the endpoint that sent it (see `core/UPS-CONTRACT.md`).
mod ups {
    use super::Endpoint;

    /// "ClientId is invalid".
    pub(super) const CLIENT_CODE: &str = "10401";

    /// The message's words, lower case (letters, digits and `_` make a word: `grant_type` is
    /// one word, not `grant`).
    pub(super) fn words(message: &str) -> Vec<String> {
        message
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    }

    fn has(words: &[String], phrase: &[&str]) -> bool {
        !phrase.is_empty()
            && words
                .windows(phrase.len())
                .any(|w| w.iter().zip(phrase).all(|(a, b)| a == b))
    }

    fn any_of(words: &[String], options: &[&str]) -> bool {
        words.iter().any(|w| options.contains(&w.as_str()))
    }

    /// Words that say a credential is unusable.
    const DEAD: &[&str] = &[
        "invalid", "expired", "revoked", "used", "unknown", "inactive",
    ];

    /// Does the message say the grant (code or refresh token) is dead, at this endpoint?
    pub(super) fn says_grant_is_dead(endpoint: Endpoint, words: &[String]) -> bool {
        if has(words, &["invalid_grant"]) || has(words, &["invalid", "grant"]) {
            return true;
        }
        let refresh = (has(words, &["refresh", "token"]) || has(words, &["refresh_token"]))
            && any_of(words, DEAD);
        let code = (has(words, &["authorization", "code"])
            || has(words, &["auth", "code"])
            || has(words, &["invalid", "code"]))
            && any_of(words, DEAD);
        match endpoint {
            Endpoint::Refresh => refresh,
            Endpoint::Token => code,
            Endpoint::Any => refresh || code,
            Endpoint::Authorize | Endpoint::Revoke => false,
        }
    }

    /// Does the message say our client (id, secret, redirect URI, Basic header) is wrong?
    pub(super) fn says_client_is_wrong(words: &[String]) -> bool {
        let bad = any_of(
            words,
            &["invalid", "missing", "mismatched", "unauthorized", "wrong"],
        );
        bad && (has(words, &["clientid"])
            || has(words, &["client", "id"])
            || has(words, &["client_id"])
            || has(words, &["client", "secret"])
            || has(words, &["client"])
            || has(words, &["redirect", "url"])
            || has(words, &["redirect", "uri"])
            || has(words, &["redirect_uri"])
            || has(words, &["authorization", "header"])
            || has(words, &["credentials"]))
    }
}

/// Cut `s` to at most [`MAX_ERROR_TEXT`] bytes at a character boundary.
fn bounded(mut s: String) -> String {
    if s.len() > MAX_ERROR_TEXT {
        let mut end = MAX_ERROR_TEXT;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const NOW: Timestamp = Timestamp(1_800_000_000_000);

    #[test]
    fn ups_strings() {
        let body = br#"{"token_type":"Bearer","issued_at":"1700000000000","client_id":"c","access_token":"AT","refresh_token":"RT","expires_in":"14399","refresh_token_expires_in":"5183999","refresh_token_issued_at":"1700000000500","refresh_token_status":"approved","refresh_count":"0","status":"approved","scope":"read"}"#;
        let g = parse_token_response(200, body, NOW).unwrap();
        assert_eq!(g.access_token.secret(), "AT");
        assert_eq!(g.refresh_token.as_ref().unwrap().secret(), "RT");
        // Created: the provider's own times (shown in the grid). Expires: from the answer's
        // arrival, whatever the provider's clock said (here it is years behind ours).
        assert_eq!(g.token_created, Timestamp(1_700_000_000_000));
        assert_eq!(
            g.token_expires,
            NOW.add(std::time::Duration::from_secs(14_399))
        );
        assert_eq!(g.refresh_created, Some(Timestamp(1_700_000_000_500)));
        assert_eq!(
            g.refresh_expires,
            Some(NOW.add(std::time::Duration::from_secs(5_183_999)))
        );
        assert_eq!(g.scope.as_deref(), Some("read"));
    }

    #[test]
    fn id_tokens_are_checked_for_nonce_audience_issuer_and_expiry() {
        use base64::Engine as _;
        let jwt = |claims: serde_json::Value| {
            let b = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
            IdToken::new(format!(
                "{}.{}.sig",
                b(br#"{"alg":"RS256"}"#),
                b(claims.to_string().as_bytes())
            ))
        };
        let want = IdTokenExpectations {
            nonce: "n-1",
            client_id: "cid",
            issuer: Some("https://idp.example"),
        };
        let good = serde_json::json!({"iss":"https://idp.example","aud":["cid","other"],"nonce":"n-1","exp":1_900_000_000});
        assert!(check_id_token(&jwt(good.clone()), &want, NOW).is_ok());
        for (field, value, why) in [
            ("nonce", serde_json::json!("n-2"), "nonce"),
            ("aud", serde_json::json!("someone-else"), "aud"),
            ("iss", serde_json::json!("https://evil.example"), "iss"),
            ("exp", serde_json::json!(1_700_000_000), "expired"),
        ] {
            let mut claims = good.clone();
            claims[field] = value;
            let e = check_id_token(&jwt(claims), &want, NOW).unwrap_err();
            assert!(e.message.contains(why), "{field}: {}", e.message);
            assert_eq!(e.code, "id_token_invalid");
        }
        assert!(check_id_token(&IdToken::new("not-a-jwt".into()), &want, NOW).is_err());
        // Parsed from the answer, and redacted.
        let g = parse_token_response(
            200,
            br#"{"access_token":"a","id_token":"h.p.s","expires_in":60}"#,
            NOW,
        )
        .unwrap();
        assert_eq!(g.id_token.as_ref().unwrap().secret(), "h.p.s");
        assert!(!format!("{g:?}").contains("h.p.s"));
    }

    #[test]
    fn a_200_that_is_not_approved_is_refused() {
        for (field, value) in [
            ("status", "\"revoked\""),
            ("refresh_token_status", "\"pending\""),
            ("status", "7"),
        ] {
            let body = format!(r#"{{"access_token":"AT","expires_in":"3599","{field}":{value}}}"#);
            let e = parse_token_response(200, body.as_bytes(), NOW).unwrap_err();
            assert_eq!(e.code, format!("{field}_not_approved"), "{body}");
            assert_eq!(e.kind, ProviderErrorKind::Other);
            assert!(!e.message.contains("AT"));
        }
        let ok = br#"{"access_token":"AT","status":"Approved","refresh_token_status":"approved"}"#;
        assert!(parse_token_response(200, ok, NOW).is_ok());
    }

    #[test]
    fn rfc6749_numbers_and_defaults() {
        let g = parse_token_response(
            200,
            br#"{"access_token":"a","token_type":"bearer","expires_in":3600,"refresh_token":"r"}"#,
            NOW,
        )
        .unwrap();
        assert_eq!(g.token_created, NOW);
        assert_eq!(
            g.token_expires,
            NOW.add(std::time::Duration::from_secs(3600))
        );
        assert_eq!(g.refresh_created, Some(NOW));
        assert_eq!(g.refresh_expires, None);
        let g = parse_token_response(200, br#"{"access_token":"a","token_type":"Bearer"}"#, NOW)
            .unwrap();
        assert_eq!(g.token_expires, NOW.add(DEFAULT_ACCESS_LIFETIME));
        assert!(g.refresh_token.is_none() && g.refresh_created.is_none());
    }

    #[test]
    fn malformed_success_bodies() {
        for body in [
            &b"not json"[..],
            b"[]",
            b"{}",
            br#"{"access_token":""}"#,
            br#"{"access_token":"a","expires_in":"-5"}"#,
            br#"{"access_token":"a","expires_in":true}"#,
            br#"{"access_token":7}"#,
        ] {
            let e = parse_token_response(200, body, NOW).unwrap_err();
            assert_eq!(
                e.kind,
                ProviderErrorKind::Malformed,
                "{}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(e.error_code(), ErrorCode::ProviderMalformed);
        }
    }

    #[test]
    fn error_shapes() {
        let e = parse_error_response(
            400,
            br#"{"error":"invalid_grant","error_description":"used"}"#,
        );
        assert_eq!(
            (e.kind, e.code.as_str(), e.message.as_str()),
            (ProviderErrorKind::InvalidGrant, "invalid_grant", "used")
        );
        let e = parse_error_response(401, br#"{"error":"invalid_client"}"#);
        assert_eq!(e.kind, ProviderErrorKind::InvalidClient);
        let e = parse_error_response(400, br#"{"error":"unauthorized_client"}"#);
        assert_eq!(e.kind, ProviderErrorKind::InvalidClient);
        let e = parse_error_response(
            401,
            br#"{"response":{"errors":[{"code":"10401","message":"ClientId is Invalid"}]}}"#,
        );
        assert_eq!(
            (e.kind, e.code.as_str()),
            (ProviderErrorKind::InvalidClient, "10401")
        );
        let e = parse_error_response(
            400,
            br#"{"response":{"errors":[{"code":"10400","message":"Invalid Refresh Token"}]}}"#,
        );
        assert_eq!(e.kind, ProviderErrorKind::InvalidGrant);
        let e = parse_error_response(503, b"<html>down</html>");
        assert_eq!(
            (e.kind, e.code.as_str()),
            (ProviderErrorKind::Temporary, "unavailable")
        );
        assert_eq!(
            parse_error_response(429, b"").kind,
            ProviderErrorKind::Temporary
        );
        assert_eq!(
            parse_error_response(400, br#"{"error":"invalid_scope"}"#).kind,
            ProviderErrorKind::Other
        );
        assert_eq!(
            parse_error_response(404, b"").kind,
            ProviderErrorKind::Other
        );
        let e = parse_token_response(200, br#"{"error":"invalid_grant"}"#, NOW).unwrap_err();
        assert_eq!(e.kind, ProviderErrorKind::InvalidGrant);
        let e = parse_error_response(
            400,
            format!(
                r#"{{"error":"x","error_description":"{}"}}"#,
                "é".repeat(600)
            )
            .as_bytes(),
        );
        assert!(e.message.len() <= MAX_ERROR_TEXT);
    }

    #[test]
    fn grant_debug_is_redacted() {
        let g = parse_token_response(
            200,
            br#"{"access_token":"SECRET-A","refresh_token":"SECRET-R"}"#,
            NOW,
        )
        .unwrap();
        let dbg = format!("{g:?}");
        assert!(!dbg.contains("SECRET"), "{dbg}");
    }
}
