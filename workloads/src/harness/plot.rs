//! Drawing primitives for the hand-written SVG plots in [`super::svg`]: an SVG string
//! builder with XML escaping and finite coordinates, a chart frame (title, axes, ticks,
//! labels, legend), "nice" tick steps and time units. Private to the harness.

use std::fmt::Write;

/// Canvas width in pixels.
pub(super) const WIDTH: f64 = 800.0;
/// Canvas height in pixels.
pub(super) const HEIGHT: f64 = 500.0;
/// Plot area margins: left, right, top, bottom.
const MARGIN: (f64, f64, f64, f64) = (90.0, 40.0, 64.0, 60.0);
/// Series colours, reused in order.
const PALETTE: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// The colour of series `i`.
pub(super) fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// `text` with the five XML special characters escaped, for text and attribute values.
pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate with two decimals; a non-finite one (never expected) becomes 0 so the
/// document stays valid.
pub(super) fn num(v: f64) -> String {
    let v = if v.is_finite() { v } else { 0.0 };
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" || s.is_empty() {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// A time unit for an axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct TimeUnit {
    /// Its symbol, e.g. `µs`.
    pub(super) name: &'static str,
    /// Nanoseconds in one unit.
    pub(super) ns: f64,
}

/// The unit in which `max_ns` reads as a number from 1 to 1000 (ns below 1 µs, s from
/// 1 s).
pub(super) fn unit_for(max_ns: f64) -> TimeUnit {
    let units = [("s", 1e9), ("ms", 1e6), ("µs", 1e3)];
    let (name, ns) = units
        .into_iter()
        .find(|&(_, ns)| max_ns >= ns)
        .unwrap_or(("ns", 1.0));
    TimeUnit { name, ns }
}

/// A duration label such as `100µs`, `1ms`, `2.5s`, in the unit that suits `ns` itself.
pub(super) fn duration_label(ns: f64) -> String {
    let unit = unit_for(ns);
    format!("{}{}", tick_label(ns / unit.ns), unit.name)
}

/// A tick value without needless decimals (`0.5`, `2`, `1500`).
pub(super) fn tick_label(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// Ticks `0, step, 2·step, …` covering `0..=max` with a 1-2-5 step giving about five
/// intervals; returns the ticks (the last at or above `max`).
pub(super) fn linear_ticks(max: f64) -> Vec<f64> {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let rough = max / 5.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|f| f * magnitude)
        .find(|&s| s >= rough)
        .unwrap_or(10.0 * magnitude);
    let n = (max / step - 1e-9).ceil().max(1.0) as usize;
    (0..=n).map(|i| i as f64 * step).collect()
}

/// One axis: its data range and labelled ticks (in data coordinates).
pub(super) struct Axis {
    /// The label under or beside the axis, with its unit.
    pub(super) label: String,
    /// Data value at the low end.
    pub(super) min: f64,
    /// Data value at the high end.
    pub(super) max: f64,
    /// `(value, label)` ticks.
    pub(super) ticks: Vec<(f64, String)>,
}

/// A chart: a canvas with a title, a plot area and two axes mapping data to pixels.
pub(super) struct Chart {
    /// The SVG text so far.
    svg: String,
    x: Axis,
    y: Axis,
}

impl Chart {
    /// Starts a chart and draws its frame, title, axis labels and ticks.
    pub(super) fn new(title: &str, x: Axis, y: Axis) -> Chart {
        let x_ticks = x.ticks.clone();
        let y_ticks = y.ticks.clone();
        let (x_label, y_label) = (x.label.clone(), y.label.clone());
        let mut chart = Chart {
            svg: header(title),
            x,
            y,
        };
        let (l, r, t, b) = chart.area();
        for (v, label) in &x_ticks {
            let px = chart.px(*v);
            chart.line((px, t), (px, b), "#dddddd", 1.0, None);
            chart.line((px, b), (px, b + 5.0), "#000000", 1.0, None);
            chart.text(px, b + 20.0, "middle", 12.0, label);
        }
        for (v, label) in &y_ticks {
            let py = chart.py(*v);
            chart.line((l, py), (r, py), "#dddddd", 1.0, None);
            chart.line((l - 5.0, py), (l, py), "#000000", 1.0, None);
            chart.text(l - 8.0, py + 4.0, "end", 12.0, label);
        }
        chart.rect(l, t, r - l, b - t, "none", "#000000");
        chart.text((l + r) / 2.0, HEIGHT - 15.0, "middle", 14.0, &x_label);
        let (cx, cy) = (20.0, (t + b) / 2.0);
        let _ = writeln!(
            chart.svg,
            r#"<text x="{}" y="{}" text-anchor="middle" font-size="14" transform="rotate(-90 {} {})">{}</text>"#,
            num(cx),
            num(cy),
            num(cx),
            num(cy),
            escape(&y_label)
        );
        chart
    }

