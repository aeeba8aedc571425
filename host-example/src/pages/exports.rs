//! The Exports page: what the retrieval job last fetched for the company.

use axum::response::Response;
use maud::html;

use super::layout::{status_key, status_label};
use super::Page;
use crate::reports::RetrievalOutcome;

pub(super) async fn exports(page: Page) -> Response {
    let (state, company) = (&page.state, &page.company);
    let reports = state.reports().all();
    let status = state
        .store()
        .authorization(&company.id)
        .await
        .map(|r| r.state.status())
        .ok();
    let report = reports.get(&company.id);
    let every = state.config().retrieval_interval.as_secs_f64();
    page.render(
        "Exports",
        "exports",
        html! {
            h1 { "Exports" }
            p.lead { "Data retrieved from UPS.com on " strong { (company.name) } "'s behalf, every " (format!("{every:.0}")) " s while the authorization is active, by the demo portal's backend through the host's proxy (it never holds a token)." }
            @if state.provider().api_base().is_none() {
                p.notice { "No provider API is configured (--api-base), so the proxy and the demo's retrieval are off." }
            }
            section.card #retrieval {
                h2 { "Last retrieval" }
                dl {
                    dt { "Authorization" }
                    dd { @match status { Some(s) => span.badge data-status=(status_key(s)) { (status_label(s)) }, None => "unavailable" } }
                    @match report {
                        None => { dt { "Result" } dd #result data-outcome="none" { "No retrieval yet." } }
                        Some(r) => {
                            dt { "When" }
                            dd { time datetime=(r.at.to_iso8601()) title=(r.at.to_iso8601()) { (r.at.format_grid(0)) " UTC" } }
                            dt { "Calls since start" }
                            dd #calls { (r.calls) }
                            dt { "Result" }
                            @match &r.outcome {
                                RetrievalOutcome::Data(d) => dd #result data-outcome="data" {
                                    "HTTP " (d.status)
                                    pre { (d.summary) }
                                },
                                RetrievalOutcome::Failed(why) => dd #result data-outcome="failed" { (why) },
                                RetrievalOutcome::Stopped(why) => dd #result data-outcome="stopped" { (why) },
                            }
                        }
                    }
                }
            }
        },
    )
}
