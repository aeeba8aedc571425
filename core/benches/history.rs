//! Token-history paging over 100,000 records: sort newest first, then page 1 and the last page
//! (10 and 100 rows), with and without formatting the rows as the grid shows them.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use token_manager_core::history::{
    paginate, sort_newest_first, PageWindow, PerPage, RecordStatus, TokenRecord,
};
use token_manager_core::Timestamp;

const N: usize = 100_000;

/// `N` records in a scrambled order (a fixed LCG), a few sharing a creation time.
fn records() -> Vec<TokenRecord> {
    let mut seed: u64 = 0x5eed;
    (0..N)
        .map(|i| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let created = 1_700_000_000_000 + ((seed >> 20) % 400_000_000_000) as i64;
            TokenRecord {
                id: i as i64 + 1,
                company: "Demonstration Co".into(),
                token_created: Timestamp(created),
                token_expires: Timestamp(created + 14_399_000),
                refresh_created: Some(Timestamp(created)),
                refresh_expires: Some(Timestamp(created + 5_183_999_000)),
                status: if i % 7 == 0 {
                    RecordStatus::Refreshed
                } else {
                    RecordStatus::Active
                },
                cleared_at: None,
                authorized_by: Some("admin".into()),
                cleared_by: None,
                superseded_by: None,
                revocation: None,
            }
        })
        .collect()
}

/// One grid page as the widget renders it: status at `now` and four formatted timestamps per row.
fn render(rows: &[TokenRecord], now: Timestamp) -> usize {
    rows.iter()
        .map(|r| {
            let mut n = r.status_at(now).label().len();
            n += r.token_created.format_grid(-300).len() + r.token_expires.format_grid(-300).len();
            n += r.refresh_created.map_or(0, |t| t.format_grid(-300).len());
            n += r.refresh_expires.map_or(0, |t| t.format_grid(-300).len());
            n
        })
        .sum()
}

fn bench(c: &mut Criterion) {
    let unsorted = records();
    let mut sorted = unsorted.clone();
    sort_newest_first(&mut sorted);
    let now = Timestamp(2_000_000_000_000);
    let last = PageWindow::new(N as u64, u32::MAX, PerPage::Ten).page;
    let last_100 = PageWindow::new(N as u64, u32::MAX, PerPage::Hundred).page;

    let mut g = c.benchmark_group("history_100k");
    g.bench_function("sort_newest_first", |b| {
        b.iter_batched_ref(
            || unsorted.clone(),
            |v| sort_newest_first(black_box(v)),
            BatchSize::LargeInput,
        )
    });
    g.bench_function("sort_then_page_1", |b| {
        b.iter_batched_ref(
            || unsorted.clone(),
            |v| {
                sort_newest_first(v);
                let (w, rows) = paginate(v, 1, PerPage::Ten);
                (w.range_label(), render(rows, now))
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("page_1_of_10", |b| {
        b.iter(|| {
            let (w, rows) = paginate(black_box(&sorted), black_box(1), PerPage::Ten);
            (w.range_label(), render(rows, now))
        })
    });
    g.bench_function("last_page_of_10", |b| {
        b.iter(|| {
            let (w, rows) = paginate(black_box(&sorted), black_box(last), PerPage::Ten);
            (w.range_label(), render(rows, now))
        })
    });
    g.bench_function("last_page_of_100", |b| {
        b.iter(|| {
            let (w, rows) = paginate(black_box(&sorted), black_box(last_100), PerPage::Hundred);
            (w.range_label(), render(rows, now))
        })
    });
    g.bench_function("window_only", |b| {
        b.iter(|| PageWindow::new(black_box(N as u64), black_box(last), PerPage::Ten).range_label())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
