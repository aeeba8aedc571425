//! Home, and the menu entries the demo does not implement.

use axum::response::Response;
use maud::html;

use super::layout::{status_key, status_label};
use super::Page;

pub(super) async fn home(page: Page) -> Response {
    let (state, company) = (&page.state, &page.company);
    let status = state
        .store()
        .authorization(&company.id)
        .await
        .map(|r| r.state.status());
    page.render(
        "Home",
        "home",
        html! {
            h1 { "Welcome" }
            p.lead { "You are managing " strong { (company.name) } "." }
            section.card {
                h2 { "UPS.com data access" }
                @match status {
                    Ok(s) => p { "Token Manager status: " span.badge data-status=(status_key(s)) { (status_label(s)) } }
                    Err(_) => p.error { "The token status is unavailable right now." }
                }
                p { a.button href={ "/admin/token-manager?company=" (company.id) } { "Open Token Manager" } }
            }
        },
    )
}

pub(super) async fn users(page: Page) -> Response {
    placeholder(&page, "Users", "users")
}

pub(super) async fn groups(page: Page) -> Response {
    placeholder(&page, "Groups", "groups")
}

fn placeholder(page: &Page, title: &str, key: &str) -> Response {
    page.render(
        title,
        key,
        html! {
            h1 { (title) }
            p { "This demo portal does not manage " (title.to_lowercase()) ". See "
                a href={ "/admin/token-manager?company=" (page.company.id) } { "Admin › Token Manager" } "." }
        },
    )
}
