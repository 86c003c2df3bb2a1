//! The report's three plots as standalone SVG documents, drawn with the `plotters` crate's
//! SVG backend: latency by percentile on a "nines" axis, MMU curves on a log window axis,
//! and the pauses of a run over time. Each has a caption, axes described with their units,
//! and a legend naming every series; empty input gives a valid SVG that says "no data".
//! Points that cannot be placed (a NaN, a percentile outside 0..=1, a zero window on the
//! log axis) are left out. The unit helpers here also serve the pages in [`super::page`]
//! and [`super::site`].

use plotters::coord::Shift;
use plotters::prelude::*;

/// Canvas size in pixels.
pub(crate) const SIZE: (u32, u32) = (800, 500);
/// Title of the latency plot.
const LATENCY_TITLE: &str = "Latency by percentile";
/// Title of the MMU plot.
const MMU_TITLE: &str = "Minimum mutator utilization";
/// Title of the pause plot.
const PAUSES_TITLE: &str = "GC pauses over time";
/// Series colours, reused in order.
const PALETTE: [RGBColor; 6] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
];

/// The colour of series `i`.
pub(crate) fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// What drawing into an SVG string can fail with.
pub(crate) type Drawn = Result<(), DrawingAreaErrorKind<std::io::Error>>;

/// A time unit for an axis or a table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct TimeUnit {
    /// Its symbol, e.g. `µs`.
    pub(crate) name: &'static str,
    /// Nanoseconds in one unit.
    pub(crate) ns: f64,
}

/// The unit in which `max_ns` reads as a number from 1 to 1000 (ns below 1 µs, s from 1 s).
pub(crate) fn unit_for(max_ns: f64) -> TimeUnit {
    let units = [("s", 1e9), ("ms", 1e6), ("µs", 1e3)];
    let (name, ns) = units
        .into_iter()
        .find(|&(_, ns)| max_ns >= ns)
        .unwrap_or(("ns", 1.0));
    TimeUnit { name, ns }
}

/// A number without needless decimals (`0.5`, `2`, `1500`), at most three of them.
pub(crate) fn tick_label(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// A duration such as `100µs`, `1ms`, `2.5s`, in the unit that suits `ns` itself.
pub(crate) fn duration_label(ns: f64) -> String {
    let unit = unit_for(ns);
    format!("{}{}", tick_label(ns / unit.ns), unit.name)
}

/// The label of the nines tick at `-log10(1 - p) = k`: `0%`, `90%`, `99%`, `99.9%`, …
fn nines_label(k: u32) -> String {
    match k {
        0 => "0%".to_string(),
        1 => "90%".to_string(),
        k => format!("99.{}%", "9".repeat(k as usize - 2)).replace(".%", "%"),
    }
}

/// `x` as a whole number, if it is one: the tick labels of axes whose ticks sit at whole
/// numbers (decades, categories) say nothing between them.
pub(crate) fn whole(x: f64) -> Option<i32> {
    let k = x.round();
    ((x - k).abs() < 1e-6).then_some(k as i32)
}

/// Draws with `paint` on a white canvas of [`SIZE`] and returns the SVG document.
pub(crate) fn render(
    title: &str,
    paint: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Drawn,
) -> String {
    render_sized(SIZE, title, paint)
}

/// Draws with `paint` on a white canvas of `size` pixels and returns the SVG document. A
/// drawing error (none is expected: the backend writes into memory) gives the "no data"
/// picture with the error's text instead.
pub(crate) fn render_sized(
    size: (u32, u32),
    title: &str,
    paint: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Drawn,
) -> String {
    let mut svg = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)
            .and_then(|()| paint(&root))
            .and_then(|()| root.present())
    };
    match drawn {
        Ok(()) => svg,
        Err(e) => no_data(title, &format!("drawing failed: {e}")),
    }
}

/// A complete SVG with `title` and `message` (normally "no data"), for empty inputs.
pub(crate) fn no_data(title: &str, message: &str) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        let style = ("sans-serif", 18).into_font().color(&BLACK);
        let centre = (SIZE.0 as i32 / 2, SIZE.1 as i32 / 2);
        let centred = style.pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Center,
        ));
        // Writing into a String cannot fail; a failure would leave the canvas blank.
        let _ = root.fill(&WHITE);
        let _ = root.draw_text(title, &centred, (centre.0, 30));
        let _ = root.draw_text(message, &centred, centre);
        let _ = root.present();
    }
    svg
}

