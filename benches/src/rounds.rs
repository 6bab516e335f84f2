//! Repeated throughput runs folded into one record each: `oort-bench all`
//! runs every in-process throughput configuration several times, in rounds
//! (each round runs every configuration once, so one and two workers of a
//! query alternate and a machine's drift falls on both), and keeps per
//! configuration the run of median events/s, with every round's figures
//! beside it (`<field>_by_round`) and, for a run on several workers, its
//! speed-up over one worker round by round (`vs_one_worker_by_round`: runs
//! of the same round, minutes apart at most).
//!
//! On a shared 2-core machine one run can be 30 % off the next; the median of
//! rounds is the figure the report compares with the bar, and the rounds are
//! shown so the spread is visible.

use serde_json::{Value as Json, json};

/// The fields kept round by round (`<field>_by_round`).
pub const BY_ROUND: [&str; 5] =
    ["events_per_sec", "ratio_to_floor", "floor_events_per_sec", "floor_two_cores_vs_one", "engine_two_copies_vs_one"];

fn eps(r: &Json) -> Option<f64> {
    (r.get("kind").and_then(Json::as_str) == Some("throughput"))
        .then(|| r.get("events_per_sec").and_then(Json::as_f64))
        .flatten()
}

/// The median of `xs` (the upper one of an even count); `None` when empty.
pub fn median(xs: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = xs.iter().copied().filter(|x| !x.is_nan()).collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied()
}

/// The numbers of field `key` of a record, an array (`None` if absent).
pub fn numbers(r: &Json, key: &str) -> Option<Vec<f64>> {
    let a = r.get(key)?.as_array()?;
    Some(a.iter().filter_map(Json::as_f64).collect())
}

/// One record for the runs of one configuration, in round order: the
/// completed run of median events/s with the rounds' figures added (a
/// skipped run is left out; when every run was skipped, the last one).
pub fn combine(runs: Vec<Json>) -> Option<Json> {
    let done: Vec<&Json> = runs.iter().filter(|r| eps(r).is_some()).collect();
    let speeds: Vec<f64> = done.iter().filter_map(|r| eps(r)).collect();
    let Some(mid) = median(&speeds) else { return runs.last().cloned() };
    let mut kept = done.iter().find(|r| eps(r) == Some(mid)).map(|r| (*r).clone())?;
    kept["rounds"] = json!(done.len());
    for key in BY_ROUND {
        let values: Vec<Json> = done.iter().filter_map(|r| r.get(key).cloned()).collect();
        if !values.is_empty() {
            kept[format!("{key}_by_round")] = Json::Array(values);
        }
    }
    Some(kept)
}

/// Two workers' speed-up over one, round by round (rounds where both completed).
pub fn speedups(one: &[Json], two: &[Json]) -> Vec<f64> {
    one.iter()
        .zip(two)
        .filter_map(|(a, b)| match (eps(a), eps(b)) {
            (Some(a), Some(b)) if a > 0.0 => Some((b / a * 100.0).round() / 100.0),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(eps: f64, ratio: f64) -> Json {
        json!({"kind": "throughput", "query": "q2", "workers": 1, "events_per_sec": eps, "ratio_to_floor": ratio})
    }

    #[test]
    fn the_median_run_is_kept_with_every_rounds_figures() {
        let kept = combine(vec![run(2.0e6, 0.6), run(2.6e6, 0.8), run(2.3e6, 0.7)]).expect("a record");
        assert_eq!(kept["events_per_sec"], json!(2.3e6));
        assert_eq!(kept["ratio_to_floor"], json!(0.7));
        assert_eq!(kept["rounds"], json!(3));
        assert_eq!(numbers(&kept, "events_per_sec_by_round"), Some(vec![2.0e6, 2.6e6, 2.3e6]));
        assert_eq!(numbers(&kept, "ratio_to_floor_by_round"), Some(vec![0.6, 0.8, 0.7]));
        assert!(kept.get("floor_two_cores_vs_one_by_round").is_none());
    }

    #[test]
    fn skipped_runs_are_left_out_and_kept_only_when_nothing_completed() {
        let skipped = json!({"kind": "skipped", "what": "run", "reason": "no broker"});
        let kept = combine(vec![skipped.clone(), run(1.0e6, 0.5), run(3.0e6, 0.9)]).expect("a record");
        assert_eq!((kept["events_per_sec"].clone(), kept["rounds"].clone()), (json!(3.0e6), json!(2)));
        assert_eq!(combine(vec![skipped.clone()]), Some(skipped));
        assert_eq!(combine(Vec::new()), None);
    }

    #[test]
    fn speedups_pair_the_runs_of_each_round() {
        let one = vec![run(2.0e6, 0.6), json!({"kind": "skipped"}), run(2.5e6, 0.7)];
        let two = vec![run(3.0e6, 0.6), run(3.3e6, 0.6), run(4.0e6, 0.7)];
        assert_eq!(speedups(&one, &two), vec![1.5, 1.6]);
        assert_eq!(median(&[1.5, 1.6]), Some(1.6));
        assert_eq!(median(&[1.2, 1.7, 1.4]), Some(1.4));
        assert_eq!(median(&[]), None);
    }
}
