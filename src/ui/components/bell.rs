//! The notification bell: unread badge and the latest entries; an entry
//! marks itself read and opens its run.

use crate::api::notifications::{MarkAllNotificationsRead, MarkNotificationRead};
use crate::error::AppError;
use crate::model::{Bell, NotificationItem};
use crate::ui::components::{
    status_badge::write_status_badge,
    timestamp::{write_timestamp, Hydrated},
};
use crate::ui::live::Live;
use crate::ui::markup;
use chrono::{DateTime, Utc};
use leptos::form::ActionForm;
use leptos::html;
use leptos::prelude::*;
use leptos::wasm_bindgen::JsCast;
use leptos::web_sys;

/// The actions that change read state; pages showing notifications refetch
/// when their versions move.
#[derive(Clone, Copy)]
pub struct ReadActions {
    pub mark_read: ServerAction<MarkNotificationRead>,
    pub mark_all: ServerAction<MarkAllNotificationsRead>,
}

impl ReadActions {
    pub fn get() -> ReadActions {
        use_context::<ReadActions>().unwrap_or_else(|| {
            let actions = ReadActions {
                mark_read: ServerAction::new(),
                mark_all: ServerAction::new(),
            };
            provide_context(actions);
            actions
        })
    }

    /// Changes whenever something was marked read.
    pub fn version(&self) -> usize {
        self.mark_read.version().get() + self.mark_all.version().get()
    }
}

/// Notifications as a list: status, title, counts, time. Opening one marks
/// it read (with JavaScript; without, the link still opens the run). The
/// entries are one string (see `ui::markup`); one click handler on the list
/// finds the entry that was opened.
#[component]
pub fn NotificationList(
    items: Vec<NotificationItem>,
    #[prop(into)] class: String,
    #[prop(optional)] on_open: Option<Callback<()>>,
) -> impl IntoView {
    let actions = ReadActions::get();
    let hydrated = Hydrated::get();
    let open = move |ev: leptos::ev::MouseEvent| {
        let Some(target) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        else {
            return;
        };
        if !matches!(target.closest("a"), Ok(Some(_))) {
            return;
        }
        let unread = target
            .closest("li.unread[data-notification-id]")
            .ok()
            .flatten();
        if let Some(id) = unread.and_then(|li| li.get_attribute("data-notification-id")) {
            actions.mark_read.dispatch(MarkNotificationRead { id });
        }
        if let Some(cb) = on_open {
            cb.run(());
        }
    };
    view! {
        <ul class=class on:click=open inner_html=move || entries(&items, Hydrated::now(hydrated))></ul>
    }
}

/// The entries' markup; times relative to `now` when given.
fn entries(items: &[NotificationItem], now: Option<DateTime<Utc>>) -> String {
    let mut buf = String::with_capacity(items.len() * 700);
    for item in items {
        buf.push_str(if item.read {
            "<li class=\"notification\""
        } else {
            "<li class=\"notification unread\""
        });
        markup::attr(&mut buf, "data-notification-id", &item.id);
        buf.push_str("><a");
        markup::attr(&mut buf, "href", &item.href());
        buf.push_str("><span class=\"notification-head\">");
        if let Some(status) = item.status {
            write_status_badge(&mut buf, status);
        }
        markup::element(
            &mut buf,
            "span",
            &[("class", "notification-title")],
            &item.title,
        );
        if !item.read {
            buf.push_str("<span class=\"visually-hidden\">(unread)</span>");
        }
        buf.push_str("</span><span class=\"notification-meta\">");
        if !item.summary.is_empty() {
            markup::element(&mut buf, "span", &[], &item.summary);
        }
        if let Some(errors) = &item.error_summary {
            markup::element(
                &mut buf,
                "span",
                &[("class", "notification-errors")],
                errors,
            );
        }
        write_timestamp(&mut buf, item.created_at, now);
        buf.push_str("</span></a></li>");
    }
    buf
}

/// The bell's data. Created by the app root, outside any suspense, so the
/// server's value is found again when the page hydrates.
pub type BellResource = Resource<Result<Bell, AppError>>;

