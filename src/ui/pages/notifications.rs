use crate::api::notifications::list_notifications;
use crate::ui::components::bell::{NotificationEntry, ReadActions};
use crate::ui::components::error_panel::ErrorPanel;
use crate::ui::live::Live;
use leptos::form::ActionForm;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

/// Every notification of the signed-in user in this tenant, newest first,
/// a page at a time (the cursor is in the URL).
#[component]
pub fn NotificationsPage() -> impl IntoView {
    let query = use_query_map();
    let live = Live::get();
    let actions = ReadActions::get();
    let older = move || query.read().get("older").filter(|s| !s.is_empty());
    let page = Resource::new(
        move || (older(), live.notifications.get(), actions.version()),
        |(older, _, _)| list_notifications(older),
    );
    view! {
        <Title text="Notifications" />
        <div class="page-head">
            <h1>"Notifications"</h1>
            <ActionForm action=actions.mark_all>
                <button type="submit" class="btn">"Mark all as read"</button>
            </ActionForm>
        </div>
        <Transition fallback=|| view! { <p class="loading">"Loading notifications…"</p> }>
            {move || Suspend::new(async move {
                match page.await {
                    Ok(p) if p.items.is_empty() => {
                        view! {
                            <section class="panel empty-state">
                                <p>"No notifications here. Runs you start report when they are queued and when they finish."</p>
                            </section>
                        }
                            .into_any()
                    }
                    Ok(p) => {
                        view! {
                            <ul class="notification-list panel">
                                {p.items.into_iter().map(|item| view! { <NotificationEntry item /> }).collect_view()}
                            </ul>
                            <nav class="pager" aria-label="Pages">
                                {older().map(|_| view! { <A href="/notifications">"Newest"</A> })}
                                {p.older.map(|c| view! { <A href=format!("/notifications?older={c}")>"Older"</A> })}
                            </nav>
                        }
                            .into_any()
                    }
                    Err(error) => view! { <ErrorPanel error /> }.into_any(),
                }
            })}
        </Transition>
    }
}
