//! `results/index.html`, the page over every committed result: a table linking each run's
//! report directory under `results/` (any folder holding a `summary.json`) with its key
//! figures, links to the other result folders' READMEs, and the testbed beside Go from
//! `results/compare/*/runs.jsonl` — per workload and figure, the median of the per-pair
//! testbed/Go ratios with min–max whiskers (the runs record no interval yet), as a table
//! and as `compare-ratios.svg`. Static: no script and no network resource.

use super::output::OutDir;
use super::page::{document, link, mib, table};
use super::plots::{
    color, duration_label, render_sized, tick_label, whole, Drawn, DESC_FONT, LABEL_FONT,
};
use plotters::prelude::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

/// The plot of the comparison, written beside `index.html`.
pub const RATIO_PLOT: &str = "compare-ratios.svg";
/// How deep under `results/` run directories are looked for.
const MAX_DEPTH: usize = 3;

/// One run's report directory: its path under `results/` (with `/` separators) and its
/// summary.
pub struct RunDir {
    /// The directory, relative to `results/`.
    pub path: String,
    /// Its `summary.json`.
    pub summary: Value,
    /// Whether it has an `index.html` of its own.
    pub has_page: bool,
}

/// Every directory under `results` (but `compare/`, whose runs are the comparison's) that
/// holds a `summary.json`, sorted by path. Unreadable summaries are skipped.
pub fn find_runs(results: &Path) -> Vec<RunDir> {
    let mut runs = Vec::new();
    let mut pending = vec![(results.to_path_buf(), String::new(), 0)];
    while let Some((dir, rel, depth)) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = entry.path();
            if name.starts_with('.') || !path.is_dir() || (depth == 0 && name == "compare") {
                continue;
            }
            let rel = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            let summary = std::fs::read_to_string(path.join("summary.json")).ok();
            match summary.and_then(|s| serde_json::from_str(&s).ok()) {
                Some(summary) => runs.push(RunDir {
                    has_page: path.join("index.html").is_file(),
                    path: rel,
                    summary,
                }),
                None if depth + 1 < MAX_DEPTH => pending.push((path, rel, depth + 1)),
                None => {}
            }
        }
    }
    runs.sort_by(|a, b| a.path.cmp(&b.path));
    runs
}

/// The figures compared with Go: a name and where it sits in a summary.
const FIGURES: [(&str, &[&str]); 4] = [
    ("wall", &["wall_s"]),
    ("pause p99", &["pause_ns", "p99"]),
    ("heap peak", &["heap_peak_bytes"]),
    ("GC cycles", &["gc_cycles"]),
];

/// The per-pair testbed/Go ratios of one figure of one workload, reduced.
#[derive(Clone, Debug, PartialEq)]
pub struct Ratio {
    /// Pairs with a ratio (both sides positive).
    pub pairs: usize,
    /// The median ratio (the mean of the middle two for an even count).
    pub median: f64,
    /// The smallest ratio.
    pub min: f64,
    /// The largest ratio.
    pub max: f64,
}

impl Ratio {
    /// The reduction of `ratios`, or `None` when there are none.
    pub fn of(mut ratios: Vec<f64>) -> Option<Ratio> {
        ratios.retain(|r| r.is_finite() && *r > 0.0);
        ratios.sort_by(f64::total_cmp);
        let n = ratios.len();
        let median = match n {
            0 => return None,
            n if n % 2 == 1 => ratios[n / 2],
            n => (ratios[n / 2 - 1] + ratios[n / 2]) / 2.0,
        };
        Some(Ratio {
            pairs: n,
            median,
            min: ratios[0],
            max: ratios[n - 1],
        })
    }
}

/// One workload of the comparison: its name and, per figure of [`FIGURES`], the ratio.
pub struct Comparison {
    /// The workload (its folder under `results/compare/`).
    pub workload: String,
    /// One entry per figure, `None` where no pair has both sides.
    pub ratios: Vec<Option<Ratio>>,
}

