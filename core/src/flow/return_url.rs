//! Whose return is this URL?
//!
//! One tab can hold pending authorizations of several companies (a portal may show several
//! panels on one page, or the admin clicked Authorize for one company, then for another), and
//! every panel on the page the provider sends the browser back to sees the same URL. Each
//! panel asks [`classify_return`] what the URL means *for its company*: its own return to
//! validate, another company's return to leave alone or to carry to the page where that
//! Authorize was clicked, or a return nobody in this tab is waiting for.
//!
//! A popup's return arrives by message instead; [`claim_popup_return`] decides whether it
//! belongs to the panel that received it.
//!
//! ```
//! use std::collections::BTreeMap;
//! use token_manager_core::api::ConfigResponse;
//! use token_manager_core::flow::{classify_return, PendingAuthorization, ReturnClaim, TabPending};
//! # // The host starts the authorization; the tab keeps its marker.
//! use token_manager_core::Timestamp;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ConfigResponse {
//!     provider: "generic".into(),
//!     provider_name: "Example".into(),
//!     authorize_url: "https://idp.example/authorize".into(),
//!     client_id: "portal".into(),
//!     redirect_uri: "https://portal.example/admin/token-manager".into(),
//!     scope: String::new(),
//!     pkce: true,
//!     challenge_method: true,
//!     extra_params: BTreeMap::new(),
//! };
//! // Authorize for "acme" was clicked on acme's own page …
//! let (_, started) = PendingAuthorization::start(
//!     &config, &[7; 64], Timestamp(0), "acme", Some("/admin/token-manager?company=acme"),
//! )?;
//! let acme = started.marker();
//! let back = format!(
//!     "https://portal.example/admin/token-manager?code=c0de&state={}",
//!     acme.state().secret()
//! );
//! // … and the redirect URI page came back showing the panel of "globex": it carries the
//! // return to acme's page instead of refusing it.
//! let claim = classify_return(&back, || TabPending { others: vec![acme], ..TabPending::default() });
//! assert!(matches!(
//!     claim,
//!     ReturnClaim::HandOver(target) if target.starts_with("/admin/token-manager?company=acme&code=c0de&state=")
//! ));
//! # Ok(())
//! # }
//! ```

use super::{
    is_callback_pair, is_safe_return_to, strip_callback_params, CallbackError, CallbackParams,
    ReturnMarker,
};
use crate::messages::ErrorCode;

/// The markers of the authorizations a tab started, as one company's panel finds them (the shell reads
/// them from `sessionStorage`; entries it cannot read are simply absent).
#[derive(Debug, Default)]
pub struct TabPending {
    /// This company's, from this window's storage.
    pub own: Option<ReturnMarker>,
    /// This company's, from the storage of the page that opened this window, when this window
    /// is a popup opened by a same-origin page.
    pub opener: Option<ReturnMarker>,
    /// Every other company's, from this window's storage.
    pub others: Vec<ReturnMarker>,
}

/// A return that belongs to this company's pending authorization. Validate it with
/// [`ReturnMarker::handle_callback`], which also reports a `state` that is not ours.
#[derive(Debug)]
pub struct OwnReturn {
    /// The authorization the return completes (remove it from storage before validating:
    /// single use).
    pub pending: ReturnMarker,
    /// The parameters of the return, or why they are malformed.
    pub params: Result<CallbackParams, CallbackError>,
}

/// What a URL means for one company's panel ([`classify_return`]).
#[derive(Debug)]
pub enum ReturnClaim {
    /// No `code`, `state` or `error` in the URL: load the panel.
    NotAReturn,
    /// Another company's return, to be handled by that company's panel on this page: load the
    /// panel and leave the URL alone.
    NotOurs,
    /// Another company's return whose Authorize was clicked on another page (the redirect URI
    /// page shows whichever company the portal picked): navigate to this same-origin path,
    /// that page plus the return's parameters.
    HandOver(String),
    /// This window is the popup of the page holding this company's pending authorization:
    /// post this query string (`?…`, possibly empty) to the opener, which validates it.
    ForwardToOpener(String),
    /// This company's return: validate it and have the host exchange the code.
    Ours(OwnReturn),
    /// A return nobody in this tab is waiting for (already used, from another tab, forged):
    /// show this error and offer Authorize again.
    Orphan(ErrorCode),
}

