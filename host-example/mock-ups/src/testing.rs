//! A client-side driver of the mock's sign-in screens, for tests (feature `testing`).
//!
//! It does what a browser does: open the authorization URL (the `/security/v1/oauth/authorize`
//! endpoint, whose 302 it follows, or the sign-in screen itself), read the **Log In** page's
//! hidden `txn` field, post Continue with a username and the agreement, then post Login with
//! the password; the mock answers the last step with a 302 back to the application, whose
//! `Location` is the result.
//!
//! [`sign_in`] runs the whole happy path and checks every page on the way. [`SignIn`] exposes
//! the steps one by one, each answering an [`Answer`] (a page or a redirect), for tests that
//! look at the pages in between, type a wrong password or cancel.
//!
//! The `reqwest::Client` passed in must not follow redirects
//! (`reqwest::redirect::Policy::none()`): the redirect back to the application is the
//! result, not something to fetch. (If the client follows it anyway, the step answers the URL
//! the client ended up at as the redirect.)
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use mock_ups::testing::{sign_in, Answer, SignIn};
//!
//! let (addr, _mock) = mock_ups::spawn(mock_ups::MockConfig::default()).await?;
//! let http = reqwest::Client::builder()
//!     .redirect(reqwest::redirect::Policy::none())
//!     .build()?;
//! let authorize = format!(
//!     "http://{addr}/security/v1/oauth/authorize?client_id=demo-client&response_type=code\
//!      &redirect_uri=http%3A%2F%2F127.0.0.1%3A8080%2Fadmin%2Ftoken-manager&state=s1"
//! );
//!
//! // The whole sign-in: the redirect back carries `code` and `state`.
//! let back = sign_in(&http, &authorize, "demo", "demo-password").await?;
//! assert!(back.query_pairs().any(|(k, _)| k == "code"));
//!
//! // Step by step: a wrong password shows the Password screen again.
//! let (signin, _log_in) = SignIn::open(&http, &authorize).await?;
//! signin.continue_as("demo").await?;
//! let Answer::Page(page) = signin.login("wrong").await? else { panic!("a page") };
//! assert!(page.html.contains("don&#39;t match our records"));
//! # Ok(()) }
//! ```

use reqwest::header::LOCATION;
use reqwest::StatusCode;
use url::Url;

use crate::SIGNIN_PATH;

/// How many redirects [`SignIn::open`] follows to reach the Log In screen (the authorize
/// endpoint's one, with room for a proxy's).
const MAX_OPEN_REDIRECTS: usize = 3;

/// The heading of the Log In screen.
const LOG_IN_HEADING: &str = r#"<h1 id="page-title">Log In</h1>"#;
/// The heading of the Password screen starts with this (then the username).
const PASSWORD_HEADING: &str = r#"<h1 id="page-title">Welcome back, "#;
/// The heading of the page shown when the mock cannot send the browser back.
const ERROR_HEADING: &str = r#"<h1 id="page-title">We can't complete this sign-in</h1>"#;

/// Sign in as `user` with `password` at the mock's screens, starting from `authorize_url`
/// (the authorize endpoint's URL or the sign-in screen's), and return the redirect back to
/// the application: `code` and `state` on success, `error=access_denied` when a fault
/// declines the consent.
///
/// Fails when a screen is not the one expected (the Log In screen first, then "Welcome back,",
/// then a 302): e.g. for a wrong password, an unregistered redirect URI or an expired sign-in.
pub async fn sign_in(
    http: &reqwest::Client,
    authorize_url: &str,
    user: &str,
    password: &str,
) -> Result<Url, SignInError> {
    let (signin, _log_in) = SignIn::open(http, authorize_url).await?;
    match signin.continue_as(user).await? {
        Answer::Page(page)
            if page.status == StatusCode::OK && page.screen() == Screen::Password => {}
        other => {
            return Err(SignInError::Unexpected {
                step: "continue",
                expected: "the Password screen (\"Welcome back, …\")",
                answer: Box::new(other),
            })
        }
    }
    match signin.login(password).await? {
        Answer::Redirect(back) => Ok(back),
        other => Err(SignInError::Unexpected {
            step: "login",
            expected: "a 302 back to the application",
            answer: Box::new(other),
        }),
    }
}

/// One sign-in at the mock's screens, between [`SignIn::open`] and the redirect back.
#[derive(Clone, Debug)]
pub struct SignIn {
    http: reqwest::Client,
    /// Where the screens' forms post (the sign-in screen's URL without its query).
    action: Url,
    txn: String,
}