    /// The plot area: left, right, top, bottom pixel edges.
    pub(super) fn area(&self) -> (f64, f64, f64, f64) {
        let (l, r, t, b) = MARGIN;
        (l, WIDTH - r, t, HEIGHT - b)
    }

    /// The pixel column of data value `x`.
    pub(super) fn px(&self, x: f64) -> f64 {
        let (l, r, _, _) = self.area();
        l + (x - self.x.min) / span(self.x.min, self.x.max) * (r - l)
    }

    /// The pixel row of data value `y`.
    pub(super) fn py(&self, y: f64) -> f64 {
        let (_, _, t, b) = self.area();
        b - (y - self.y.min) / span(self.y.min, self.y.max) * (b - t)
    }

    /// Draws a line between two pixel points, optionally dashed.
    pub(super) fn line(
        &mut self,
        a: (f64, f64),
        z: (f64, f64),
        stroke: &str,
        w: f64,
        dash: Option<&str>,
    ) {
        let dash = dash.map_or(String::new(), |d| format!(r#" stroke-dasharray="{d}""#));
        let _ = writeln!(
            self.svg,
            r#"<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{stroke}" stroke-width="{}"{dash}/>"#,
            num(a.0),
            num(a.1),
            num(z.0),
            num(z.1),
            num(w)
        );
    }

    /// Draws a rectangle in pixels.
    pub(super) fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: &str, stroke: &str) {
        let _ = writeln!(
            self.svg,
            r#"<rect x="{}" y="{}" width="{}" height="{}" fill="{fill}" stroke="{stroke}"/>"#,
            num(x),
            num(y),
            num(w.max(0.0)),
            num(h.max(0.0))
        );
    }

    /// Draws a polyline through data points (already in axis coordinates).
    pub(super) fn polyline(&mut self, points: &[(f64, f64)], stroke: &str) {
        let coords: Vec<String> = points
            .iter()
            .map(|&(x, y)| format!("{},{}", num(self.px(x)), num(self.py(y))))
            .collect();
        let _ = writeln!(
            self.svg,
            r#"<polyline points="{}" fill="none" stroke="{stroke}" stroke-width="2"/>"#,
            coords.join(" ")
        );
    }

    /// Draws a dot at a data point.
    pub(super) fn dot(&mut self, x: f64, y: f64, fill: &str) {
        let _ = writeln!(
            self.svg,
            r#"<circle cx="{}" cy="{}" r="3" fill="{fill}"/>"#,
            num(self.px(x)),
            num(self.py(y))
        );
    }

    /// Writes escaped text at a pixel position.
    pub(super) fn text(&mut self, x: f64, y: f64, anchor: &str, size: f64, content: &str) {
        let _ = writeln!(
            self.svg,
            r#"<text x="{}" y="{}" text-anchor="{anchor}" font-size="{}">{}</text>"#,
            num(x),
            num(y),
            num(size),
            escape(content)
        );
    }

    /// Draws a legend box in the plot area's top-left corner, one line per label.
    pub(super) fn legend(&mut self, labels: &[String]) {
        let (l, _, t, _) = self.area();
        let longest = labels.iter().map(|s| s.chars().count()).max().unwrap_or(0);
        let w = 50.0 + 7.5 * longest as f64;
        self.rect(
            l + 10.0,
            t + 10.0,
            w,
            8.0 + 18.0 * labels.len() as f64,
            "#ffffff",
            "#999999",
        );
        for (i, label) in labels.iter().enumerate() {
            let y = t + 26.0 + 18.0 * i as f64;
            self.line(
                (l + 18.0, y - 4.0),
                (l + 38.0, y - 4.0),
                color(i),
                3.0,
                None,
            );
            self.text(l + 44.0, y, "start", 12.0, label);
        }
    }

    /// Closes the document.
    pub(super) fn finish(mut self) -> String {
        self.svg.push_str("</svg>\n");
        self.svg
    }
}

/// The width of a data range, never zero.
fn span(min: f64, max: f64) -> f64 {
    let s = max - min;
    if s.is_finite() && s > 0.0 {
        s
    } else {
        1.0
    }
}

/// The XML declaration, the `<svg>` element, a white background and the title.
fn header(title: &str) -> String {
    format!(
        concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" ",
            "viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\">\n",
            "<title>{t}</title>\n",
            "<rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>\n",
            "<text x=\"{cx}\" y=\"30\" text-anchor=\"middle\" font-size=\"18\">{t}</text>\n",
        ),
        w = num(WIDTH),
        h = num(HEIGHT),
        cx = num(WIDTH / 2.0),
        t = escape(title)
    )
}

