//! A button that asks before it acts: a disclosure holding the real action,
//! so it works without JavaScript too.

use leptos::prelude::*;

/// A button that opens a confirmation holding the real action.
#[component]
pub fn Confirm(
    label: &'static str,
    question: String,
    disabled_because: Option<&'static str>,
    testid: &'static str,
    children: Children,
) -> impl IntoView {
    if let Some(why) = disabled_because {
        return view! {
            <button type="button" class="btn" disabled=true title=why data-testid=testid>
                {label.trim_end_matches('…')}
            </button>
        }
        .into_any();
    }
    view! {
        <details class="confirm" data-testid=testid>
            <summary class="btn">{label}</summary>
            <div class="confirm-panel" role="group" aria-label=label>
                <p>{question}</p>
                {children()}
            </div>
        </details>
    }
    .into_any()
}