impl SignIn {
    /// Open `authorize_url` (following the authorize endpoint's redirect to the sign-in
    /// screen) and read the Log In screen's transaction id. Returns the sign-in and the Log In
    /// page.
    pub async fn open(
        http: &reqwest::Client,
        authorize_url: &str,
    ) -> Result<(Self, Page), SignInError> {
        let mut url = Url::parse(authorize_url).map_err(|e| SignInError::Url {
            url: authorize_url.to_owned(),
            message: e.to_string(),
        })?;
        for _ in 0..=MAX_OPEN_REDIRECTS {
            let resp = http.get(url.clone()).send().await?;
            let page_url = resp.url().clone();
            match Answer::read(resp, &url).await? {
                Answer::Redirect(next) if next.path() == SIGNIN_PATH => url = next,
                Answer::Page(page)
                    if page.status == StatusCode::OK && page.screen() == Screen::LogIn =>
                {
                    let Some(txn) = txn_of(&page.html) else {
                        return Err(SignInError::Unexpected {
                            step: "open",
                            expected: "a Log In screen with a txn field",
                            answer: Box::new(Answer::Page(page)),
                        });
                    };
                    let mut action = page_url;
                    action.set_query(None);
                    action.set_fragment(None);
                    action.set_path(SIGNIN_PATH);
                    let signin = Self {
                        http: http.clone(),
                        action,
                        txn,
                    };
                    return Ok((signin, page));
                }
                other => {
                    return Err(SignInError::Unexpected {
                        step: "open",
                        expected: "the Log In screen",
                        answer: Box::new(other),
                    })
                }
            }
        }
        Err(SignInError::Url {
            url: authorize_url.to_owned(),
            message: format!("more than {MAX_OPEN_REDIRECTS} redirects before the Log In screen"),
        })
    }

    /// The transaction id (the screens' hidden `txn` field).
    pub fn txn(&self) -> &str {
        &self.txn
    }

    /// Where the screens' forms post (`{mock origin}/lasso/signin`).
    pub fn action(&self) -> &Url {
        &self.action
    }

    /// Log In screen: Continue as `user`, the agreement checked. The mock answers the Password
    /// screen ("Welcome back, …"), or the Log In screen again with an error.
    pub async fn continue_as(&self, user: &str) -> Result<Answer, SignInError> {
        self.submit(&[("action", "continue"), ("username", user), ("agree", "yes")])
            .await
    }

    /// Password screen: Login with `password`. The mock answers a 302 back to the
    /// application, or the Password screen again with an error (a 302 with
    /// `error=access_denied` after too many wrong passwords).
    pub async fn login(&self, password: &str) -> Result<Answer, SignInError> {
        self.submit(&[("action", "login"), ("password", password)])
            .await
    }

    /// Cancel (on either screen): the mock answers a 302 back with `error=access_denied`.
    pub async fn cancel(&self) -> Result<Answer, SignInError> {
        self.submit(&[("action", "cancel")]).await
    }

    /// Post the screens' form with `fields` and this sign-in's `txn` (for what the other
    /// steps do not cover: a missing agreement, switching the user, …).
    pub async fn submit(&self, fields: &[(&str, &str)]) -> Result<Answer, SignInError> {
        let mut form = vec![("txn", self.txn.as_str())];
        form.extend_from_slice(fields);
        let resp = self
            .http
            .post(self.action.clone())
            .form(&form)
            .send()
            .await?;
        Answer::read(resp, &self.action).await
    }
}

/// What a screen answered.
#[derive(Clone, Debug)]
pub enum Answer {
    /// A page: a screen (200), or the mock's error page (400).
    Page(Page),
    /// A redirect (its `Location`, resolved): back to the application (`code` and `state`,
    /// or `error`), or, from the authorize endpoint, to the sign-in screen.
    Redirect(Url),
}

impl Answer {
    /// The redirect target, if this is a redirect.
    pub fn redirect(&self) -> Option<&Url> {
        match self {
            Self::Redirect(u) => Some(u),
            Self::Page(_) => None,
        }
    }

    /// The page, if this is a page.
    pub fn page(&self) -> Option<&Page> {
        match self {
            Self::Page(p) => Some(p),
            Self::Redirect(_) => None,
        }
    }

    /// Read the answer to a request for `requested`.
    async fn read(resp: reqwest::Response, requested: &Url) -> Result<Self, SignInError> {
        let status = resp.status();
        if status.is_redirection() {
            let location = resp
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or(SignInError::NoLocation { status })?;
            let target = resp.url().join(location).map_err(|e| SignInError::Url {
                url: location.to_owned(),
                message: e.to_string(),
            })?;
            return Ok(Self::Redirect(target));
        }
        let landed = resp.url();
        if landed != requested
            && (landed.origin() != requested.origin() || landed.path() != SIGNIN_PATH)
        {
            // The client followed a redirect out of the screens (back to the application).
            return Ok(Self::Redirect(landed.clone()));
        }
        let html = resp.text().await?;
        Ok(Self::Page(Page { status, html }))
    }
}

