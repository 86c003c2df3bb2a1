//! A run's `index.html`: one static page (no script, no network resource) with the key
//! figures of its `summary.json` — wall time, cycles, heap peak, pauses, operation latency,
//! callbacks, verification, leaks, the flags — the three SVG plots beside it as images, and
//! links to every report file. Also the HTML pieces the suite page ([`super::site`])
//! shares: escaping, the document frame and tables.

use super::plots::duration_label;
use super::summary::{CallbackCounts, LatencyStats, Summary};
use std::fmt::Write as _;

/// The page's style sheet, inline so the page stands alone.
const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;max-width:1700px;color:#222}\
table{border-collapse:collapse;margin:0.5em 1.5em 1em 0;display:inline-table;vertical-align:top}\
th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:left}\
th{background:#f0f0f0}td.n{text-align:right;font-variant-numeric:tabular-nums}\
img{border:1px solid #ddd;margin:0.3em;max-width:48%;height:auto}img.wide{max-width:100%}\
pre{background:#f6f6f6;padding:0.6em;overflow-x:auto}.bad{color:#b00;font-weight:bold}";

/// `text` with the HTML special characters escaped, for text and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole HTML document titled `title` around `body` (already HTML).
pub(crate) fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n\
         <title>{t}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{t}</h1>\n{body}</body>\n</html>\n",
        t = escape(title)
    )
}

/// A table with a caption, a header row and rows of cells (already HTML); a cell that
/// starts with a digit, `–` or `-` is right-aligned as a number.
pub(crate) fn table(caption: &str, header: &[&str], rows: &[Vec<String>]) -> String {
    let mut html = format!("<table>\n<caption>{}</caption>\n<tr>", escape(caption));
    for h in header {
        let _ = write!(html, "<th>{}</th>", escape(h));
    }
    html.push_str("</tr>\n");
    for row in rows {
        html.push_str("<tr>");
        for cell in row {
            let numeric = cell.starts_with(|c: char| c.is_ascii_digit() || c == '–' || c == '-');
            let class = if numeric { " class=\"n\"" } else { "" };
            let _ = write!(html, "<td{class}>{cell}</td>");
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");
    html
}

/// A link to `href` reading `text`, both escaped.
pub(crate) fn link(href: &str, text: &str) -> String {
    format!("<a href=\"{}\">{}</a>", escape(href), escape(text))
}

/// Bytes in MiB with one decimal.
pub(crate) fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// A duration in ns as a label (`12.5µs`), or `–` when nothing was counted.
fn ns_or_dash(ns: u64, count: u64) -> String {
    if count == 0 {
        "–".to_string()
    } else {
        duration_label(ns as f64)
    }
}

/// A row of a latency table: what, count, p50, p90, p99, p99.9, max.
fn latency_row(what: &str, s: &LatencyStats) -> Vec<String> {
    let mut row = vec![escape(what), s.count.to_string()];
    row.extend([s.p50, s.p90, s.p99, s.p999, s.max].map(|v| ns_or_dash(v, s.count)));
    row
}

/// A row of the callback table: what, registered, queued, executed, stopped.
fn callback_row(what: &str, c: &CallbackCounts) -> Vec<String> {
    let mut row = vec![escape(what)];
    row.extend([c.registered, c.queued, c.executed, c.stopped].map(|v| v.to_string()));
    row
}

/// The run's headline figures: wall, cycles, heap peak, verification and leaks.
fn headline(s: &Summary) -> String {
    let flagged = |n: u64| {
        if n > 0 {
            format!("<span class=\"bad\">{n}</span>")
        } else {
            n.to_string()
        }
    };
    let mut rows = vec![
        vec!["wall".into(), format!("{:.3} s", s.wall_s)],
        vec!["GC cycles".into(), s.gc_cycles.to_string()],
        vec!["heap peak".into(), mib(s.heap_peak_bytes)],
        vec![
            "verify (cycles checked)".into(),
            if s.verify.enabled {
                s.verify.cycles_checked.to_string()
            } else {
                "off".into()
            },
        ],
        vec!["lost objects".into(), flagged(s.verify.lost_objects)],
    ];
    if let Some(l) = &s.leaks {
        rows.push(vec!["leaked objects".into(), flagged(l.leaked_objects)]);
        rows.push(vec!["leaked bytes".into(), l.leaked_bytes.to_string()]);
        rows.push(vec!["callback leaks".into(), flagged(l.callback_leaks)]);
    }
    table("run", &["figure", "value"], &rows)
}

/// The flags of the run, one row each.
fn config_table(config: &serde_json::Value) -> String {
    let rows: Vec<Vec<String>> = config
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
            vec![escape(k), escape(&v)]
        })
        .collect();
    table("flags", &["flag", "value"], &rows)
}

/// The `index.html` of a run whose report is `summary`; `files` are the report's files,
/// linked at the foot of the page.
pub fn run_page(summary: &Summary, files: &[&str]) -> String {
    let s = summary;
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<p>The report of one run of <b>{}</b>: the figures below are from \
         <a href=\"summary.json\">summary.json</a>.</p>",
        escape(&s.workload)
    );
    body.push_str(&headline(s));
    let header = ["what", "count", "p50", "p90", "p99", "p99.9", "max"];
    let latency = [
        latency_row("stop-the-world pause", &s.pause_ns),
        latency_row("time to safepoint", &s.ttsp_ns),
        latency_row("operation latency", &s.mutator_latency_ns),
        latency_row("callback latency", &s.callback_latency_ns),
    ];
    body.push_str(&table("latency", &header, &latency));
    let callbacks = [
        callback_row("finalizers", &s.finalizers),
        callback_row("cleanups", &s.cleanups),
    ];
    let header = ["callback", "registered", "queued", "executed", "stopped"];
    body.push_str(&table("callbacks", &header, &callbacks));
    body.push_str("<h2>Plots</h2>\n<div>\n");
    for (file, alt) in [
        ("latency.svg", "operation latency by percentile"),
        ("pauses.svg", "GC pauses over time"),
        ("mmu.svg", "minimum mutator utilization"),
    ] {
        let _ = writeln!(
            body,
            "<img src=\"{file}\" alt=\"{alt}\" width=\"800\" height=\"500\"/>"
        );
    }
    body.push_str(
        "<p>The timeline (<a href=\"trace.json\">trace.json</a> opens in Perfetto or \
         chrome://tracing; per-thread rows with <code>--trace</code>):</p>\n\
         <img class=\"wide\" src=\"timeline.svg\" alt=\"timeline of the run\"/>\n",
    );
    body.push_str("</div>\n<h2>Flags</h2>\n");
    body.push_str(&config_table(&s.config));
    if !s.findings.is_null() {
        let findings = serde_json::to_string_pretty(&s.findings).unwrap_or_default();
        let _ = writeln!(
            body,
            "<details><summary>the workload's own findings</summary><pre>{}</pre></details>",
            escape(&findings)
        );
    }
    let links: Vec<String> = files.iter().map(|f| link(f, f)).collect();
    let _ = writeln!(body, "<p>Files: {}</p>", links.join(" · "));
    document(&format!("{}: run report", s.workload), &body)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::harness::summary::tests::sample;
    use crate::harness::LeakCheck;

    /// The page parsed as XML: it is written as HTML that is also well-formed XML.
    pub(crate) fn parse(html: &str) -> roxmltree::Document<'_> {
        let opt = roxmltree::ParsingOptions {
            allow_dtd: true,
            ..roxmltree::ParsingOptions::default()
        };
        roxmltree::Document::parse_with_options(html, opt).unwrap_or_else(|e| panic!("{e}\n{html}"))
    }

    /// The values of attribute `attr` of every `tag` element, in document order.
    fn values<'a>(doc: &'a roxmltree::Document, tag: &str, attr: &str) -> Vec<&'a str> {
        let tagged = doc.descendants().filter(|n| n.has_tag_name(tag));
        tagged.filter_map(|n| n.attribute(attr)).collect()
    }

    fn cells(doc: &roxmltree::Document) -> Vec<String> {
        doc.descendants()
            .filter(|n| n.has_tag_name("td"))
            .map(|n| {
                n.descendants()
                    .filter(|t| t.is_text())
                    .filter_map(|t| t.text())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn the_page_shows_the_summary_and_embeds_the_plots() {
        let mut s = sample(None);
        s.workload = "gc<bench>".into();
        s.verify.lost_objects = 3;
        let html = run_page(&s, &["summary.json", "pauses.hlog"]);
        assert!(
            !html.contains("<script") && !html.contains("http"),
            "stands alone"
        );
        let doc = parse(&html);
        let title = doc.descendants().find(|n| n.has_tag_name("title")).unwrap();
        assert_eq!(title.text(), Some("gc<bench>: run report"));
        let cells = cells(&doc);
        let row = |what: &str| {
            let at = cells
                .iter()
                .position(|c| c == what)
                .unwrap_or_else(|| panic!("{what}"));
            cells[at + 1].clone()
        };
        assert_eq!(row("wall"), "1.500 s");
        assert_eq!(row("GC cycles"), "7");
        assert_eq!(row("heap peak"), "1.0 MiB");
        assert_eq!(row("lost objects"), "3");
        assert_eq!(row("stop-the-world pause"), "3", "the count");
        assert_eq!(row("operation latency"), "0");
        assert_eq!(row("cleanups"), "0");
        assert_eq!(row("barrier"), "hybrid");
        let p99 = cells
            .iter()
            .skip_while(|c| *c != "stop-the-world pause")
            .nth(4);
        assert_eq!(p99.map(String::as_str), Some("5ns"));
        assert!(html.contains("<span class=\"bad\">3</span>"));
        let images = values(&doc, "img", "src");
        assert_eq!(
            images,
            ["latency.svg", "pauses.svg", "mmu.svg", "timeline.svg"]
        );
        let links = values(&doc, "a", "href");
        assert_eq!(
            links,
            ["summary.json", "trace.json", "summary.json", "pauses.hlog"]
        );
    }

    #[test]
    fn leaks_appear_only_when_checked() {
        let without = run_page(&sample(None), &[]);
        assert!(!without.contains("leaked objects"));
        let leaks = LeakCheck {
            checked: true,
            leaked_objects: 0,
            leaked_bytes: 0,
            callback_leaks: 2,
            callback_leak_reports: vec![],
        };
        let with = run_page(&sample(Some(leaks)), &[]);
        assert!(
            with.contains("<td>leaked objects</td><td class=\"n\">0</td>"),
            "{with}"
        );
        assert!(with.contains("<td>callback leaks</td><td><span class=\"bad\">2"));
    }
}
