//! The report of `oort-bench all`: the JSON lines of every run, a Markdown
//! page with the tables and the bar, and an SVG chart (throughput
//! against workers, latency percentiles), plus the progress bar of long runs.
//!
//! Everything here reads the JSON records the runs produced, so the page and
//! chart can be rebuilt from `results.jsonl` alone (`oort-bench report`).

use indicatif::{ProgressBar, ProgressStyle};
use plotters::prelude::*;
use serde_json::Value as Json;
use std::fmt::Write as _;
use std::path::Path;

/// A progress bar on stderr for `len` events.
pub fn progress_bar(len: u64, label: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template("{prefix:>16} [{bar:30}] {pos}/{len} events {per_sec} {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_prefix(label.to_string());
    bar
}

fn f(v: &Json, k: &str) -> Option<f64> {
    v.get(k).and_then(Json::as_f64)
}

fn s<'a>(v: &'a Json, k: &str) -> &'a str {
    v.get(k).and_then(Json::as_str).unwrap_or("")
}

fn kind(v: &Json) -> &str {
    s(v, "kind")
}

fn num(x: Option<f64>) -> String {
    match x {
        None => "–".into(),
        Some(x) if x.is_nan() => "–".into(),
        Some(x) if x.abs() >= 1e6 => format!("{:.2} M", x / 1e6),
        Some(x) if x.abs() >= 1e4 => format!("{:.0} k", x / 1e3),
        Some(x) if x.fract() == 0.0 => format!("{x:.0}"),
        Some(x) if x.abs() >= 100.0 => format!("{x:.0}"),
        Some(x) if x.abs() >= 10.0 => format!("{x:.1}"),
        Some(x) => format!("{x:.2}"),
    }
}

fn list(v: &Json, k: &str) -> String {
    match v.get(k).and_then(Json::as_array) {
        Some(a) if !a.is_empty() => a.iter().map(|x| num(x.as_f64())).collect::<Vec<_>>().join(", "),
        _ => "–".into(),
    }
}

/// Field `key` of a run kept from several rounds: the median of its rounds
/// (`<key>_by_round`, see [`crate::rounds`]), else the run's own figure.
fn by_rounds(r: &Json, key: &str) -> Option<f64> {
    crate::rounds::numbers(r, &format!("{key}_by_round")).and_then(|v| crate::rounds::median(&v)).or_else(|| f(r, key))
}

/// ` (median of N rounds: a, b, c)` when field `list_key` holds several rounds' figures.
fn rounds_note(r: Option<&Json>, list_key: &str) -> String {
    match r.and_then(|r| crate::rounds::numbers(r, list_key)) {
        Some(v) if v.len() > 1 => {
            format!(
                " (median of {} rounds: {})",
                v.len(),
                v.iter().map(|x| num(Some(*x))).collect::<Vec<_>>().join(", ")
            )
        }
        _ => String::new(),
    }
}

fn find(records: &[Json], pred: impl Fn(&Json) -> bool) -> Option<&Json> {
    records.iter().find(|r| pred(r))
}

fn throughput<'a>(records: &'a [Json], q: &str, feed: &str, workers: u64) -> Option<&'a Json> {
    find(records, |r| {
        kind(r) == "throughput"
            && s(r, "query") == q
            && s(r, "feed") == feed
            && r.get("workers").and_then(Json::as_u64) == Some(workers)
    })
}

/// One line of the bar: what, the target, the measured figure, met or not.
fn bar_line(
    out: &mut String,
    what: &str,
    target: &str,
    measured: Option<f64>,
    shown: String,
    met: impl Fn(f64) -> bool,
) {
    let verdict = match measured {
        Some(m) if !m.is_nan() => {
            if met(m) {
                "**met**"
            } else {
                "not met"
            }
        }
        _ => "not measured",
    };
    let _ = writeln!(out, "| {what} | {target} | {shown} | {verdict} |");
}

