//! The host's integration tests, one binary: router tests through `app(state)` with
//! `oneshot` (`api`, `hostile`, `concurrency`, `lifecycle`), faults, crashes and key rotation
//! against the real binary (`reliability`), and the real application started on port 0
//! (`startup`). The harness (`harness/`) holds the shared setup, the typed calls and the
//! binary launcher.
#![allow(clippy::unwrap_used, missing_docs, unreachable_pub)]

mod harness;

mod api;
mod concurrency;
mod hostile;

mod data_access;
mod generic;
mod layers;
mod lifecycle;
mod multi_instance;
mod reliability;
mod server_api;
mod startup;
mod tenancy;
mod ups;
mod webhooks;
