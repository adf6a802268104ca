//! The HTML shell, the app root and its routes.

use crate::ui::components::timestamp::Hydrated;
use crate::ui::components::top_bar::{SessionResource, TopBar};
use crate::ui::pages::{
    backup_set::BackupSetPage,
    findings::{FindingDetailPage, FindingsPage},
    not_found::NotFound,
    notifications::NotificationsPage,
    overview::OverviewPage,
    run_detail::RunDetailPage,
    runs::RunsPage,
    sign_in::SignInPage,
    start::StartPage,
};
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

#[cfg(feature = "ssr")]
pub fn shell(options: LeptosOptions) -> impl IntoView {
    use leptos_meta::MetaTags;
    let stylesheet = crate::server::assets::stylesheet_href(&options);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" href="/favicon.ico" />
                // Content-hashed names in release builds (see server::assets).
                <link id="leptos" rel="stylesheet" href=stylesheet />
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
    #[cfg(feature = "ssr")]
    crate::server::security::set_page_csp();
    // Who is signed in, loaded once per page load: signing in or out and
    // switching tenant are full page loads.
    let session: SessionResource = Resource::new(
        || (),
        |_| crate::api::read_for_page(crate::api::session::current_session()),
    );
    provide_context(session);
    crate::ui::live::Live::provide();
    crate::ui::components::bell::provide_bell();
    let hydrated = Hydrated::provide();

    // Marks the document once the browser has taken over, so tests (and
    // styles) can tell a hydrated page from server-rendered HTML; times
    // turn relative then.
    Effect::new(move |_| {
        hydrated.mark();
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });

    view! {
        <Title formatter=|text: String| {
            if text.is_empty() { "opshub".to_string() } else { format!("{text} · opshub") }
        } />
        <Router>
            <a class="skip-link" href="#main">"Skip to content"</a>
            <TopBar />
            <main id="main" class="container">
                <Routes fallback=|| view! { <NotFound /> }>
                    <Route path=path!("/signin") view=SignInPage ssr=SsrMode::Async />
                    <Route path=path!("/") view=RunsPage ssr=SsrMode::Async />
                    <Route path=path!("/overview") view=OverviewPage ssr=SsrMode::Async />
                    <Route path=path!("/runs") view=RunsPage ssr=SsrMode::Async />
                    <Route path=path!("/runs/:id") view=RunDetailPage ssr=SsrMode::Async />
                    <Route path=path!("/backup-sets/:id") view=BackupSetPage ssr=SsrMode::Async />
                    <Route path=path!("/start") view=StartPage ssr=SsrMode::Async />
                    <Route path=path!("/findings") view=FindingsPage ssr=SsrMode::Async />
                    <Route path=path!("/findings/:id") view=FindingDetailPage ssr=SsrMode::Async />
                    <Route path=path!("/notifications") view=NotificationsPage ssr=SsrMode::Async />
                </Routes>
            </main>
        </Router>
    }
}
