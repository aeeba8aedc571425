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

use super::{
    AttemptResult, Claim, ClaimKind, ClaimOutcome, Committed, DeliveryStatus, Lease, OutboxEvent,
    Store, StoreError, Transition,
};
use crate::crypto::{TokenCipher, TokenKey};
use crate::tokens::TokenPair;
use token_manager_core::webhook::{EventType, WebhookEvent};

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
    events_are_written_with_their_change_only(fresh("outbox").await.as_ref()).await;
    deliveries_go_out_in_order_per_endpoint_and_company(fresh("queue").await.as_ref()).await;
    tokens_are_read_without_the_lease_and_authorizations_paged(fresh("read").await.as_ref()).await;
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
            revocation: None,
            expected_generation: Some(cur.generation),
            lease_owner: None,
            next,
            actions,
            tokens,
            authorized_by: matches!(event_kind, EventKind::Grant).then(|| user.to_owned()),
            actor: Some(user.to_owned()),
            now: Timestamp(at),
            events: Vec::new(),
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
        ClaimOutcome::Acquired(l) => *l,
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
    let until = Timestamp(5 * H + 1000);
    assert!(store
        .claim_due("a", Timestamp(H), until, 10)
        .await
        .unwrap()
        .is_empty());
    let due_at = Timestamp(5 * H);
    assert_eq!(
        store.claim_due("a", due_at, until, 10).await.unwrap(),
        ["acme"]
    );
    // Leased to "a" by the scan: "a" claims it, nobody else does or finds it due.
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
    assert!(store
        .claim_due("b", due_at, until, 10)
        .await
        .unwrap()
        .is_empty());
    // A stale generation is refused.
    let stale = Transition {
        company: "acme".into(),
        revocation: None,
        expected_generation: Some(lease.row.generation - 1),
        lease_owner: Some("a".into()),
        next: Authorization::NotAuthorized,
        actions: vec![],
        tokens: None,
        authorized_by: None,
        actor: None,
        now: due_at,
        events: Vec::new(),
    };
    assert!(matches!(
        store.commit(stale).await,
        Err(StoreError::Conflict)
    ));
    store.release("acme", "a").await.unwrap();
    assert_eq!(
        store.claim_due("b", due_at, until, 10).await.unwrap(),
        ["acme"]
    );
    // A lease from a scan that is never released (its host died) frees the company when it
    // expires.
    assert!(store
        .claim_due("c", due_at, until, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .claim_due("c", until, Timestamp(6 * H), 10)
            .await
            .unwrap(),
        ["acme"]
    );
    store.release("acme", "c").await.unwrap();
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
            revocation: None,
            expected_generation: Some(row.generation),
            lease_owner: Some("b".into()),
            next,
            actions,
            tokens: Some(pair(2)),
            authorized_by: None,
            actor: None,
            now: Timestamp(2 * H),
            events: Vec::new(),
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
        .claim_due("a", Timestamp(100 * H), Timestamp(101 * H), 10)
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
        revocation: None,
        expected_generation: Some(done.generation),
        lease_owner: None,
        next: Authorization::NotAuthorized,
        actions: vec![],
        tokens: None,
        authorized_by: None,
        actor: None,
        now: Timestamp(2 * H),
        events: Vec::new(),
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
        challenge_method: true,
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

/// An outbox entry of `kind` for `company`, to `endpoints`.
fn event(id: &str, kind: EventType, company: &str, endpoints: &[&str]) -> OutboxEvent {
    OutboxEvent {
        id: id.to_owned(),
        event: WebhookEvent::new(kind, company, AuthorizationStatus::Active, Timestamp(0)),
        endpoints: endpoints.iter().map(|e| (*e).to_owned()).collect(),
    }
}

/// Commit a grant of pair `n` at `at` carrying `events`.
async fn grant_with(
    store: &dyn Store,
    company: &str,
    at: i64,
    n: u32,
    expected: Option<i64>,
    events: Vec<OutboxEvent>,
) -> Result<Committed, StoreError> {
    let cur = store.authorization(company).await?;
    let (next, actions) = cur.state.handle(
        Event::Granted(times(at)),
        Timestamp(at),
        &RefreshPolicy::default(),
    );
    store
        .commit(Transition {
            company: company.into(),
            revocation: None,
            expected_generation: Some(expected.unwrap_or(cur.generation)),
            lease_owner: None,
            next,
            actions,
            tokens: Some(pair(n)),
            authorized_by: Some("admin".into()),
            actor: Some("admin".into()),
            now: Timestamp(at),
            events,
        })
        .await
}

async fn events_are_written_with_their_change_only(store: &dyn Store) {
    let done = grant_with(
        store,
        "acme",
        0,
        1,
        None,
        vec![event(
            "msg_1",
            EventType::Granted,
            "acme",
            &["http://a", "http://b"],
        )],
    )
    .await
    .unwrap();
    let (total, rows) = store.list_deliveries(None, 0, 10).await.unwrap();
    assert_eq!(total, 2, "outbox: one delivery per endpoint");
    assert!(rows.iter().all(|d| d.event_id == "msg_1"
        && d.status == DeliveryStatus::Pending
        && d.event_type == "authorization.granted"
        && d.attempts == 0));
    // The granted event carries the record the same transaction appended.
    let payload: serde_json::Value = serde_json::from_str(&rows[0].payload).unwrap();
    assert_eq!(
        payload["data"]["record"]["id"],
        done.appended.unwrap().id,
        "outbox: the record of the change"
    );
    assert!(
        !rows[0].payload.contains("access-1"),
        "outbox: never a token"
    );
    // A refused change writes no event.
    let refused = grant_with(
        store,
        "acme",
        H,
        2,
        Some(done.generation - 1),
        vec![event("msg_2", EventType::Granted, "acme", &["http://a"])],
    )
    .await;
    assert!(matches!(refused, Err(StoreError::Conflict)));
    assert_eq!(store.list_deliveries(None, 0, 10).await.unwrap().0, 2);
}

async fn deliveries_go_out_in_order_per_endpoint_and_company(store: &dyn Store) {
    for (i, company) in ["acme", "acme", "acme", "globex"].iter().enumerate() {
        grant_with(
            store,
            company,
            i64::try_from(i).unwrap() * H,
            1,
            None,
            vec![event(
                &format!("msg_{i}"),
                EventType::Granted,
                company,
                &["http://a"],
            )],
        )
        .await
        .unwrap();
    }
    let t = Timestamp(10 * H);
    let until = Timestamp(10 * H + 1000);
    // The head of each queue only: acme's first event, globex's.
    let first = store.claim_deliveries("a", t, until, 10).await.unwrap();
    let mut ids: Vec<_> = first.iter().map(|d| d.event_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(ids, ["msg_0", "msg_3"], "queue: heads only");
    // Claimed: nobody else gets them (nor what queues behind them).
    assert!(store
        .claim_deliveries("b", t, until, 10)
        .await
        .unwrap()
        .is_empty());
    let acme = first.iter().find(|d| d.event_id == "msg_0").unwrap();
    let globex = first.iter().find(|d| d.event_id == "msg_3").unwrap();
    // Only the claim's owner records an attempt.
    store
        .finish_delivery(acme.id, "b", AttemptResult::Delivered { status: 200 }, t)
        .await
        .unwrap();
    assert!(store
        .claim_deliveries("b", t, until, 10)
        .await
        .unwrap()
        .is_empty());
    store
        .finish_delivery(acme.id, "a", AttemptResult::Delivered { status: 204 }, t)
        .await
        .unwrap();
    // A failure backs off: not due before `next`, then the same delivery again.
    let retry_at = Timestamp(10 * H + 5000);
    store
        .finish_delivery(
            globex.id,
            "a",
            AttemptResult::Failed {
                status: Some(503),
                error: "the endpoint answered 503".into(),
                next: Some(retry_at),
            },
            t,
        )
        .await
        .unwrap();
    let next = store.claim_deliveries("a", t, until, 10).await.unwrap();
    assert_eq!(
        next.iter().map(|d| d.event_id.as_str()).collect::<Vec<_>>(),
        ["msg_1"],
        "queue: acme's second after its first"
    );
    // The sender next wakes when msg_1's claim would expire (it is in flight), not for msg_2
    // (queued behind it) nor before globex's retry.
    assert_eq!(store.next_delivery_due().await.unwrap(), Some(until));
    let again = store
        .claim_deliveries("a", retry_at, Timestamp(retry_at.0 + 1000), 10)
        .await
        .unwrap();
    // globex's retry, and msg_1 again: its claim (until 10 h + 1 s) has expired unfinished.
    assert_eq!(again.len(), 2);
    let retried = again.iter().find(|d| d.event_id == "msg_3").unwrap();
    assert_eq!(
        (retried.attempts, retried.streak, retried.last_status),
        (1, 1, Some(503))
    );
    // The give-up age counts from its first attempt, not from when it was written.
    assert_eq!(retried.first_attempt_at, Some(t));
    assert!(again.iter().any(|d| d.event_id == "msg_1"));
    // An expired claim is taken over (its owner died mid-delivery): at-least-once.
    let later = Timestamp(retry_at.0 + 2000);
    let taken = store
        .claim_deliveries("b", later, Timestamp(later.0 + 1000), 10)
        .await
        .unwrap();
    let mut ids: Vec<_> = taken.iter().map(|d| d.event_id.as_str()).collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        ["msg_1", "msg_3"],
        "queue: expired claims are taken over"
    );
    // Given up: failed, listed, and the company's next event goes out.
    let msg1 = taken.iter().find(|d| d.event_id == "msg_1").unwrap();
    store
        .finish_delivery(
            msg1.id,
            "b",
            AttemptResult::Failed {
                status: None,
                error: "could not connect".into(),
                next: None,
            },
            later,
        )
        .await
        .unwrap();
    let (failed, rows) = store
        .list_deliveries(Some(DeliveryStatus::Failed), 0, 10)
        .await
        .unwrap();
    assert_eq!((failed, rows[0].event_id.as_str()), (1, "msg_1"));
    let after = store
        .claim_deliveries("b", later, Timestamp(later.0 + 1000), 10)
        .await
        .unwrap();
    assert_eq!(
        after
            .iter()
            .map(|d| d.event_id.as_str())
            .collect::<Vec<_>>(),
        ["msg_2"]
    );
    // An operator redelivers it: pending again, attempts reset.
    assert!(store.redeliver(msg1.id, later).await.unwrap());
    assert!(!store.redeliver(9_999, later).await.unwrap());
    let (_, pending) = store
        .list_deliveries(Some(DeliveryStatus::Pending), 0, 10)
        .await
        .unwrap();
    let redelivered = pending.iter().find(|d| d.id == msg1.id).unwrap();
    // A fresh retry window (backoff from the start, give-up age from the next attempt); the
    // attempts made so far stay counted.
    assert_eq!(
        (
            redelivered.streak,
            redelivered.first_attempt_at,
            redelivered.attempts
        ),
        (0, None, 1)
    );
    // Newest first, paged.
    let (total, page) = store.list_deliveries(None, 1, 2).await.unwrap();
    assert_eq!(total, 4);
    assert_eq!(
        page.iter().map(|d| d.event_id.as_str()).collect::<Vec<_>>(),
        ["msg_2", "msg_1"]
    );
}

async fn tokens_are_read_without_the_lease_and_authorizations_paged(store: &dyn Store) {
    let none = store.read_tokens("acme", "a", Timestamp(0)).await.unwrap();
    assert_eq!(none.row.state, Authorization::NotAuthorized);
    assert!(none.tokens.is_none() && none.leased_until.is_none());
    for (i, c) in ["c1", "c2", "c3", "c4", "c5"].iter().enumerate() {
        grant(store, c, i64::try_from(i).unwrap(), 1).await;
    }
    apply(store, "c2", Event::Cleared, 10, None).await.unwrap();
    let read = store.read_tokens("c1", "a", Timestamp(10)).await.unwrap();
    assert_eq!(read.tokens.unwrap().access.secret(), "access-1");
    // Another owner's lease is reported (and reading does not take it).
    let until = Timestamp(1000);
    acquired(
        store
            .claim(claim("c1", "b", Timestamp(10), until, ClaimKind::Use))
            .await
            .unwrap(),
    );
    let read = store.read_tokens("c1", "a", Timestamp(10)).await.unwrap();
    assert_eq!(read.leased_until, Some(until));
    assert!(store
        .read_tokens("c1", "b", Timestamp(10))
        .await
        .unwrap()
        .leased_until
        .is_none());
    let all = store.list_authorizations(None, 0, 10).await.unwrap();
    assert_eq!(all.total, 5);
    let active = store
        .list_authorizations(Some(AuthorizationStatus::Active), 1, 2)
        .await
        .unwrap();
    assert_eq!(active.total, 4);
    assert_eq!(
        active
            .rows
            .iter()
            .map(|r| r.company.as_str())
            .collect::<Vec<_>>(),
        ["c3", "c4"]
    );
    assert!(active.rows.iter().all(|r| r.has_tokens));
    let cleared = store
        .list_authorizations(Some(AuthorizationStatus::Cleared), 0, 10)
        .await
        .unwrap();
    assert_eq!(cleared.rows[0].cleared_by.as_deref(), Some("admin"));
    assert!(!cleared.rows[0].has_tokens);
    store
        .record_handout("c1", "key-1", Timestamp(5))
        .await
        .unwrap();
    store
        .record_handout("c1", "key-2", Timestamp(6))
        .await
        .unwrap();
    assert_eq!(store.handout_count("c1").await.unwrap(), 2);
    assert_eq!(store.handout_count("c3").await.unwrap(), 0);
}
