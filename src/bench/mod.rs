//! `opshub bench`: measurements on a real Postgres, each printed as a
//! Markdown table.
//!
//! - `engine`: the run engine's throughput (tiny runs, one large run)
//! - `hub`: the hub's read paths over HTTP against a million runs

mod engine;
mod hub;

pub use engine::{run_engine, EngineBench};
pub use hub::{run_hub, HubBench};

/// A short random tag that names the tenants and users of one benchmark, so
/// it can run next to any other data.
fn new_tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}

/// The nearest-rank percentile `p` (0–1] of samples sorted ascending; `None`
/// without samples.
fn nearest_rank<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    #[test]
    fn nearest_rank_picks_the_sample_at_or_above_the_rank() {
        let sorted: Vec<u32> = (1..=100).collect();
        assert_eq!(super::nearest_rank(&sorted, 0.50), Some(50));
        assert_eq!(super::nearest_rank(&sorted, 0.99), Some(99));
        assert_eq!(super::nearest_rank(&[7], 0.99), Some(7));
        assert_eq!(super::nearest_rank::<u32>(&[], 0.5), None);
    }
}
