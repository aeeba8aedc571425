//! Property tests: paging, ordering, serde round trips, whose return a URL is, and "no parser
//! panics".
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use token_manager_core::api::ConfigResponse;
use token_manager_core::config::ProviderConfig;
use token_manager_core::flow::{
    classify_return, is_safe_return_to, strip_callback_params, CallbackParams,
    PendingAuthorization, ReturnClaim, TabPending, DEFAULT_MAX_AGE,
};
use token_manager_core::history::{
    paginate, sort_newest_first, PageWindow, PerPage, RecordStatus, TokenRecord,
};
use token_manager_core::token::{parse_error_response, parse_token_response};
use token_manager_core::{GrantTimes, Timestamp};

fn record(id: i64, created: i64) -> TokenRecord {
    TokenRecord {
        id,
        company: "c".into(),
        token_created: Timestamp(created),
        token_expires: Timestamp(created.saturating_add(1000)),
        refresh_created: None,
        refresh_expires: None,
        status: RecordStatus::Active,
        cleared_at: None,
        authorized_by: None,
        cleared_by: None,
        superseded_by: None,
        revocation: None,
    }
}

fn per_page() -> impl Strategy<Value = PerPage> {
    prop::sample::select(PerPage::ALL.to_vec())
}

fn config() -> ConfigResponse {
    ConfigResponse {
        provider: "ups".into(),
        provider_name: "UPS.com".into(),
        authorize_url: "https://www.ups.com/lasso/signin".into(),
        client_id: "cid".into(),
        redirect_uri: "https://portal.example/admin/token-manager".into(),
        scope: "read".into(),
        pkce: true,
        challenge_method: true,
        extra_params: BTreeMap::from([("type".into(), "ups_com_api".into())]),
    }
}

/// JSON objects made of the token/error vocabulary with values of every JSON type.
fn jsonish() -> impl Strategy<Value = Vec<u8>> {
    let key = prop::sample::select(vec![
        "access_token",
        "refresh_token",
        "token_type",
        "expires_in",
        "issued_at",
        "refresh_token_issued_at",
        "refresh_token_expires_in",
        "refresh_expires_in",
        "scope",
        "error",
        "error_description",
        "response",
        "errors",
        "code",
        "message",
    ]);
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        any::<u64>().prop_map(|n| serde_json::json!(n)),
        any::<f64>().prop_map(|f| serde_json::json!(f)),
        any::<u64>().prop_map(|n| serde_json::json!(n.to_string())),
        ".{0,12}".prop_map(serde_json::Value::String),
    ];
    let value = leaf.prop_recursive(3, 24, 4, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(".{0,8}", inner, 0..3)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    prop::collection::btree_map(key, value, 0..8).prop_map(|m| {
        let obj: serde_json::Map<String, serde_json::Value> =
            m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        serde_json::to_vec(&obj).unwrap()
    })
}

/// Pages where Authorize may have been clicked (`return_to`), with and without query and fragment.
const RETURN_TOS: &[Option<&str>] = &[
    None,
    Some("/admin/token-manager"),
    Some("/admin/token-manager?company=c1"),
    Some("/admin/token-manager#top"),
    Some("/portal/acme"),
    Some("/portal/acme?x=1#frag"),
];

/// What `classify_return` tells the panel of company `me` on `url`, in a tab holding one
/// pending authorization per entry of `return_tos` (company `c{i}`, state from seed `i + 1`).
fn claim_for(me: usize, return_tos: &[Option<&str>], url: &str) -> ReturnClaim {
    let pending = |i: usize| {
        let seed = u8::try_from(i + 1).unwrap();
        let company = format!("c{i}");
        PendingAuthorization::start(
            &config(),
            &[seed; 64],
            Timestamp(0),
            &company,
            return_tos[i],
        )
        .unwrap()
        .1
        .marker()
    };
    classify_return(url, || TabPending {
        own: Some(pending(me)),
        opener: None,
        others: (0..return_tos.len())
            .filter(|&i| i != me)
            .map(pending)
            .collect(),
    })
}

/// The code of an `Ours` claim, if it is one.
fn claimed_code(claim: &ReturnClaim) -> Option<String> {
    match claim {
        ReturnClaim::Ours(own) => own
            .params
            .as_ref()
            .ok()?
            .code
            .as_ref()
            .map(|c| c.secret().clone()),
        _ => None,
    }
}

fn opt_ts() -> impl Strategy<Value = Option<Timestamp>> {
    prop::option::of(any::<i64>().prop_map(Timestamp))
}

fn grant_times() -> impl Strategy<Value = GrantTimes> {
    (any::<i64>(), any::<i64>(), opt_ts(), opt_ts()).prop_map(|(c, e, rc, re)| GrantTimes {
        token_created: Timestamp(c),
        token_expires: Timestamp(e),
        refresh_created: rc,
        refresh_expires: re,
    })
}

