use crate::api::runs::{list_runs, list_runs_with_facets};
use crate::error::AppError;
use crate::model::cursor::Cursor;
use crate::model::run_query::{format_count, RunFacets, RunQuery, TimeRange};
use crate::model::{OperationKind, RunSummary};
use crate::ui::components::{error_panel::ErrorPanel, run_table::RunTable};
use crate::ui::live::{Cached, Live, StatusCache};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Form, A};
use leptos_router::hooks::use_query_map;

/// The current tenant's runs, newest first: status chips with counts,
/// filters, search and keyset pages, all in the URL; live.
#[component]
pub fn RunsPage() -> impl IntoView {
    let url = use_query_map();
    // Parsed once, here; the server functions take the query as it is.
    let query = Memo::new(move |_| {
        let q = url.read();
        RunQuery::from_url(|k| q.get(k))
    });
    let live = Live::get();
    let refreshes = RwSignal::new(0u32);
    // One resource for the page and its counts: they load and refresh
    // together. The counts are the costlier query and change only when a
    // run changes status, so a refetch for mere progress reuses them.
    let counts = StatusCache::new();
    let data = Resource::new(
        move || (query.get(), refreshes.get(), live.runs.get()),
        move |(query, refresh, _)| async move {
            let query = query.map_err(|e| AppError::BadRequest(e).on_page())?;
            // The counts depend on the filters but not on the status or
            // the page, and the refresh button asks again. Without them,
            // the page and the counts come in one request.
            let (page, facets) = match counts.lookup(live, &(query.for_counts(), refresh)) {
                Cached::Known(facets) => (list_runs(query.clone()).await?, facets),
                Cached::Missing(stamp) => {
                    let (page, facets) = list_runs_with_facets(query.clone()).await?;
                    counts.remember(stamp, (query.for_counts(), refresh), facets.clone());
                    (page, facets)
                }
            };
            Ok::<_, AppError>((query, page, facets))
        },
    );
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
                match data.await {
                    Ok((f, page, facets)) => {
                        view! {
                            <Controls facets filter=f.clone() />
                            <MatchingRuns runs=page.runs filtered=f.is_filtered() />
                            <Pager filter=f older=page.older />
                        }
                            .into_any()
                    }
                    Err(error) => view! { <ErrorPanel error /> }.into_any(),
                }
            })}
        </Transition>
        <p class="muted refresh-note" data-testid="refresh-count">
            {move || match refreshes.get() {
                0 => String::new(),
                n => format!("Refreshed {n}×"),
            }}
        </p>
    }
}

/// Status chips with counts, and the filter form (a GET form: without
/// JavaScript the browser loads the URL, with it the router does).
#[component]
fn Controls(facets: RunFacets, filter: RunQuery) -> impl IntoView {
    let all_href = filter.with_bucket(None).to_url();
    let total: i64 = facets.counts.iter().map(|(_, n)| n).sum();
    let chips = facets
        .counts
        .clone()
        .into_iter()
        .map(|(bucket, n)| {
            let current = filter.bucket == Some(bucket);
            view! {
                <li>
                    <a
                        href=filter.with_bucket(Some(bucket)).to_url()
                        class=format!("chip chip-{}", bucket.slug())
                        aria-current=current.then_some("true")
                        data-bucket=bucket.slug()
                    >
                        {bucket.label()}
                        <span class="chip-count">{format_count(n)}</span>
                    </a>
                </li>
            }
        })
        .collect_view();
    let selected_op = filter.kind.map(|k| k.key().to_string()).unwrap_or_default();
    let selected_by = filter.initiator.map(|u| u.to_string()).unwrap_or_default();
    let selected_range = filter
        .range
        .map(|r| r.slug().to_string())
        .unwrap_or_default();
    let status = filter
        .bucket
        .map(|b| b.slug().to_string())
        .unwrap_or_default();
    view! {
        <nav class="chips" aria-label="Status">
            <ul>
                <li>
                    <a
                        href=all_href
                        class="chip"
                        aria-current=filter.bucket.is_none().then_some("true")
                        data-bucket="all"
                    >
                        "all"
                        <span class="chip-count">{format_count(total)}</span>
                    </a>
                </li>
                {chips}
            </ul>
        </nav>
        <Form method="GET" action="/runs" attr:class="filters" attr:role="search">
            <input type="hidden" name="status" value=status />
            <label>
                <span>"Operation"</span>
                <select name="op">
                    <option value="" selected=selected_op.is_empty()>"All operations"</option>
                    {OperationKind::ALL
                        .into_iter()
                        .map(|k| view! { <option value=k.key() selected=selected_op == k.key()>{k.label()}</option> })
                        .collect_view()}
                </select>
            </label>
            <label>
                <span>"Initiator"</span>
                <select name="by">
                    <option value="" selected=selected_by.is_empty()>"Anyone"</option>
                    {facets
                        .initiators
                        .into_iter()
                        .map(|(id, name)| {
                            let value = id.to_string();
                            let selected = value == selected_by;
                            view! { <option value=value selected=selected>{name}</option> }
                        })
                        .collect_view()}
                </select>
            </label>
            <label>
                <span>"Created"</span>
                <select name="range">
                    <option value="" selected=selected_range.is_empty()>"Any time"</option>
                    {TimeRange::ALL
                        .into_iter()
                        .map(|r| view! { <option value=r.slug() selected=selected_range == r.slug()>{r.label()}</option> })
                        .collect_view()}
                </select>
            </label>
            <label class="search">
                <span>"Run id or idempotency key"</span>
                <input type="search" name="q" value=filter.search.clone().unwrap_or_default() maxlength="200" autocomplete="off" />
            </label>
            <button type="submit" class="btn">"Apply"</button>
            {filter.is_filtered().then(|| view! { <A href="/runs" attr:class="btn btn-link">"Clear filters"</A> })}
        </Form>
    }
}

#[component]
fn Pager(filter: RunQuery, older: Option<Cursor<i64>>) -> impl IntoView {
    let deep = filter.before.is_some();
    let newest = filter.first_page().to_url();
    let older = older.map(|c| filter.older_than(c).to_url());
    (deep || older.is_some()).then(|| {
        view! {
            <nav class="pager" aria-label="Pages">
                {deep.then(|| view! { <A href=newest attr:data-testid="newest-page">"← Newest"</A> })}
                {older.map(|href| view! { <A href=href attr:data-testid="older-page">"Older →"</A> })}
            </nav>
        }
    })
}

#[component]
fn MatchingRuns(runs: Vec<RunSummary>, filtered: bool) -> impl IntoView {
    if runs.is_empty() {
        return if filtered {
            view! {
                <section class="panel empty">
                    <h2>"No runs match"</h2>
                    <p>"Nothing matches these filters. " <A href="/runs">"Clear filters"</A></p>
                </section>
            }
            .into_any()
        } else {
            view! {
                <section class="panel empty">
                    <h2>"No runs yet"</h2>
                    <p>"Runs appear here as soon as an operation is started for this tenant."</p>
                </section>
            }
            .into_any()
        };
    }
    view! { <RunTable runs /> }.into_any()
}
