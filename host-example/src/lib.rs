//! Example Token Manager host (see ARCHITECTURE.md).

pub mod mock_ups;
