//! The behaviour of [`Store`], written once: every engine runs [`run_all`] in its tests.
//!
//! The suite drives a store only through the trait, with core's lifecycle producing the
//! transitions as the host does, and asserts what the rest of the host relies on: one
//! generation per change, the lease, due work, paging, seeding, Clear wiping the pair, key
//! rotation. It panics (as tests do) on the first broken expectation, naming the case.
#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::sync::Arc;

use oauth2::{AccessToken, RefreshToken};
use token_manager_core::history::{PerPage, RecordStatus};
use token_manager_core::lifecycle::{Authorization, Event, RefreshPolicy};
use token_manager_core::{AuthorizationStatus, GrantTimes, Timestamp};

use super::{Claim, ClaimKind, ClaimOutcome, Committed, Lease, Store, StoreError, Transition};
use crate::crypto::{TokenCipher, TokenKey};
use crate::tokens::TokenPair;

const H: i64 = 3_600_000;

/// Run every case. `open(name, cipher)` opens the database called `name` (the same name: the
/// same database, as a second host process or a restart would see it) over `cipher`; a new
/// name is an empty, migrated database.
pub(crate) async fn run_all<F, Fut>(open: F)
where
    F: Fn(String, TokenCipher) -> Fut,
    Fut: Future<Output = Arc<dyn Store>>,
{
    let key = TokenKey::generate();
    let fresh = |case: &str| open(case.to_owned(), TokenCipher::new(&key));
    grant_supersede_page_and_claim(fresh("grant").await.as_ref()).await;
    seeding_only_when_empty(fresh("seed").await.as_ref()).await;
    pages_from_both_ends_agree_with_one_ordering(fresh("pages").await.as_ref()).await;
    leases_exclude_other_owners_until_they_expire(fresh("lease").await.as_ref()).await;
    claims_follow_the_state(fresh("claims").await.as_ref()).await;
    clear_wipes_the_pair_and_marks_the_records(fresh("clear").await.as_ref()).await;
    a_refused_commit_changes_nothing(fresh("refused").await.as_ref()).await;
    a_grant_by_another_user_supersedes_and_clear_names_who(fresh("people").await.as_ref()).await;
    pending_authorizations_are_single_use_and_bound(fresh("pending").await.as_ref()).await;
    a_second_handle_sees_every_commit(
        fresh("shared").await.as_ref(),
        fresh("shared").await.as_ref(),
    )
    .await;
    // Key rotation: sealed under `old`, reopened with `new` (+ `old` during the rotation).
    let (old, new) = (TokenKey::generate(), TokenKey::generate());
    let name = "rotation".to_owned();
    let first = open(name.clone(), TokenCipher::new(&old)).await;
    grant(first.as_ref(), "acme", 0, 1).await;
    drop(first);
    let unknown = open(name.clone(), TokenCipher::new(&TokenKey::generate())).await;
    assert!(
        matches!(unknown.reencrypt().await, Err(StoreError::Corrupt(_))),
        "rotation: a value no key opens fails the whole rotation"
    );
    drop(unknown);
    let rotating = open(name.clone(), TokenCipher::with_old_keys(&new, &[old])).await;
    assert_eq!(
        rotating.reencrypt().await.unwrap(),
        2,
        "rotation: access + refresh"
    );
    assert_eq!(
        rotating.reencrypt().await.unwrap(),
        0,
        "rotation: done once"
    );
    drop(rotating);
    let after = open(name, TokenCipher::new(&new)).await;
    let tokens = inspect(after.as_ref(), "acme").await.unwrap();
    assert_eq!(tokens.access.secret(), "access-1", "rotation");
}

/// The grant times of an opt-in at `at`.
pub(crate) fn times(at: i64) -> GrantTimes {
    GrantTimes {
        token_created: Timestamp(at),
        token_expires: Timestamp(at + 4 * H),
        refresh_created: Some(Timestamp(at)),
        refresh_expires: Some(Timestamp(at + 1000 * H)),
    }
}

