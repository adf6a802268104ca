//! Charts drawn as SVG: the same markup from the server and after hydration,
//! with sizes as attributes (no inline styles, so a strict CSP holds) and
//! colors from the stylesheet (so dark mode applies).

use crate::model::overview::HourCounts;
use crate::model::time::{format_day, format_hour};
use crate::model::StatusBucket;
use chrono::{DateTime, Timelike, Utc};
use leptos::prelude::*;

/// The smallest 1, 2 or 5 times a power of ten that is at least `n` (and at
/// least 1): a y axis maximum with round gridlines.
pub fn nice_ceiling(n: u32) -> u32 {
    let mut step = 1u32;
    loop {
        for m in [1, 2, 5] {
            let candidate = step.saturating_mul(m);
            if candidate >= n || candidate == u32::MAX {
                return candidate;
            }
        }
        step = step.saturating_mul(10);
    }
}

/// Stacking order of the hour bars, bottom up: outcomes first, then what is
/// still going on.
const STACK: [StatusBucket; 5] = [
    StatusBucket::Succeeded,
    StatusBucket::PartiallySucceeded,
    StatusBucket::Failed,
    StatusBucket::Running,
    StatusBucket::Queued,
];

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 40.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 28.0;

/// Coordinates rounded to 0.1, printed the same on both sides (with
/// integers: float formatting would add to the browser's download).
fn num(v: f64) -> String {
    let tenths = (v * 10.0).round() as i64;
    let sign = if tenths < 0 { "-" } else { "" };
    let tenths = tenths.unsigned_abs();
    format!("{sign}{}.{}", tenths / 10, tenths % 10)
}

/// A point on the x axis worth a label: every 3 hours over a day, every
/// midnight (UTC) over a week.
fn axis_label(hour: DateTime<Utc>, hours_shown: usize) -> Option<String> {
    if hours_shown <= 48 {
        hour.hour().is_multiple_of(3).then(|| format_hour(hour))
    } else {
        (hour.hour() == 0).then(|| format_day(hour))
    }
}

fn hour_summary(h: &HourCounts) -> String {
    let parts: Vec<String> = STACK
        .iter()
        .filter(|b| h.count(**b) > 0)
        .map(|b| format!("{} {}", h.count(*b), b.label()))
        .collect();
    let when = format!("{}, {} UTC", format_day(h.hour), format_hour(h.hour));
    match h.total() {
        0 => format!("{when}: no runs"),
        1 => format!("{when}: 1 run, {}", parts.join(", ")),
        n => format!("{when}: {n} runs, {}", parts.join(", ")),
    }
}

/// Runs created per hour, stacked by status bucket, with a legend.
#[component]
pub fn HourlyRunsChart(hours: Vec<HourCounts>, label: String) -> impl IntoView {
    let max = nice_ceiling(hours.iter().map(HourCounts::total).max().unwrap_or(0));
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let slot = plot_w / hours.len().max(1) as f64;
    let bar_w = (slot * 0.78).max(1.0);
    let y_of = move |v: u32| TOP + plot_h - f64::from(v) / f64::from(max) * plot_h;

    // Gridlines at 0, the top and, when it is a whole number, halfway.
    let grid = [0, max / 2, max]
        .into_iter()
        .filter(|v| *v == 0 || *v == max || max.is_multiple_of(2))
        .map(|v| {
            let y = num(y_of(v));
            view! {
                <line class="chart-grid" x1=num(LEFT) x2=num(WIDTH - RIGHT) y1=y.clone() y2=y.clone()></line>
                <text class="chart-tick" x=num(LEFT - 6.0) y=num(y_of(v) + 4.0) text-anchor="end">{v.to_string()}</text>
            }
        })
        .collect_view();

    let shown = hours.len();
    let bars = hours
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let x = LEFT + i as f64 * slot + (slot - bar_w) / 2.0;
            let mut below = 0u32;
            let segments = STACK
                .iter()
                .filter(|b| h.count(**b) > 0)
                .map(|b| {
                    let n = h.count(*b);
                    let (top, bottom) = (y_of(below + n), y_of(below));
                    below += n;
                    view! {
                        <rect
                            class=format!("bar bar-{}", b.slug())
                            x=num(x)
                            y=num(top)
                            width=num(bar_w)
                            height=num((bottom - top).max(0.5))
                        ></rect>
                    }
                })
                .collect_view();
            let tick = axis_label(h.hour, shown).map(|text| {
                let cx = num(LEFT + (i as f64 + 0.5) * slot);
                view! {
                    <text class="chart-tick" x=cx y=num(HEIGHT - 8.0) text-anchor="middle">{text}</text>
                }
            });
            view! {
                <g class="chart-hour" data-total=h.total().to_string()>
                    <title>{hour_summary(h)}</title>
                    // The whole column answers the pointer, even where no bar is.
                    <rect class="chart-hit" x=num(LEFT + i as f64 * slot) y=num(TOP) width=num(slot) height=num(plot_h)></rect>
                    {segments}
                </g>
                {tick}
            }
        })
        .collect_view();

    let legend = STACK
        .iter()
        .rev()
        .map(|b| {
            view! {
                <li>
                    <span class=format!("swatch swatch-{}", b.slug()) aria-hidden="true"></span>
                    {b.label()}
                </li>
            }
        })
        .collect_view();

    view! {
        <figure class="chart">
            <svg
                class="hourly-chart"
                viewBox=format!("0 0 {WIDTH} {HEIGHT}")
                role="img"
                aria-label=label
                data-testid="hourly-chart"
            >
                {grid}
                {bars}
                <line class="chart-axis" x1=num(LEFT) x2=num(WIDTH - RIGHT) y1=num(TOP + plot_h) y2=num(TOP + plot_h)></line>
            </svg>
            <figcaption>
                <ul class="legend">{legend}</ul>
                <span class="muted">"Hours in UTC, by creation time."</span>
            </figcaption>
        </figure>
    }
}

