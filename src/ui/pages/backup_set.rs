use crate::api::backup_sets::get_backup_set;
use crate::model::backup_set::BackupSetDetail;
use crate::ui::components::{error_panel::ErrorPanel, run_table::RunTable, timestamp::timestamp};
use crate::ui::live::Live;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};

/// A backup set: what it holds (a page of items at a time, the cursor in
/// the URL) and the newest runs that added to it; live.
#[component]
pub fn BackupSetPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let live = Live::get();
    let set = Resource::new(
        move || {
            (
                params.read().get("id").unwrap_or_default(),
                query.read().get("after"),
                live.runs.get(),
            )
        },
        |(id, after, _)| get_backup_set(id, after),
    );
    view! {
        <p class="breadcrumb"><A href="/runs?op=backup_set.add_policies">"← Backup runs"</A></p>
        <Transition fallback=|| view! { <p class="loading">"Loading backup set…"</p> }>
            {move || Suspend::new(async move {
                match set.await {
                    Ok(detail) => {
                        let paged = query.read_untracked().get("after").is_some();
                        view! { <BackupSetView detail paged /> }.into_any()
                    }
                    Err(error) => view! { <Title text=error.title() /><ErrorPanel error /> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn BackupSetView(detail: BackupSetDetail, paged: bool) -> impl IntoView {
    let title = format!("Backup set {}", detail.name);
    let base = format!("/backup-sets/{}", detail.id);
    let count = detail.item_count;
    let items = detail
        .items
        .into_iter()
        .map(|item| {
            view! {
                <tr data-policy-id=item.policy_id>
                    <td>{item.display_name}</td>
                    <td><code class="wrap">{item.policy_external_id}</code></td>
                    <td>{if item.with_assignments { "included" } else { "not included" }}</td>
                    <td><code title=item.settings_hash.clone()>{item.settings_hash.chars().take(12).collect::<String>()}</code></td>
                    <td>{timestamp(item.captured_at)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <Title text=title.clone() />
        <div class="page-head">
            <h1>{title}</h1>
        </div>
        <section class="panel">
            <dl class="fields">
                <dt>"Description"</dt>
                <dd>{if detail.description.is_empty() { "—".to_string() } else { detail.description }}</dd>
                <dt>"Created"</dt>
                <dd>{timestamp(detail.created_at)}</dd>
                <dt>"Policies held"</dt>
                <dd data-testid="item-count">{count}</dd>
            </dl>
        </section>
        <section aria-labelledby="set-runs">
            <h2 id="set-runs">"Recent runs into this set"</h2>
            {if detail.runs.is_empty() {
                view! { <p class="panel empty-state">"No run has added policies to this set yet."</p> }.into_any()
            } else {
                view! { <RunTable runs=detail.runs /> }.into_any()
            }}
        </section>
        <section aria-labelledby="set-items">
            <h2 id="set-items">"Policies in this set"</h2>
            {if count == 0 {
                view! { <p class="panel empty-state">"The set is empty."</p> }.into_any()
            } else {
                view! {
                    <div class="table-wrap">
                        <table data-testid="backup-items">
                            <thead>
                                <tr>
                                    <th scope="col">"Policy"</th>
                                    <th scope="col">"External id"</th>
                                    <th scope="col">"Assignments"</th>
                                    <th scope="col">"Settings hash"</th>
                                    <th scope="col">"Captured"</th>
                                </tr>
                            </thead>
                            <tbody>{items}</tbody>
                        </table>
                    </div>
                    <nav class="pager" aria-label="Pages">
                        {paged.then(|| view! { <A href=base.clone()>"← First policies"</A> })}
                        {detail.next_after.map(|after| view! { <A href=format!("{base}?after={after}")>"Next policies →"</A> })}
                    </nav>
                }
                    .into_any()
            }}
        </section>
    }
}
