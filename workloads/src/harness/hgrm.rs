//! The `.hgrm` text format: HdrHistogram's percentile distribution as Java's
//! `AbstractHistogram.outputPercentileDistribution` prints it (5 ticks per half distance),
//! which HdrHistogram's online plotter loads. This file owns the writer, a parser that
//! reads the format back, and the (percentile, value) points the latency plot draws.

use hdrhistogram::Histogram;
use std::io::{self, Write};

/// Percentile ticks per half distance to 100%, Java's default.
const TICKS_PER_HALF_DISTANCE: u32 = 5;

/// Writes `h` as Java's `outputPercentileDistribution(out, 5, unit_scale)` does.
///
/// A header line and a blank line; one row per percentile tick with the value (divided by
/// `unit_scale`, as many decimals as the histogram has significant figures), the
/// percentile as a fraction, the cumulative count and `1/(1-percentile)`; the last row
/// (percentile 1.0) has no fourth column. A footer gives the mean, standard deviation,
/// max, total count, and the bucket and sub-bucket counts. An empty histogram prints the
/// header and a footer of zeros. `unit_scale` is e.g. `1000.0` to print microseconds from
/// nanoseconds; it must be finite and positive, else this returns `InvalidInput`.
pub fn write_percentile_distribution(
    h: &Histogram<u64>,
    unit_scale: f64,
    out: &mut impl Write,
) -> io::Result<()> {
    if !(unit_scale.is_finite() && unit_scale > 0.0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("the unit scale must be finite and positive, not {unit_scale}"),
        ));
    }
    let digits = usize::from(h.sigfig());
    writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    )?;
    writeln!(out)?;
    if !h.is_empty() {
        let mut total = 0u64;
        for step in h.iter_quantiles(TICKS_PER_HALF_DISTANCE) {
            total += step.count_since_last_iteration();
            let value = step.value_iterated_to() as f64 / unit_scale;
            let q = step.quantile_iterated_to();
            if q < 1.0 {
                let inverse = 1.0 / (1.0 - q);
                writeln!(out, "{value:12.digits$} {q:2.12} {total:10} {inverse:14.2}")?;
            } else {
                writeln!(out, "{value:12.digits$} {q:2.12} {total:10}")?;
            }
        }
    }
    let max = if h.is_empty() { 0 } else { h.max() };
    writeln!(
        out,
        "#[Mean    = {:12.digits$}, StdDeviation   = {:12.digits$}]",
        h.mean() / unit_scale,
        h.stdev() / unit_scale
    )?;
    writeln!(
        out,
        "#[Max     = {:12.digits$}, Total count    = {:12}]",
        max as f64 / unit_scale,
        h.len()
    )?;
    writeln!(
        out,
        "#[Buckets = {:12}, SubBuckets     = {:12}]",
        h.buckets(),
        sub_bucket_count(h.sigfig())
    )
}

/// HdrHistogram's sub-bucket count for `sigfig` significant figures: the smallest power of
/// two that holds `2 * 10^sigfig` values at unit resolution (2048 for 3 figures).
fn sub_bucket_count(sigfig: u8) -> u64 {
    (2 * 10u64.pow(u32::from(sigfig))).next_power_of_two()
}

/// The percentile ticks of `h` as `(quantile in 0..=1, value)` points, the same rows the
/// `.hgrm` writer prints (values unscaled); the last point is at quantile 1.0 with the
/// max. Empty for an empty histogram.
pub fn percentile_points(h: &Histogram<u64>) -> Vec<(f64, u64)> {
    if h.is_empty() {
        return Vec::new();
    }
    h.iter_quantiles(TICKS_PER_HALF_DISTANCE)
        .map(|step| (step.quantile_iterated_to(), step.value_iterated_to()))
        .collect()
}

/// One row of a `.hgrm` distribution.
#[derive(Clone, Debug, PartialEq)]
pub struct HgrmRow {
    /// The value, in the file's unit.
    pub value: f64,
    /// The percentile as a fraction (0 to 1).
    pub percentile: f64,
    /// Samples at or below `value`.
    pub total_count: u64,
    /// `1/(1-percentile)`; `None` on the last row, which omits the column.
    pub inverse: Option<f64>,
}

