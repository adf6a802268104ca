//! The HTML shell, the app root and its routes.

use crate::api::tenants::SwitchTenant;
use crate::ui::components::top_bar::TopBar;
use crate::ui::pages::{not_found::NotFound, run_detail::RunDetailPage, runs::RunsPage};
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" href="/favicon.ico" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Switching tenant bumps this action's version; pages refetch on it.
    let switch_tenant = ServerAction::<SwitchTenant>::new();
    provide_context(switch_tenant);

    // Marks the document once the browser has taken over, so tests (and
    // styles) can tell a hydrated page from server-rendered HTML.
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    view! {
        <Stylesheet id="leptos" href="/pkg/opshub.css" />
        <Title formatter=|text: String| {
            if text.is_empty() { "opshub".to_string() } else { format!("{text} · opshub") }
        } />
        <Router>
            <a class="skip-link" href="#main">"Skip to content"</a>
            <TopBar />
            <main id="main" class="container">
                <Routes fallback=|| view! { <NotFound /> }>
                    <Route path=path!("/") view=RunsPage ssr=SsrMode::Async />
                    <Route path=path!("/runs") view=RunsPage ssr=SsrMode::Async />
                    <Route path=path!("/runs/:id") view=RunDetailPage ssr=SsrMode::Async />
                </Routes>
            </main>
        </Router>
    }
}