/// Latency by percentile, one line per `(label, points)` series, where each point is
/// `(quantile in 0..=1, value in ns)` (as [`super::percentile_points`] gives them).
///
/// The x axis is `-log10(1 - quantile)`, ticked `0%`, `90%`, `99%`, `99.9%`, … as far as
/// the data reaches; the y axis is linear from zero in ns, µs, ms or s, whichever suits
/// the largest value. The point at quantile 1 (the max) would sit at infinity, so it is
/// drawn at the axis's right edge, joined to the line by dashes, and the legend gives it
/// as `(max …)`.
pub fn latency_svg<S: AsRef<str>>(series: &[(S, Vec<(f64, u64)>)]) -> String {
    let lines: Vec<NinesLine> = series.iter().map(|(_, p)| NinesLine::new(p)).collect();
    let values = lines
        .iter()
        .flat_map(|l| l.finite.iter().map(|p| p.1).chain(l.max));
    let Some(top) = values.reduce(f64::max) else {
        return no_data(LATENCY_TITLE, "no data");
    };
    let x_data = lines
        .iter()
        .flat_map(|l| l.finite.iter().map(|p| p.0))
        .fold(0.0, f64::max);
    // One decade past the data, where the max marker sits.
    let decades = ((x_data + 1e-9).floor() as u32 + 1).min(17);
    let x_max = f64::from(decades);
    let unit = unit_for(top);
    render(LATENCY_TITLE, |root| {
        let mut chart = chart_on(root, LATENCY_TITLE)
            .build_cartesian_2d(0.0..x_max, 0.0..top / unit.ns * 1.05)?;
        chart
            .configure_mesh()
            .label_style(LABEL_FONT)
            .axis_desc_style(DESC_FONT)
            .x_desc("percentile")
            .y_desc(format!("latency ({})", unit.name))
            .x_labels(decades as usize + 1)
            .x_label_formatter(&|x| whole(*x).map_or(String::new(), |k| nines_label(k as u32)))
            .y_label_formatter(&|y| tick_label(*y))
            .draw()?;
        for (i, (line, (label, _))) in lines.iter().zip(series).enumerate() {
            let c = color(i);
            let scaled: Vec<(f64, f64)> =
                line.finite.iter().map(|&(x, v)| (x, v / unit.ns)).collect();
            let legend = match line.max {
                Some(m) => format!("{} (max {})", label.as_ref(), duration_label(m)),
                None => label.as_ref().to_string(),
            };
            chart
                .draw_series(LineSeries::new(scaled.iter().copied(), c.stroke_width(2)))?
                .label(legend)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], c.stroke_width(3)));
            let Some(max) = line.max.map(|m| m / unit.ns) else {
                continue;
            };
            if let Some(&last) = scaled.last() {
                let dashes = [last, (x_max, max)];
                chart.draw_series(DashedLineSeries::new(dashes, 4, 3, c.stroke_width(1)))?;
            }
            chart.draw_series([Circle::new((x_max, max), 3, c.filled())])?;
        }
        legend_box(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}

/// One latency series placed on the nines axis.
struct NinesLine {
    /// `(-log10(1 - q), ns)` for every quantile below 1, sorted.
    finite: Vec<(f64, f64)>,
    /// The value at quantile 1, if there is one.
    max: Option<f64>,
}

impl NinesLine {
    fn new(points: &[(f64, u64)]) -> NinesLine {
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
        NinesLine { finite, max }
    }
}

/// The font of tick labels.
pub(crate) const LABEL_FONT: (&str, u32) = ("sans-serif", 14);
/// The font of axis descriptions.
pub(crate) const DESC_FONT: (&str, u32) = ("sans-serif", 16);

/// A chart builder on `root` captioned `title`, with room for the axes' labels (and, on
/// the right, for the last tick label).
pub(crate) fn chart_on<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, Shift>,
    title: &str,
) -> ChartBuilder<'a, 'b, SVGBackend<'b>> {
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .margin_right(40)
        .x_label_area_size(50)
        .y_label_area_size(80);
    builder
}