/// A `.hgrm` distribution read back by [`parse_percentile_distribution`].
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedHgrm {
    /// The rows in file order.
    pub rows: Vec<HgrmRow>,
    /// The footer's mean, in the file's unit.
    pub mean: f64,
    /// The footer's standard deviation, in the file's unit.
    pub std_deviation: f64,
    /// The footer's max, in the file's unit.
    pub max: f64,
    /// The footer's total count.
    pub total_count: u64,
    /// The footer's bucket count.
    pub buckets: u64,
    /// The footer's sub-bucket count.
    pub sub_buckets: u64,
}

/// Reads the text [`write_percentile_distribution`] writes (and Java's
/// `outputPercentileDistribution` without CSV): the header line, rows of four
/// whitespace-separated numbers (only the last row may have three), and the three `#[`
/// footer lines, each required once. Blank lines are skipped. The error names the line.
pub fn parse_percentile_distribution(text: &str) -> Result<ParsedHgrm, String> {
    let mut rows: Vec<HgrmRow> = Vec::new();
    let mut header_seen = false;
    let mut mean_std = None;
    let mut max_total = None;
    let mut buckets = None;
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(footer) = trimmed.strip_prefix("#[") {
            let fields = footer_fields(footer).map_err(|e| format!("line {n}: {e}"))?;
            let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
            let slot = match keys.as_slice() {
                ["Mean", "StdDeviation"] => &mut mean_std,
                ["Max", "Total count"] => &mut max_total,
                ["Buckets", "SubBuckets"] => &mut buckets,
                _ => return Err(format!("line {n}: unknown footer {trimmed:?}")),
            };
            if slot.is_some() {
                return Err(format!("line {n}: repeated footer {trimmed:?}"));
            }
            *slot = Some((fields[0].1.clone(), fields[1].1.clone()));
            continue;
        }
        if !header_seen {
            let words: Vec<&str> = trimmed.split_whitespace().collect();
            if words != ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"] {
                return Err(format!("line {n}: expected the header, found {trimmed:?}"));
            }
            header_seen = true;
            continue;
        }
        if mean_std.is_some() || max_total.is_some() || buckets.is_some() {
            return Err(format!("line {n}: a row after the footer"));
        }
        if rows.last().is_some_and(|r| r.inverse.is_none()) {
            return Err(format!("line {n}: a row after the three-column last row"));
        }
        rows.push(parse_row(trimmed).map_err(|e| format!("line {n}: {e}"))?);
    }
    if !header_seen {
        return Err("no header line".to_string());
    }
    let missing = |what: &str| format!("missing the {what} footer line");
    let (mean, std_deviation) = mean_std.ok_or_else(|| missing("Mean"))?;
    let (max, total_count) = max_total.ok_or_else(|| missing("Max"))?;
    let (bucket_count, sub_buckets) = buckets.ok_or_else(|| missing("Buckets"))?;
    Ok(ParsedHgrm {
        rows,
        mean: number(&mean)?,
        std_deviation: number(&std_deviation)?,
        max: number(&max)?,
        total_count: count(&total_count)?,
        buckets: count(&bucket_count)?,
        sub_buckets: count(&sub_buckets)?,
    })
}

/// Splits a footer body such as `Max     = 1.000, Total count    = 5]` into its two
/// `(key, value)` pairs.
fn footer_fields(body: &str) -> Result<Vec<(String, String)>, String> {
    let body = body
        .strip_suffix(']')
        .ok_or_else(|| "a footer line must end with ']'".to_string())?;
    let fields: Vec<(String, String)> = body
        .split(',')
        .map(|part| {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("footer field {part:?} has no '='"))?;
            Ok((k.trim().to_string(), v.trim().to_string()))
        })
        .collect::<Result<_, String>>()?;
    if fields.len() != 2 {
        return Err(format!(
            "a footer line has two fields, not {}",
            fields.len()
        ));
    }
    Ok(fields)
}