/// The Markdown page.
pub fn markdown(records: &[Json], header: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Oort benchmark report\n\n{header}\n");
    let _ = writeln!(out, "![throughput and latency](throughput.svg)\n");

    // The bar.
    let _ = writeln!(out, "## Against the bar of issue 8\n");
    let _ = writeln!(out, "| bar | target | measured | |\n| --- | --- | --- | --- |");
    let eps = |r: Option<&Json>| r.and_then(|r| f(r, "events_per_sec"));
    let q1 = throughput(records, "q1", "memory", 1);
    bar_line(
        &mut out,
        "Q1 in-process, 1 worker",
        "≥ 3 M events/s",
        eps(q1),
        format!("{} events/s{}", num(eps(q1)), rounds_note(q1, "events_per_sec_by_round")),
        |m| m >= 3e6,
    );
    let q1_ratio = q1.and_then(|r| by_rounds(r, "ratio_to_floor"));
    let q1_ratio_shown = format!("{}{}", num(q1_ratio), rounds_note(q1, "ratio_to_floor_by_round"));
    bar_line(&mut out, "Q1 in-process vs the floor", "≥ 0.7", q1_ratio, q1_ratio_shown, |m| m >= 0.7);
    for q in ["q2", "q3"] {
        let one = throughput(records, q, "memory", 1);
        let two = throughput(records, q, "memory", 2);
        let upper = q.to_uppercase();
        bar_line(
            &mut out,
            &format!("{upper} in-process, 1 worker"),
            "≥ 2 M events/s",
            eps(one),
            format!("{} events/s{}", num(eps(one)), rounds_note(one, "events_per_sec_by_round")),
            |m| m >= 2e6,
        );
        // Round by round when the runs came in rounds (runs minutes apart at most).
        let paired = two.and_then(|r| crate::rounds::numbers(r, "vs_one_worker_by_round"));
        let scale = match (paired.as_deref().and_then(crate::rounds::median), eps(one), eps(two)) {
            (Some(m), _, _) => Some(m),
            (None, Some(a), Some(b)) => Some(b / a),
            _ => None,
        };
        // What two cores gave the floor in the same run (a yardstick, not a ceiling:
        // timed at another moment, and single rounds of a split have come out above it).
        let two_cores = two.and_then(|r| by_rounds(r, "floor_two_cores_vs_one"));
        // What two one-worker engines side by side gave: what a split of the rule
        // comes near when splitting costs nothing (a yardstick too, not a ceiling).
        let two_engines = two.and_then(|r| by_rounds(r, "engine_two_copies_vs_one"));
        let shown = format!(
            "{}×{}{}{}",
            num(scale),
            rounds_note(two, "vs_one_worker_by_round"),
            two_cores.map_or(String::new(), |c| format!("; two floor copies at once: {}× one", num(Some(c)))),
            two_engines.map_or(String::new(), |c| format!("; two one-worker engines at once: {}× one", num(Some(c)))),
        );
        bar_line(&mut out, &format!("{upper} 2 workers vs 1"), "≥ 1.7×", scale, shown, |m| m >= 1.7);
    }
    let mq = throughput(records, "q1", "mqtt", 1);
    let mq_ratio = mq.and_then(|r| f(r, "ratio_to_broker"));
    let mq_shown = match mq {
        Some(r) => format!(
            "{} ({} vs ceiling {} msg/s)",
            num(mq_ratio),
            num(f(r, "events_per_sec")),
            num(f(r, "broker_pair_events_per_sec"))
        ),
        None => "skipped".into(),
    };
    bar_line(&mut out, "Q1 over MQTT vs a plain pub→sub pair", "≥ 0.9", mq_ratio, mq_shown, |m| m >= 0.9);
    let q5 = find(records, |r| kind(r) == "many_rules");
    let q5_rss = q5.and_then(|r| f(r, "peak_rss_mb"));
    let q5_rules = q5.and_then(|r| f(r, "rules")).unwrap_or(0.0);
    bar_line(
        &mut out,
        &format!("Q5: {} rules at 1,000 events/s, RSS", num(Some(q5_rules))),
        "< 300 MB",
        q5_rss,
        format!("{} MB peak", num(q5_rss)),
        |m| m < 300.0,
    );
    let q5_cpu = q5.and_then(|r| f(r, "cpu_percent"));
    let q5_rate = q5.and_then(|r| f(r, "events_per_sec"));
    bar_line(
        &mut out,
        "Q5: same, CPU",
        "< 25 % of a core",
        q5_cpu,
        format!("{} % (achieved {} events/s)", num(q5_cpu), num(q5_rate)),
        |m| m < 25.0,
    );
    let idle = find(records, |r| kind(r) == "idle_rules");
    let idle_cpu = idle.and_then(|r| f(r, "cpu_percent"));
    bar_line(&mut out, "1,000 idle rules, CPU", "< 2 % of a core", idle_cpu, format!("{} %", num(idle_cpu)), |m| {
        m < 2.0
    });
    let lat = find(records, |r| kind(r) == "latency" && s(r, "query") == "q1");
    let p99 = lat.and_then(|r| f(r, "p99_us"));
    bar_line(&mut out, "Q1 p99 arrival → sink at 10,000 events/s", "< 1 ms", p99, format!("{} µs", num(p99)), |m| {
        m < 1000.0
    });
    let wl = find(records, |r| kind(r) == "latency" && s(r, "query") == "q2");
    let wp99 = wl.and_then(|r| f(r, "p99_us"));
    bar_line(
        &mut out,
        "Window result after the window closes (Q2, p99)",
        "< 5 ms",
        wp99,
        format!("{} µs", num(wp99)),
        |m| m < 5000.0,
    );
    let srv = find(records, |r| kind(r) == "server");
    let srss = srv.and_then(|r| f(r, "idle_rss_mb"));
    bar_line(&mut out, "Idle server RSS", "< 20 MB", srss, format!("{} MB", num(srss)), |m| m < 20.0);
    let ready = srv.and_then(|r| f(r, "ready_ms"));
    let starts = srv.and_then(|r| crate::rounds::numbers(r, "ready_ms_starts")).filter(|v| v.len() > 1);
    let shown = match &starts {
        Some(v) => format!(
            "{} ms (median of {} starts: {}; the first found the binary as the page cache had it)",
            num(ready),
            v.len(),
            v.iter().map(|m| num(Some(*m))).collect::<Vec<_>>().join(", ")
        ),
        None => format!("{} ms", num(ready)),
    };
    bar_line(&mut out, "Server start to ready", "< 100 ms", ready, shown, |m| m < 100.0);

    // Throughput runs.
    let _ = writeln!(out, "\n## Throughput\n");
    let _ = writeln!(
        out,
        "| query | feed | workers | events | events/s | events/s by round | floor events/s | ratio to floor | CPU s | events per CPU s | peak RSS MB (base) | rows | checksum | same as floor |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for r in records.iter().filter(|r| kind(r) == "throughput") {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} ({}) | {} | `{}` | {} |",
            s(r, "query").to_uppercase(),
            s(r, "feed"),
            r.get("workers").and_then(Json::as_u64).unwrap_or(0),
            num(f(r, "events")),
            num(f(r, "events_per_sec")),
            list(r, "events_per_sec_by_round"),
            num(f(r, "floor_events_per_sec")),
            num(f(r, "ratio_to_floor")),
            num(f(r, "cpu_s")),
            num(f(r, "events_per_cpu_s")),
            num(f(r, "peak_rss_mb")),
            num(f(r, "base_rss_mb")),
            r.get("rows").and_then(Json::as_u64).unwrap_or(0),
            s(r, "checksum"),
            if r.get("matches_floor").and_then(Json::as_bool) == Some(true) { "yes" } else { "**no**" },
        );
    }
    let checked: Vec<String> = records
        .iter()
        .filter(|r| kind(r) == "throughput")
        .filter_map(|r| {
            let ok = r.get("check_figures")?.as_bool()?;
            Some(format!(
                "{} {} w{}: {}",
                s(r, "query").to_uppercase(),
                s(r, "feed"),
                r.get("workers").and_then(Json::as_u64).unwrap_or(0),
                if ok { "match" } else { "**differ**" }
            ))
        })
        .collect();
    if !checked.is_empty() {
        let _ = writeln!(
            out,
            "\nWORKLOAD.md's check figures for 2,000,000 events (Q1 rows; Q2 rows, sum of counts, sum of MAX(humidity); \
             Q3 rows, sum of counts): {}.",
            checked.join("; ")
        );
    }
    let mqtt: Vec<&Json> = records.iter().filter(|r| kind(r) == "throughput" && s(r, "feed") == "mqtt").collect();
    for r in mqtt {
        let _ = writeln!(
            out,
            "\nMQTT: {}. In the same run, before and after the engine's run, a plain rumqttc publisher → rumqttc \
             subscriber pair pushed {} messages/s through it (received {} of {}) and `mosquitto_pub -l` → rumqttc \
             subscriber {} messages/s (received {}); the fastest complete pair is the ceiling. Q1 through the broker \
             ran at {} events/s, a ratio of {} to that ceiling.",
            s(r, "broker"),
            list(r, "rumqttc_pair_events_per_sec"),
            list(r, "rumqttc_pair_received"),
            num(f(r, "events")),
            list(r, "mosquitto_pub_pair_events_per_sec"),
            list(r, "mosquitto_pub_pair_received"),
            num(f(r, "events_per_sec")),
            num(f(r, "ratio_to_broker")),
        );
    }
    for r in records.iter().filter(|r| kind(r) == "skipped") {
        let _ = writeln!(out, "\nSkipped: {} — {}", s(r, "what"), s(r, "reason"));
    }

    let _ = writeln!(out, "\n## Latency\n");
    let _ = writeln!(
        out,
        "| query | what | rate events/s | workers | samples | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | late |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for r in records.iter().filter(|r| kind(r) == "latency") {
        let what = if s(r, "query") == "q1" { "arrival → sink" } else { "window close → last result" };
        let _ = writeln!(
            out,
            "| {} | {what} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            s(r, "query").to_uppercase(),
            num(f(r, "rate")),
            num(f(r, "workers")),
            num(f(r, "samples")),
            num(f(r, "p50_us")),
            num(f(r, "p90_us")),
            num(f(r, "p99_us")),
            num(f(r, "p999_us")),
            num(f(r, "max_us")),
            num(f(r, "late")),
        );
    }

    let _ = writeln!(out, "\n## Rules and footprint\n");
    let _ = writeln!(
        out,
        "| what | rules | install s | events/s | CPU % of a core | RSS MB | peak RSS MB | base RSS MB | rows |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    );
    for r in records.iter().filter(|r| matches!(kind(r), "many_rules" | "idle_rules")) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            if kind(r) == "many_rules" { "Q5 fed" } else { "idle (1 s windows)" },
            num(f(r, "rules")),
            num(f(r, "install_s")),
            num(f(r, "events_per_sec")),
            num(f(r, "cpu_percent")),
            num(f(r, "rss_mb")),
            num(f(r, "peak_rss_mb")),
            num(f(r, "base_rss_mb")),
            num(f(r, "rows")),
        );
    }
    if let Some(r) = srv {
        let _ = writeln!(
            out,
            "\nServer (`{}`): ready (`GET /ping` answers) {} ms after spawn (median start); {} MB RSS after idling.",
            s(r, "binary"),
            num(f(r, "ready_ms")),
            num(f(r, "idle_rss_mb"))
        );
    }
    out
}

