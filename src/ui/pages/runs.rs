use crate::api::runs::list_runs;
use crate::model::RunSummary;
use crate::ui::components::{
    error_panel::ErrorPanel, progress::ProgressBar, status_badge::StatusBadge, timestamp::Timestamp,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

/// The current tenant's runs, newest first.
#[component]
pub fn RunsPage() -> impl IntoView {
    let refreshes = RwSignal::new(0u32);
    let live = crate::ui::live::Live::get();
    let runs = Resource::new(move || (refreshes.get(), live.runs.get()), |_| list_runs());
    view! {
        <Title text="Runs" />
        <div class="page-head">
            <h1>"Runs"</h1>
            <button
                type="button"
                class="btn"
                data-testid="refresh-runs"
                on:click=move |_| refreshes.update(|n| *n += 1)
            >
                "Refresh"
            </button>
        </div>
        <Transition fallback=|| view! { <p class="loading">"Loading runs…"</p> }>
            {move || Suspend::new(async move {
                match runs.await {
                    Ok(list) => view! { <RunsTable runs=list /> }.into_any(),
                    Err(error) => view! { <ErrorPanel error /> }.into_any(),
                }
            })}
        </Transition>
        <p class="muted" aria-live="polite" data-testid="refresh-count">
            {move || match refreshes.get() {
                0 => String::new(),
                n => format!("Refreshed {n}×"),
            }}
        </p>
    }
}

#[component]
fn RunsTable(runs: Vec<RunSummary>) -> impl IntoView {
    if runs.is_empty() {
        return view! {
            <section class="panel empty">
                <h2>"No runs yet"</h2>
                <p>"Runs appear here as soon as an operation is started for this tenant."</p>
            </section>
        }
        .into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="runs-table">
                <caption class="visually-hidden">"Runs, newest first"</caption>
                <thead>
                    <tr>
                        <th scope="col">"Run"</th>
                        <th scope="col">"Operation"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Progress"</th>
                        <th scope="col" class="num">"Succeeded"</th>
                        <th scope="col" class="num">"Failed"</th>
                        <th scope="col" class="num">"Skipped"</th>
                        <th scope="col">"Initiator"</th>
                        <th scope="col">"Created"</th>
                    </tr>
                </thead>
                <tbody>
                    {runs
                        .into_iter()
                        .map(|run| {
                            let href = format!("/runs/{}", run.id);
                            view! {
                                <tr data-run-id=run.id>
                                    <td>
                                        <A href=href>{format!("#{}", run.id)}</A>
                                    </td>
                                    <td>
                                        <span class="op-label">{run.operation_label()}</span>
                                        <code class="op-key">{run.operation_key()}</code>
                                    </td>
                                    <td>
                                        <StatusBadge status=run.status />
                                    </td>
                                    <td class="progress-cell">
                                        <ProgressBar counters=run.counters status=run.status />
                                    </td>
                                    <td class="num">{run.counters.succeeded}</td>
                                    <td class="num">{run.counters.failed}</td>
                                    <td class="num">{run.counters.skipped}</td>
                                    <td>{run.initiator.clone()}</td>
                                    <td>
                                        <Timestamp at=run.created_at />
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}
