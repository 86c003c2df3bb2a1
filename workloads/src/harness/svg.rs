//! The report's three plots as standalone SVG documents, drawn by hand (no plotting
//! library): latency by percentile on a "nines" axis, MMU curves on a log window axis,
//! and the pauses of a run over time. Each has a title, labelled axes with units, ticks,
//! and a legend when it shows more than one series; empty input gives a valid SVG that
//! says "no data". Points that cannot be placed (a NaN, a percentile outside 0..=1, a zero
//! window on the log axis) are left out.

use super::plot::{
    color, duration_label, linear_ticks, no_data, tick_label, unit_for, Axis, Chart,
};

/// Title of the latency plot.
const LATENCY_TITLE: &str = "Latency by percentile";
/// Title of the MMU plot.
const MMU_TITLE: &str = "Minimum mutator utilization";
/// Title of the pause plot.
const PAUSES_TITLE: &str = "GC pauses over time";

/// The label of the nines tick at `-log10(1 - p) = k`: `0%`, `90%`, `99%`, `99.9%`, …
fn nines_label(k: u32) -> String {
    match k {
        0 => "0%".to_string(),
        1 => "90%".to_string(),
        k => format!("99.{}%", "9".repeat(k as usize - 2)).replace(".%", "%"),
    }
}

/// Latency by percentile, one line per `(label, points)` series, where each point is
/// `(quantile in 0..=1, value in ns)` (as [`super::percentile_points`] gives them).
///
/// The x axis is `-log10(1 - quantile)`, ticked `0%`, `90%`, `99%`, `99.9%`, … as far as the
/// data reaches; the y axis is linear from zero in ns, µs, ms or s, whichever suits the
/// largest value. The point at quantile 1 (the max) would sit at infinity, so it is drawn
/// at the axis's right edge, joined to the line by dashes, and the label (legend, or
/// subtitle for one series) gives it as `(max …)`.
pub fn latency_svg<S: AsRef<str>>(series: &[(S, Vec<(f64, u64)>)]) -> String {
    struct Line {
        finite: Vec<(f64, f64)>,
        max: Option<f64>,
    }
    let lines: Vec<Line> = series
        .iter()
        .map(|(_, points)| {
            let mut finite: Vec<(f64, f64)> = points
                .iter()
                .filter(|(q, _)| (0.0..1.0).contains(q))
                .map(|&(q, v)| (-(1.0 - q).log10(), v as f64))
                .filter(|(x, _)| x.is_finite())
                .collect();
            finite.sort_by(|a, b| a.0.total_cmp(&b.0));
            let max = points
                .iter()
                .filter(|(q, _)| *q == 1.0)
                .map(|&(_, v)| v as f64)
                .reduce(f64::max);
            Line { finite, max }
        })
        .collect();
    let values = lines
        .iter()
        .flat_map(|l| l.finite.iter().map(|p| p.1).chain(l.max));
    let Some(top) = values.reduce(f64::max) else {
        return no_data(LATENCY_TITLE);
    };
    let x_data = lines
        .iter()
        .flat_map(|l| l.finite.iter().map(|p| p.0))
        .fold(0.0, f64::max);
    // One decade past the data, where the max marker sits.
    let x_max = ((x_data + 1e-9).floor() + 1.0).min(17.0);
    let unit = unit_for(top);
    let y_ticks = linear_ticks(top / unit.ns);
    let x_axis = Axis {
        label: "percentile".to_string(),
        min: 0.0,
        max: x_max,
        ticks: (0..=x_max as u32)
            .map(|k| (f64::from(k), nines_label(k)))
            .collect(),
    };
    let mut chart = Chart::new(LATENCY_TITLE, x_axis, value_axis("latency", unit, &y_ticks));
    let labels = legend_labels(series);
    for (i, line) in lines.iter().enumerate() {
        let scaled: Vec<(f64, f64)> = line.finite.iter().map(|&(x, v)| (x, v / unit.ns)).collect();
        chart.polyline(&scaled, color(i));
        let Some(max) = line.max else { continue };
        let max = max / unit.ns;
        if let Some(&(x, y)) = scaled.last() {
            let (from, to) = ((chart.px(x), chart.py(y)), (chart.px(x_max), chart.py(max)));
            chart.line(from, to, color(i), 1.5, Some("4 3"));
        }
        chart.dot(x_max, max, color(i));
    }
    let maxes: Vec<String> = lines
        .iter()
        .zip(labels)
        .map(|(line, label)| match line.max {
            Some(m) => format!("{label} (max {}{})", tick_label(m / unit.ns), unit.name),
            None => label,
        })
        .collect();
    finish(chart, &maxes)
}

