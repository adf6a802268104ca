use super::tenant_switcher::TenantSwitcher;
use leptos::prelude::*;
use leptos_router::components::A;

#[component]
pub fn TopBar() -> impl IntoView {
    view! {
        <header class="top-bar">
            <nav class="container top-bar-inner" aria-label="Main">
                <A href="/runs" attr:class="brand">
                    "opshub"
                </A>
                <ul class="nav-links">
                    <li>
                        <A href="/runs">"Runs"</A>
                    </li>
                </ul>
                <TenantSwitcher />
            </nav>
        </header>
    }
}