/// A complete SVG with `title` and the words "no data", for empty inputs.
pub(super) fn no_data(title: &str) -> String {
    let mut svg = header(title);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle" font-size="16">no data</text>"#,
        num(WIDTH / 2.0),
        num(HEIGHT / 2.0)
    );
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::super::xml_check::check_svg;
    use super::*;

    #[test]
    fn escaping_and_numbers() {
        assert_eq!(
            escape(r#"a<b & "c" 'd'>"#),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"
        );
        assert_eq!(escape("bell\u{7}"), "bell?");
        assert_eq!(num(1.004), "1");
        assert_eq!(num(12.5), "12.5");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(f64::NAN), "0");
        assert_eq!(tick_label(0.30000000000000004), "0.3");
        assert_eq!(tick_label(1500.0), "1500");
    }

    #[test]
    fn units_and_ticks() {
        assert_eq!(unit_for(999.0).name, "ns");
        assert_eq!(unit_for(1_000.0).name, "µs");
        assert_eq!(unit_for(2.5e6).name, "ms");
        assert_eq!(unit_for(3e9).name, "s");
        assert_eq!(duration_label(100_000.0), "100µs");
        assert_eq!(duration_label(1e6), "1ms");
        assert_eq!(duration_label(1e9), "1s");
        assert_eq!(linear_ticks(7.3), [0.0, 2.0, 4.0, 6.0, 8.0]);
        let labels: Vec<String> = linear_ticks(1.0).into_iter().map(tick_label).collect();
        assert_eq!(labels, ["0", "0.2", "0.4", "0.6", "0.8", "1"]);
        assert_eq!(linear_ticks(0.0), linear_ticks(1.0));
        let t = linear_ticks(123_456.0);
        assert!(
            t.len() >= 4 && t.len() <= 7 && *t.last().unwrap() >= 123_456.0,
            "{t:?}"
        );
    }

    #[test]
    fn no_data_is_valid_and_escaped() {
        let doc = no_data("a <title> & more");
        assert!(check_svg(&doc).is_ok(), "{doc}");
        assert!(doc.contains("no data") && doc.contains("a &lt;title&gt; &amp; more"));
    }

    #[test]
    fn chart_maps_data_to_pixels() {
        let axis = |label: &str| Axis {
            label: label.to_string(),
            min: 0.0,
            max: 10.0,
            ticks: vec![(0.0, "0".into()), (10.0, "10".into())],
        };
        let mut chart = Chart::new("t", axis("x (s)"), axis("y (ms)"));
        let (l, r, t, b) = chart.area();
        assert_eq!((chart.px(0.0), chart.px(10.0)), (l, r));
        assert_eq!((chart.py(0.0), chart.py(10.0)), (b, t));
        chart.polyline(&[(0.0, 0.0), (5.0, 5.0)], color(0));
        chart.legend(&["one".to_string(), "two".to_string()]);
        let svg = chart.finish();
        assert!(check_svg(&svg).is_ok(), "{svg}");
        assert!(svg.contains(">x (s)</text>") && svg.contains(">y (ms)</text>"));
    }
}
