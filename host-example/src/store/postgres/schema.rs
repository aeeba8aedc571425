//! Schema migrations: `migrations/NNNN_*.sql` in order, recorded in `schema_migrations`, all
//! pending ones in one transaction under an advisory lock.

use deadpool_postgres::Object;

use crate::store::StoreError;

/// Schema migrations in order; version `n` is `MIGRATIONS[n - 1]`.
pub(super) const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_revocation_receipt.sql"),
];

/// The advisory lock's key ("tm-schem"): held, for its transaction, by the instance migrating.
const MIGRATION_LOCK: i64 = 0x746d_2d73_6368_656d;

/// Bring the schema up to date. Instances starting at once take the advisory lock in turn: the
/// first migrates, the others then find every version recorded. A database newer than this
/// host is refused (it would misread it).
pub(super) async fn migrate(client: &mut Object) -> Result<(), StoreError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    BIGINT PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await?;
    let done: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) AS done FROM schema_migrations",
            &[],
        )
        .await?
        .try_get("done")?;
    let done = usize::try_from(done).map_err(|_| StoreError::Corrupt("schema version".into()))?;
    if done > MIGRATIONS.len() {
        return Err(StoreError::Corrupt(format!(
            "the database schema (version {done}) is newer than this host (version {})",
            MIGRATIONS.len()
        )));
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        tx.batch_execute(sql).await?;
        let version = i64::try_from(i + 1).unwrap_or(i64::MAX);
        tx.execute(
            "INSERT INTO schema_migrations (version) VALUES ($1)",
            &[&version],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
