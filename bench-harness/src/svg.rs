//! Hand-written SVG of latency-by-percentile curves, HdrHistogram style: the x axis is
//! log10(1 / (1 - p)), so 0%, 90%, 99%, 99.9%, ... are evenly spaced; the y axis is latency.

use std::fmt::Write as _;

/// One curve: a label and (percent, latency ms) points.
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
}

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 520.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
/// Highest "nines" on the x axis: 6 = 99.9999%.
const NINES_MAX: f64 = 6.0;
const COLOURS: [&str; 6] = [
    "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

/// Where percentile `percent` sits on the x axis, in "nines".
fn nines(percent: f64) -> f64 {
    let tail = (1.0 - percent / 100.0).max(10f64.powf(-NINES_MAX));
    (-tail.log10()).clamp(0.0, NINES_MAX)
}

/// A round step giving about five ticks up to `max`.
fn tick_step(max: f64) -> f64 {
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * magnitude)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn nines_label(n: usize) -> String {
    match n {
        0 => "0%".into(),
        1 => "90%".into(),
        _ => format!("99.{}%", "9".repeat(n - 2)).replace("99.%", "99%"),
    }
}

/// Renders `series` on shared axes with `title` on top.
pub fn render(title: &str, series: &[Series]) -> String {
    // The axis ends at the nines the data reach short of 100%; the 100% point sits on the edge.
    let x_max = series
        .iter()
        .flat_map(|s| s.points.iter().filter(|p| p.0 < 100.0).map(|p| nines(p.0)))
        .fold(2.0f64, f64::max)
        .ceil()
        .min(NINES_MAX);
    let y_top = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0f64, f64::max)
        .max(0.001);
    let step = tick_step(y_top);
    let y_max = (y_top / step).ceil() * step;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |percent: f64| LEFT + nines(percent).min(x_max) / x_max * plot_w;
    let y = |ms: f64| TOP + plot_h - ms / y_max * plot_h;

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="{}" y="25" text-anchor="middle" font-size="15">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    for n in 0..=x_max as usize {
        let px = LEFT + n as f64 / x_max * plot_w;
        let _ = writeln!(
            out,
            r##"<line x1="{px:.1}" y1="{TOP}" x2="{px:.1}" y2="{:.1}" stroke="#ddd"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 18.0,
            nines_label(n)
        );
    }
    let mut tick = 0.0;
    while tick <= y_max + step / 2.0 {
        let py = y(tick);
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            py + 4.0,
            format_ms(tick)
        );
        tick += step;
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">Percentile</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 15.0
    );
    let _ = writeln!(
        out,
        r#"<text x="20" y="{}" text-anchor="middle" transform="rotate(-90 20 {})">Latency (ms)</text>"#,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0
    );
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<String> = s
            .points
            .iter()
            .map(|&(p, ms)| format!("{:.1},{:.1}", x(p), y(ms)))
            .collect();
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            points.join(" ")
        );
        let ly = TOP + 15.0 + 18.0 * i as f64;
        let _ = writeln!(
            out,
            r#"<line x1="{:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            LEFT + 15.0,
            LEFT + 40.0,
            LEFT + 46.0,
            ly + 4.0,
            escape(&s.label)
        );
    }
    let _ = writeln!(
        out,
        r#"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="black"/>"#
    );
    out.push_str("</svg>\n");
    out
}

fn format_ms(ms: f64) -> String {
    let s = format!("{ms:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_space_percentiles_evenly() {
        assert!((nines(0.0) - 0.0).abs() < 1e-9);
        assert!((nines(90.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.9) - 3.0).abs() < 1e-9);
        assert_eq!(nines(100.0), NINES_MAX);
    }

    #[test]
    fn labels_read_like_hdr_plots() {
        let labels: Vec<String> = (0..5).map(nines_label).collect();
        assert_eq!(labels, vec!["0%", "90%", "99%", "99.9%", "99.99%"]);
    }

    #[test]
    fn render_draws_one_polyline_per_series_and_escapes_labels() {
        let s = |label: &str| Series {
            label: label.into(),
            points: vec![(0.0, 0.1), (50.0, 0.2), (99.9, 1.5)],
        };
        let svg = render("a < b", &[s("redis"), s("keel & co")]);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("a &lt; b") && svg.contains("keel &amp; co"));
        assert!(svg.trim_end().ends_with("</svg>"));
    }
}
