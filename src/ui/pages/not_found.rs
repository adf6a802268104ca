use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(opts) = use_context::<leptos_axum::ResponseOptions>() {
        opts.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found" />
        <section class="panel error-panel" role="alert" data-error-status="404">
            <h1>"Not found"</h1>
            <p>"There is no page at this address."</p>
            <p>
                <a href="/runs">"Back to runs"</a>
            </p>
        </section>
    }
}
