//! Reading rows of the SQLite schema, by column name.

use rusqlite::{Connection, OptionalExtension, Row};
use token_manager_core::history::{RecordStatus, TokenRecord};
use token_manager_core::lifecycle::Authorization;
use token_manager_core::{AuthorizationStatus, Timestamp};

use crate::crypto::Sealed;
use crate::store::{AuthRow, StoreError};

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

/// The sealed value in columns `{prefix}_ct` and `{prefix}_nonce` of `r`.
pub(super) fn sealed_columns(
    r: &Row<'_>,
    ct: &str,
    nonce: &str,
) -> Result<Option<Sealed>, StoreError> {
    sealed(r.get(ct)?, r.get(nonce)?)
}

/// The company's `authorizations` row, if it has one.
pub(super) fn read_row(conn: &Connection, company: &str) -> Result<Option<FullRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT company, state, generation, next_refresh_at, authorized_by, cleared_by,
                access_ct, access_nonce, refresh_ct, refresh_nonce, lease_owner, lease_until
         FROM authorizations WHERE company = ?1",
    )?;
    let full = stmt
        .query_row([company], |r| Ok(decode_row(r)))
        .optional()?;
    full.transpose()
}

pub(super) fn decode_row(r: &Row<'_>) -> Result<FullRow, StoreError> {
    let state: String = r.get("state")?;
    let state: Authorization = serde_json::from_str(&state)
        .map_err(|e| StoreError::Corrupt(format!("authorization state: {e}")))?;
    let tokens = StoredTokens {
        access: sealed_columns(r, "access_ct", "access_nonce")?,
        refresh: sealed_columns(r, "refresh_ct", "refresh_nonce")?,
    };
    Ok(FullRow {
        row: AuthRow {
            company: r.get("company")?,
            state,
            generation: r.get("generation")?,
            next_refresh: r.get::<_, Option<i64>>("next_refresh_at")?.map(Timestamp),
            has_tokens: tokens.access.is_some(),
            authorized_by: r.get("authorized_by")?,
            cleared_by: r.get("cleared_by")?,
        },
        tokens,
        lease_owner: r.get("lease_owner")?,
        lease_until: r.get("lease_until")?,
    })
}

/// The `status` column's value for a lifecycle status.
pub(super) fn status_name(s: AuthorizationStatus) -> &'static str {
    match s {
        AuthorizationStatus::NotAuthorized => "not_authorized",
        AuthorizationStatus::Active => "active",
        AuthorizationStatus::Cleared => "cleared",
        AuthorizationStatus::Invalidated => "invalidated",
    }
}

/// Columns read by [`record_from_row`].
pub(super) const RECORD_COLUMNS: &str = "id, company, token_created, token_expires, \
     refresh_created, refresh_expires, status, cleared_at, authorized_by, cleared_by, \
     superseded_by, revocation";

/// A `history` row selected with [`RECORD_COLUMNS`].
pub(super) fn record_from_row(r: &Row<'_>) -> rusqlite::Result<TokenRecord> {
    let status: String = r.get("status")?;
    let status = RecordStatus::parse(&status).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            6,
            rusqlite::types::Type::Text,
            format!("unknown record status {status:?}").into(),
        )
    })?;
    Ok(TokenRecord {
        id: r.get("id")?,
        company: r.get("company")?,
        token_created: Timestamp(r.get("token_created")?),
        token_expires: Timestamp(r.get("token_expires")?),
        refresh_created: r.get::<_, Option<i64>>("refresh_created")?.map(Timestamp),
        refresh_expires: r.get::<_, Option<i64>>("refresh_expires")?.map(Timestamp),
        status,
        cleared_at: r.get::<_, Option<i64>>("cleared_at")?.map(Timestamp),
        authorized_by: r.get("authorized_by")?,
        cleared_by: r.get("cleared_by")?,
        superseded_by: r.get("superseded_by")?,
        revocation: crate::store::revocation_from_json(r.get("revocation")?),
    })
}
