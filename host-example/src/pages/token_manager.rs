//! The Token Manager page: the `<token-manager>` element with a session token minted for the
//! signed-in demo user, or how to build it.

use axum::response::{IntoResponse, Response};
use maud::{html, PreEscaped};

use super::{mint_for, Page};
use crate::error::AppError;

/// The page's module script: define the element, then give every panel a `getSessionToken`
/// that asks this portal's backend for a fresh token (on a 401, and before the current one
/// expires).
const BOOT: &str = r#"import { defineTokenManager } from "/assets/token-manager/index.js";
await defineTokenManager();
const getSessionToken = async () => {
  const r = await fetch("/portal/session-token", { method: "POST", headers: { "X-Token-Manager": "1" } });
  if (!r.ok) throw new Error(`session token: HTTP ${r.status}`);
  const s = await r.json();
  return { sessionToken: s.session_token, expiresAt: s.expires_at };
};
for (const el of document.querySelectorAll("token-manager")) el.getSessionToken = getSessionToken;"#;

pub(super) async fn token_manager(page: Page) -> Response {
    let (state, company) = (&page.state, &page.company);
    let built = state.config().static_dir.join("index.js").is_file();
    let mode = page.query.mode.as_deref().filter(|m| *m == "popup");
    let session = match mint_for(state, &page.portal).await {
        Ok(s) => s,
        Err(e) => return AppError::from(e).into_response(),
    };
    page.render(
        "Token Manager",
        "admin",
        html! {
            h1 { "Token Manager" }
            p.lead { "Authorize this portal to retrieve " strong { (company.name) } "'s data from UPS.com on your behalf, review the tokens it holds, or clear the authorization." }
            @if built {
                token-manager api="/api/optin" company=(company.id) mode=[mode]
                    session-token=(session.token) data-role=(if page.role() == crate::access::Role::Admin { "admin" } else { "viewer" }) {}
                script type="module" nonce=(page.portal.nonce) { (PreEscaped(BOOT)) }
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
