//! The portal's frame (top bar with the company selector, the seed's left menu) and the
//! status badge texts.

use axum::response::Html;
use maud::{html, Markup, DOCTYPE};
use token_manager_core::AuthorizationStatus;

use super::Portal;
use crate::config::Company;
use crate::state::AppState;

/// A whole page: `body` inside the portal's frame, `active` the menu entry to highlight,
/// `company` the one selected (none: no selector, no menu).
pub(super) fn layout(
    _state: &AppState,
    portal: &Portal,
    title: &str,
    active: &str,
    company: Option<&Company>,
    body: Markup,
) -> Html<String> {
    let menu = [
        ("home", "Home", "/"),
        ("exports", "Exports", "/exports"),
        ("users", "Users", "/users"),
        ("groups", "Groups", "/groups"),
        ("admin", "Admin", "/admin/token-manager"),
    ];
    let path = menu
        .iter()
        .find(|(key, _, _)| *key == active)
        .map_or("/", |(_, _, p)| *p);
    Html(html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Intelligent Data Management" }
                link rel="stylesheet" href="/static/portal.css";
                script src="/static/portal.js" defer {}
            }
            body {
                header.topbar {
                    span.brand { "Intelligent Data Management" }
                    @if let Some(company) = company {
                        form.company method="get" action=(path) {
                            label for="company" { "Company" }
                            select #company name="company" data-autosubmit {
                                @for (c, _) in portal.companies() {
                                    option value=(c.id) selected[c.id == company.id] { (c.name) }
                                }
                            }
                            noscript { button type="submit" { "Switch" } }
                        }
                    }
                    @match &portal.user {
                        Some((user, _)) => span.user {
                            "Signed in as " strong { (user.name) }
                            form.logout method="post" action="/logout" {
                                button type="submit" { "Log out" }
                            }
                        },
                        None => span.user { a href="/login" { "Sign in" } },
                    }
                }
                div.shell {
                    @if let Some(company) = company {
                        nav.menu aria-label="Main menu" {
                            ul {
                                @for (key, label, href) in menu {
                                    li {
                                        a href={ (href) "?company=" (company.id) }
                                          aria-current=[(key == active).then_some("page")] { (label) }
                                    }
                                }
                            }
                        }
                    }
                    main #main { (body) }
                }
            }
        }
    }
    .into_string())
}

/// The badge text of a status.
pub(super) fn status_label(s: AuthorizationStatus) -> &'static str {
    match s {
        AuthorizationStatus::NotAuthorized => "Not authorized",
        AuthorizationStatus::Active => "Active",
        AuthorizationStatus::Cleared => "Cleared",
        AuthorizationStatus::Invalidated => "Invalidated",
    }
}

/// The badge's `data-status` value.
pub(super) fn status_key(s: AuthorizationStatus) -> &'static str {
    match s {
        AuthorizationStatus::NotAuthorized => "not_authorized",
        AuthorizationStatus::Active => "active",
        AuthorizationStatus::Cleared => "cleared",
        AuthorizationStatus::Invalidated => "invalidated",
    }
}
