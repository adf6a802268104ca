//! The notification bell: unread badge and the latest entries; an entry
//! marks itself read and opens its run.

use crate::api::notifications::{MarkAllNotificationsRead, MarkNotificationRead};
use crate::error::AppError;
use crate::model::{Bell, NotificationItem};
use crate::ui::components::{status_badge::status_badge, timestamp::timestamp};
use crate::ui::live::Live;
use leptos::form::ActionForm;
use leptos::html;
use leptos::prelude::*;

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

/// One notification: status, title, counts, time. Opening it marks it read
/// (with JavaScript; without, the link still opens the run).
#[component]
pub fn NotificationEntry(
    item: NotificationItem,
    #[prop(optional)] on_open: Option<Callback<()>>,
) -> impl IntoView {
    let actions = ReadActions::get();
    let id = item.id.clone();
    let unread = !item.read;
    view! {
        <li class="notification" class:unread=unread data-notification-id=item.id.clone()>
            <a
                href=item.href()
                on:click=move |_| {
                    if unread {
                        actions.mark_read.dispatch(MarkNotificationRead { id: id.clone() });
                    }
                    if let Some(cb) = on_open {
                        cb.run(());
                    }
                }
            >
                <span class="notification-head">
                    {item.status.map(|status| view! { {status_badge(status)} })}
                    <span class="notification-title">{item.title.clone()}</span>
                    {unread.then(|| view! { <span class="visually-hidden">"(unread)"</span> })}
                </span>
                <span class="notification-meta">
                    {(!item.summary.is_empty()).then(|| view! { <span>{item.summary.clone()}</span> })}
                    {item.error_summary.clone().map(|e| view! { <span class="notification-errors">{e}</span> })}
                    {timestamp(item.created_at)}
                </span>
            </a>
        </li>
    }
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
        view! {
            <ul class="notification-list">
                {bell
                    .latest
                    .into_iter()
                    .map(|item| view! { <NotificationEntry item on_open=close /> })
                    .collect_view()}
            </ul>
        }
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