/// Parses one data row (three or four numbers).
fn parse_row(line: &str) -> Result<HgrmRow, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    if !(3..=4).contains(&words.len()) {
        return Err(format!("a row has 3 or 4 numbers, found {line:?}"));
    }
    let row = HgrmRow {
        value: number(words[0])?,
        percentile: number(words[1])?,
        total_count: count(words[2])?,
        inverse: words.get(3).map(|w| number(w)).transpose()?,
    };
    if !(0.0..=1.0).contains(&row.percentile) {
        return Err(format!("percentile {} is outside 0..=1", row.percentile));
    }
    if row.inverse.is_none() && row.percentile != 1.0 {
        return Err(format!(
            "only the percentile 1.0 row omits 1/(1-p): {line:?}"
        ));
    }
    Ok(row)
}

/// A finite decimal number.
fn number(word: &str) -> Result<f64, String> {
    word.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("{word:?} is not a finite number"))
}

/// A non-negative integer.
fn count(word: &str) -> Result<u64, String> {
    word.parse::<u64>()
        .map_err(|_| format!("{word:?} is not a non-negative integer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn histogram(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
        for v in values {
            h.record(v).unwrap();
        }
        h
    }

    fn render(h: &Histogram<u64>, scale: f64) -> String {
        let mut buf = Vec::new();
        write_percentile_distribution(h, scale, &mut buf).unwrap();
        String::from_utf8(buf).unwrap()
    }

    /// Whether `line` is `prefix`, a number right-aligned in 12 columns, `middle`, another
    /// 12-column number, and `]`: the footer layout a reader's pattern expects.
    fn footer_matches(line: &str, prefix: &str, middle: &str, integers: bool) -> bool {
        let numeric = |s: &str| {
            let t = s.trim_start();
            s.len() == 12
                && !t.is_empty()
                && t.chars()
                    .all(|c| c.is_ascii_digit() || (!integers && c == '.'))
        };
        let Some(rest) = line.strip_prefix(prefix) else {
            return false;
        };
        let Some(rest) = rest.strip_suffix(']') else {
            return false;
        };
        rest.len() == 24 + middle.len()
            && numeric(&rest[..12])
            && &rest[12..12 + middle.len()] == middle
            && numeric(&rest[12 + middle.len()..])
    }

    #[test]
    fn layout_matches_java() {
        // 1..=10000 µs in ns, printed in µs.
        let h = histogram((1..=10_000u64).map(|v| v * 1000));
        let text = render(&h, 1000.0);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "       Value     Percentile TotalCount 1/(1-Percentile)"
        );
        assert_eq!(lines[1], "");
        let footer = &lines[lines.len() - 3..];
        let rows = &lines[2..lines.len() - 3];
        let (last, body) = rows.split_last().unwrap();
        for row in body {
            // %12.3f %2.12f %10d %14.2f
            assert_eq!(row.len(), 12 + 1 + 14 + 1 + 10 + 1 + 14, "{row:?}");
            let words: Vec<&str> = row.split_whitespace().collect();
            assert_eq!(words.len(), 4, "{row:?}");
            assert!(words.iter().all(|w| w.parse::<f64>().is_ok()), "{row:?}");
            assert_eq!(words[1].split_once('.').unwrap().1.len(), 12, "{row:?}");
            assert_eq!(words[3].split_once('.').unwrap().1.len(), 2, "{row:?}");
        }
        assert_eq!(last.len(), 12 + 1 + 14 + 1 + 10, "{last:?}");
        assert_eq!(last.split_whitespace().nth(1), Some("1.000000000000"));
        assert!(footer_matches(
            footer[0],
            "#[Mean    = ",
            ", StdDeviation   = ",
            false
        ));
        assert!(footer_matches(
            footer[1],
            "#[Max     = ",
            ", Total count    = ",
            false
        ));
        assert!(footer[1].ends_with(&format!("{:>12}]", 10_000)));
        assert!(footer_matches(
            footer[2],
            "#[Buckets = ",
            ", SubBuckets     = ",
            true
        ));
    }

    #[test]
    fn round_trip_matches_the_histogram() {
        let h = histogram((1..=10_000u64).map(|v| v * 1000 + v % 7));
        let parsed = parse_percentile_distribution(&render(&h, 1000.0)).unwrap();
        let rows = &parsed.rows;
        assert!(rows.len() > 20, "{} rows", rows.len());
        for pair in rows.windows(2) {
            assert!(pair[0].value <= pair[1].value, "{pair:?}");
            assert!(pair[0].percentile < pair[1].percentile, "{pair:?}");
            assert!(pair[0].total_count <= pair[1].total_count, "{pair:?}");
        }
        for row in &rows[..rows.len() - 1] {
            let inverse = 1.0 / (1.0 - row.percentile);
            assert!((row.inverse.unwrap() - inverse).abs() <= 0.005 + 1e-9 * inverse);
            // Each row's count is the samples at or below its value, and reaches its
            // percentile.
            let value_ns = (row.value * 1000.0).round() as u64;
            assert_eq!(h.count_between(0, value_ns), row.total_count, "{row:?}");
            assert!(row.total_count as f64 / h.len() as f64 >= row.percentile - 1e-12);
        }
        let last = rows.last().unwrap();
        assert_eq!((last.percentile, last.inverse), (1.0, None));
        assert_eq!(last.total_count, h.len());
        assert_eq!(parsed.total_count, 10_000);
        assert!((last.value - h.max() as f64 / 1000.0).abs() < 1e-3);
        assert!((parsed.max - h.max() as f64 / 1000.0).abs() < 1e-3);
        assert!((parsed.mean - h.mean() / 1000.0).abs() < 1e-3);
        assert!((parsed.std_deviation - h.stdev() / 1000.0).abs() < 1e-3);
        assert!((parsed.mean - 5000.5).abs() < 5.0, "{}", parsed.mean);
        assert_eq!(parsed.buckets, u64::from(h.buckets()));
        // counts.len() == (buckets + 1) * sub_buckets / 2 in HdrHistogram's layout.
        let from_layout = 2 * h.distinct_values() as u64 / (u64::from(h.buckets()) + 1);
        assert_eq!(parsed.sub_buckets, from_layout);
        assert_eq!(parsed.sub_buckets, 2048);
    }

    #[test]
    fn five_ticks_per_half_distance() {
        let h = histogram(1..=100_000u64);
        let parsed = parse_percentile_distribution(&render(&h, 1.0)).unwrap();
        let got: Vec<f64> = parsed.rows.iter().take(12).map(|r| r.percentile).collect();
        let want = [
            0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.775,
        ];
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-9, "{got:?}");
        }
        assert_eq!(got.len(), want.len());
        // percentile_points walks the same ticks, unscaled.
        let points = percentile_points(&h);
        assert_eq!(points.len(), parsed.rows.len());
        assert_eq!(points.last().unwrap(), &(1.0, h.max()));
    }

    #[test]
    fn single_value_and_empty() {
        let one = histogram([42_000]);
        let parsed = parse_percentile_distribution(&render(&one, 1000.0)).unwrap();
        let summary: Vec<(f64, u64)> = parsed
            .rows
            .iter()
            .map(|r| (r.percentile, r.total_count))
            .collect();
        assert_eq!(summary, [(0.0, 1), (1.0, 1)]);
        assert!((parsed.max - 42.0).abs() < 0.05);

        let empty = histogram([]);
        let text = render(&empty, 1e6);
        assert_eq!(text.lines().count(), 5, "{text}");
        let parsed = parse_percentile_distribution(&text).unwrap();
        assert!(parsed.rows.is_empty());
        assert_eq!((parsed.mean, parsed.max, parsed.total_count), (0.0, 0.0, 0));
        assert!(percentile_points(&empty).is_empty());
    }

    #[test]
    fn bad_scale_and_bad_text_are_errors() {
        let h = histogram([1, 2, 3]);
        for scale in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let err = write_percentile_distribution(&h, scale, &mut Vec::new()).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        }
        let good = render(&h, 1.0);
        assert!(parse_percentile_distribution(&good).is_ok());
        let no_footer: String = good.lines().take(4).collect::<Vec<_>>().join("\n");
        assert!(parse_percentile_distribution(&no_footer)
            .unwrap_err()
            .contains("footer"));
        let garbage = good.replacen("0.000000000000", "zero", 1);
        assert!(parse_percentile_distribution(&garbage)
            .unwrap_err()
            .starts_with("line 3"));
        assert!(parse_percentile_distribution("1 0.5 3 2.0\n").is_err());
    }
}
