use crate::api::tenants::{current_tenant, SwitchTenant};
use leptos::form::ActionForm;
use leptos::prelude::*;

/// Picks the tenant the hub shows. Works as a plain form without JavaScript.
#[component]
pub fn TenantSwitcher() -> impl IntoView {
    let switch = expect_context::<ServerAction<SwitchTenant>>();
    let tenants = Resource::new(move || switch.version().get(), |_| current_tenant());
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                tenants
                    .await
                    .ok()
                    .map(|ctx| {
                        let current = ctx.current.slug.clone();
                        view! {
                            <ActionForm action=switch attr:class="tenant-switcher">
                                <label for="tenant-select">"Tenant"</label>
                                <select id="tenant-select" name="slug">
                                    {ctx
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
                            </ActionForm>
                        }
                    })
            })}
        </Transition>
    }
}