/// The comparison of a `runs.jsonl`: lines `{"side": "testbed"|"go", "pair": n,
/// "summary": {...}}`; a line without a summary (allocbench's rows) adds nothing.
pub fn compare_runs(workload: &str, jsonl: &str) -> Comparison {
    let mut pairs: BTreeMap<u64, [Option<Value>; 2]> = BTreeMap::new();
    for line in jsonl.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let side = match v["side"].as_str() {
            Some("testbed") => 0,
            Some("go") => 1,
            _ => continue,
        };
        if let (Some(pair), Some(summary)) = (v["pair"].as_u64(), v.get("summary")) {
            pairs.entry(pair).or_default()[side] = Some(summary.clone());
        }
    }
    let ratios = FIGURES
        .iter()
        .map(|(_, path)| {
            let per_pair = pairs.values().filter_map(|[t, g]| {
                let (t, g) = (figure(t.as_ref()?, path)?, figure(g.as_ref()?, path)?);
                Some(t / g)
            });
            Ratio::of(per_pair.collect())
        })
        .collect();
    Comparison {
        workload: workload.to_string(),
        ratios,
    }
}

/// The comparison of every `results/compare/<workload>/runs.jsonl`, by workload name.
pub fn find_comparisons(results: &Path) -> Vec<Comparison> {
    let Ok(entries) = std::fs::read_dir(results.join("compare")) else {
        return Vec::new();
    };
    let mut found: Vec<Comparison> = entries
        .flatten()
        .filter_map(|e| {
            let jsonl = std::fs::read_to_string(e.path().join("runs.jsonl")).ok()?;
            Some(compare_runs(&e.file_name().to_string_lossy(), &jsonl))
        })
        .collect();
    found.sort_by(|a, b| a.workload.cmp(&b.workload));
    found
}

/// The size of the ratio plot for `rows` workloads: two by two panels.
fn ratio_plot_size(rows: usize) -> (u32, u32) {
    (1400, 2 * (28 * rows.max(1) as u32 + 130) + 40)
}

/// The ratio plot: one panel per figure, a row per workload with a ratio, the median as a
/// dot and the min–max as a whisker, on a log ratio axis with a dashed line at 1 (parity).
pub fn ratio_svg(comparisons: &[Comparison]) -> String {
    let title = "Testbed / Go: median of per-pair ratios (dot), min–max (whisker)";
    render_sized(ratio_plot_size(comparisons.len()), title, |root| {
        let panels = root.titled(title, ("sans-serif", 22))?.split_evenly((2, 2));
        for (f, panel) in panels.iter().enumerate() {
            let rows: Vec<(&str, &Ratio)> = comparisons
                .iter()
                .filter_map(|c| Some((c.workload.as_str(), c.ratios[f].as_ref()?)))
                .collect();
            ratio_panel(panel, FIGURES[f].0, &rows, color(f))?;
        }
        Ok(())
    })
}

/// One panel of [`ratio_svg`]: `rows` top to bottom.
fn ratio_panel(
    area: &DrawingArea<SVGBackend, plotters::coord::Shift>,
    figure: &str,
    rows: &[(&str, &Ratio)],
    c: RGBColor,
) -> Drawn {
    // From just below a whole decade: plotters' log axis labels start at the first decade
    // inside the range (and a range starting exactly at one can miss it by rounding).
    let smallest = rows.iter().map(|r| r.1.min).fold(1.0, f64::min) / 1.2;
    let lo = 10f64.powf(smallest.log10().floor()) * 0.99;
    let hi = rows.iter().map(|r| r.1.max).fold(1.0, f64::max) * 1.5;
    let n = rows.len().max(1);
    let y_of = |i: usize| (n - 1 - i) as f64;
    let names: Vec<&str> = rows.iter().map(|r| r.0).collect();
    let label = |y: &f64| {
        let row = whole(*y).and_then(|y| usize::try_from(n as i32 - 1 - y).ok());
        row.and_then(|i| names.get(i))
            .map_or(String::new(), |s| s.to_string())
    };
    let mut chart = ChartBuilder::on(area)
        .caption(figure, ("sans-serif", 20))
        .margin(10)
        .margin_right(30)
        .x_label_area_size(50)
        .y_label_area_size(130)
        .build_cartesian_2d((lo..hi).log_scale(), -0.7..n as f64 - 0.3)?;
    chart
        .configure_mesh()
        .label_style(LABEL_FONT)
        .axis_desc_style(DESC_FONT)
        .x_desc("testbed / Go (log scale)")
        .x_labels(12)
        .max_light_lines(1)
        .x_label_formatter(&|r| tick_label(*r))
        .y_labels(n)
        .y_label_formatter(&label)
        .draw()?;
    let parity = [(1.0, -0.7), (1.0, n as f64 - 0.3)];
    chart.draw_series(DashedLineSeries::new(parity, 4, 3, BLACK.stroke_width(1)))?;
    let whiskers = rows.iter().enumerate().map(|(i, (_, r))| {
        PathElement::new([(r.min, y_of(i)), (r.max, y_of(i))], c.stroke_width(2))
    });
    chart.draw_series(whiskers)?;
    let dots = rows
        .iter()
        .enumerate()
        .map(|(i, (_, r))| Circle::new((r.median, y_of(i)), 5, c.filled()));
    chart.draw_series(dots)?;
    Ok(())
}

