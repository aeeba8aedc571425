//! Reading rows of the PostgreSQL schema, by column name.

use token_manager_core::history::{RecordStatus, TokenRecord};
use token_manager_core::lifecycle::Authorization;
use token_manager_core::{AuthorizationStatus, Timestamp};
use tokio_postgres::Row;

use crate::crypto::Sealed;
use crate::store::{AuthRow, StoreError};

/// The columns [`decode_row`] reads.
pub(super) const ROW_COLUMNS: &str = "company, state, generation, next_refresh_at, \
     authorized_by, cleared_by, access_ct, access_nonce, refresh_ct, refresh_nonce, \
     lease_owner, lease_until";

/// Columns read by [`record_from_row`].
pub(super) const RECORD_COLUMNS: &str = "id, company, token_created, token_expires, \
     refresh_created, refresh_expires, status, cleared_at, authorized_by, cleared_by, \
     superseded_by, revocation";

/// The sealed token columns of a row.
pub(super) struct StoredTokens {
    pub(super) access: Option<Sealed>,
    pub(super) refresh: Option<Sealed>,
}

/// An `authorizations` row with what only the store sees (sealed tokens, the lease).
pub(super) struct FullRow {
    pub(super) row: AuthRow,
    pub(super) tokens: StoredTokens,
    pub(super) lease_owner: Option<String>,
    pub(super) lease_until: Option<i64>,
}

impl FullRow {
    /// Another owner than `owner` holds the lease at `now`: until when.
    pub(super) fn leased_by_other(&self, owner: &str, now: Timestamp) -> Option<Timestamp> {
        match (&self.lease_owner, self.lease_until) {
            (Some(holder), Some(until)) if holder != owner && until > now.0 => {
                Some(Timestamp(until))
            }
            _ => None,
        }
    }
}

/// A ciphertext and its nonce, stored in two columns: both or neither.
pub(super) fn sealed(
    ciphertext: Option<Vec<u8>>,
    nonce: Option<Vec<u8>>,
) -> Result<Option<Sealed>, StoreError> {
    match (ciphertext, nonce) {
        (Some(ciphertext), Some(nonce)) => Ok(Some(Sealed {
            nonce: nonce
                .try_into()
                .map_err(|_| StoreError::Corrupt("nonce is not 12 bytes".into()))?,
            ciphertext,
        })),
        (None, None) => Ok(None),
        _ => Err(StoreError::Corrupt(
            "ciphertext without nonce or nonce without ciphertext".into(),
        )),
    }
}

/// The sealed value in columns `ct` and `nonce` of `r`.
pub(super) fn sealed_columns(r: &Row, ct: &str, nonce: &str) -> Result<Option<Sealed>, StoreError> {
    sealed(r.try_get(ct)?, r.try_get(nonce)?)
}

/// An `authorizations` row selected with [`ROW_COLUMNS`].
pub(super) fn decode_row(r: &Row) -> Result<FullRow, StoreError> {
    let state: String = r.try_get("state")?;
    let state: Authorization = serde_json::from_str(&state)
        .map_err(|e| StoreError::Corrupt(format!("authorization state: {e}")))?;
    let tokens = StoredTokens {
        access: sealed_columns(r, "access_ct", "access_nonce")?,
        refresh: sealed_columns(r, "refresh_ct", "refresh_nonce")?,
    };
    Ok(FullRow {
        row: AuthRow {
            company: r.try_get("company")?,
            state,
            generation: r.try_get("generation")?,
            next_refresh: r
                .try_get::<_, Option<i64>>("next_refresh_at")?
                .map(Timestamp),
            has_tokens: tokens.access.is_some(),
            authorized_by: r.try_get("authorized_by")?,
            cleared_by: r.try_get("cleared_by")?,
        },
        tokens,
        lease_owner: r.try_get("lease_owner")?,
        lease_until: r.try_get("lease_until")?,
    })
}

/// The `status` column's value for a lifecycle status (the names SQLite stores).
pub(super) fn status_name(s: AuthorizationStatus) -> &'static str {
    match s {
        AuthorizationStatus::NotAuthorized => "not_authorized",
        AuthorizationStatus::Active => "active",
        AuthorizationStatus::Cleared => "cleared",
        AuthorizationStatus::Invalidated => "invalidated",
    }
}

/// A `history` row selected with [`RECORD_COLUMNS`].
pub(super) fn record_from_row(r: &Row) -> Result<TokenRecord, StoreError> {
    let status: String = r.try_get("status")?;
    let status = RecordStatus::parse(&status)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown record status {status:?}")))?;
    let time = |c: &str| -> Result<Option<Timestamp>, StoreError> {
        Ok(r.try_get::<_, Option<i64>>(c)?.map(Timestamp))
    };
    Ok(TokenRecord {
        id: r.try_get("id")?,
        company: r.try_get("company")?,
        token_created: Timestamp(r.try_get("token_created")?),
        token_expires: Timestamp(r.try_get("token_expires")?),
        refresh_created: time("refresh_created")?,
        refresh_expires: time("refresh_expires")?,
        status,
        cleared_at: time("cleared_at")?,
        authorized_by: r.try_get("authorized_by")?,
        cleared_by: r.try_get("cleared_by")?,
        superseded_by: r.try_get("superseded_by")?,
        revocation: crate::store::revocation_from_json(r.try_get("revocation")?),
    })
}

/// A stored count or number as the unsigned type the API uses.
pub(super) fn unsigned<T: TryFrom<i64>>(n: i64, what: &str) -> Result<T, StoreError> {
    T::try_from(n).map_err(|_| StoreError::Corrupt(format!("{what} out of range: {n}")))
}