/// Token pair number `n`.
pub(crate) fn pair(n: u32) -> TokenPair {
    TokenPair {
        access: AccessToken::new(format!("access-{n}")),
        refresh: Some(RefreshToken::new(format!("refresh-{n}"))),
    }
}

/// Feed `event` to the company's stored state and commit the result as the host does, as
/// user `admin`.
pub(crate) async fn apply(
    store: &dyn Store,
    company: &str,
    event: Event,
    at: i64,
    tokens: Option<TokenPair>,
) -> Result<Committed, StoreError> {
    apply_as(store, company, event, at, tokens, "admin").await
}

/// [`apply`] as portal user `user`.
pub(crate) async fn apply_as(
    store: &dyn Store,
    company: &str,
    event: Event,
    at: i64,
    tokens: Option<TokenPair>,
    user: &str,
) -> Result<Committed, StoreError> {
    let event_kind = match &event {
        Event::Granted(_) => EventKind::Grant,
        _ => EventKind::Other,
    };
    let cur = store.authorization(company).await?;
    let (next, actions) = cur
        .state
        .handle(event, Timestamp(at), &RefreshPolicy::default());
    store
        .commit(Transition {
            company: company.into(),
            expected_generation: Some(cur.generation),
            lease_owner: None,
            next,
            actions,
            tokens,
            authorized_by: matches!(event_kind, EventKind::Grant).then(|| user.to_owned()),
            actor: Some(user.to_owned()),
            now: Timestamp(at),
        })
        .await
}

enum EventKind {
    Grant,
    Other,
}

/// An opt-in at `at` with pair `n`.
pub(crate) async fn grant(store: &dyn Store, company: &str, at: i64, n: u32) -> Committed {
    apply(store, company, Event::Granted(times(at)), at, Some(pair(n)))
        .await
        .expect("a grant commits")
}

/// The stored pair, read through a Clear claim released at once.
async fn inspect(store: &dyn Store, company: &str) -> Option<TokenPair> {
    let lease = acquired(
        store
            .claim(claim(
                company,
                "inspector",
                Timestamp(0),
                Timestamp(1),
                ClaimKind::Clear,
            ))
            .await
            .unwrap(),
    );
    store.release(company, "inspector").await.unwrap();
    lease.tokens
}

/// The lease of `company` for `owner`, as the host asks for it.
fn claim(company: &str, owner: &str, now: Timestamp, until: Timestamp, kind: ClaimKind) -> Claim {
    Claim {
        company: company.to_owned(),
        owner: owner.to_owned(),
        kind,
        now,
        until,
    }
}

fn acquired(outcome: ClaimOutcome) -> Lease {
    match outcome {
        ClaimOutcome::Acquired(l) => l,
        other => panic!("expected the lease, got {other:?}"),
    }
}

