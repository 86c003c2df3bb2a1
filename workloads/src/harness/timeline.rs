//! A run's `timeline.svg`: the picture of its `trace.json` a page can show without a trace
//! viewer (drawn with plotters). One row per track — the GC cycles' phases, the pauses,
//! then each thread that recorded — with a bar per slice, coloured by what it is, and a
//! legend. Slices closer together than a pixel on the same row merge into one bar, so a
//! long run stays a small file.
//!
//! Invariant: the rows and bars are drawn from the same records as `trace.json`
//! ([`super::trace_json`]), nothing else; a bar covers at least the slices merged into it.

use super::plots::{chart_on, render_sized, tick_label, Drawn, DESC_FONT, LABEL_FONT};
use collector::{CycleRecord, PauseRecord, Trace};
use plotters::prelude::*;

/// The canvas width in pixels (the plot area is somewhat less).
const WIDTH: u32 = 1600;
/// Height per row in pixels.
const ROW_PX: u32 = 26;
/// The legend's strip under the chart: entries per line and pixels per line.
const LEGEND_COLUMNS: usize = 5;
const LEGEND_LINE_PX: u32 = 22;

/// The colour of slice kind `k` (plotters' palette of 99 distinct colours).
fn kind_color(k: usize) -> RGBColor {
    let c = Palette99::pick(k).to_rgba();
    RGBColor(c.0, c.1, c.2)
}

