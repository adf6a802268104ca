use crate::api::notifications::list_notifications;
use crate::error::AppError;
use crate::model::notification::NotificationQuery;
use crate::ui::components::bell::{NotificationList, ReadActions};
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
    // Parsed once, here; the server function takes the query as it is.
    let parsed = Memo::new(move |_| NotificationQuery::parse(query.read().get("older").as_deref()));
    let deep = move || parsed.get().is_ok_and(|q| q.older.is_some());
    let page = Resource::new(
        move || (parsed.get(), live.notifications.get(), actions.version()),
        |(parsed, _, _)| async move {
            let query = parsed.map_err(|e| AppError::BadRequest(e).on_page())?;
            list_notifications(query).await
        },
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
                            <NotificationList items=p.items class="notification-list panel" />
                            <nav class="pager" aria-label="Pages">
                                {deep().then(|| view! { <A href="/notifications">"Newest"</A> })}
                                {p.older.map(|c| view! { <A href=NotificationQuery { older: Some(c) }.to_url()>"Older"</A> })}
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