proptest! {
    /// After a refresh the access token's times are the answer's; the refresh token's are the
    /// answer's when it brought a refresh token (it has a creation time then), else the
    /// previous ones, whatever lifetimes either stated.
    #[test]
    fn refresh_times_follow_the_refresh_token_they_belong_to(
        previous in grant_times(),
        answer in grant_times(),
    ) {
        let after = GrantTimes::after_refresh(&previous, &answer);
        prop_assert_eq!(after.token_created, answer.token_created);
        prop_assert_eq!(after.token_expires, answer.token_expires);
        if answer.refresh_created.is_some() {
            prop_assert_eq!(after, answer);
        } else {
            prop_assert_eq!(after.refresh_created, previous.refresh_created);
            prop_assert_eq!(after.refresh_expires, previous.refresh_expires);
        }
    }

    #[test]
    fn paging_visits_every_record_exactly_once(count in 0usize..700, pp in per_page()) {
        let records: Vec<_> = (0..count).map(|i| record(i as i64, i as i64)).collect();
        let first = PageWindow::new(count as u64, 1, pp);
        let mut seen = Vec::new();
        for page in 1..=first.pages {
            let (w, rows) = paginate(&records, page, pp);
            prop_assert_eq!(w.page, page);
            prop_assert_eq!(rows.len() as u64, w.len);
            prop_assert!(w.len <= u64::from(pp.get()));
            prop_assert_eq!(w.has_prev(), page > 1);
            prop_assert_eq!(w.has_next(), page < first.pages);
            if count > 0 {
                prop_assert!(!rows.is_empty());
                prop_assert_eq!(w.range_label(), format!("{}-{} of {}", w.offset + 1, w.offset + w.len, count));
            } else {
                prop_assert_eq!(w.range_label(), "0 of 0");
            }
            seen.extend(rows.iter().map(|r| r.id));
        }
        prop_assert_eq!(seen, (0..count as i64).collect::<Vec<_>>());
        // Past the end clamps to the last page.
        let (w, _) = paginate(&records, first.pages.saturating_add(5), pp);
        prop_assert_eq!(w.page, first.pages);
    }

    #[test]
    fn windows_are_consistent_for_any_total(total in any::<u64>(), page in any::<u32>(), pp in per_page()) {
        let w = PageWindow::new(total, page, pp);
        prop_assert!(w.page >= 1 && w.page <= w.pages);
        prop_assert!(w.offset <= total);
        prop_assert!(w.len <= u64::from(pp.get()));
        prop_assert!(w.offset + w.len <= total);
    }

    #[test]
    fn newest_first_is_a_total_order(
        created in prop::collection::vec(0i64..5, 0..60),
        seed in any::<u64>(),
    ) {
        let records: Vec<_> = created.iter().enumerate().map(|(i, &c)| record(i as i64, c)).collect();
        let mut a = records.clone();
        sort_newest_first(&mut a);
        for pair in a.windows(2) {
            let (x, y) = (&pair[0], &pair[1]);
            prop_assert!(x.token_created > y.token_created || (x.token_created == y.token_created && x.id > y.id));
        }
        // Any input permutation sorts to the same sequence.
        let mut b = records;
        let n = b.len();
        if n > 1 {
            let mut s = seed;
            for i in (1..n).rev() {
                s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                b.swap(i, (s >> 33) as usize % (i + 1));
            }
        }
        sort_newest_first(&mut b);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn pending_authorization_round_trips(
        entropy in prop::collection::vec(any::<u8>(), 64),
        now in any::<i64>(),
        company in "[A-Za-z0-9 .&-]{1,40}",
    ) {
        prop_assume!(!company.trim().is_empty());
        let entropy: [u8; 64] = entropy.try_into().unwrap();
        let (url, pending) = PendingAuthorization::start(&config(), &entropy, Timestamp(now), &company, Some("/admin")).unwrap();
        let json = serde_json::to_string(&pending).unwrap();
        let back: PendingAuthorization = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(serde_json::to_string(&back).unwrap(), json);
        prop_assert_eq!(&back.company, company.trim());
        prop_assert_eq!(back.created_at, Timestamp(now));
        let state: String = url.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
        prop_assert!(back.marker().state_matches(&state));
        prop_assert!(state.len() >= 22, "state carries at least 128 bits");
        let params = CallbackParams::parse(&format!("?code=c&state={state}")).unwrap().unwrap();
        let ex = back.handle_callback(params, Timestamp(now), DEFAULT_MAX_AGE).unwrap();
        let verifier = ex.code_verifier.secret().clone();
        prop_assert!((43..=128).contains(&verifier.len()));
        prop_assert!(verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b)));
    }

    #[test]
    fn callback_parser_never_panics(input in any::<String>()) {
        let _ = CallbackParams::parse(&input);
        let stripped = strip_callback_params(&input);
        prop_assert_eq!(strip_callback_params(&stripped), stripped.clone());
        let _ = is_safe_return_to(&input);
    }

    #[test]
    fn callback_parser_never_panics_on_query_like_input(
        pairs in prop::collection::vec(
            (prop::sample::select(vec!["code", "state", "error", "error_description", "iss", "x", "%63ode"]), "[^&#]{0,40}"),
            0..6,
        ),
        prefix in prop::sample::select(vec!["", "?", "https://h/p?", "/p?"]),
    ) {
        let q: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let input = format!("{prefix}{}", q.join("&"));
        let _ = CallbackParams::parse(&input);
        let stripped = strip_callback_params(&input);
        // `strip_callback_params` takes URLs (`…?query`), not bare queries.
        if let (false, Ok(Some(p))) = (prefix.is_empty(), CallbackParams::parse(&stripped)) {
            prop_assert!(p.code.is_none() && p.state.is_none() && p.error.is_none(), "{stripped}");
        }
    }

    #[test]
    fn exactly_one_panel_claims_a_return_and_a_hand_over_is_final(
        return_tos in prop::collection::vec(prop::sample::select(RETURN_TOS.to_vec()), 1..5),
        owner in any::<prop::sample::Index>(),
        code in "[A-Za-z0-9_-]{1,24}",
        page in prop::sample::select(vec!["/admin/token-manager", "/admin/token-manager?company=c1", "/portal/acme"]),
        extra in prop::sample::select(vec!["", "tab=1&", "scope=read&"]),
        fragment in prop::sample::select(vec!["", "#top"]),
    ) {
        let origin = "https://portal.example";
        let k = owner.index(return_tos.len());
        let seed = u8::try_from(k + 1).unwrap();
        let (authorize_url, _) = PendingAuthorization::start(&config(), &[seed; 64], Timestamp(0), "x", None).unwrap();
        let state = authorize_url.query_pairs().find(|(key, _)| key == "state").unwrap().1.into_owned();
        let sep = if page.contains('?') { '&' } else { '?' };
        let url = format!("{origin}{page}{sep}{extra}code={code}&state={state}{fragment}");

        // The owner's panel takes it, wherever it is shown.
        prop_assert_eq!(claimed_code(&claim_for(k, &return_tos, &url)), Some(code.clone()), "{}", url);
        // Every other panel leaves it alone or carries it to the owner's page, and they agree.
        let others: Vec<ReturnClaim> = (0..return_tos.len()).filter(|&j| j != k).map(|j| claim_for(j, &return_tos, &url)).collect();
        let mut targets = Vec::new();
        for claim in &others {
            match claim {
                ReturnClaim::NotOurs => {}
                ReturnClaim::HandOver(target) => targets.push(target.clone()),
                other => prop_assert!(false, "{url}: another panel claimed {other:?}"),
            }
        }
        prop_assert!(targets.is_empty() || targets.len() == others.len(), "{url}: {others:?}");
        if let Some(target) = targets.first() {
            // The owner's page exactly (its query and fragment), with the return's parameters.
            prop_assert!(is_safe_return_to(target), "{}", target);
            let page_of_target = strip_callback_params(target);
            prop_assert_eq!(Some(page_of_target.as_str()), return_tos[k], "{}", url);
            let there = format!("{origin}{target}");
            prop_assert_eq!(claimed_code(&claim_for(k, &return_tos, &there)), Some(code.clone()), "{}", there);
            // Final: no panel on that page carries it on.
            for j in (0..return_tos.len()).filter(|&j| j != k) {
                let claim = claim_for(j, &return_tos, &there);
                prop_assert!(matches!(claim, ReturnClaim::NotOurs), "{there}: {claim:?}");
            }
        }
    }

    #[test]
    fn safe_return_to_stays_on_origin(input in "/[ -~]{0,30}") {
        if is_safe_return_to(&input) {
            let base = url::Url::parse("https://portal.example/admin").unwrap();
            let joined = base.join(&input).unwrap();
            prop_assert_eq!(joined.host_str(), Some("portal.example"));
        }
    }

    #[test]
    fn token_parsers_never_panic(status in any::<u16>(), body in prop::collection::vec(any::<u8>(), 0..256), now in any::<i64>()) {
        let _ = parse_token_response(status, &body, Timestamp(now));
        let e = parse_error_response(status, &body);
        prop_assert_eq!(e.status, Some(status));
        let _ = ProviderConfig::from_metadata(&body, "c", "https://p.example/cb", "");
    }

    #[test]
    fn token_parsers_never_panic_on_jsonish(status in prop::sample::select(vec![200u16, 201, 400, 401, 403, 429, 500, 503]), body in jsonish(), now in any::<i64>()) {
        match parse_token_response(status, &body, Timestamp(now)) {
            Ok(g) => {
                prop_assert!((200..300).contains(&status));
                prop_assert!(g.token_expires >= g.token_created);
                prop_assert_eq!(g.refresh_created.is_some(), g.refresh_token.is_some());
            }
            Err(e) => prop_assert_eq!(e.status, Some(status)),
        }
        let _ = parse_error_response(status, &body);
        let mut c = ProviderConfig::ups("https://wwwcie.ups.com", "cid", "https://p.example/cb").unwrap();
        let _ = c.apply_validate_client(status, &body);
    }

    #[test]
    fn formatting_never_panics(ms in any::<i64>(), offset in any::<i32>()) {
        let g = Timestamp(ms).format_grid(offset);
        prop_assert_eq!(g.len(), 22);
        let iso = Timestamp(ms).to_iso8601();
        prop_assert!(iso.ends_with('Z') && iso.len() == 24, "{}", iso);
    }
}