async fn grant_supersede_page_and_claim(store: &dyn Store) {
    let c1 = grant(store, "acme", 0, 1).await;
    assert_eq!(c1.appended.as_ref().unwrap().status, RecordStatus::Active);
    grant(store, "acme", H, 2).await;
    let page = store.history_page("acme", 1, PerPage::Ten).await.unwrap();
    assert_eq!(page.window.total, 2);
    assert_eq!(
        page.rows.iter().map(|r| r.status).collect::<Vec<_>>(),
        [RecordStatus::Active, RecordStatus::Refreshed]
    );
    assert_eq!(page.rows[0].authorized_by.as_deref(), Some("admin"));
    // Not due yet.
    assert!(store
        .due_companies(Timestamp(H), 10)
        .await
        .unwrap()
        .is_empty());
    let due_at = Timestamp(5 * H);
    assert_eq!(store.due_companies(due_at, 10).await.unwrap(), ["acme"]);
    let until = Timestamp(5 * H + 1000);
    let lease = acquired(
        store
            .claim(claim("acme", "a", due_at, until, ClaimKind::Refresh))
            .await
            .unwrap(),
    );
    assert_eq!(lease.tokens.unwrap().access.secret(), "access-2");
    assert!(matches!(
        store
            .claim(claim("acme", "b", due_at, until, ClaimKind::Refresh))
            .await
            .unwrap(),
        ClaimOutcome::Busy { .. }
    ));
    assert!(store.due_companies(due_at, 10).await.unwrap().is_empty());
    // A stale generation is refused.
    let stale = Transition {
        company: "acme".into(),
        expected_generation: Some(lease.row.generation - 1),
        lease_owner: Some("a".into()),
        next: Authorization::NotAuthorized,
        actions: vec![],
        tokens: None,
        authorized_by: None,
        actor: None,
        now: due_at,
    };
    assert!(matches!(
        store.commit(stale).await,
        Err(StoreError::Conflict)
    ));
    store.release("acme", "a").await.unwrap();
    assert_eq!(store.due_companies(due_at, 10).await.unwrap(), ["acme"]);
}

async fn seeding_only_when_empty(store: &dyn Store) {
    let rows: Vec<_> = (0..23).map(|i| times(i * H)).collect();
    assert_eq!(
        store
            .seed_history("acme", rows.clone(), "admin")
            .await
            .unwrap(),
        23
    );
    assert_eq!(store.seed_history("acme", rows, "admin").await.unwrap(), 0);
    let page = store.history_page("acme", 3, PerPage::Ten).await.unwrap();
    assert_eq!(page.window.range_label(), "21-23 of 23");
    assert_eq!(page.rows[0].token_created, Timestamp(2 * H));
}

/// Pages read from either end of the index join up into the one newest-first order (ties on
/// `token_created` broken by id), for every page size.
async fn pages_from_both_ends_agree_with_one_ordering(store: &dyn Store) {
    // 57 rows, every third sharing its creation time with the previous one.
    let rows: Vec<_> = (0..57).map(|i| times((i - i / 3) * H)).collect();
    store
        .seed_history("acme", rows.clone(), "admin")
        .await
        .unwrap();
    store
        .seed_history("other", rows[..5].to_vec(), "admin")
        .await
        .unwrap();
    // The reference order: one page holding every row, checked to be strictly newest first.
    let all: Vec<(i64, i64)> = store
        .history_page("acme", 1, PerPage::Hundred)
        .await
        .unwrap()
        .rows
        .iter()
        .map(|r| (r.token_created.0, r.id))
        .collect();
    assert_eq!(all.len(), 57);
    assert!(all.windows(2).all(|w| w[0] > w[1]), "{all:?}");
    for per in PerPage::ALL {
        let mut seen = Vec::new();
        let pages = store
            .history_page("acme", 1, per)
            .await
            .unwrap()
            .window
            .pages;
        for p in 1..=pages {
            let page = store.history_page("acme", p, per).await.unwrap();
            assert_eq!(page.window.total, 57);
            assert_eq!(page.rows.len() as u64, page.window.len);
            seen.extend(page.rows.iter().map(|r| (r.token_created.0, r.id)));
        }
        assert_eq!(seen, all, "{per:?}");
    }
    let total = |c: &'static str| async move {
        store
            .history_page(c, 1, PerPage::Ten)
            .await
            .unwrap()
            .window
            .total
    };
    assert_eq!(total("other").await, 5);
    assert_eq!(total("none").await, 0);
}