/// What the return in `url` (the page's full URL) means for the panel whose pending
/// authorizations `pending` returns.
///
/// `pending` is called only when `url` is a return, so a page that is not one reads no storage.
///
/// In order:
/// 1. no `code`, `state` or `error` → [`NotAReturn`](ReturnClaim::NotAReturn);
/// 2. the opener's entry for this company fits → [`ForwardToOpener`](ReturnClaim::ForwardToOpener);
/// 3. our own entry fits → [`Ours`](ReturnClaim::Ours);
/// 4. another company's entry has the returned `state` → [`HandOver`](ReturnClaim::HandOver)
///    to its `return_to` page when that is another page, else [`NotOurs`](ReturnClaim::NotOurs);
/// 5. malformed parameters (so no entry of ours, see 3) while other companies wait →
///    [`NotOurs`](ReturnClaim::NotOurs): we cannot tell whose it is; their panels report it;
/// 6. we have an entry, with another `state` → [`Ours`](ReturnClaim::Ours), and
///    [`ReturnMarker::handle_callback`] reports the mismatch;
/// 7. else [`Orphan`](ReturnClaim::Orphan) with the parse error's code or
///    [`ErrorCode::NoPendingAuthorization`].
///
/// An entry *fits* when it has the returned `state`, or when the return carries no `state`
/// (an error return) or is malformed. Another company's entry must have the `state`: a
/// forged error return can do no more than show a message on this company's panel.
pub fn classify_return(url: &str, pending: impl FnOnce() -> TabPending) -> ReturnClaim {
    let params = match CallbackParams::parse(url) {
        Ok(None) => return ReturnClaim::NotAReturn,
        Ok(Some(params)) => Ok(params),
        Err(e) => Err(e),
    };
    let TabPending {
        own,
        opener,
        others,
    } = pending();
    let returned_state = params.as_ref().ok().and_then(|p| p.state.clone());
    let fits = |pending: &ReturnMarker| {
        returned_state
            .as_deref()
            .is_none_or(|s| pending.state_matches(s))
    };

    if opener.as_ref().is_some_and(fits) {
        return ReturnClaim::ForwardToOpener(search_of(url).to_owned());
    }
    let own = match own {
        Some(pending) if fits(&pending) => return ReturnClaim::Ours(OwnReturn { pending, params }),
        other => other,
    };
    let owner = returned_state
        .as_deref()
        .and_then(|s| others.iter().find(|other| other.state_matches(s)));
    if let Some(target) = owner.and_then(|o| hand_over_target(o, url)) {
        return ReturnClaim::HandOver(target);
    }
    let others_claim = owner.is_some() || (params.is_err() && !others.is_empty());
    match own {
        _ if others_claim => ReturnClaim::NotOurs,
        Some(pending) => ReturnClaim::Ours(OwnReturn { pending, params }),
        None => ReturnClaim::Orphan(match params {
            Err(e) => e.error_code(),
            Ok(_) => ErrorCode::NoPendingAuthorization,
        }),
    }
}

/// Is the return a popup posted (`search`, its query string) this company's? `own` is this
/// company's pending authorization in the receiving window; `awaiting_popup` says whether the
/// panel opened a popup and is waiting for it.
///
/// `None` when `search` is not a return, when there is no `own`, or when the returned `state`
/// is another. A malformed return carries no usable `state`: it is taken (to be reported) only
/// while a popup is awaited.
pub fn claim_popup_return(
    search: &str,
    own: Option<ReturnMarker>,
    awaiting_popup: bool,
) -> Option<OwnReturn> {
    let params = match CallbackParams::parse(search) {
        Ok(Some(params)) => Ok(params),
        Ok(None) => return None,
        Err(e) => Err(e),
    };
    let pending = own?;
    let ours = match &params {
        Ok(p) => p.state.as_deref().is_none_or(|s| pending.state_matches(s)),
        Err(_) => awaiting_popup,
    };
    ours.then_some(OwnReturn { pending, params })
}

/// The page to come back to after an authorization started on `url` (an absolute URL): its
/// path, query and fragment, without the OAuth return parameters. Pass it to
/// `POST /start` (and so to [`PendingAuthorization::start`](super::PendingAuthorization::start)) as `return_to`.
pub fn return_path(url: &str) -> String {
    path_of(&strip_callback_params(url)).to_owned()
}

/// Does `return_to` (a path, maybe with a query) name the page of `url`? Only the paths are
/// compared: after an exchange, the panel navigates to `return_to` unless it is already there.
pub fn is_same_page(return_to: &str, url: &str) -> bool {
    let path = |s: &str| s.split(['?', '#']).next().unwrap_or_default().to_owned();
    path(return_to) == path(path_of(url))
}

/// `?query` of a URL (empty when it has none); the fragment is not part of it.
fn search_of(url: &str) -> &str {
    let url = url.split('#').next().unwrap_or_default();
    url.find('?').map_or("", |i| &url[i..])
}