/// Minimum mutator utilization curves, one per `(label, points)` series, where each point
/// is `(window in ns, utilization in 0..=1)` (as [`super::mmu_curve`] gives them). The
/// x axis is the window on a log scale with a tick per decade labelled in time units
/// (`100µs`, `1ms`, `10ms`, …); the y axis is utilization from 0 to 1.
pub fn mmu_svg<S: AsRef<str>>(curves: &[(S, Vec<(u64, f64)>)]) -> String {
    let lines: Vec<Vec<(f64, f64)>> = curves
        .iter()
        .map(|(_, points)| {
            let mut line: Vec<(f64, f64)> = points
                .iter()
                .filter(|&&(w, u)| w > 0 && u.is_finite())
                .map(|&(w, u)| ((w as f64).log10(), u.clamp(0.0, 1.0)))
                .collect();
            line.sort_by(|a, b| a.0.total_cmp(&b.0));
            line
        })
        .collect();
    let xs = || lines.iter().flatten().map(|p| p.0);
    let (Some(lo), Some(hi)) = (xs().reduce(f64::min), xs().reduce(f64::max)) else {
        return no_data(MMU_TITLE);
    };
    let lo = (lo + 1e-9).floor();
    let hi = (hi - 1e-9).ceil().max(lo + 1.0);
    let x_axis = Axis {
        label: "window (log scale)".to_string(),
        min: lo,
        max: hi,
        ticks: (lo as i32..=hi as i32)
            .map(|k| (f64::from(k), duration_label(10f64.powi(k))))
            .collect(),
    };
    let y_axis = Axis {
        label: "minimum mutator utilization".to_string(),
        min: 0.0,
        max: 1.0,
        ticks: (0..=5)
            .map(|i| (f64::from(i) / 5.0, tick_label(f64::from(i) / 5.0)))
            .collect(),
    };
    let mut chart = Chart::new(MMU_TITLE, x_axis, y_axis);
    for (i, line) in lines.iter().enumerate() {
        chart.polyline(line, color(i));
        for &(x, y) in line {
            chart.dot(x, y, color(i));
        }
    }
    finish(chart, &legend_labels(curves))
}

/// The pauses of a run over time: one stem per `(start_ns, duration_ns)` pause at its start
/// (x, seconds since the run began, up to `run_ns` or the last pause's end) with the pause
/// duration as its height (y, in ns, µs, ms or s, whichever suits the longest pause).
pub fn pauses_svg(pauses: &[(u64, u64)], run_ns: u64) -> String {
    if pauses.is_empty() {
        return no_data(PAUSES_TITLE);
    }
    let end = pauses
        .iter()
        .map(|&(s, d)| s.saturating_add(d))
        .fold(run_ns, u64::max);
    let longest = pauses.iter().map(|p| p.1).max().unwrap_or(0) as f64;
    let x_ticks = linear_ticks(end as f64 / 1e9);
    let x_axis = Axis {
        label: "time since start (s)".to_string(),
        min: 0.0,
        max: *x_ticks.last().unwrap_or(&1.0),
        ticks: x_ticks.iter().map(|&t| (t, tick_label(t))).collect(),
    };
    let unit = unit_for(longest);
    let y_ticks = linear_ticks(longest / unit.ns);
    let mut chart = Chart::new(
        PAUSES_TITLE,
        x_axis,
        value_axis("pause duration", unit, &y_ticks),
    );
    for &(start, duration) in pauses {
        let (x, y) = (start as f64 / 1e9, duration as f64 / unit.ns);
        let (px, base, top) = (chart.px(x), chart.py(0.0), chart.py(y));
        chart.line((px, base), (px, top), color(0), 1.5, None);
        chart.dot(x, y, color(0));
    }
    finish(chart, &[format!("{} pauses", pauses.len())])
}

/// A linear value axis from zero over `ticks` (in `unit`), labelled `"{what} ({unit})"`.
fn value_axis(what: &str, unit: super::plot::TimeUnit, ticks: &[f64]) -> Axis {
    Axis {
        label: format!("{what} ({})", unit.name),
        min: 0.0,
        max: *ticks.last().unwrap_or(&1.0),
        ticks: ticks.iter().map(|&t| (t, tick_label(t))).collect(),
    }
}

/// The series labels, as owned strings.
fn legend_labels<S: AsRef<str>, T>(series: &[(S, T)]) -> Vec<String> {
    series.iter().map(|(s, _)| s.as_ref().to_string()).collect()
}

/// Adds the legend when there is more than one series, or the one label as a subtitle,
/// and closes the document.
fn finish(mut chart: Chart, labels: &[String]) -> String {
    match labels {
        [] => {}
        [one] => {
            let (l, r, t, _) = chart.area();
            chart.text((l + r) / 2.0, t - 12.0, "middle", 13.0, one);
        }
        many => chart.legend(many),
    }
    chart.finish()
}

#[cfg(test)]
mod tests {
    use super::super::xml_check::check_svg;
    use super::*;
    use crate::harness::{default_windows, mmu_curve, percentile_points};
    use hdrhistogram::Histogram;

    fn histogram(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        values.into_iter().for_each(|v| h.record(v).unwrap());
        h
    }

