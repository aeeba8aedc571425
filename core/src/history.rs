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
    /// A newer token of the same authorization replaced it (a refresh, or the same user opting
    /// in again).
    Refreshed,
    /// Another user's new opt-in replaced the authorization it belonged to.
    Superseded,
    /// The admin clicked Clear.
    Cleared,
    /// The provider invalidated the grant (e.g. the UPS.com password changed).
    Invalidated,
}

impl RecordStatus {
    /// Display label: "Active", "Expired", "Refreshed", "Superseded", "Cleared", "Invalidated".
    pub fn label(self) -> &'static str {
        match self {
            RecordStatus::Active => "Active",
            RecordStatus::Expired => "Expired",
            RecordStatus::Refreshed => "Refreshed",
            RecordStatus::Superseded => "Superseded",
            RecordStatus::Cleared => "Cleared",
            RecordStatus::Invalidated => "Invalidated",
        }
    }
    /// Wire/storage name (snake_case).
    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::Active => "active",
            RecordStatus::Expired => "expired",
            RecordStatus::Refreshed => "refreshed",
            RecordStatus::Superseded => "superseded",
            RecordStatus::Cleared => "cleared",
            RecordStatus::Invalidated => "invalidated",
        }
    }
    /// Parse the wire/storage name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
    /// Every status, in the order the grid's legend lists them.
    pub const ALL: [RecordStatus; 6] = [
        RecordStatus::Active,
        RecordStatus::Expired,
        RecordStatus::Refreshed,
        RecordStatus::Superseded,
        RecordStatus::Cleared,
        RecordStatus::Invalidated,
    ];
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
    /// Who cleared it (portal user), if it was cleared by a known user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleared_by: Option<String>,
    /// Whose new opt-in superseded it, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<String>,
    /// Cleared rows: what the provider said to the revocation of their tokens (the receipt
    /// of [`ClearResponse::revocation`](crate::api::ClearResponse::revocation)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<crate::api::Revocation>,
}

impl TokenRecord {
    /// Status as seen at `now`: a stored `Active` whose `token_expires <= now` is `Expired`.
    pub fn status_at(&self, now: Timestamp) -> RecordStatus {
        match self.status {
            RecordStatus::Active if self.token_expires <= now => RecordStatus::Expired,
            other => other,
        }
    }
    /// A copy whose stored `status` is replaced by [`status_at(now)`](Self::status_at) — what
    /// the host sends in [`TokensResponse::rows`](crate::api::TokensResponse::rows).
    pub fn at(&self, now: Timestamp) -> TokenRecord {
        TokenRecord {
            status: self.status_at(now),
            ..self.clone()
        }
    }
}

/// Sort newest first: `token_created` descending, then `id` descending (stable, total order).
pub fn sort_newest_first(records: &mut [TokenRecord]) {
    records.sort_by(newest_first);
}

/// The order of [`sort_newest_first`] as a comparator (for callers that sort other containers).
pub fn newest_first(a: &TokenRecord, b: &TokenRecord) -> std::cmp::Ordering {
    b.token_created
        .cmp(&a.token_created)
        .then_with(|| b.id.cmp(&a.id))
}

/// Allowed page sizes: 10 (default), 25, 50, 100.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
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
    pub const ALL: [PerPage; 4] = [
        PerPage::Ten,
        PerPage::TwentyFive,
        PerPage::Fifty,
        PerPage::Hundred,
    ];
    /// Rows per page.
    pub fn get(self) -> u32 {
        match self {
            PerPage::Ten => 10,
            PerPage::TwentyFive => 25,
            PerPage::Fifty => 50,
            PerPage::Hundred => 100,
        }
    }
}

impl TryFrom<u32> for PerPage {
    type Error = crate::Error;
    fn try_from(n: u32) -> Result<Self, Self::Error> {
        PerPage::ALL
            .into_iter()
            .find(|p| p.get() == n)
            .ok_or(crate::Error::BadPageSize(n))
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
        let size = u64::from(per_page.get());
        // ceil(total / size), at least 1; saturates at u32::MAX pages (10^10+ rows).
        let pages = u32::try_from(total.div_ceil(size).max(1)).unwrap_or(u32::MAX);
        let page = page.clamp(1, pages);
        let offset = (u64::from(page) - 1).saturating_mul(size).min(total);
        let len = total.saturating_sub(offset).min(size);
        Self {
            page,
            per_page,
            total,
            offset,
            len,
            pages,
        }
    }
    /// The seed's footer text: `"1-10 of 23"`, `"21-23 of 23"`, `"0 of 0"` when empty.
    pub fn range_label(&self) -> String {
        if self.len == 0 {
            format!("0 of {}", self.total)
        } else {
            format!(
                "{}-{} of {}",
                self.offset + 1,
                self.offset + self.len,
                self.total
            )
        }
    }
    /// Is there a previous page?
    pub fn has_prev(&self) -> bool {
        self.page > 1
    }
    /// Is there a next page?
    pub fn has_next(&self) -> bool {
        self.page < self.pages
    }
}

