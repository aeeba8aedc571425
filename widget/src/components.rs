//! Small components with typed props: [`Panel`] composes [`StatusMessage`], [`HistoryGrid`]
//! (with its [`Pager`]) and [`ConfirmDialog`]. All text comes from core's [`Messages`].

use std::rc::Rc;
use std::sync::atomic::{AtomicU32, Ordering};

use token_manager_core::api::TokensResponse;
use token_manager_core::{
    ErrorCode, Messages, PageWindow, PerPage, RecordStatus, Timestamp, UiText,
};
use wasm_bindgen::JsCast;
use web_sys::{HtmlElement, HtmlSelectElement, KeyboardEvent};
use yew::prelude::*;

use crate::hook::PanelActions;
use crate::state::{Confirm, PanelState, Retry, View};
use crate::tz::Zone;
use crate::Theme;

/// A page-unique id prefix, so several panels (or panels outside a shadow root) never share
/// element ids.
fn unique_id(what: &str) -> AttrValue {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    AttrValue::from(format!(
        "tm-{what}-{}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

fn focus(node: &NodeRef) {
    if let Some(el) = node.cast::<HtmlElement>() {
        let _ = el.focus();
    }
}

/// Kind of [`StatusMessage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    /// Work in progress (with a spinner).
    Progress,
    /// Something succeeded.
    Success,
    /// Neutral information.
    Info,
}

/// Props of [`StatusMessage`].
#[derive(Properties, PartialEq)]
pub(crate) struct StatusMessageProps {
    /// The text; the live region stays in the DOM (empty) when `None`, so screen readers
    /// announce the next message.
    pub(crate) text: Option<AttrValue>,
    /// How it looks.
    pub(crate) tone: Tone,
}

/// The panel's polite live region (progress, confirmations).
#[component]
pub(crate) fn StatusMessage(props: &StatusMessageProps) -> Html {
    let class = match props.tone {
        Tone::Progress => "status progress",
        Tone::Success => "status success",
        Tone::Info => "status info",
    };
    html! {
        <div class={class} part="message status" role="status" aria-live="polite">
            if let Some(text) = &props.text {
                if props.tone == Tone::Progress {
                    <span class="spinner" aria-hidden="true"></span>
                }
                <span class="text">{text.clone()}</span>
            }
        </div>
    }
}

/// Props of [`ErrorMessage`].
#[derive(Properties, PartialEq)]
pub(crate) struct ErrorMessageProps {
    /// The message text.
    pub(crate) text: AttrValue,
    /// The provider's own text (`error_description`), rendered as plain text.
    pub(crate) detail: Option<AttrValue>,
    /// Stable code (exposed as `data-code` for tests and styling).
    pub(crate) code: ErrorCode,
    /// Label of the retry button.
    pub(crate) retry_label: AttrValue,
    /// Is the retry button the primary Authorize action?
    pub(crate) retry_is_authorize: bool,
    /// Retry clicked.
    pub(crate) on_retry: Callback<()>,
}

/// An error (an assertive live region) with its retry button.
#[component]
pub(crate) fn ErrorMessage(props: &ErrorMessageProps) -> Html {
    let on_click = props.on_retry.reform(|_: MouseEvent| ());
    let part = if props.retry_is_authorize {
        "button authorize-button"
    } else {
        "button retry-button"
    };
    html! {
        <div class="alert error" part="message error" role="alert" data-code={props.code.as_str()}>
            <p class="text">{props.text.clone()}</p>
            if let Some(detail) = &props.detail {
                <p class="detail" part="detail">{detail.clone()}</p>
            }
            <div class="actions">
                <button type="button" class="btn primary" part={part} onclick={on_click}>
                    {props.retry_label.clone()}
                </button>
            </div>
        </div>
    }
}

/// Props of [`Pager`].
#[derive(Properties, PartialEq)]
pub(crate) struct PagerProps {
    /// Where the shown page falls.
    pub(crate) window: PageWindow,
    /// A page is loading: every control is disabled.
    pub(crate) busy: bool,
    /// Texts.
    pub(crate) messages: Rc<Messages>,
    /// Page (1-based) and size asked for.
    pub(crate) on_page: Callback<(u32, PerPage)>,
}

/// The grid footer: Items per page, `1-10 of 23`, previous/next.
#[component]
pub(crate) fn Pager(props: &PagerProps) -> Html {
    let m = &props.messages;
    let window = props.window;
    let on_size = props.on_page.reform(move |e: Event| {
        let size = e
            .target()
            .and_then(|t| t.dyn_into::<HtmlSelectElement>().ok())
            .and_then(|s| s.value().parse::<u32>().ok())
            .and_then(|n| PerPage::try_from(n).ok())
            .unwrap_or(window.per_page);
        (1, size)
    });
    let on_prev = props
        .on_page
        .reform(move |_: MouseEvent| (window.page.saturating_sub(1).max(1), window.per_page));
    let on_next = props
        .on_page
        .reform(move |_: MouseEvent| (window.page.saturating_add(1), window.per_page));
    let (no_prev, no_next) = (
        props.busy || !window.has_prev(),
        props.busy || !window.has_next(),
    );
    html! {
        <div class="pager" part="pager">
            <label class="size">
                <span>{m.text(UiText::ItemsPerPage).to_owned()}</span>
                <select part="select" onchange={on_size} disabled={props.busy}>
                    { for PerPage::ALL.iter().map(|p| html! {
                        <option value={p.get().to_string()} selected={*p == window.per_page}>
                            {p.get()}
                        </option>
                    }) }
                </select>
            </label>
            // The range and the arrows wrap together, as one line, in a narrow panel.
            <span class="pages">
                <span class="range" part="range">{window.range_label()}</span>
                { pager_button(m.text(UiText::PreviousPage), "‹", no_prev, on_prev) }
                { pager_button(m.text(UiText::NextPage), "›", no_next, on_next) }
            </span>
        </div>
    }
}

/// A previous/next button of the [`Pager`]: an arrow, named and titled by `label`.
fn pager_button(
    label: &str,
    arrow: &'static str,
    disabled: bool,
    onclick: Callback<MouseEvent>,
) -> Html {
    html! {
        <button type="button" class="btn icon-btn" part="button pager-button"
            aria-label={label.to_owned()} title={label.to_owned()} {disabled} {onclick}>
            <span aria-hidden="true">{arrow}</span>
        </button>
    }
}

/// One timestamp cell of the grid, formatted: the local grid text and the UTC ISO-8601 tooltip.
type Cell = Option<(AttrValue, AttrValue)>;

/// One grid row, formatted.
struct Row {
    id: AttrValue,
    cells: [Cell; 4],
    status: RecordStatus,
}

/// The rows of `page` formatted for `zone`: done once when a page arrives (or the zone changes),
/// not on every render of the grid (the pager's busy state re-renders it on every page change).
fn format_rows(page: &TokensResponse, zone: &Zone) -> Vec<Row> {
    let cell = |at: Option<Timestamp>| {
        at.map(|at| {
            let (text, iso) = zone.format(at);
            (AttrValue::from(text), AttrValue::from(iso))
        })
    };
    page.rows
        .iter()
        .map(|r| Row {
            id: AttrValue::from(r.id.to_string()),
            cells: [
                cell(Some(r.token_created)),
                cell(Some(r.token_expires)),
                cell(r.refresh_created),
                cell(r.refresh_expires),
            ],
            status: r.status,
        })
        .collect()
}

/// Props of [`HistoryGrid`].
#[derive(Properties, PartialEq)]
pub(crate) struct HistoryGridProps {
    /// The page the host returned (newest first).
    pub(crate) page: Rc<TokensResponse>,
    /// A page is loading.
    pub(crate) busy: bool,
    /// Texts.
    pub(crate) messages: Rc<Messages>,
    /// The viewer's time zone.
    pub(crate) zone: Rc<Zone>,
    /// Page (1-based) and size asked for.
    pub(crate) on_page: Callback<(u32, PerPage)>,
}

/// The Token History table (token created/expires, refresh token created/expires, status;
/// newest first) and its pager.
#[component]
pub(crate) fn HistoryGrid(props: &HistoryGridProps) -> Html {
    let m = &props.messages;
    let page = &props.page;
    let window = PageWindow::new(page.total, page.page, page.per_page);
    let rows = use_memo((page.clone(), props.zone.clone()), |(page, zone)| {
        format_rows(page, zone)
    });
    let caption_id = use_memo((), |()| unique_id("caption"));
    // Column names, also on each cell (`data-label`) for the stacked layout of narrow panels.
    let labels = [
        UiText::TokenCreated,
        UiText::TokenExpires,
        UiText::RefreshCreated,
        UiText::RefreshExpires,
        UiText::Status,
    ]
    .map(|c| AttrValue::from(m.text(c).to_owned()));
    let cell = |(cell, label): (&Cell, &AttrValue)| match cell {
        Some((text, iso)) => html! {
            <td role="cell" data-label={label.clone()}>
                <time datetime={iso.clone()} title={iso.clone()}>{text.clone()}</time>
            </td>
        },
        None => html! {
            <td role="cell" data-label={label.clone()}>
                <span class="none" aria-label="none">{"—"}</span>
            </td>
        },
    };
    // Explicit table roles: the narrow layout changes the table's CSS display, and some
    // browsers then drop its table semantics. The wrapper is the grid's own scroll region:
    // focusable (so the keyboard scrolls it) and named by the caption; a group, not a region
    // landmark, so pages with several panels get no list of identical landmarks.
    html! {
        <div class="history" part="history">
            <div class="table-wrap" role="group" aria-labelledby={(*caption_id).clone()} tabindex="0">
                <table part="table" role="table" aria-busy={props.busy.to_string()}>
                    <caption id={(*caption_id).clone()}>{m.text(UiText::TokenHistory).to_owned()}</caption>
                    <thead role="rowgroup">
                        <tr role="row">
                            { for labels.iter().map(|l| html! { <th scope="col" role="columnheader">{l.clone()}</th> }) }
                        </tr>
                    </thead>
                    <tbody role="rowgroup">
                        if page.rows.is_empty() {
                            <tr role="row">
                                <td class="empty" role="cell" colspan="5">{m.text(UiText::EmptyHistory).to_owned()}</td>
                            </tr>
                        } else {
                            // Unkeyed on purpose: a new page has all new ids, and keyed rows
                            // would be torn down and rebuilt (~1,300 DOM nodes for 100 rows);
                            // by position, the same <tr>s are patched in place. Rows hold no
                            // state or focus, so identity does not matter.
                            { for rows.iter().map(|r| html! {
                                <tr role="row" data-id={r.id.clone()}>
                                    { for r.cells.iter().zip(&labels).map(cell) }
                                    <td role="cell" data-label={labels[4].clone()}>
                                        <span class={classes!("badge", r.status.as_str())} part="badge">
                                            {r.status.label()}
                                        </span>
                                    </td>
                                </tr>
                            }) }
                        }
                    </tbody>
                </table>
            </div>
            <Pager {window} busy={props.busy} messages={props.messages.clone()} on_page={props.on_page.clone()} />
        </div>
    }
}

/// Props of [`ConfirmDialog`].
#[derive(Properties, PartialEq)]
pub(crate) struct ConfirmDialogProps {
    /// Texts.
    pub(crate) messages: Rc<Messages>,
    /// Confirmed; the request is in flight (the confirm button ignores clicks).
    pub(crate) busy: bool,
    /// Where focus goes back to when the dialog closes (the Clear button).
    pub(crate) return_focus: NodeRef,
    /// "Clear authorization" clicked.
    pub(crate) on_confirm: Callback<()>,
    /// "Cancel" clicked or Escape pressed.
    pub(crate) on_cancel: Callback<()>,
}

/// The Clear confirmation: a modal dialog that traps focus, cancels on Escape and gives focus
/// back to the Clear button.
#[component]
pub(crate) fn ConfirmDialog(props: &ConfirmDialogProps) -> Html {
    let m = &props.messages;
    let title_id = use_memo((), |()| unique_id("dialog-title"));
    let text_id = use_memo((), |()| unique_id("dialog-text"));
    let cancel_ref = use_node_ref();
    let confirm_ref = use_node_ref();
    {
        let cancel_ref = cancel_ref.clone();
        let return_focus = props.return_focus.clone();
        use_effect_with((), move |()| {
            // The safe choice first.
            focus(&cancel_ref);
            move || {
                if return_focus
                    .cast::<HtmlElement>()
                    .is_some_and(|el| el.is_connected())
                {
                    focus(&return_focus);
                }
            }
        });
    }
    let on_keydown = {
        let (cancel_ref, confirm_ref) = (cancel_ref.clone(), confirm_ref.clone());
        let on_cancel = props.on_cancel.clone();
        Callback::from(move |e: KeyboardEvent| match e.key().as_str() {
            "Escape" => {
                e.prevent_default();
                e.stop_propagation();
                on_cancel.emit(());
            }
            "Tab" => {
                // Two focusable elements: Tab and Shift+Tab swap between them, never leave.
                let target = e.target().and_then(|t| t.dyn_into::<HtmlElement>().ok());
                let on_cancel_button =
                    target.is_some() && target == cancel_ref.cast::<HtmlElement>();
                e.prevent_default();
                if on_cancel_button {
                    focus(&confirm_ref);
                } else {
                    focus(&cancel_ref);
                }
            }
            _ => {}
        })
    };
    let on_confirm = {
        let (busy, on_confirm) = (props.busy, props.on_confirm.clone());
        Callback::from(move |_: MouseEvent| {
            if !busy {
                on_confirm.emit(());
            }
        })
    };
    let on_cancel = props.on_cancel.reform(|_: MouseEvent| ());
    html! {
        <div class="backdrop" part="backdrop">
            <div class="dialog" part="dialog" role="dialog" aria-modal="true"
                aria-labelledby={(*title_id).clone()} aria-describedby={(*text_id).clone()}
                onkeydown={on_keydown}>
                <h3 id={(*title_id).clone()}>{m.text(UiText::ClearConfirm).to_owned()}</h3>
                <p id={(*text_id).clone()}>{m.text(UiText::ClearConfirmQuestion).to_owned()}</p>
                <div class="actions">
                    <button type="button" class="btn" part="button cancel-button" ref={cancel_ref}
                        onclick={on_cancel}>
                        {m.text(UiText::Cancel).to_owned()}
                    </button>
                    <button type="button" class="btn danger" part="button confirm-button" ref={confirm_ref}
                        aria-disabled={props.busy.to_string()} onclick={on_confirm}>
                        if props.busy {
                            <span class="spinner" aria-hidden="true"></span>
                        }
                        {m.text(UiText::ClearConfirm).to_owned()}
                    </button>
                </div>
            </div>
        </div>
    }
}

/// Props of [`Panel`].
#[derive(Properties, PartialEq)]
pub(crate) struct PanelProps {
    /// What to show.
    pub(crate) state: UseReducerHandle<PanelState>,
    /// Texts (locale overrides and `helpText` applied).
    pub(crate) messages: Rc<Messages>,
    /// The viewer's time zone.
    pub(crate) zone: Rc<Zone>,
    /// What the controls do (one value for the whole tree; the children get the callback
    /// they need from it).
    pub(crate) actions: Rc<PanelActions>,
    /// Colour scheme (`data-theme`); `None`: the page's.
    pub(crate) theme: Option<Theme>,
}

/// The whole panel for one [`PanelState`].
#[component]
pub(crate) fn Panel(props: &PanelProps) -> Html {
    let state = &props.state;
    let provider_name = state
        .config
        .as_ref()
        .map(|c| c.provider_name.clone())
        .unwrap_or_default();
    // Every text names the configured provider (UPS's texts stay UPS's).
    let messages = use_memo(
        (props.messages.clone(), provider_name.clone()),
        |(messages, name)| messages.for_provider(name),
    );
    let m: &Messages = &messages;
    let title_id = use_memo((), |()| unique_id("title"));
    let clear_ref = use_node_ref();
    let authorize_ref = use_node_ref();
    // After a confirmed Clear the Clear button is gone: move focus to Authorize.
    let focus_after_clear = use_mut_ref(|| false);
    {
        let (focus_after_clear, authorize_ref) = (focus_after_clear.clone(), authorize_ref.clone());
        use_effect_with(state.view.clone(), move |view| {
            if matches!(view, View::NotAuthorized { cleared: true }) && *focus_after_clear.borrow()
            {
                focus(&authorize_ref);
            }
            if !matches!(view, View::Authorized { .. }) {
                *focus_after_clear.borrow_mut() = false;
            }
        });
    }

    let text = |t: UiText| AttrValue::from(m.text(t).to_owned());
    // The idle views' texts name the provider: until `/config` has said which one they show
    // Loading, so the panel never names another provider first (progress and errors show as
    // they are).
    let view = match (&state.config, &state.view) {
        (None, View::Invalidated | View::NotAuthorized { .. } | View::Authorized { .. })
            if !state.config_failed =>
        {
            View::Loading
        }
        (_, v) => v.clone(),
    };
    let (status_text, tone) = match &view {
        View::Loading => (Some(text(UiText::Loading)), Tone::Progress),
        View::Redirecting { .. } => (Some(m.redirecting(&provider_name).into()), Tone::Progress),
        View::Generating => (Some(text(UiText::Generating)), Tone::Progress),
        View::Authorized {
            just_generated: true,
        } => (Some(text(UiText::TokenGenerated)), Tone::Success),
        View::NotAuthorized { cleared: true } => {
            // "Cleared", and in one sentence what happened at the provider.
            let note = state.revocation.as_ref().and_then(|r| {
                m.revocation_note(
                    r,
                    &provider_name,
                    token_manager_core::Timestamp(js_sys::Date::now() as i64),
                )
            });
            let cleared = m.text(UiText::Cleared);
            let line = match note {
                Some(note) => format!("{cleared} {note}"),
                None => cleared.to_owned(),
            };
            (Some(AttrValue::from(line)), Tone::Info)
        }
        _ => (None, Tone::Info),
    };

    // A viewer session gets no Authorize and no Clear (the host refuses them anyway).
    let can_manage = state.can_manage;
    let authorize_button = |busy: bool| {
        if !can_manage {
            return Html::default();
        }
        let on_click = props.actions.authorize.reform(|_: MouseEvent| ());
        html! {
            <div class="actions">
                <button type="button" class="btn primary" part="button authorize-button"
                    ref={authorize_ref.clone()} disabled={busy} aria-disabled={busy.to_string()}
                    onclick={on_click}>
                    {text(UiText::Authorize)}
                </button>
            </div>
        }
    };
    let notes = html! {
        <>
            <p class="warning" part="warning">
                <span class="icon" aria-hidden="true">{"⚠"}</span>
                <span>{text(UiText::PasswordWarning)}</span>
            </p>
            <p class="tip" part="tip">{text(UiText::HelpTip)}</p>
        </>
    };

    let body = match &view {
        View::Loading | View::Generating => Html::default(),
        View::NotAuthorized { .. } => html! {
            <>
                <p class="explanation">{text(UiText::Explanation)}</p>
                { authorize_button(false) }
                { notes.clone() }
            </>
        },
        View::Redirecting { .. } => html! {
            <>
                <p class="explanation">{text(UiText::Explanation)}</p>
                { authorize_button(true) }
                { notes.clone() }
            </>
        },
        // The alert names the provider: announced once the provider is known (`/config`),
        // so a screen reader never hears another provider's name first.
        View::Invalidated => html! {
            <>
                if state.config.is_some() {
                    <div class="alert warning-box" part="message invalidated" role="alert">
                        <p class="text">{text(UiText::InvalidatedWarning)}</p>
                    </div>
                }
                { authorize_button(false) }
                { notes.clone() }
            </>
        },
        View::Authorized { .. } if !can_manage => Html::default(),
        View::Authorized { .. } => {
            let on_clear = props.actions.open_clear.reform(|_: MouseEvent| ());
            let after = focus_after_clear.clone();
            let on_confirm = props.actions.confirm_clear.reform(move |()| {
                *after.borrow_mut() = true;
            });
            html! {
                <>
                    <div class="actions">
                        <button type="button" class="btn danger-outline" part="button clear-button"
                            ref={clear_ref.clone()} onclick={on_clear}
                            aria-haspopup="dialog" disabled={state.confirm == Confirm::Clearing}>
                            {text(UiText::Clear)}
                        </button>
                    </div>
                    <p class="note" part="note">{text(UiText::ClearNote)}</p>
                    if state.confirm != Confirm::Closed {
                        <ConfirmDialog messages={messages.clone()}
                            busy={state.confirm == Confirm::Clearing}
                            return_focus={clear_ref.clone()}
                            on_confirm={on_confirm}
                            on_cancel={props.actions.cancel_clear.clone()} />
                    }
                </>
            }
        }
        View::Error {
            code,
            detail,
            retry,
        } => {
            // A viewer cannot authorize: its way out of any error is loading again.
            let retry_value = if can_manage { *retry } else { Retry::Reload };
            let label = match retry {
                Retry::Authorize => text(UiText::Authorize),
                Retry::Reload => text(UiText::Retry),
            };
            html! {
                <>
                    <ErrorMessage text={AttrValue::from(m.error(*code).to_owned())}
                        detail={detail.clone().map(AttrValue::from)}
                        code={*code}
                        retry_label={label}
                        retry_is_authorize={retry_value == Retry::Authorize}
                        on_retry={props.actions.retry.reform(move |()| retry_value)} />
                    if retry_value == Retry::Authorize {
                        { notes.clone() }
                    }
                </>
            }
        }
    };

    let grid = match (&view, &state.history) {
        (View::Loading, _) | (_, None) => Html::default(),
        (_, Some(page)) => html! {
            <HistoryGrid page={page.clone()} busy={state.grid_busy}
                messages={messages.clone()} zone={props.zone.clone()}
                on_page={props.actions.go_to_page.clone()} />
        },
    };

    let busy = matches!(
        view,
        View::Loading | View::Redirecting { .. } | View::Generating
    );
    html! {
        <section class="panel" part="panel" data-state={view.name()}
            data-theme={props.theme.map(Theme::as_str)}
            aria-labelledby={(*title_id).clone()} aria-busy={busy.to_string()}>
            <header class="header" part="header">
                <h2 id={(*title_id).clone()}>{text(UiText::Title)}</h2>
            </header>
            <StatusMessage text={status_text} {tone} />
            if matches!(view, View::Authorized { .. }) {
                { grid }
                <div class="body" part="body">{ body }</div>
            } else {
                <div class="body" part="body">{ body }</div>
                { grid }
            }
        </section>
    }
}
