//! The mergeable windowed aggregations of `parallel.rs` with the
//! experimental two-phase keyed path switched on
//! (`OORT_EXPERIMENTAL_TWO_PHASE=1`, see `operators/src/keyed.rs`): each
//! worker folds the rows it decoded and worker 0 merges the partial states.
//! 1, 2 and 4 workers must still give the same rows (one worker never takes
//! the two-phase path, so it is the sequential reference). Its own test
//! binary, so that switching the path on touches no other test.

mod common;

use common::window_runs::same_on_1_2_4;
use oort_operators::keyed::TWO_PHASE_ENV;

#[test]
fn two_phase_aggregation_is_the_same_on_1_2_4_workers() {
    // SAFETY: the only test of this binary sets the variable before it starts
    // any thread of its own (the tokio runtime and the workers come after).
    unsafe { std::env::set_var(TWO_PHASE_ENV, "1") };
    assert!(oort_operators::keyed::two_phase_enabled());
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let tumbling = "SELECT deviceId, COUNT(*) AS c, SUM(v) AS s, AVG(v) AS a, MIN(v) AS mn, MAX(v) AS mx, \
                        window_start() AS ws, window_end() AS we FROM demo0 GROUP BY deviceId, TUMBLINGWINDOW(ss, 2)";
        let rows = same_on_1_2_4(tumbling, 1).await.len();
        assert!(rows >= 10 * 23, "only {rows} rows");
        let hopping = "SELECT deviceId, COUNT(*) AS c, SUM(v) AS s, window_end() AS we FROM demo0 \
                       WHERE v > -10 GROUP BY deviceId, HOPPINGWINDOW(ss, 3, 1) HAVING SUM(v) > 100";
        same_on_1_2_4(hopping, 1).await;
    });
}
