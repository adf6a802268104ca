use crate::error::AppError;
use leptos::prelude::*;

/// A designed error state: what went wrong, and a way back.
#[component]
pub fn ErrorPanel(error: AppError) -> impl IntoView {
    view! {
        <section class="panel error-panel" role="alert" data-error-status=error.status_code()>
            <h1>{error.title()}</h1>
            <p>{error.to_string()}</p>
            <p>
                {if error == AppError::Unauthorized {
                    view! { <a href="/signin" rel="external">"Sign in again"</a> }.into_any()
                } else {
                    view! { <a href="/runs">"Back to runs"</a> }.into_any()
                }}
            </p>
        </section>
    }
}
