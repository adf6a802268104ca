use crate::api::runs::{list_runs, list_runs_with_facets};
use crate::error::AppError;
use crate::model::cursor::Cursor;
use crate::model::run_query::{format_count, RunFacets, RunQuery, TimeRange};
use crate::model::{OperationKind, RunSummary};
use crate::ui::components::{error_panel::ErrorPanel, run_table::RunTable};
use crate::ui::live::{Cached, Live, StatusCache};
use crate::ui::markup;
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
            let key = (query.for_counts(), refresh);
            let (page, facets) = match counts.lookup(live, &key) {
                Cached::Known(facets) => (list_runs(query.clone()).await?, facets),
                Cached::Missing(stamp) => {
                    let (page, facets) = list_runs_with_facets(query.clone()).await?;
                    counts.remember(stamp, key, facets.clone());
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
    // Chips and options are markup written as one string each (see
    // ui::markup): links and choices only, no handler of their own.
    let chips = status_chips(&facets, &filter);
    let operations = markup::options(
        ("", "All operations"),
        OperationKind::ALL.into_iter().map(|k| (k.key(), k.label())),
        filter.kind.map_or("", |k| k.key()),
    );
    let initiators = markup::options(
        ("", "Anyone"),
        facets
            .initiators
            .iter()
            .map(|(id, name)| (id.to_string(), name.as_str())),
        &filter.initiator.map(|u| u.to_string()).unwrap_or_default(),
    );
    let ranges = markup::options(
        ("", "Any time"),
        TimeRange::ALL.into_iter().map(|r| (r.slug(), r.label())),
        filter.range.map_or("", |r| r.slug()),
    );
    let status = filter.bucket.map_or("", |b| b.slug());
    view! {
        <nav class="chips" aria-label="Status">
            <ul inner_html=chips></ul>
        </nav>
        <Form method="GET" action="/runs" attr:class="filters" attr:role="search">
            <input type="hidden" name="status" value=status />
            <label>
                <span>"Operation"</span>
                <select name="op" inner_html=operations></select>
            </label>
            <label>
                <span>"Initiator"</span>
                <select name="by" inner_html=initiators></select>
            </label>
            <label>
                <span>"Created"</span>
                <select name="range" inner_html=ranges></select>
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

/// The status chips: all runs, then each bucket, with their counts; the
/// current one marked.
fn status_chips(facets: &RunFacets, filter: &RunQuery) -> String {
    let total: i64 = facets.counts.iter().map(|(_, n)| n).sum();
    let all = std::iter::once((None, total));
    let buckets = facets.counts.iter().map(|(b, n)| (Some(*b), *n));
    let mut buf = String::with_capacity(1_200);
    for (bucket, n) in all.chain(buckets) {
        let (class, slug, label) = match bucket {
            None => ("chip".to_string(), "all", "all"),
            Some(b) => (format!("chip chip-{}", b.slug()), b.slug(), b.label()),
        };
        buf.push_str("<li><a");
        markup::attr(&mut buf, "href", &filter.with_bucket(bucket).to_url());
        markup::attr(&mut buf, "class", &class);
        if filter.bucket == bucket {
            buf.push_str(" aria-current=\"true\"");
        }
        markup::attr(&mut buf, "data-bucket", slug);
        buf.push('>');
        markup::text(&mut buf, label);
        markup::element(
            &mut buf,
            "span",
            &[("class", "chip-count")],
            &format_count(n),
        );
        buf.push_str("</a></li>");
    }
    buf
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::StatusBucket;

    #[test]
    fn chips_link_each_bucket_with_its_count_and_mark_the_current_one() {
        let facets = RunFacets {
            counts: vec![(StatusBucket::Queued, 2), (StatusBucket::Failed, 10_000)],
            initiators: vec![],
        };
        let filter = RunQuery {
            bucket: Some(StatusBucket::Failed),
            search: Some("a&b".into()),
            ..Default::default()
        };
        let chips = status_chips(&facets, &filter);
        assert_eq!(chips.matches("<li>").count(), 3, "{chips}");
        assert!(chips.starts_with("<li><a href=\"/runs?q=a%26b\" class=\"chip\" data-bucket=\"all\">all<span class=\"chip-count\">10,000+</span></a></li>"), "{chips}");
        assert!(chips.contains("<a href=\"/runs?status=failed&amp;q=a%26b\" class=\"chip chip-failed\" aria-current=\"true\" data-bucket=\"failed\">failed<span class=\"chip-count\">10,000+</span>"), "{chips}");
        assert!(!chips.contains("chip-queued\" aria-current"), "{chips}");
    }
}
