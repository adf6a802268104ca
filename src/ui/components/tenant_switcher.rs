use crate::api::session::SwitchTenant;
use crate::model::SessionInfo;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

/// Picks the session's current tenant. A plain form: switching reloads the
/// hub on the runs list of the chosen tenant, with or without JavaScript.
#[component]
pub fn TenantSwitcher(info: SessionInfo) -> impl IntoView {
    if info.choices.len() < 2 {
        return view! { <span class="tenant-name" data-testid="tenant-name">{info.current.name}</span> }
            .into_any();
    }
    let current = info.current.slug.clone();
    view! {
        <form method="post" action=SwitchTenant::url() class="tenant-switcher">
            <label for="tenant-select">"Tenant"</label>
            <select id="tenant-select" name="slug">
                {info
                    .choices
                    .into_iter()
                    .map(|t| {
                        let selected = t.slug == current;
                        view! {
                            <option value=t.slug selected=selected>
                                {t.name}
                            </option>
                        }
                    })
                    .collect_view()}
            </select>
            <button type="submit" class="btn btn-small">
                "Switch"
            </button>
        </form>
    }
    .into_any()
}
