//! One async mutex per company: Clear, refresh and retrieval of a company never overlap in
//! this process (across processes, the store's lease does the same).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// The per-company locks of one host process.
#[derive(Debug, Default)]
pub struct CompanyLocks {
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl CompanyLocks {
    /// Lock `company` (waits while another task holds it).
    pub async fn lock(&self, company: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = {
            let mut map = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
            map.entry(company.to_owned()).or_default().clone()
        };
        m.lock_owned().await
    }
}
