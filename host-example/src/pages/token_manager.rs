//! The Token Manager page: the `<token-manager>` element, or how to build it.

use axum::response::Response;
use maud::{html, PreEscaped};

use super::Page;

pub(super) async fn token_manager(page: Page) -> Response {
    let (state, company) = (&page.state, &page.company);
    let built = state.config().static_dir.join("index.js").is_file();
    let mode = page.query.mode.as_deref().filter(|m| *m == "popup");
    let boot = r#"import { defineTokenManager } from "/assets/token-manager/index.js"; await defineTokenManager();"#;
    page.render(
        "Token Manager",
        "admin",
        html! {
            h1 { "Token Manager" }
            p.lead { "Authorize this portal to retrieve " strong { (company.name) } "'s data from UPS.com on your behalf, review the tokens it holds, or clear the authorization." }
            @if built {
                token-manager api="/api/optin" company=(company.id) mode=[mode] {}
                script type="module" nonce=(page.portal.nonce) { (PreEscaped(boot)) }
            } @else {
                section.card.notice role="status" {
                    h2 { "Widget not built" }
                    p { "The Token Manager widget is not in " code { (state.config().static_dir.display()) } " yet. "
                        "Run " code { "scripts/build-widget.sh" } " and reload this page." }
                    p { "The API it will use is live at " a href="/api/optin/openapi.json" { code { "/api/optin" } } "." }
                }
            }
        },
    )
}