async fn leases_exclude_other_owners_until_they_expire(store: &dyn Store) {
    grant(store, "acme", 0, 1).await;
    let now = Timestamp(H);
    acquired(
        store
            .claim(claim("acme", "a", now, Timestamp(H + 10), ClaimKind::Use))
            .await
            .unwrap(),
    );
    // Another owner waits; the holder may claim again (renew).
    assert!(matches!(
        store.claim(claim("acme", "b", now, Timestamp(H + 10), ClaimKind::Use)).await.unwrap(),
        ClaimOutcome::Busy { until } if until == Timestamp(H + 10)
    ));
    acquired(
        store
            .claim(claim("acme", "a", now, Timestamp(H + 20), ClaimKind::Use))
            .await
            .unwrap(),
    );
    // Releasing someone else's lease does nothing.
    store.release("acme", "b").await.unwrap();
    assert!(matches!(
        store
            .claim(claim("acme", "b", now, Timestamp(H + 20), ClaimKind::Use))
            .await
            .unwrap(),
        ClaimOutcome::Busy { .. }
    ));
    // An expired lease is free for anyone.
    acquired(
        store
            .claim(claim(
                "acme",
                "b",
                Timestamp(H + 20),
                Timestamp(H + 30),
                ClaimKind::Use,
            ))
            .await
            .unwrap(),
    );
    // A commit naming the holder releases the lease.
    let row = store.authorization("acme").await.unwrap();
    let (next, actions) = row.state.handle(
        Event::Refreshed(times(2 * H)),
        Timestamp(2 * H),
        &RefreshPolicy::default(),
    );
    store
        .commit(Transition {
            company: "acme".into(),
            expected_generation: Some(row.generation),
            lease_owner: Some("b".into()),
            next,
            actions,
            tokens: Some(pair(2)),
            authorized_by: None,
            actor: None,
            now: Timestamp(2 * H),
        })
        .await
        .unwrap();
    let lease = acquired(
        store
            .claim(claim(
                "acme",
                "c",
                Timestamp(H + 21),
                Timestamp(H + 40),
                ClaimKind::Use,
            ))
            .await
            .unwrap(),
    );
    assert_eq!(lease.tokens.unwrap().access.secret(), "access-2");
    // Refreshes keep who opted in.
    assert_eq!(lease.row.authorized_by.as_deref(), Some("admin"));
}

async fn claims_follow_the_state(store: &dyn Store) {
    let now = Timestamp(0);
    let until = Timestamp(10);
    // Never seen: nothing to refresh or use; Clear creates the row and takes the lease.
    for kind in [ClaimKind::Refresh, ClaimKind::Use] {
        assert!(matches!(
            store
                .claim(claim("new", "a", now, until, kind))
                .await
                .unwrap(),
            ClaimOutcome::Nothing
        ));
    }
    let lease = acquired(
        store
            .claim(claim("new", "a", now, until, ClaimKind::Clear))
            .await
            .unwrap(),
    );
    assert_eq!(lease.row.state, Authorization::NotAuthorized);
    assert!(lease.tokens.is_none());
    store.release("new", "a").await.unwrap();
    // Active and not due: usable, not refreshable.
    grant(store, "acme", 0, 1).await;
    assert!(matches!(
        store
            .claim(claim(
                "acme",
                "a",
                Timestamp(H),
                Timestamp(H + 1),
                ClaimKind::Refresh
            ))
            .await
            .unwrap(),
        ClaimOutcome::Nothing
    ));
    acquired(
        store
            .claim(claim(
                "acme",
                "a",
                Timestamp(H),
                Timestamp(H + 1),
                ClaimKind::Use,
            ))
            .await
            .unwrap(),
    );
    store.release("acme", "a").await.unwrap();
    assert_eq!(store.active_companies().await.unwrap(), ["acme"]);
    let view = store.history_view("acme", 1, PerPage::Ten).await.unwrap();
    assert_eq!(view.row.state.status(), AuthorizationStatus::Active);
    assert!(view.row.has_tokens);
    assert_eq!(view.page.window.total, 1);
    let view = store.history_view("none", 1, PerPage::Ten).await.unwrap();
    assert_eq!(view.row.state, Authorization::NotAuthorized);
    assert_eq!(view.page.window.total, 0);
}