/// A figure of a summary by its path, as `f64`.
fn figure(s: &Value, path: &[&str]) -> Option<f64> {
    path.iter().fold(s, |v, k| &v[*k]).as_f64()
}

/// The runs table: a row per run directory.
fn runs_table(runs: &[RunDir]) -> String {
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let s = &r.summary;
            let dir = link(&format!("{}/", r.path), &r.path);
            let page = if r.has_page {
                link(&format!("{}/index.html", r.path), "report")
            } else {
                link(&format!("{}/summary.json", r.path), "summary.json")
            };
            let ns = |path: &[&str]| figure(s, path).map_or("–".into(), duration_label);
            vec![
                dir,
                page,
                figure(s, &["wall_s"]).map_or("–".into(), |w| format!("{w:.2}")),
                figure(s, &["gc_cycles"]).map_or("–".into(), |c| c.to_string()),
                ns(&["pause_ns", "p50"]),
                ns(&["pause_ns", "p99"]),
                ns(&["pause_ns", "max"]),
                figure(s, &["heap_peak_bytes"]).map_or("–".into(), |b| mib(b as u64)),
            ]
        })
        .collect();
    let header = [
        "run",
        "page",
        "wall s",
        "cycles",
        "pause p50",
        "pause p99",
        "pause max",
        "heap peak",
    ];
    table("every run under results/", &header, &rows)
}

/// The comparison table: a row per workload, a cell per figure.
fn comparison_table(comparisons: &[Comparison]) -> String {
    let cell = |r: &Option<Ratio>| match r {
        Some(r) => format!(
            "{} [{}–{}]",
            tick_label(r.median),
            tick_label(r.min),
            tick_label(r.max)
        ),
        None => "–".into(),
    };
    let rows: Vec<Vec<String>> = comparisons
        .iter()
        .map(|c| {
            let w = &c.workload;
            let pairs = c
                .ratios
                .iter()
                .flatten()
                .map(|r| r.pairs)
                .max()
                .unwrap_or(0);
            let mut row = vec![
                link(&format!("compare/{w}/README.md"), w),
                pairs.to_string(),
            ];
            row.extend(c.ratios.iter().map(cell));
            row
        })
        .collect();
    let mut header = vec!["workload", "pairs"];
    header.extend(FIGURES.iter().map(|f| f.0));
    table(
        "testbed / Go: median [min–max] of per-pair ratios",
        &header,
        &rows,
    )
}

