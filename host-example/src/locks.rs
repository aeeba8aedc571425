//! One async read-write lock per company in this process (across processes, the store's lease
//! does the same for the exclusive side).
//!
//! - **Exclusive** ([`CompanyLocks::lock`]): Clear, refresh and exchange — whatever replaces or
//!   wipes the tokens. Never two at once.
//! - **Shared** ([`CompanyLocks::share`]): uses of the current token (the access-token API, the
//!   proxy until the provider's answer headers arrive). Many at once, but never during an
//!   exclusive holder: so once Clear returns, no use started before it is still sending, and
//!   every later use sees the wipe. Writers are preferred: a waiting Clear is not starved by
//!   a stream of proxy calls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

/// The per-company locks of one host process.
#[derive(Debug, Default)]
pub struct CompanyLocks {
    locks: Mutex<HashMap<String, Arc<RwLock<()>>>>,
}

impl CompanyLocks {
    fn entry(&self, company: &str) -> Arc<RwLock<()>> {
        let mut map = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        map.entry(company.to_owned()).or_default().clone()
    }

    /// Lock `company` exclusively (waits while any other task holds it).
    pub async fn lock(&self, company: &str) -> OwnedRwLockWriteGuard<()> {
        self.entry(company).write_owned().await
    }

    /// Lock `company` shared (waits while an exclusive holder has it, or waits for it).
    pub async fn share(&self, company: &str) -> OwnedRwLockReadGuard<()> {
        self.entry(company).read_owned().await
    }
}