async fn clear_wipes_the_pair_and_marks_the_records(store: &dyn Store) {
    grant(store, "acme", 0, 1).await;
    grant(store, "acme", H, 2).await;
    let done = apply(store, "acme", Event::Cleared, 2 * H, None)
        .await
        .unwrap();
    assert!(done.appended.is_none());
    let row = store.authorization("acme").await.unwrap();
    assert_eq!(row.state.status(), AuthorizationStatus::Cleared);
    assert!(!row.has_tokens);
    assert!(row.next_refresh.is_none());
    assert!(inspect(store, "acme").await.is_none());
    assert!(store.active_companies().await.unwrap().is_empty());
    assert!(store
        .due_companies(Timestamp(100 * H), 10)
        .await
        .unwrap()
        .is_empty());
    let page = store.history_page("acme", 1, PerPage::Ten).await.unwrap();
    assert_eq!(
        page.rows.iter().map(|r| r.status).collect::<Vec<_>>(),
        [RecordStatus::Cleared, RecordStatus::Refreshed]
    );
    assert_eq!(page.rows[0].cleared_at, Some(Timestamp(2 * H)));
    store.purge().await.unwrap();
}

async fn a_refused_commit_changes_nothing(store: &dyn Store) {
    let before = grant(store, "acme", 0, 1).await;
    let err = apply(store, "acme", Event::Granted(times(H)), H, None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Misuse(_)), "{err:?}");
    let row = store.authorization("acme").await.unwrap();
    assert_eq!(row.generation, before.generation);
    assert_eq!(
        inspect(store, "acme").await.unwrap().access.secret(),
        "access-1"
    );
    let page = store.history_page("acme", 1, PerPage::Ten).await.unwrap();
    assert_eq!(page.window.total, 1);
}

/// Two handles on one database (two host processes): each sees the other's commits, the lease
/// is shared, and a commit from a stale read is refused.
async fn a_second_handle_sees_every_commit(a: &dyn Store, b: &dyn Store) {
    let done = grant(a, "acme", 0, 1).await;
    let seen = b.authorization("acme").await.unwrap();
    assert_eq!(seen.generation, done.generation);
    acquired(
        a.claim(claim(
            "acme",
            "host-a",
            Timestamp(H),
            Timestamp(H + 10),
            ClaimKind::Use,
        ))
        .await
        .unwrap(),
    );
    assert!(matches!(
        b.claim(claim(
            "acme",
            "host-b",
            Timestamp(H),
            Timestamp(H + 10),
            ClaimKind::Use
        ))
        .await
        .unwrap(),
        ClaimOutcome::Busy { .. }
    ));
    a.release("acme", "host-a").await.unwrap();
    grant(b, "acme", H, 2).await;
    let stale = Transition {
        company: "acme".into(),
        expected_generation: Some(done.generation),
        lease_owner: None,
        next: Authorization::NotAuthorized,
        actions: vec![],
        tokens: None,
        authorized_by: None,
        actor: None,
        now: Timestamp(2 * H),
    };
    assert!(matches!(a.commit(stale).await, Err(StoreError::Conflict)));
    assert_eq!(
        inspect(a, "acme").await.unwrap().access.secret(),
        "access-2"
    );
}

/// Another user's opt-in over an Active authorization is recorded as superseded by them; the
/// same user's as refreshed; Clear names who cleared.
async fn a_grant_by_another_user_supersedes_and_clear_names_who(store: &dyn Store) {
    grant(store, "acme", 0, 1).await;
    let granted = |at, n, user| async move {
        apply_as(
            store,
            "acme",
            Event::Granted(times(at)),
            at,
            Some(pair(n)),
            user,
        )
        .await
        .unwrap()
    };
    granted(H, 2, "bob").await;
    granted(2 * H, 3, "bob").await;
    apply_as(store, "acme", Event::Cleared, 3 * H, None, "carol")
        .await
        .unwrap();
    let rows = store
        .history_page("acme", 1, PerPage::Ten)
        .await
        .unwrap()
        .rows;
    let seen: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.status,
                r.authorized_by.as_deref(),
                r.superseded_by.as_deref(),
                r.cleared_by.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (RecordStatus::Cleared, Some("bob"), None, Some("carol")),
            (RecordStatus::Refreshed, Some("bob"), None, None),
            (RecordStatus::Superseded, Some("admin"), Some("bob"), None),
        ]
    );
}