/// The page: runs, other results, and the comparison with Go.
pub fn site_page(runs: &[RunDir], comparisons: &[Comparison], other: &[String]) -> String {
    let mut body = String::from(
        "<p>Every result under <code>results/</code>. Regenerate this page with \
         <code>cargo run --release -p workloads --bin results-index</code>.</p>\n<h2>Runs</h2>\n",
    );
    body.push_str(&runs_table(runs));
    if !other.is_empty() {
        let links: Vec<String> = other
            .iter()
            .map(|o| format!("<li>{}</li>", link(o, o)))
            .collect();
        let _ = writeln!(body, "<h2>Other results</h2>\n<ul>{}</ul>", links.concat());
    }
    body.push_str("<h2>The testbed beside Go</h2>\n");
    let _ = writeln!(
        body,
        "<p>From <code>results/compare/*/runs.jsonl</code> ({}). Each figure is the testbed's \
         over Go's, per alternating pair; the dot is the median ratio and the whisker spans the \
         smallest to the largest pair. The runs record no confidence interval yet, so the \
         whiskers are min–max, not an interval. Below 1 the testbed is faster or smaller.</p>",
        link("compare/README.md", "the comparison's README")
    );
    if comparisons.is_empty() {
        body.push_str("<p>No comparison runs found.</p>\n");
    } else {
        let (width, height) = ratio_plot_size(comparisons.len());
        let _ = writeln!(
            body,
            "<img class=\"wide\" src=\"{RATIO_PLOT}\" alt=\"testbed / Go ratios\" \
             width=\"{width}\" height=\"{height}\"/>"
        );
        body.push_str(&comparison_table(comparisons));
    }
    document("Collector testbed results", &body)
}

/// Markdown files directly in `results/` and in its folders that hold no run, for the
/// "other results" list (relative paths, sorted).
fn other_results(results: &Path, runs: &[RunDir]) -> Vec<String> {
    let mut other = Vec::new();
    let Ok(entries) = std::fs::read_dir(results) else {
        return other;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            other.push(name);
        } else if e.path().join("README.md").is_file() {
            let has_runs = runs.iter().any(|r| r.path.starts_with(&format!("{name}/")));
            if !has_runs {
                other.push(format!("{name}/README.md"));
            }
        }
    }
    other.sort();
    other
}

