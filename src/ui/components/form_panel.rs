//! What the plain forms that change state share: a panel with a heading,
//! what the form does and, when its last submit was refused, why (a form
//! posted without JavaScript comes back with the error in the URL); and a
//! submit button that viewers cannot press.

use crate::error::AppError;
use leptos::prelude::*;

/// Why the last submit to the server function at `path` was refused, when
/// the page was loaded with that refusal in its URL.
pub fn refusal(path: &'static str) -> Option<String> {
    use_context::<leptos::server::ServerActionError>()
        .filter(|e| e.path() == path)
        .map(|e| leptos::server_fn::error::ServerFnUrlError::<AppError>::decode_err(e.err()))
        .map(|e| e.to_string())
}

/// A form's panel: heading, introduction, the refusal if any, the form.
#[component]
pub fn FormPanel(
    heading_id: &'static str,
    title: &'static str,
    intro: AnyView,
    refused: Option<String>,
    children: Children,
) -> impl IntoView {
    view! {
        <section class="panel" aria-labelledby=heading_id>
            <h2 id=heading_id>{title}</h2>
            <p class="muted">{intro}</p>
            {refused.map(|e| view! { <p class="form-error" role="alert">{e}</p> })}
            {children()}
        </section>
    }
}

/// The submit button of a form only operators may send.
#[component]
pub fn OperatorSubmit(operator: bool, label: &'static str) -> impl IntoView {
    view! { <button type="submit" class="btn btn-primary" disabled=!operator>{label}</button> }
}