/// Path, query and fragment of an absolute URL (`https://h/p?q#f` → `/p?q#f`).
fn path_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(url, |i| &url[i + 3..]);
    after_scheme.find('/').map_or("/", |i| &after_scheme[i..])
}

/// Where to carry a return that belongs to `owner` (another company's pending authorization of
/// this tab): its `return_to` page with the return's OAuth parameters added to the query (before
/// `return_to`'s fragment), when that page is not this one. Panels of several companies on one
/// page share the page, so nothing moves then; fragments do not make another page.
///
/// Only the return's parameters travel: the others belong to this page. So at the target the
/// stripped URL is `return_to` itself, and no panel there carries the return on again.
fn hand_over_target(owner: &ReturnMarker, url: &str) -> Option<String> {
    let return_to = owner.return_to.as_deref()?;
    if !is_safe_return_to(return_to) {
        return None;
    }
    let (page, fragment) = split_fragment(return_to);
    let here = strip_callback_params(url);
    if page == split_fragment(path_of(&here)).0 {
        return None;
    }
    let query: Vec<&str> = search_of(url)
        .trim_start_matches('?')
        .split('&')
        .filter(|pair| !pair.is_empty() && is_callback_pair(pair))
        .collect();
    let sep = if page.contains('?') { '&' } else { '?' };
    Some(format!("{page}{sep}{}{fragment}", query.join("&")))
}