/// The legend: a white box in the plot's corner `at` naming each series.
pub(crate) fn legend_box<'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, CT>,
    at: SeriesLabelPosition,
) -> Drawn {
    chart
        .configure_series_labels()
        .position(at)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .label_font(("sans-serif", 14))
        .draw()
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
        return no_data(MMU_TITLE, "no data");
    };
    let lo = (lo + 1e-9).floor() as i32;
    let hi = ((hi - 1e-9).ceil() as i32).max(lo + 1);
    render(MMU_TITLE, |root| {
        let mut chart =
            chart_on(root, MMU_TITLE).build_cartesian_2d(f64::from(lo)..f64::from(hi), 0.0..1.0)?;
        chart
            .configure_mesh()
            .label_style(LABEL_FONT)
            .axis_desc_style(DESC_FONT)
            .x_desc("window (log scale)")
            .y_desc("minimum mutator utilization")
            .x_labels((hi - lo) as usize + 1)
            .x_label_formatter(&|k| {
                whole(*k).map_or(String::new(), |k| duration_label(10f64.powi(k)))
            })
            .y_label_formatter(&|u| tick_label(*u))
            .draw()?;
        for (i, (line, (label, _))) in lines.iter().zip(curves).enumerate() {
            let c = color(i);
            chart
                .draw_series(LineSeries::new(line.iter().copied(), c.stroke_width(2)))?
                .label(label.as_ref())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], c.stroke_width(3)));
            chart.draw_series(line.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
        }
        legend_box(&mut chart, SeriesLabelPosition::LowerRight)
    })
}