/// Line colours of the chart's series, in order.
const SERIES_COLORS: [RGBColor; 6] = [RED, BLUE, GREEN, MAGENTA, CYAN, BLACK];

/// Draws each named series as a line with dots, and the legend at `legend`.
fn draw_lines<'a, DB, X, Y>(
    c: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    series: &[(String, Vec<(f64, f64)>)],
    legend: SeriesLabelPosition,
) -> anyhow::Result<()>
where
    DB: DrawingBackend + 'a,
    DB::ErrorType: 'static,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    for (i, (name, pts)) in series.iter().enumerate() {
        let color = SERIES_COLORS[i % SERIES_COLORS.len()];
        c.draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
        c.draw_series(pts.iter().map(|p| Circle::new(*p, 4, color.filled()))).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    c.configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(legend)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

/// The chart: throughput against workers (memory feed) and latency percentiles.
pub fn chart(records: &[Json], path: &Path) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, (1100, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (left, right) = root.split_horizontally(560);

    // Throughput against workers.
    let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for q in ["q1", "q2", "q3", "q4"] {
        for feed in ["memory", "file"] {
            let mut pts: Vec<(f64, f64)> = records
                .iter()
                .filter(|r| kind(r) == "throughput" && s(r, "query") == q && s(r, "feed") == feed)
                .filter_map(|r| Some((f(r, "workers")?, f(r, "events_per_sec")? / 1e6)))
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            if !pts.is_empty() {
                series.push((format!("{} {feed}", q.to_uppercase()), pts));
            }
        }
    }
    let max_w = series.iter().flat_map(|(_, p)| p.iter().map(|x| x.0)).fold(2.0, f64::max);
    let max_y = series.iter().flat_map(|(_, p)| p.iter().map(|x| x.1)).fold(0.5, f64::max) * 1.15;
    let mut c = ChartBuilder::on(&left)
        .caption("Throughput (M events/s) vs workers", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(50)
        .build_cartesian_2d(0.8..max_w + 0.2, 0.0..max_y)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    c.configure_mesh()
        .x_desc("workers")
        .y_desc("M events/s")
        .x_labels(max_w as usize + 1)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    draw_lines(&mut c, &series, SeriesLabelPosition::UpperRight)?;

    // Latency percentiles.
    let keys = [("p50_us", 50.0), ("p90_us", 90.0), ("p99_us", 99.0), ("p999_us", 99.9), ("max_us", 100.0)];
    let lat: Vec<(String, Vec<(f64, f64)>)> = records
        .iter()
        .filter(|r| kind(r) == "latency")
        .map(|r| {
            let name = if s(r, "query") == "q1" {
                format!("Q1 arrival→sink @{}/s", num(f(r, "rate")))
            } else {
                format!("{} window close→result", s(r, "query").to_uppercase())
            };
            let pts = keys.iter().enumerate().filter_map(|(i, (k, _))| Some((i as f64, f(r, k)?.max(1.0)))).collect();
            (name, pts)
        })
        .collect();
    let max_l = lat.iter().flat_map(|(_, p)| p.iter().map(|x| x.1)).fold(10.0, f64::max) * 2.0;
    let mut c = ChartBuilder::on(&right)
        .caption("Latency percentiles (µs, log)", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.3..4.3, (1.0..max_l).log_scale())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    c.configure_mesh()
        .x_desc("percentile")
        .y_desc("µs")
        .x_labels(5)
        .x_label_formatter(&|x: &f64| {
            let i = x.round() as usize;
            if (x - i as f64).abs() > 0.01 {
                return String::new();
            }
            ["p50", "p90", "p99", "p99.9", "max"].get(i).map(|s| s.to_string()).unwrap_or_default()
        })
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    draw_lines(&mut c, &lat, SeriesLabelPosition::UpperLeft)?;
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line<'a>(page: &'a str, what: &str) -> &'a str {
        page.lines().find(|l| l.starts_with(&format!("| {what} |"))).unwrap_or("")
    }

    #[test]
    fn the_bar_takes_the_median_of_rounds_where_runs_came_in_rounds() {
        let tp = |q: &str, w: u64, eps: f64, extra: Json| {
            let mut r =
                json!({"kind": "throughput", "query": q, "feed": "memory", "workers": w, "events_per_sec": eps});
            if let (Some(r), Some(extra)) = (r.as_object_mut(), extra.as_object()) {
                r.extend(extra.clone());
            }
            r
        };
        let records = vec![
            tp("q1", 1, 3.1e6, json!({"ratio_to_floor": 0.9, "ratio_to_floor_by_round": [0.6, 0.9, 0.75]})),
            tp("q2", 1, 2.0e6, json!({"events_per_sec_by_round": [2.0e6, 1.8e6, 2.2e6]})),
            tp(
                "q2",
                2,
                3.2e6,
                json!({
                    "vs_one_worker_by_round": [1.5, 1.8, 1.6],
                    "floor_two_cores_vs_one_by_round": [1.9, 1.7, 2.0],
                    "engine_two_copies_vs_one_by_round": [1.6, 1.7, 1.5],
                }),
            ),
            // A report of single runs (no rounds) keeps working.
            tp("q3", 1, 2.0e6, json!({})),
            tp("q3", 2, 3.5e6, json!({"floor_two_cores_vs_one": 1.8})),
            json!({"kind": "server", "binary": "oort", "ready_ms": 21.0, "ready_ms_starts": [92.0, 21.0, 19.0, 24.0, 20.0], "idle_rss_mb": 15.0}),
        ];
        let page = markdown(&records, "header");
        for (what, want) in [
            (
                "Q1 in-process vs the floor",
                "| Q1 in-process vs the floor | ≥ 0.7 | 0.75 (median of 3 rounds: 0.60, 0.90, 0.75) | **met** |",
            ),
            (
                "Q2 in-process, 1 worker",
                "| Q2 in-process, 1 worker | ≥ 2 M events/s | 2.00 M events/s (median of 3 rounds: 2.00 M, 1.80 M, 2.20 M) | **met** |",
            ),
            (
                "Q2 2 workers vs 1",
                "| Q2 2 workers vs 1 | ≥ 1.7× | 1.60× (median of 3 rounds: 1.50, 1.80, 1.60); two floor copies at once: 1.90× one; two one-worker engines at once: 1.60× one | not met |",
            ),
            (
                "Q3 2 workers vs 1",
                "| Q3 2 workers vs 1 | ≥ 1.7× | 1.75×; two floor copies at once: 1.80× one | **met** |",
            ),
            (
                "Server start to ready",
                "| Server start to ready | < 100 ms | 21 ms (median of 5 starts: 92, 21, 19, 24, 20; the first found the binary as the page cache had it) | **met** |",
            ),
        ] {
            assert_eq!(line(&page, what), want, "{what}");
        }
    }
}