/// Writes `index.html` and [`RATIO_PLOT`] into `results` (each atomically) and returns
/// how many runs and compared workloads the page lists.
pub fn write_site(results: &Path) -> Result<(usize, usize), String> {
    if !results.is_dir() {
        return Err(format!("{} is not a directory", results.display()));
    }
    let runs = find_runs(results);
    let comparisons = find_comparisons(results);
    let other = other_results(results, &runs);
    let out = OutDir::create(results)?;
    if !comparisons.is_empty() {
        out.write(RATIO_PLOT, ratio_svg(&comparisons))?;
    }
    out.write("index.html", site_page(&runs, &comparisons, &other))?;
    Ok((runs.len(), comparisons.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::harness::page::tests::parse;
    use crate::harness::plots::tests::svg_texts;
    use serde_json::json;

    /// A scratch `results/` tree, removed on drop.
    struct Tree(std::path::PathBuf);
    impl Tree {
        fn new(tag: &str) -> Tree {
            let dir = std::env::temp_dir().join(format!("site-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Tree(dir)
        }
        fn put(&self, rel: &str, text: &str) {
            let path = self.0.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
    }
    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn summary(wall: f64, p99: u64, heap: u64, cycles: u64) -> Value {
        json!({"wall_s": wall, "pause_ns": {"p50": 1000, "p99": p99, "max": p99}, "heap_peak_bytes": heap, "gc_cycles": cycles})
    }

    fn line(side: &str, pair: u64, s: Value) -> String {
        json!({"side": side, "pair": pair, "summary": s}).to_string() + "\n"
    }

    #[test]
    fn ratios_are_median_min_max_of_pairs() {
        assert_eq!(Ratio::of(vec![]), None);
        assert_eq!(Ratio::of(vec![0.0, f64::NAN]), None, "no usable ratio");
        let r = Ratio::of(vec![3.0, 1.0, 2.0]).unwrap();
        assert_eq!((r.pairs, r.median, r.min, r.max), (3, 2.0, 1.0, 3.0));
        assert_eq!(Ratio::of(vec![4.0, 1.0, 2.0, 3.0]).unwrap().median, 2.5);

        let mut jsonl = String::new();
        for (pair, t_wall, g_wall) in [(1, 1.0, 2.0), (2, 3.0, 2.0), (3, 1.0, 1.0)] {
            jsonl += &line("testbed", pair, summary(t_wall, 0, 100, 4));
            jsonl += &line("go", pair, summary(g_wall, 50, 200, 4));
        }
        jsonl += &line("testbed", 4, summary(9.0, 0, 100, 4));
        jsonl += "not json\n";
        let c = compare_runs("gcbench", &jsonl);
        let wall = c.ratios[0].clone().unwrap();
        assert_eq!(
            (wall.pairs, wall.median, wall.min, wall.max),
            (3, 1.0, 0.5, 1.5)
        );
        assert_eq!(c.ratios[1], None, "a zero pause has no ratio");
        assert_eq!(c.ratios[2].as_ref().map(|r| r.median), Some(0.5));
        assert_eq!(c.ratios[3].as_ref().map(|r| r.median), Some(1.0));
    }

    #[test]
    fn the_site_links_runs_and_the_comparison() {
        let tree = Tree::new("links");
        tree.put(
            "gcbench/default/summary.json",
            &summary(0.5, 200_000, 1 << 25, 45).to_string(),
        );
        tree.put("gcbench/default/index.html", "<html/>");
        tree.put(
            "barrier-ablation/yuasa/summary.json",
            &summary(2.0, 9, 0, 3).to_string(),
        );
        tree.put("collector/README.md", "# collector");
        tree.put("suite.md", "# suite");
        tree.put("broken/summary.json", "{");
        let mut jsonl = String::new();
        for pair in 1..=3 {
            jsonl += &line("testbed", pair, summary(1.0, 100, 10, 2));
            jsonl += &line("go", pair, summary(pair as f64, 200, 10, 4));
        }
        tree.put("compare/gcbench/runs.jsonl", &jsonl);
        tree.put(
            "compare/allocbench/runs.jsonl",
            "{\"side\": \"go\", \"pair\": 1, \"rows\": []}\n",
        );
        tree.put("compare/README.md", "# compare");

        assert_eq!(write_site(&tree.0), Ok((2, 2)));
        let html = std::fs::read_to_string(tree.0.join("index.html")).unwrap();
        let doc = parse(&html);
        let hrefs: Vec<&str> = doc
            .descendants()
            .filter_map(|n| n.attribute("href"))
            .collect();
        for want in [
            "barrier-ablation/yuasa/",
            "barrier-ablation/yuasa/summary.json",
            "gcbench/default/",
            "gcbench/default/index.html",
            "collector/README.md",
            "suite.md",
            "compare/README.md",
            "compare/gcbench/README.md",
            "compare/allocbench/README.md",
        ] {
            assert!(hrefs.contains(&want), "{want}: {hrefs:?}");
        }
        assert!(!hrefs.iter().any(|h| h.starts_with("broken")), "{hrefs:?}");
        assert!(
            html.contains("<td class=\"n\">0.5 [0.333–1]</td>"),
            "wall: {html}"
        );
        assert!(
            html.contains("<td class=\"n\">0.5 [0.5–0.5]</td>"),
            "cycles"
        );
        assert!(html.contains("no confidence interval"));
        assert!(html.contains(&format!("src=\"{RATIO_PLOT}\"")));
        assert!(!html.contains("<script") && !html.contains("http"));

        let svg = std::fs::read_to_string(tree.0.join(RATIO_PLOT)).unwrap();
        let texts = svg_texts(&svg);
        for want in ["wall", "pause p99", "heap peak", "GC cycles", "gcbench"] {
            assert!(texts.iter().any(|t| t == want), "{want}: {texts:?}");
        }
        assert!(texts[0].starts_with("Testbed / Go: median"), "{texts:?}");
        assert_eq!(svg.matches("<circle").count(), 4, "a median per figure");
        assert!(!texts.iter().any(|t| t == "allocbench"), "no ratio, no row");
    }

    #[test]
    fn a_missing_results_directory_is_an_error() {
        let tree = Tree::new("missing");
        let err = write_site(&tree.0.join("nowhere")).unwrap_err();
        assert!(err.contains("nowhere"), "{err}");
        assert_eq!(write_site(&tree.0), Ok((0, 0)));
        assert!(!tree.0.join(RATIO_PLOT).exists());
    }
}