/// A page of the mock's sign-in screens.
#[derive(Clone, Debug)]
pub struct Page {
    /// HTTP status (200 for a screen, 400 for the error page).
    pub status: StatusCode,
    /// The HTML.
    pub html: String,
}

impl Page {
    /// Which screen this is, by its heading.
    pub fn screen(&self) -> Screen {
        if self.html.contains(LOG_IN_HEADING) {
            Screen::LogIn
        } else if self.html.contains(PASSWORD_HEADING) {
            Screen::Password
        } else if self.html.contains(ERROR_HEADING) {
            Screen::Error
        } else {
            Screen::Other
        }
    }

    /// The hidden `txn` field, if the page has one.
    pub fn txn(&self) -> Option<String> {
        txn_of(&self.html)
    }
}

/// The screens of the mock's sign-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    /// Log In: Email or Username, the agreement, Continue.
    LogIn,
    /// "Welcome back, …": Password, Login.
    Password,
    /// "We can't complete this sign-in" (bad client or redirect URI, expired sign-in).
    Error,
    /// Anything else (e.g. the mock's index page).
    Other,
}

/// The value of the hidden `txn` field of a sign-in screen's HTML (as the mock renders it:
/// `name="txn" value="…"`).
pub fn txn_of(html: &str) -> Option<String> {
    const FIELD: &str = r#"name="txn" value=""#;
    let start = html.find(FIELD)? + FIELD.len();
    let len = html[start..].find('"')?;
    Some(unescape(&html[start..start + len]))
}

/// Undo the mock's HTML escaping of an attribute value.
fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Why a sign-in could not be driven.
#[derive(Debug)]
pub enum SignInError {
    /// The HTTP request failed (connection refused, timeout, …).
    Http(reqwest::Error),
    /// A URL could not be parsed or followed.
    Url {
        /// The URL.
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// A redirect without a usable `Location` header.
    NoLocation {
        /// Its status.
        status: StatusCode,
    },
    /// A step answered something else than the screen it leads to.
    Unexpected {
        /// `open`, `continue` or `login`.
        step: &'static str,
        /// What the step should have answered.
        expected: &'static str,
        /// What it answered.
        answer: Box<Answer>,
    },
}

impl std::fmt::Display for SignInError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Http(e) => write!(f, "mock UPS sign-in: {e}"),
            Self::Url { url, message } => write!(f, "mock UPS sign-in: URL {url:?}: {message}"),
            Self::NoLocation { status } => {
                write!(f, "mock UPS sign-in: {status} without a Location header")
            }
            Self::Unexpected {
                step,
                expected,
                answer,
            } => {
                write!(
                    f,
                    "mock UPS sign-in, step {step}: expected {expected}, got "
                )?;
                match answer.as_ref() {
                    Answer::Redirect(u) => write!(f, "a redirect to {u}"),
                    Answer::Page(p) => {
                        write!(f, "{} {:?}: {}", p.status, p.screen(), p.html)
                    }
                }
            }
        }
    }
}

impl std::error::Error for SignInError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Http(e) => Some(e),
            _ => None,
        }
    }
}

impl From<reqwest::Error> for SignInError {
    fn from(e: reqwest::Error) -> Self {
        Self::Http(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txn_field_is_read_and_unescaped() {
        let html = r#"<form><input type="hidden" name="txn" value="a-b_c&amp;d"></form>"#;
        assert_eq!(txn_of(html).as_deref(), Some("a-b_c&d"));
        assert_eq!(txn_of("<p>no form</p>"), None);
        assert_eq!(txn_of(r#"name="txn" value="unterminated"#), None);
    }

    #[test]
    fn screens_are_told_apart_by_heading() {
        let page = |html: &str| Page {
            status: StatusCode::OK,
            html: html.to_owned(),
        };
        assert_eq!(page(LOG_IN_HEADING).screen(), Screen::LogIn);
        assert_eq!(
            page(r#"<h1 id="page-title">Welcome back, demo</h1>"#).screen(),
            Screen::Password
        );
        assert_eq!(page(ERROR_HEADING).screen(), Screen::Error);
        assert_eq!(page("<h1>Mock UPS</h1>").screen(), Screen::Other);
    }
}