/// A started authorization is taken once, by the user who started it, for its company, before
/// it expires; a mismatched attempt leaves it for its owner.
async fn pending_authorizations_are_single_use_and_bound(store: &dyn Store) {
    use token_manager_core::api::ConfigResponse;
    use token_manager_core::PendingAuthorization;

    use super::{PendingRecord, PendingTake};

    let config = ConfigResponse {
        provider: "ups".into(),
        provider_name: "UPS.com".into(),
        authorize_url: "https://idp.example/authorize".into(),
        client_id: "c".into(),
        redirect_uri: "https://portal.example/cb".into(),
        scope: String::new(),
        pkce: true,
        extra_params: Default::default(),
    };
    let start = |seed: u8| {
        PendingAuthorization::start(&config, &[seed; 64], Timestamp(0), "acme", None)
            .unwrap()
            .1
    };
    let hash = |p: &PendingAuthorization| {
        let d = ring::digest::digest(&ring::digest::SHA256, p.state().secret().as_bytes());
        <[u8; 32]>::try_from(d.as_ref()).unwrap()
    };
    let record = |p: PendingAuthorization, expires: i64| PendingRecord {
        state_hash: hash(&p),
        company: "acme".into(),
        user: "ada".into(),
        pending: p,
        expires_at: Timestamp(expires),
    };
    let take = |hash: [u8; 32], user: &'static str, company: &'static str, at: i64| async move {
        store
            .take_pending(hash, user, company, Timestamp(at))
            .await
            .unwrap()
    };
    // Keep a started authorization (expiring at `expires`, stored at `now`); its state's hash.
    let put = |p: PendingAuthorization, expires: i64, now: i64| async move {
        let h = hash(&p);
        store
            .put_pending(record(p, expires), Timestamp(now))
            .await
            .unwrap();
        h
    };
    let first = start(1);
    let state1 = first.state().secret().clone();
    let h1 = put(first, 10 * H, 0).await;
    // Another user, another company: refused, and still there for its owner.
    for (user, company) in [("eve", "acme"), ("ada", "globex")] {
        assert!(matches!(
            store
                .take_pending(h1, user, company, Timestamp(H))
                .await
                .unwrap(),
            PendingTake::Mismatch
        ));
    }
    match take(h1, "ada", "acme", H).await {
        PendingTake::Taken(p) => assert_eq!(p.state().secret(), &state1),
        other => panic!("{other:?}"),
    }
    // Single use.
    assert!(matches!(
        take(h1, "ada", "acme", H).await,
        PendingTake::Missing
    ));
    // Expired: removed when found, and by the next put.
    let h2 = put(start(2), H, 0).await;
    assert!(matches!(
        take(h2, "ada", "acme", H).await,
        PendingTake::Expired
    ));
    assert!(matches!(
        take(h2, "ada", "acme", 0).await,
        PendingTake::Missing
    ));
    let h3 = put(start(3), H, 0).await;
    put(start(4), 10 * H, 2 * H).await;
    assert!(matches!(
        take(h3, "ada", "acme", 0).await,
        PendingTake::Missing
    ));
    // Companies are created and renamed.
    store
        .upsert_companies(vec![("acme".into(), "Acme Corp".into())], Timestamp(0))
        .await
        .unwrap();
    store
        .upsert_companies(
            vec![("acme".into(), "Acme Corporation".into())],
            Timestamp(1),
        )
        .await
        .unwrap();
}