/// One horizontal bar of stacked parts (`(css class, value)`), scaled so
/// `of` fills the width. Decorative: the numbers are in the text beside it.
#[component]
pub fn MeterBar(parts: Vec<(&'static str, u32)>, of: u32) -> impl IntoView {
    let of = f64::from(of.max(1));
    let mut at = 0.0;
    let rects = parts
        .into_iter()
        .filter(|(_, v)| *v > 0)
        .map(|(class, v)| {
            let w = f64::from(v) / of * 100.0;
            let x = at;
            at += w;
            view! { <rect class=class x=num(x) y="0" width=num(w) height="1"></rect> }
        })
        .collect_view();
    view! {
        <svg class="meter" viewBox="0 0 100 1" preserveAspectRatio="none" aria-hidden="true">
            <rect class="meter-track" x="0" y="0" width="100" height="1"></rect>
            {rects}
        </svg>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_axis_maximum_is_a_round_number_at_least_the_data() {
        assert_eq!(nice_ceiling(0), 1);
        assert_eq!(nice_ceiling(1), 1);
        assert_eq!(nice_ceiling(3), 5);
        assert_eq!(nice_ceiling(7), 10);
        assert_eq!(nice_ceiling(11), 20);
        assert_eq!(nice_ceiling(20), 20);
        assert_eq!(nice_ceiling(480), 500);
        assert_eq!(nice_ceiling(u32::MAX), u32::MAX);
    }

    #[test]
    fn axis_labels_mark_every_third_hour_of_a_day_and_each_midnight_of_a_week() {
        let at = |d, h| Utc.with_ymd_and_hms(2026, 11, d, h, 0, 0).unwrap();
        assert_eq!(axis_label(at(29, 15), 24).as_deref(), Some("15:00"));
        assert_eq!(axis_label(at(29, 16), 24), None);
        assert_eq!(axis_label(at(29, 0), 168).as_deref(), Some("Nov 29"));
        assert_eq!(axis_label(at(29, 3), 168), None);
    }

    #[test]
    fn coordinates_print_with_one_decimal() {
        assert_eq!(num(0.0), "0.0");
        assert_eq!(num(12.34), "12.3");
        assert_eq!(num(12.36), "12.4");
        assert_eq!(num(640.0), "640.0");
        assert_eq!(num(-3.21), "-3.2");
        for i in 0..20_000 {
            let v = f64::from(i) * 0.037 + 0.001;
            let printed = num(v);
            let (_, decimals) = printed.split_once('.').unwrap();
            assert_eq!(decimals.len(), 1, "{printed}");
            let back: f64 = printed.parse().unwrap();
            assert!((back - v).abs() <= 0.05 + 1e-9, "{v} printed as {printed}");
        }
    }

    #[test]
    fn an_hour_is_described_with_its_counts() {
        let hour = Utc.with_ymd_and_hms(2026, 11, 29, 14, 0, 0).unwrap();
        let h = HourCounts {
            hour,
            counts: [0, 1, 2, 0, 1],
        };
        assert_eq!(
            hour_summary(&h),
            "Nov 29, 14:00 UTC: 4 runs, 2 succeeded, 1 failed, 1 running"
        );
    }
}
