use super::bell::NotificationBell;
use super::tenant_switcher::TenantSwitcher;
use crate::api::session::SignOut;
use crate::model::{Role, SessionInfo};
use crate::ui::markup;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::components::A;
use leptos_router::hooks::use_location;

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
    let location = use_location();
    Effect::new(move |_| live.start());
    view! {
        // Plain links as one string (see ui::markup): the router takes their
        // clicks, and the list is written again when the page changes.
        <ul class="nav-links" inner_html=move || nav_links(&location.pathname.read())></ul>
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

/// The hub's sections, the one `path` is in marked as the current page.
fn nav_links(path: &str) -> String {
    const SECTIONS: [(&str, &str); 4] = [
        ("/overview", "Overview"),
        ("/runs", "Runs"),
        ("/findings", "Findings"),
        ("/start", "Start"),
    ];
    let mut buf = String::with_capacity(240);
    for (href, label) in SECTIONS {
        let current = path
            .strip_prefix(href)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'));
        buf.push_str("<li><a href=\"");
        buf.push_str(href);
        buf.push('"');
        if current {
            buf.push_str(" aria-current=\"page\"");
        }
        buf.push('>');
        markup::text(&mut buf, label);
        buf.push_str("</a></li>");
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::nav_links;

    #[test]
    fn the_section_of_the_page_is_marked_current_and_no_other() {
        let runs = nav_links("/runs/16");
        assert_eq!(runs.matches("aria-current").count(), 1, "{runs}");
        assert!(
            runs.contains("<a href=\"/runs\" aria-current=\"page\">Runs</a>"),
            "{runs}"
        );
        assert!(!nav_links("/runsheet").contains("aria-current"));
        assert!(!nav_links("/").contains("aria-current"));
        assert!(nav_links("/findings").contains("<a href=\"/findings\" aria-current=\"page\">"));
        assert_eq!(nav_links("/notifications").matches("<li>").count(), 4);
    }
}