    fn assert_valid(svg: &str) {
        if let Err(e) = check_svg(svg) {
            panic!("{e}\n{svg}");
        }
        for word in ["NaN", "inf"] {
            assert!(!svg.contains(word), "{word} in\n{svg}");
        }
    }

    #[test]
    fn nines_labels() {
        let labels: Vec<String> = (0..5).map(nines_label).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%"]);
    }

    #[test]
    fn latency_plot() {
        let fast = percentile_points(&histogram((1..=10_000).map(|v| v * 100)));
        let slow = percentile_points(&histogram((1..=10_000).map(|v| v * 300)));
        let svg = latency_svg(&[("fast <hybrid>", fast.clone()), ("slow & steady", slow)]);
        assert_valid(&svg);
        // Max 3 ms: the axis is in ms.
        assert!(svg.contains(">latency (ms)</text>"), "{svg}");
        assert!(svg.contains(">percentile</text>") && svg.contains(LATENCY_TITLE));
        for tick in ["0%", "90%", "99%", "99.9%", "99.99%"] {
            assert!(svg.contains(&format!(">{tick}</text>")), "{tick}");
        }
        assert!(svg.contains("fast &lt;hybrid&gt; (max 1ms)"), "{svg}");
        assert!(svg.contains("slow &amp; steady (max 3ms)"), "{svg}");
        assert_eq!(svg.matches("<polyline").count(), 2);

        // Data up to 99.9% and no max: ticks stop one decade past it.
        let short = vec![(0.0, 500), (0.9, 700), (0.99, 900), (0.995, 950)];
        let svg = latency_svg(&[("short", short)]);
        assert_valid(&svg);
        assert!(svg.contains(">latency (ns)</text>") && svg.contains(">99.9%</text>"));
        assert!(!svg.contains(">99.99%</text>") && !svg.contains("<circle"));
        assert!(
            svg.contains(">short</text>"),
            "one series: its label as a subtitle"
        );

        let one = latency_svg(&[("one", fast)]);
        assert_valid(&one);
        assert!(one.contains(">one (max 1ms)</text>") && !one.contains("stroke=\"#999999\""));
    }

    #[test]
    fn mmu_plot() {
        let run = 1_000_000_000;
        let pauses = [(100_000_000, 5_000_000), (600_000_000, 20_000_000)];
        let windows = default_windows(run);
        let a = mmu_curve(&pauses, run, &windows);
        let b = mmu_curve(&pauses[..1], run, &windows);
        let svg = mmu_svg(&[("two pauses", a.clone()), ("one pause", b)]);
        assert_valid(&svg);
        for label in ["100µs", "1ms", "10ms", "100ms", "1s"] {
            assert!(svg.contains(&format!(">{label}</text>")), "{label}");
        }
        assert!(svg.contains(">minimum mutator utilization</text>"));
        assert!(svg.contains(">window (log scale)</text>") && svg.contains(MMU_TITLE));
        assert!(svg.contains(">two pauses</text>") && svg.contains(">one pause</text>"));
        assert_eq!(svg.matches("<circle").count(), 2 * windows.len());
        // Utilization 0 sits on the x axis, utilization 1 at the top of the plot area.
        let zero_y = format!("cy=\"{}\"", super::super::plot::num(440.0));
        assert!(svg.contains(&zero_y), "{svg}");

        let junk = mmu_svg(&[(
            "junk",
            vec![(0, 0.5), (1_000, f64::NAN), (10_000, f64::INFINITY)],
        )]);
        assert_valid(&junk);
        assert!(junk.contains("no data"));
    }

    #[test]
    fn pauses_plot() {
        let pauses = [
            (250_000_000, 1_500_000),
            (1_200_000_000, 3_000_000),
            (10, 20_000),
        ];
        let svg = pauses_svg(&pauses, 2_000_000_000);
        assert_valid(&svg);
        assert!(svg.contains(">time since start (s)</text>"));
        assert!(svg.contains(">pause duration (ms)</text>") && svg.contains(PAUSES_TITLE));
        assert_eq!(svg.matches("<circle").count(), 3);
        assert!(
            svg.contains(">2</text>"),
            "the x axis reaches the run's end"
        );

        let tiny = pauses_svg(&[(0, 0)], 0);
        assert_valid(&tiny);
        assert!(tiny.contains(">pause duration (ns)</text>"));
    }

    #[test]
    fn empty_inputs_say_no_data() {
        let none: [(&str, Vec<(f64, u64)>); 0] = [];
        let no_mmu: [(&str, Vec<(u64, f64)>); 0] = [];
        let outputs = [
            latency_svg(&none),
            latency_svg(&[("empty", vec![])]),
            latency_svg(&[("bad", vec![(f64::NAN, 5), (1.5, 7), (-0.1, 1)])]),
            mmu_svg(&no_mmu),
            pauses_svg(&[], 1_000),
        ];
        for svg in &outputs {
            assert_valid(svg);
            assert!(svg.contains(">no data</text>"), "{svg}");
            assert!(svg.contains("<title>"), "{svg}");
        }
    }
}