/// One bar: start and end in nanoseconds, and what it is.
type Bar = (u64, u64, &'static str);

/// The rows of the timeline, top to bottom: a label and its slices.
fn rows(cycles: &[CycleRecord], pauses: &[PauseRecord], trace: &Trace) -> Vec<(String, Vec<Bar>)> {
    let mut phases = Vec::new();
    for c in cycles {
        let end = c.end_ns.max(c.start_ns);
        let mut at = c.start_ns;
        for (name, ns) in [
            ("sweep termination", c.clock_sweep_term_ns),
            ("mark", c.clock_mark_ns),
            ("mark termination", c.clock_mark_term_ns),
        ] {
            let dur = ns.min(end - at);
            phases.push((at, at + dur, name));
            at += dur;
        }
    }
    let stw = pauses
        .iter()
        .map(|p| (p.start_ns, p.start_ns + p.duration_ns, "pause"))
        .collect();
    let mut rows = vec![
        ("GC phases".to_string(), phases),
        ("pauses".to_string(), stw),
    ];
    for t in &trace.threads {
        let bars = t
            .slices
            .iter()
            .map(|s| (s.start_ns, s.start_ns + s.dur_ns, s.name))
            .collect();
        rows.push((t.name.clone(), bars));
    }
    rows
}

/// `bars` (ordered by start) with neighbours of the same name less than `gap_ns` apart
/// merged.
fn merge(bars: &[Bar], gap_ns: u64) -> Vec<Bar> {
    let mut out: Vec<Bar> = Vec::with_capacity(bars.len().min(4096));
    for &(s, e, name) in bars {
        match out.last_mut() {
            Some(last) if last.2 == name && s <= last.1.saturating_add(gap_ns) => {
                last.1 = last.1.max(e);
            }
            _ => out.push((s, e, name)),
        }
    }
    out
}

/// The timeline of a run `run_ns` long as an SVG document.
pub fn timeline_svg(
    cycles: &[CycleRecord],
    pauses: &[PauseRecord],
    trace: &Trace,
    run_ns: u64,
) -> String {
    let rows = rows(cycles, pauses, trace);
    let end_ns = rows
        .iter()
        .flat_map(|(_, bars)| bars.iter().map(|b| b.1))
        .fold(run_ns, u64::max)
        .max(1);
    let gap_ns = end_ns / u64::from(WIDTH);
    let rows: Vec<(String, Vec<Bar>)> = rows
        .into_iter()
        .map(|(label, bars)| {
            // Every bar at least a pixel wide, so a 20 µs pause still shows.
            let bars = merge(&bars, gap_ns).into_iter();
            (
                label,
                bars.map(|(s, e, n)| (s, e.max(s + gap_ns), n)).collect(),
            )
        })
        .collect();
    let mut kinds: Vec<&'static str> = rows
        .iter()
        .flat_map(|(_, bars)| bars.iter().map(|b| b.2))
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    let legend_px = LEGEND_LINE_PX * kinds.len().div_ceil(LEGEND_COLUMNS) as u32 + 10;
    let height = 140 + ROW_PX * rows.len() as u32 + legend_px;
    render_sized((WIDTH, height), "Timeline", |root| {
        let (chart, legend) = root.split_vertically(height - legend_px);
        draw(&chart, &rows, &kinds, end_ns)?;
        draw_legend(&legend, &kinds)
    })
}

fn draw(
    root: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    rows: &[(String, Vec<Bar>)],
    kinds: &[&'static str],
    end_ns: u64,
) -> Drawn {
    let n = rows.len() as f64;
    let x_end = end_ns as f64 / 1e9;
    let mut chart = chart_on(root, "Timeline (trace.json)")
        .y_label_area_size(220)
        .build_cartesian_2d(0.0..x_end, 0.0..n)?;
    let labels: Vec<String> = rows.iter().map(|(l, _)| l.clone()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(rows.len() * 2 + 1)
        .label_style(LABEL_FONT)
        .axis_desc_style(DESC_FONT)
        .x_desc("time since the heap was made (s)")
        .x_label_formatter(&|t| tick_label(*t))
        .y_label_formatter(&|y| {
            // Labels sit at the middle of each row (row i spans n-i-1 .. n-i).
            let row = n - y - 0.5;
            let i = row.round();
            if (row - i).abs() < 0.01 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .draw()?;
    for (k, kind) in kinds.iter().enumerate() {
        let c = kind_color(k);
        let bars: Vec<Rectangle<(f64, f64)>> = rows
            .iter()
            .enumerate()
            .flat_map(|(i, (_, bars))| {
                let top = n - i as f64 - 0.15;
                bars.iter().filter(|b| b.2 == *kind).map(move |b| {
                    let (s, e) = (b.0 as f64 / 1e9, b.1 as f64 / 1e9);
                    Rectangle::new([(s, top), (e, top - 0.7)], c.filled())
                })
            })
            .collect();
        chart.draw_series(bars)?;
    }
    Ok(())
}

/// The legend under the chart: a swatch and a name per kind, [`LEGEND_COLUMNS`] a line.
fn draw_legend(area: &DrawingArea<SVGBackend, plotters::coord::Shift>, kinds: &[&str]) -> Drawn {
    let column_px = (WIDTH as i32 - 200) / LEGEND_COLUMNS as i32;
    for (k, kind) in kinds.iter().enumerate() {
        let x = 120 + column_px * (k % LEGEND_COLUMNS) as i32;
        let y = 5 + LEGEND_LINE_PX as i32 * (k / LEGEND_COLUMNS) as i32;
        area.draw(&Rectangle::new(
            [(x, y), (x + 16, y + 12)],
            kind_color(k).filled(),
        ))?;
        area.draw(&Text::new(kind.to_string(), (x + 22, y), LABEL_FONT))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_bars_of_one_kind_merge_and_others_do_not() {
        let bars = [(0, 10, "a"), (12, 20, "a"), (40, 50, "a"), (50, 60, "b")];
        assert_eq!(
            merge(&bars, 5),
            [(0, 20, "a"), (40, 50, "a"), (50, 60, "b")]
        );
    }

    #[test]
    fn the_svg_names_every_row_and_kind() {
        let cycles = [CycleRecord {
            cycle: 1,
            start_ns: 1000,
            end_ns: 5000,
            clock_sweep_term_ns: 100,
            clock_mark_ns: 3000,
            clock_mark_term_ns: 200,
            ..CycleRecord::default()
        }];
        let pauses = [PauseRecord {
            cycle: 1,
            start_ns: 1000,
            duration_ns: 100,
            ttsp_ns: 10,
        }];
        let svg = timeline_svg(&cycles, &pauses, &Trace::default(), 10_000);
        let texts = crate::harness::plots::tests::svg_texts(&svg);
        for t in ["GC phases", "pauses", "mark", "pause", "sweep termination"] {
            assert!(texts.iter().any(|x| x == t), "{t} in {texts:?}");
        }
    }
}