/// Page over records already in newest-first order (see [`sort_newest_first`]).
pub fn paginate(
    records: &[TokenRecord],
    page: u32,
    per_page: PerPage,
) -> (PageWindow, &[TokenRecord]) {
    let window = PageWindow::new(records.len() as u64, page, per_page);
    // offset + len <= total == records.len(), so both fit in usize.
    let start = usize::try_from(window.offset).unwrap_or(records.len());
    let end = start
        .saturating_add(usize::try_from(window.len).unwrap_or(0))
        .min(records.len());
    (window, &records[start.min(end)..end])
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn rec(id: i64, created: i64) -> TokenRecord {
        TokenRecord {
            id,
            company: "demo".into(),
            token_created: Timestamp(created),
            token_expires: Timestamp(created + 1000),
            refresh_created: Some(Timestamp(created)),
            refresh_expires: Some(Timestamp(created + 10_000)),
            status: RecordStatus::Active,
            cleared_at: None,
            authorized_by: None,
            cleared_by: None,
            superseded_by: None,
            revocation: None,
        }
    }

    #[test]
    fn labels_and_wire_names() {
        for s in RecordStatus::ALL {
            assert_eq!(RecordStatus::parse(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
            assert_eq!(s.label().to_lowercase(), s.as_str());
        }
        assert_eq!(RecordStatus::parse("Active"), None);
    }

    #[test]
    fn expired_is_derived() {
        let r = rec(1, 0);
        assert_eq!(r.status_at(Timestamp(999)), RecordStatus::Active);
        assert_eq!(r.status_at(Timestamp(1000)), RecordStatus::Expired);
        assert_eq!(r.at(Timestamp(1000)).status, RecordStatus::Expired);
        let cleared = TokenRecord {
            status: RecordStatus::Cleared,
            ..rec(2, 0)
        };
        assert_eq!(cleared.status_at(Timestamp(5000)), RecordStatus::Cleared);
    }

    #[test]
    fn newest_first_ties_broken_by_id() {
        let mut v = vec![rec(1, 10), rec(2, 30), rec(3, 30), rec(4, 20)];
        sort_newest_first(&mut v);
        assert_eq!(v.iter().map(|r| r.id).collect::<Vec<_>>(), [3, 2, 4, 1]);
    }

    #[test]
    fn per_page() {
        assert_eq!(PerPage::default(), PerPage::Ten);
        for p in PerPage::ALL {
            assert_eq!(PerPage::try_from(p.get()), Ok(p));
            assert_eq!(serde_json::to_string(&p).unwrap(), p.get().to_string());
        }
        assert_eq!(PerPage::try_from(20), Err(crate::Error::BadPageSize(20)));
        assert!(serde_json::from_str::<PerPage>("20").is_err());
        assert_eq!(
            serde_json::from_str::<PerPage>("25").unwrap(),
            PerPage::TwentyFive
        );
    }

    #[test]
    fn windows_match_the_seed() {
        let w = PageWindow::new(23, 1, PerPage::Ten);
        assert_eq!(
            (
                w.range_label().as_str(),
                w.has_prev(),
                w.has_next(),
                w.pages
            ),
            ("1-10 of 23", false, true, 3)
        );
        let w = PageWindow::new(23, 3, PerPage::Ten);
        assert_eq!(
            (w.range_label().as_str(), w.has_prev(), w.has_next(), w.len),
            ("21-23 of 23", true, false, 3)
        );
        let w = PageWindow::new(1, 1, PerPage::Ten);
        assert_eq!(w.range_label(), "1-1 of 1");
        let w = PageWindow::new(0, 7, PerPage::Fifty);
        assert_eq!(
            (
                w.range_label().as_str(),
                w.page,
                w.pages,
                w.has_prev(),
                w.has_next()
            ),
            ("0 of 0", 1, 1, false, false)
        );
    }

    #[test]
    fn out_of_range_pages_are_clamped() {
        assert_eq!(PageWindow::new(23, 0, PerPage::Ten).page, 1);
        assert_eq!(PageWindow::new(23, 99, PerPage::Ten).page, 3);
        assert_eq!(PageWindow::new(23, u32::MAX, PerPage::Ten).offset, 20);
        let w = PageWindow::new(u64::MAX, u32::MAX, PerPage::Ten);
        assert_eq!(w.pages, u32::MAX);
        assert_eq!(w.len, 10);
    }

    #[test]
    fn paginate_slices() {
        let v: Vec<_> = (0..23).map(|i| rec(i, i)).collect();
        let (w, rows) = paginate(&v, 3, PerPage::Ten);
        assert_eq!(w.offset, 20);
        assert_eq!(rows.iter().map(|r| r.id).collect::<Vec<_>>(), [20, 21, 22]);
        let (w, rows) = paginate(&[], 2, PerPage::Ten);
        assert_eq!((w.len, rows.len()), (0, 0));
    }
}