/// `(before, #fragment)`; the fragment part is empty when there is none.
fn split_fragment(url: &str) -> (&str, &str) {
    url.find('#').map_or((url, ""), |i| url.split_at(i))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::flow::tests::config;
    use crate::flow::PendingAuthorization;
    use crate::time::Timestamp;

    const PAGE: &str = "https://portal.example/admin/token-manager";

    /// The marker of an authorization of `company` whose state is derived from `seed`.
    fn pending(company: &str, seed: u8, return_to: Option<&str>) -> ReturnMarker {
        PendingAuthorization::start(&config(), &[seed; 64], Timestamp(0), company, return_to)
            .unwrap()
            .1
            .marker()
    }

    fn state(p: &ReturnMarker) -> String {
        p.state().secret().clone()
    }

    fn tab(own: Option<ReturnMarker>, others: Vec<ReturnMarker>) -> impl FnOnce() -> TabPending {
        move || TabPending {
            own,
            opener: None,
            others,
        }
    }

    fn ours(claim: ReturnClaim) -> OwnReturn {
        match claim {
            ReturnClaim::Ours(own) => own,
            other => panic!("expected Ours, got {other:?}"),
        }
    }

    #[test]
    fn url_parts() {
        assert_eq!(search_of("https://h/p?code=a&state=b#f"), "?code=a&state=b");
        assert_eq!(search_of("https://h/p"), "");
        assert_eq!(search_of("https://h/p#f?x=1"), "");
        assert_eq!(path_of("https://h:8080/admin/x?y=1"), "/admin/x?y=1");
        assert_eq!(path_of("https://h"), "/");
        assert_eq!(path_of("/p?q#f"), "/p?q#f");
        assert!(is_same_page(
            "/admin/token-manager",
            "http://h/admin/token-manager?x=1"
        ));
        assert!(is_same_page(
            "/admin/token-manager?company=a#top",
            "http://h/admin/token-manager#other"
        ));
        assert!(!is_same_page("/admin", "http://h/admin/token-manager"));
    }

    #[test]
    fn return_path_strips_the_return_and_keeps_the_rest() {
        assert_eq!(
            return_path(&format!("{PAGE}?company=a#top")),
            "/admin/token-manager?company=a#top"
        );
        assert_eq!(
            return_path(&format!("{PAGE}?code=x&company=a&state=y")),
            "/admin/token-manager?company=a"
        );
        assert_eq!(return_path("https://portal.example"), "/");
    }

    #[test]
    fn a_page_without_a_return_reads_no_storage() {
        for url in [
            PAGE.to_owned(),
            format!("{PAGE}?company=a"),
            format!("{PAGE}#code=a&state=b"),
        ] {
            let claim = classify_return(&url, || panic!("storage read for {url}"));
            assert!(matches!(claim, ReturnClaim::NotAReturn), "{url}");
        }
    }

    #[test]
    fn own_return() {
        let own = pending("demo-co", 3, Some("/admin/token-manager"));
        let url = format!("{PAGE}?code=abc&state={}&tab=1", state(&own));
        let others = vec![pending("acme", 9, Some("/elsewhere"))];
        let got = ours(classify_return(&url, tab(Some(own), others)));
        assert_eq!(got.pending.company, "demo-co");
        let params = got.params.unwrap();
        assert_eq!(params.code.unwrap().secret(), "abc");
    }

    #[test]
    fn own_return_with_a_fragment() {
        let own = pending("demo-co", 3, None);
        let url = format!("{PAGE}?code=abc&state={}#section", state(&own));
        let got = ours(classify_return(&url, tab(Some(own), vec![])));
        assert_eq!(got.params.unwrap().code.unwrap().secret(), "abc");
    }

    #[test]
    fn another_companys_return_on_another_page_is_handed_over() {
        let own = pending("demo-co", 3, None);
        let acme = pending("acme", 9, Some("/admin/token-manager?company=acme"));
        let url = format!("{PAGE}?code=abc&state={}", state(&acme));
        let claim = classify_return(&url, tab(Some(own), vec![acme]));
        let ReturnClaim::HandOver(target) = claim else {
            panic!("expected HandOver, got {claim:?}");
        };
        let s = state(&pending("acme", 9, None));
        assert_eq!(
            target,
            format!("/admin/token-manager?company=acme&code=abc&state={s}")
        );

        // A return_to without a query gets one.
        let acme = pending("acme", 9, Some("/portal/acme"));
        let claim = classify_return(&url, tab(None, vec![acme]));
        assert!(
            matches!(&claim, ReturnClaim::HandOver(t) if *t == format!("/portal/acme?code=abc&state={s}")),
            "{claim:?}"
        );
    }

    #[test]
    fn a_hand_over_carries_only_the_return_and_keeps_the_fragment_last() {
        let s = state(&pending("acme", 9, None));
        // This page's own parameters stay here; the return goes before return_to's fragment.
        let url = format!("{PAGE}?tab=1&code=abc&state={s}&iss=x#here");
        let acme = pending("acme", 9, Some("/portal/acme?x=1#frag"));
        let claim = classify_return(&url, tab(None, vec![acme]));
        let expected = format!("/portal/acme?x=1&code=abc&state={s}&iss=x#frag");
        assert!(
            matches!(&claim, ReturnClaim::HandOver(t) if *t == expected),
            "{claim:?}"
        );
        // The redirect URI page with a query of its own still hands over to the plain page,
        // and at the target nothing moves again (no loop).
        let acme = || pending("acme", 9, Some("/admin/token-manager"));
        let claim = classify_return(&url, tab(None, vec![acme()]));
        let ReturnClaim::HandOver(target) = claim else {
            panic!("expected HandOver, got {claim:?}");
        };
        assert_eq!(
            target,
            format!("/admin/token-manager?code=abc&state={s}&iss=x")
        );
        let there = format!("https://portal.example{target}");
        assert!(matches!(
            classify_return(&there, tab(None, vec![acme()])),
            ReturnClaim::NotOurs
        ));
        assert_eq!(
            ours(classify_return(&there, tab(Some(acme()), vec![])))
                .params
                .unwrap()
                .code
                .unwrap()
                .secret(),
            "abc"
        );
    }

    #[test]
    fn a_fragment_does_not_make_another_page() {
        let acme = pending("acme", 9, Some("/admin/token-manager#top"));
        let url = format!("{PAGE}?code=abc&state={}", state(&acme));
        assert!(matches!(
            classify_return(&url, tab(None, vec![acme])),
            ReturnClaim::NotOurs
        ));
        let acme = pending("acme", 9, Some("/admin/token-manager"));
        let url = format!("{PAGE}?code=abc&state={}#top", state(&acme));
        assert!(matches!(
            classify_return(&url, tab(None, vec![acme])),
            ReturnClaim::NotOurs
        ));
    }

    #[test]
    fn another_companys_return_on_the_same_page_stays() {
        let acme = pending("acme", 9, Some("/admin/token-manager"));
        let url = format!("{PAGE}?code=abc&state={}", state(&acme));
        let own = pending("demo-co", 3, None);
        assert!(matches!(
            classify_return(&url, tab(Some(own), vec![acme])),
            ReturnClaim::NotOurs
        ));
        // Also without a return_to, or an unsafe one (never followed).
        for return_to in [None, Some("//evil.example/x")] {
            let mut acme = pending("acme", 9, None);
            acme.return_to = return_to.map(str::to_owned);
            assert!(matches!(
                classify_return(&url, tab(None, vec![acme])),
                ReturnClaim::NotOurs
            ));
        }
    }

    #[test]
    fn no_pending_authorization() {
        let url = format!("{PAGE}?code=abc&state=whatever");
        assert!(matches!(
            classify_return(&url, TabPending::default),
            ReturnClaim::Orphan(ErrorCode::NoPendingAuthorization)
        ));
        // Others wait, but not for this state: nobody's.
        let others = vec![pending("acme", 9, Some("/x"))];
        assert!(matches!(
            classify_return(&url, tab(None, others)),
            ReturnClaim::Orphan(ErrorCode::NoPendingAuthorization)
        ));
    }

    #[test]
    fn a_foreign_state_is_ours_to_refuse() {
        let own = pending("demo-co", 3, None);
        let url = format!("{PAGE}?code=abc&state=forged");
        let got = ours(classify_return(&url, tab(Some(own), vec![])));
        let e = got
            .pending
            .handle_callback(
                got.params.unwrap(),
                Timestamp(1),
                crate::flow::DEFAULT_MAX_AGE,
            )
            .unwrap_err();
        assert_eq!(e, CallbackError::StateMismatch);
    }

    #[test]
    fn error_returns() {
        // With our state: ours, and core reports the refusal.
        let own = pending("demo-co", 3, None);
        let url = format!("{PAGE}?error=access_denied&state={}", state(&own));
        let got = ours(classify_return(&url, tab(Some(own), vec![])));
        assert_eq!(got.params.unwrap().error.as_deref(), Some("access_denied"));

        // Without a state: it fits our entry, never another company's.
        let url = format!("{PAGE}?error=server_error&error_description=down");
        let own = pending("demo-co", 3, None);
        let others = vec![pending("acme", 9, Some("/x"))];
        assert!(matches!(
            classify_return(&url, tab(Some(own), others)),
            ReturnClaim::Ours(_)
        ));
        let others = vec![pending("acme", 9, Some("/x"))];
        assert!(matches!(
            classify_return(&url, tab(None, others)),
            ReturnClaim::Orphan(ErrorCode::NoPendingAuthorization)
        ));

        // Malformed: ours to report when we wait (others may wait too); with no entry of
        // ours, left to the companies that wait; with nobody waiting, an orphan.
        let url = format!("{PAGE}?code=a&code=b");
        let own = pending("demo-co", 3, None);
        let others = vec![pending("acme", 9, None)];
        let got = ours(classify_return(&url, tab(Some(own), others)));
        assert_eq!(
            got.params.unwrap_err(),
            CallbackError::Malformed("code is repeated")
        );
        let others = vec![pending("acme", 9, None)];
        assert!(matches!(
            classify_return(&url, tab(None, others)),
            ReturnClaim::NotOurs
        ));
        assert!(matches!(
            classify_return(&url, TabPending::default),
            ReturnClaim::Orphan(ErrorCode::MalformedCallback)
        ));
    }

    #[test]
    fn a_popup_forwards_to_its_opener() {
        let opener = pending("demo-co", 3, None);
        let url = format!("{PAGE}?code=abc&state={}#f", state(&opener));
        let s = state(&opener);
        // Chromium copies the opener's storage into the popup: the copy does not make it ours.
        let copy = pending("demo-co", 3, None);
        let claim = classify_return(&url, || TabPending {
            own: Some(copy),
            opener: Some(opener),
            others: vec![],
        });
        assert!(
            matches!(&claim, ReturnClaim::ForwardToOpener(q) if *q == format!("?code=abc&state={s}")),
            "{claim:?}"
        );
        // The opener waits for another attempt: not the opener's.
        let claim = classify_return(&url, || TabPending {
            own: None,
            opener: Some(pending("demo-co", 4, None)),
            others: vec![],
        });
        assert!(matches!(
            claim,
            ReturnClaim::Orphan(ErrorCode::NoPendingAuthorization)
        ));
    }

    #[test]
    fn popup_returns() {
        let own = || Some(pending("demo-co", 3, None));
        let s = state(&pending("demo-co", 3, None));
        let got = claim_popup_return(&format!("?code=popup-code&state={s}"), own(), true).unwrap();
        assert_eq!(got.params.unwrap().code.unwrap().secret(), "popup-code");
        // Someone else's, not a return, nothing pending.
        assert!(claim_popup_return("?code=x&state=other", own(), true).is_none());
        assert!(claim_popup_return("?tab=1", own(), true).is_none());
        assert!(claim_popup_return(&format!("?code=a&state={s}"), None, true).is_none());
        // Malformed: only while a popup is awaited.
        assert!(
            claim_popup_return("?state=a&state=b", own(), true).is_some_and(|r| r.params.is_err())
        );
        assert!(claim_popup_return("?state=a&state=b", own(), false).is_none());
    }
}
