//! The token-history model: records, statuses, newest-first order, pagination and labels.

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// Status of one history row. Stored statuses are `Active`, `Refreshed`, `Cleared`,
/// `Invalidated`; `Expired` is derived at `now` by [`TokenRecord::status_at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    /// The current access token of an active authorization.
    Active,
    /// Its access token's lifetime is over (and no newer token replaced it).
    Expired,
    /// A newer token replaced it (refresh or a new opt-in).
    Refreshed,
    /// The admin clicked Clear.
    Cleared,
    /// The provider invalidated the grant (e.g. the UPS.com password changed).
    Invalidated,
}

impl RecordStatus {
    /// Display label: "Active", "Expired", "Refreshed", "Cleared", "Invalidated".
    pub fn label(self) -> &'static str {
        todo!()
    }
    /// Wire/storage name (snake_case).
    pub fn as_str(self) -> &'static str {
        todo!()
    }
    /// Parse the wire/storage name.
    pub fn parse(s: &str) -> Option<Self> {
        todo!("{s}")
    }
}

/// One row of the Token History grid: metadata of one access token, never the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// Host-assigned id, increasing with insertion.
    pub id: i64,
    /// Company the authorization belongs to.
    pub company: String,
    /// When the access token was issued.
    pub token_created: Timestamp,
    /// When the access token expires.
    pub token_expires: Timestamp,
    /// When the refresh token was issued, if any.
    pub refresh_created: Option<Timestamp>,
    /// When the refresh token expires, if any.
    pub refresh_expires: Option<Timestamp>,
    /// Stored status (see [`RecordStatus`]).
    pub status: RecordStatus,
    /// When the admin cleared the authorization, if they did.
    pub cleared_at: Option<Timestamp>,
    /// Who opted in (portal user), if known.
    pub authorized_by: Option<String>,
}

impl TokenRecord {
    /// Status as seen at `now`: a stored `Active` whose `token_expires <= now` is `Expired`.
    pub fn status_at(&self, now: Timestamp) -> RecordStatus {
        todo!("{now:?}")
    }
}

/// Sort newest first: `token_created` descending, then `id` descending (stable, total order).
pub fn sort_newest_first(records: &mut [TokenRecord]) {
    todo!("{}", records.len())
}

/// Allowed page sizes: 10 (default), 25, 50, 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub enum PerPage {
    /// 10 rows.
    #[default]
    Ten,
    /// 25 rows.
    TwentyFive,
    /// 50 rows.
    Fifty,
    /// 100 rows.
    Hundred,
}

impl PerPage {
    /// All choices, in menu order.
    pub const ALL: [PerPage; 4] = [PerPage::Ten, PerPage::TwentyFive, PerPage::Fifty, PerPage::Hundred];
    /// Rows per page.
    pub fn get(self) -> u32 {
        todo!()
    }
}

impl TryFrom<u32> for PerPage {
    type Error = crate::Error;
    fn try_from(n: u32) -> Result<Self, Self::Error> {
        todo!("{n}")
    }
}

impl From<PerPage> for u32 {
    fn from(p: PerPage) -> u32 {
        p.get()
    }
}

/// Where a page falls in a list of `total` rows: what SQL needs (`offset`, `limit`) and what
/// the footer shows (`range_label`, `has_prev`, `has_next`). Pages are 1-based; out-of-range
/// requests are clamped to the nearest existing page (page 1 when empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageWindow {
    /// The page shown (1-based, clamped).
    pub page: u32,
    /// Rows per page.
    pub per_page: PerPage,
    /// Total rows.
    pub total: u64,
    /// Index of the first row of this page.
    pub offset: u64,
    /// Rows on this page (`0..=per_page`).
    pub len: u64,
    /// Number of pages (at least 1).
    pub pages: u32,
}

impl PageWindow {
    /// Window of `page` (1-based; 0 and too-large values are clamped) over `total` rows.
    pub fn new(total: u64, page: u32, per_page: PerPage) -> Self {
        todo!("{total}{page}{per_page:?}")
    }
    /// The seed's footer text: `"1-10 of 23"`, `"21-23 of 23"`, `"0 of 0"` when empty.
    pub fn range_label(&self) -> String {
        todo!()
    }
    /// Is there a previous page?
    pub fn has_prev(&self) -> bool {
        todo!()
    }
    /// Is there a next page?
    pub fn has_next(&self) -> bool {
        todo!()
    }
}

/// Page over records already in newest-first order (see [`sort_newest_first`]).
pub fn paginate(records: &[TokenRecord], page: u32, per_page: PerPage) -> (PageWindow, &[TokenRecord]) {
    todo!("{}{page}{per_page:?}", records.len())
}
