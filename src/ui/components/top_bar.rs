use super::bell::NotificationBell;
use super::tenant_switcher::TenantSwitcher;
use crate::api::session::SignOut;
use crate::model::{Role, SessionInfo};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::components::A;

/// The signed-in user, as loaded once per page load by the app root.
pub type SessionResource = Resource<Result<SessionInfo, crate::error::AppError>>;

#[component]
pub fn TopBar() -> impl IntoView {
    let session = expect_context::<SessionResource>();
    view! {
        <header class="top-bar">
            <nav class="container top-bar-inner" aria-label="Main">
                <A href="/runs" attr:class="brand">
                    "opshub"
                </A>
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        session.await.ok().map(|info| view! { <SignedIn info /> })
                    })}
                </Transition>
                // A sibling, not a child, of the suspense above: nested
                // suspense boundaries hydrate out of order.
                <NotificationBell />
            </nav>
        </header>
    }
}

#[component]
fn SignedIn(info: SessionInfo) -> impl IntoView {
    let who = info.name.clone();
    let email = info.email.clone();
    let viewer = info.role == Role::Viewer;
    let live = crate::ui::live::Live::get();
    Effect::new(move |_| live.start());
    view! {
        <ul class="nav-links">
            <li>
                <A href="/overview">"Overview"</A>
            </li>
            <li>
                <A href="/runs">"Runs"</A>
            </li>
            <li>
                <A href="/findings">"Findings"</A>
            </li>
            <li>
                <A href="/start">"Start"</A>
            </li>
        </ul>
        <div class="session-bar">
            <span
                class="live-dot"
                class:connected=move || live.connected.get()
                data-testid="live-status"
                title=move || if live.connected.get() { "Live: updates arrive as they happen" } else { "Not live: reconnecting" }
            >
                <span class="visually-hidden">{move || if live.connected.get() { "live" } else { "offline" }}</span>
            </span>
            <TenantSwitcher info />
            {viewer.then(|| view! { <span class="role-badge" title="You can look but not change anything">"viewer"</span> })}
            <form method="post" action=SignOut::url() class="sign-out">
                <span class="user-name" title=email data-testid="user-name">{who}</span>
                <button type="submit" class="btn btn-small">"Sign out"</button>
            </form>
        </div>
    }
}
