use crate::api::session::SignIn;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// Email and password. A plain form, so it works the same with JavaScript
/// off; a failed attempt comes back here with the reason.
#[component]
pub fn SignInPage() -> impl IntoView {
    // Reads a failed attempt's error from the URL the server sent us back to.
    let attempt = ServerAction::<SignIn>::new();
    let query = use_query_map();
    let next = move || query.read().get("next").unwrap_or_default();
    let error = move || attempt.value().get().and_then(|r| r.err());
    view! {
        <Title text="Sign in" />
        <section class="panel sign-in" aria-labelledby="sign-in-heading">
            <h1 id="sign-in-heading">"Sign in to opshub"</h1>
            {move || {
                error()
                    .map(|e| {
                        view! {
                            <p class="form-error" role="alert" data-testid="sign-in-error">
                                {e.to_string()}
                            </p>
                        }
                    })
            }}
            <form method="post" action=SignIn::url() class="stacked-form">
                <input type="hidden" name="next" prop:value=next value=next />
                <label for="email">"Email"</label>
                <input id="email" name="email" type="email" autocomplete="username" required maxlength="254" />
                <label for="password">"Password"</label>
                <input
                    id="password"
                    name="password"
                    type="password"
                    autocomplete="current-password"
                    required
                    maxlength="1024"
                />
                <button type="submit" class="btn btn-primary">
                    "Sign in"
                </button>
            </form>
        </section>
    }
}