/// Creates the bell's resource: refetched when a notification arrives or
/// something is marked read.
pub fn provide_bell() {
    let live = Live::get();
    let actions = ReadActions::get();
    let bell: BellResource = Resource::new(
        move || (live.notifications.get(), actions.version()),
        |_| crate::api::read_for_page(crate::api::notifications::get_bell()),
    );
    provide_context(bell);
}

#[component]
pub fn NotificationBell() -> impl IntoView {
    let actions = ReadActions::get();
    let bell = expect_context::<BellResource>();
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                bell.await.ok().map(|b| view! { <BellMenu bell=b actions /> })
            })}
        </Transition>
    }
}

#[component]
fn BellMenu(bell: Bell, actions: ReadActions) -> impl IntoView {
    let panel = NodeRef::<html::Details>::new();
    let close = Callback::new(move |_| {
        if let Some(details) = panel.get_untracked() {
            details.set_open(false);
        }
    });
    let badge = bell.badge();
    let list = if bell.latest.is_empty() {
        view! { <p class="empty">"No notifications yet. Runs you start report here."</p> }
            .into_any()
    } else {
        view! { <NotificationList items=bell.latest class="notification-list" on_open=close /> }
            .into_any()
    };
    view! {
        <details class="bell" node_ref=panel data-testid="bell">
            <summary class="bell-button" title="Notifications">
                <svg class="bell-icon" viewBox="0 0 24 24" aria-hidden="true">
                    <path d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1Z" />
                </svg>
                <span class="visually-hidden">"Notifications"</span>
                <span class="bell-live" aria-live="polite">
                    {badge.map(|count| view! {
                        <span class="bell-badge" data-testid="bell-count">
                            {count}
                            <span class="visually-hidden">" unread"</span>
                        </span>
                    })}
                </span>
            </summary>
            <div class="bell-panel" role="region" aria-label="Latest notifications">
                <div class="bell-head">
                    <h2>"Notifications"</h2>
                    <ActionForm action=actions.mark_all>
                        <button type="submit" class="btn btn-link" data-testid="mark-all-read">
                            "Mark all as read"
                        </button>
                    </ActionForm>
                </div>
                {list}
                <a class="bell-all" href="/notifications" on:click=move |_| close.run(())>
                    "All notifications"
                </a>
            </div>
        </details>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RunStatus;
    use chrono::TimeZone;

    fn item(read: bool) -> NotificationItem {
        NotificationItem {
            id: "9a6894a7-dbb4-4836-8f91-1f2dc289cda8".into(),
            title: "Inventory import <failed>".into(),
            status: Some(RunStatus::Failed),
            summary: "6 of 8 items · 2 failed".into(),
            error_summary: Some("2 failures: \"timeout\" (2)".into()),
            run_id: Some(4),
            created_at: Utc.with_ymd_and_hms(2026, 12, 4, 21, 38, 37).unwrap(),
            read,
        }
    }

    #[test]
    fn an_unread_entry_is_marked_for_the_click_handler_and_escapes_its_texts() {
        let html = entries(&[item(false)], None);
        assert!(html.starts_with(
            "<li class=\"notification unread\" data-notification-id=\"9a6894a7-dbb4-4836-8f91-1f2dc289cda8\"><a href=\"/runs/4\">"
        ), "{html}");
        assert!(html.contains("<span class=\"notification-title\">Inventory import &lt;failed&gt;</span><span class=\"visually-hidden\">(unread)</span>"));
        assert!(
            html.contains("<span class=\"notification-errors\">2 failures: \"timeout\" (2)</span>")
        );
        assert!(html.contains("data-status=\"failed\">failed</span>"));
        assert!(
            html.ends_with("2026-12-04 21:38:37 UTC</time></span></a></li>"),
            "{html}"
        );
    }

    #[test]
    fn a_read_entry_has_no_unread_marks_and_shows_relative_times_once_given_now() {
        let read = item(true);
        let now = read.created_at + chrono::Duration::hours(2);
        let html = entries(&[read], Some(now));
        assert!(
            html.starts_with("<li class=\"notification\" data-notification-id="),
            "{html}"
        );
        assert!(!html.contains("unread"), "{html}");
        assert!(html.contains(">2 hours ago</time>"), "{html}");
    }
}