/// The pauses of a run over time: one stem per `(start_ns, duration_ns)` pause at its
/// start (x, seconds since the run began, up to `run_ns` or the last pause's end) with the
/// pause duration as its height (y, in ns, µs, ms or s, whichever suits the longest).
pub fn pauses_svg(pauses: &[(u64, u64)], run_ns: u64) -> String {
    if pauses.is_empty() {
        return no_data(PAUSES_TITLE, "no data");
    }
    let end = pauses
        .iter()
        .map(|&(s, d)| s.saturating_add(d))
        .fold(run_ns, u64::max);
    let longest = pauses.iter().map(|p| p.1).max().unwrap_or(0) as f64;
    let unit = unit_for(longest);
    let y_top = (longest / unit.ns * 1.05).max(1.0);
    let x_end = (end as f64 / 1e9).max(1e-6);
    render(PAUSES_TITLE, |root| {
        let caption = format!("{PAUSES_TITLE} ({} pauses)", pauses.len());
        let mut chart = chart_on(root, &caption).build_cartesian_2d(0.0..x_end, 0.0..y_top)?;
        chart
            .configure_mesh()
            .label_style(LABEL_FONT)
            .axis_desc_style(DESC_FONT)
            .x_desc("time since start (s)")
            .y_desc(format!("pause duration ({})", unit.name))
            .x_label_formatter(&|t| tick_label(*t))
            .y_label_formatter(&|d| tick_label(*d))
            .draw()?;
        let c = color(0);
        let stems: Vec<(f64, f64)> = pauses
            .iter()
            .map(|&(start, duration)| (start as f64 / 1e9, duration as f64 / unit.ns))
            .collect();
        chart.draw_series(
            stems
                .iter()
                .map(|&(x, y)| PathElement::new([(x, 0.0), (x, y)], c.stroke_width(1))),
        )?;
        chart.draw_series(stems.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
        Ok(())
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::harness::{default_windows, mmu_curve, percentile_points};
    use hdrhistogram::Histogram;

    /// The text of every `<text>` element of a well-formed SVG document (checked with
    /// roxmltree), after checking that no attribute holds a NaN or an infinity.
    pub(crate) fn svg_texts(svg: &str) -> Vec<String> {
        let doc = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{e}\n{svg}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        for node in doc.descendants().filter(|n| n.is_element()) {
            for a in node.attributes() {
                let v = a.value();
                assert!(!v.contains("NaN") && !v.contains("inf"), "{a:?} in {svg}");
            }
        }
        doc.descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| n.text().unwrap_or("").trim().to_string())
            .collect()
    }

    /// How many `tag` elements the document has.
    fn count(svg: &str, tag: &str) -> usize {
        let doc = roxmltree::Document::parse(svg).unwrap();
        doc.descendants().filter(|n| n.has_tag_name(tag)).count()
    }

    fn histogram(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        values.into_iter().for_each(|v| h.record(v).unwrap());
        h
    }

    fn has(texts: &[String], want: &str) -> bool {
        texts.iter().any(|t| t == want)
    }

    #[test]
    fn labels_and_units() {
        let labels: Vec<String> = (0..5).map(nines_label).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%"]);
        assert_eq!(unit_for(999.0).name, "ns");
        assert_eq!(unit_for(1_000.0).name, "µs");
        assert_eq!(unit_for(2.5e6).name, "ms");
        assert_eq!(unit_for(3e9).name, "s");
        assert_eq!(duration_label(100_000.0), "100µs");
        assert_eq!(duration_label(1e9), "1s");
        assert_eq!(tick_label(0.30000000000000004), "0.3");
        assert_eq!(tick_label(1500.0), "1500");
    }

    #[test]
    fn latency_plot() {
        let fast = percentile_points(&histogram((1..=10_000).map(|v| v * 100)));
        let slow = percentile_points(&histogram((1..=10_000).map(|v| v * 300)));
        let svg = latency_svg(&[("fast <hybrid>", fast.clone()), ("slow & steady", slow)]);
        let texts = svg_texts(&svg);
        // Max 3 ms: the axis is in ms.
        assert!(
            has(&texts, "latency (ms)") && has(&texts, "percentile"),
            "{texts:?}"
        );
        assert!(has(&texts, LATENCY_TITLE));
        for tick in ["0%", "90%", "99%", "99.9%", "99.99%"] {
            assert!(has(&texts, tick), "{tick}: {texts:?}");
        }
        assert!(has(&texts, "fast <hybrid> (max 1ms)"), "{texts:?}");
        assert!(has(&texts, "slow & steady (max 3ms)"), "{texts:?}");
        assert!(
            svg.contains("fast &lt;hybrid&gt;"),
            "escaped in the document"
        );
        assert_eq!(count(&svg, "circle"), 2, "one max marker per series");

        // Data up to 99.9% and no max: ticks stop one decade past it.
        let short = vec![(0.0, 500), (0.9, 700), (0.99, 900), (0.995, 950)];
        let svg = latency_svg(&[("short", short)]);
        let texts = svg_texts(&svg);
        assert!(
            has(&texts, "latency (ns)") && has(&texts, "99.9%"),
            "{texts:?}"
        );
        assert!(!has(&texts, "99.99%") && count(&svg, "circle") == 0);
        assert!(has(&texts, "short"));
    }

    #[test]
    fn mmu_plot() {
        let run = 1_000_000_000;
        let pauses = [(100_000_000, 5_000_000), (600_000_000, 20_000_000)];
        let windows = default_windows(run);
        let a = mmu_curve(&pauses, run, &windows);
        let b = mmu_curve(&pauses[..1], run, &windows);
        let svg = mmu_svg(&[("two pauses", a), ("one pause", b)]);
        let texts = svg_texts(&svg);
        for label in ["100µs", "1ms", "10ms", "100ms", "1s"] {
            assert!(has(&texts, label), "{label}: {texts:?}");
        }
        assert!(has(&texts, "minimum mutator utilization") && has(&texts, MMU_TITLE));
        assert!(has(&texts, "window (log scale)"));
        assert!(has(&texts, "two pauses") && has(&texts, "one pause"));
        assert_eq!(count(&svg, "circle"), 2 * windows.len());

        let junk = mmu_svg(&[(
            "junk",
            vec![(0, 0.5), (1_000, f64::NAN), (10_000, f64::INFINITY)],
        )]);
        assert!(has(&svg_texts(&junk), "no data"));
    }

    #[test]
    fn pauses_plot() {
        let pauses = [
            (250_000_000, 1_500_000),
            (1_200_000_000, 3_000_000),
            (10, 20_000),
        ];
        let svg = pauses_svg(&pauses, 2_000_000_000);
        let texts = svg_texts(&svg);
        assert!(has(&texts, "time since start (s)"));
        assert!(has(&texts, "GC pauses over time (3 pauses)"), "{texts:?}");
        assert!(has(&texts, "pause duration (ms)"));
        assert_eq!(count(&svg, "circle"), 3);
        assert!(
            has(&texts, "2"),
            "the x axis reaches the run's end: {texts:?}"
        );

        let tiny = pauses_svg(&[(0, 0)], 0);
        assert!(has(&svg_texts(&tiny), "pause duration (ns)"));
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
            let texts = svg_texts(svg);
            assert!(has(&texts, "no data"), "{svg}");
            assert_eq!(texts.len(), 2, "a title and the words: {texts:?}");
        }
        let escaped = no_data("a <title> & more", "no data");
        assert!(has(&svg_texts(&escaped), "a <title> & more"));
    }
}
