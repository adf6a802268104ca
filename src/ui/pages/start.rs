use crate::api::operations::{get_start_options, ImportInventory, StartBackup, StartDrift};
use crate::model::start::{StartOptions, MAX_UPLOAD_BYTES};
use crate::ui::components::error_panel::ErrorPanel;
use crate::ui::components::form_panel::{refusal, FormPanel, OperatorSubmit};
use crate::ui::components::top_bar::SessionResource;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_meta::Title;

/// Forms that start each operation. Plain forms: they work without
/// JavaScript, and a start lands on the run's page (or, if refused, comes
/// back here with the reason).
#[component]
pub fn StartPage() -> impl IntoView {
    let options = Resource::new(|| (), |_| get_start_options());
    let session = expect_context::<SessionResource>();
    // A refused submit comes back here with its error in the URL.
    let refused = (
        refusal(StartDrift::PATH),
        refusal(StartBackup::PATH),
        refusal(ImportInventory::PATH),
    );
    view! {
        <Title text="Start an operation" />
        <div class="page-head">
            <h1>"Start an operation"</h1>
        </div>
        <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || {
                let (drift, backup, import) = refused.clone();
                Suspend::new(async move {
                let operator = session.await.map(|s| s.role.can_operate()).unwrap_or(false);
                match options.await {
                    Ok(opts) => view! {
                        {(!operator).then(|| view! {
                            <p class="notice" role="status">"Viewers can look but not start operations; ask an operator of this tenant."</p>
                        })}
                        <div class="start-grid">
                            <DriftForm opts=opts.clone() operator refused=drift />
                            <BackupForm opts=opts operator refused=backup />
                            <ImportForm operator refused=import />
                        </div>
                    }.into_any(),
                    Err(error) => view! { <ErrorPanel error /> }.into_any(),
                }
            })}}
        </Transition>
    }
}

#[component]
fn DriftForm(opts: StartOptions, operator: bool, refused: Option<String>) -> impl IntoView {
    let sync_options = move |opts: &StartOptions| {
        opts.scopes
            .iter()
            .map(|s| {
                let syncs = s
                    .syncs
                    .iter()
                    .map(|y| view! { <option value=y.id.to_string()>{y.label.clone()}</option> })
                    .collect_view();
                view! { <optgroup label=s.name.clone()>{syncs}</optgroup> }
            })
            .collect_view()
    };
    let empty = opts.scopes.is_empty();
    view! {
        <FormPanel
            heading_id="drift-heading"
            title="Generate drift"
            intro=view! { "Compare two inventory syncs of a scope and record what was added, removed or modified." }.into_any()
            refused
        >
            {if empty {
                view! { <p class="empty">"No scope has two completed inventory syncs yet: import a snapshot (twice) first."</p> }.into_any()
            } else {
                view! {
                    <form method="post" action=StartDrift::url() class="stacked-form" data-testid="drift-form">
                        <label for="drift-scope">"Scope"</label>
                        <select id="drift-scope" name="scope_key" required>
                            {opts.scopes.iter().map(|s| view! { <option value=s.scope_key.clone()>{s.name.clone()}</option> }).collect_view()}
                        </select>
                        <label for="drift-baseline">"Baseline sync"</label>
                        <select id="drift-baseline" name="baseline">
                            <option value="">"The scope's second latest"</option>
                            {sync_options(&opts)}
                        </select>
                        <label for="drift-current">"Current sync"</label>
                        <select id="drift-current" name="current">
                            <option value="">"The scope's latest"</option>
                            {sync_options(&opts)}
                        </select>
                        <OperatorSubmit operator label="Generate drift" />
                    </form>
                }.into_any()
            }}
        </FormPanel>
    }
}

#[component]
fn BackupForm(opts: StartOptions, operator: bool, refused: Option<String>) -> impl IntoView {
    let empty = opts.backup_sets.is_empty() || opts.policies.is_empty();
    view! {
        <FormPanel
            heading_id="backup-heading"
            title="Add policies to a backup set"
            intro=view! { "Copy each policy's current settings into the set; policies already in it are skipped." }.into_any()
            refused
        >
            {if empty {
                view! { <p class="empty">"This tenant has no backup sets or no policies yet."</p> }.into_any()
            } else {
                view! {
                    <form method="post" action=StartBackup::url() class="stacked-form" data-testid="backup-form">
                        <label for="backup-set">"Backup set"</label>
                        <select id="backup-set" name="backup_set" required>
                            {opts.backup_sets.iter().map(|(id, name)| view! { <option value=id.to_string()>{name.clone()}</option> }).collect_view()}
                        </select>
                        <fieldset class="policy-picks">
                            <legend>"Policies"</legend>
                            {opts.policies.iter().map(|(id, name, kind)| view! {
                                <label class="check">
                                    <input type="checkbox" name="policies[]" value=id.to_string() />
                                    {name.clone()} " " <code class="muted">{kind.clone()}</code>
                                </label>
                            }).collect_view()}
                        </fieldset>
                        <label class="check">
                            <input type="checkbox" name="include_assignments" value="on" />
                            "Include assignments"
                        </label>
                        <OperatorSubmit operator label="Add to backup set" />
                    </form>
                }.into_any()
            }}
        </FormPanel>
    }
}

#[component]
fn ImportForm(operator: bool, refused: Option<String>) -> impl IntoView {
    view! {
        <FormPanel
            heading_id="import-heading"
            title="Import an inventory snapshot"
            intro=view! {
                {format!("A JSON file (at most {} MiB): ", MAX_UPLOAD_BYTES >> 20)} <code>"{\"selection\": {…}, \"policies\": [{\"external_id\", \"policy_type\", \"display_name\", \"settings\", \"assignments\"}]}"</code>
            }.into_any()
            refused
        >
            <form method="post" enctype="multipart/form-data" action=ImportInventory::url() class="stacked-form" data-testid="import-form">
                <label for="snapshot">"Snapshot file"</label>
                <input id="snapshot" type="file" name="snapshot" accept="application/json,.json" required />
                <OperatorSubmit operator label="Import" />
            </form>
        </FormPanel>
    }
}
