//! A hand-written SVG chart: cumulative prompts over the shift, one step line per strategy.

use std::fmt::Write as _;

/// One line of the chart.
#[derive(Debug, Clone)]
pub struct Series {
    pub color: &'static str,
    /// Shown in the legend as is.
    pub label: String,
    /// Prompt times, ms since the shift start, ascending.
    pub times: Vec<u64>,
}

const W: f64 = 900.0;
const H: f64 = 520.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 60.0;
const BOTTOM: f64 = 60.0;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A round step for about `target` ticks up to `max`.
fn nice_step(max: u64, target: u64) -> u64 {
    let raw = (max / target.max(1)).max(1);
    let mut mag = 1u64;
    while mag.saturating_mul(10) <= raw {
        mag = mag.saturating_mul(10);
    }
    for m in [1u64, 2, 5, 10] {
        let step = mag.saturating_mul(m);
        if step >= raw {
            return step;
        }
    }
    mag.saturating_mul(10)
}

/// Render the chart; `span_ms` is the shift length.
pub fn svg(title: &str, subtitle: &str, span_ms: u64, series: &[Series]) -> String {
    let hours = span_ms.div_ceil(3_600_000).max(1);
    let max_prompts = series
        .iter()
        .map(|s| s.times.len() as u64)
        .max()
        .unwrap_or(0)
        .max(1);
    let y_step = nice_step(max_prompts, 8);
    let y_max = max_prompts.div_ceil(y_step).saturating_mul(y_step);
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP - BOTTOM;
    let x_of = |ms: u64| LEFT + plot_w * (ms as f64 / (hours as f64 * 3_600_000.0)).min(1.0);
    let y_of = |n: u64| TOP + plot_h - plot_h * (n as f64 / y_max as f64);

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="13">"#
    );
    let _ = writeln!(s, r#"<title>{}</title>"#, esc(title));
    let _ = writeln!(
        s,
        r##"<rect x="0" y="0" width="{W}" height="{H}" fill="#ffffff"/>"##
    );
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="26" font-size="17" font-weight="600" fill="#111">{}</text>"##,
        esc(title)
    );
    let _ = writeln!(
        s,
        r##"<text x="{LEFT}" y="46" fill="#555">{}</text>"##,
        esc(subtitle)
    );
    // Grid and y ticks.
    let mut v = 0u64;
    while v <= y_max {
        let y = y_of(v);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e5e5e5"/>"##,
            LEFT + plot_w
        );
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#333">{v}</text>"##,
            LEFT - 8.0,
            y + 4.0
        );
        v = v.saturating_add(y_step);
    }
    // X ticks (hours).
    for h in 0..=hours {
        let x = x_of(h.saturating_mul(3_600_000));
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}" stroke="#333"/>"##,
            TOP + plot_h,
            TOP + plot_h + 5.0
        );
        let _ = writeln!(
            s,
            r##"<text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#333">{h}</text>"##,
            TOP + plot_h + 20.0
        );
    }
    // Axes.
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{:.1}" stroke="#333"/>"##,
        TOP + plot_h
    );
    let _ = writeln!(
        s,
        r##"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#333"/>"##,
        TOP + plot_h,
        LEFT + plot_w,
        TOP + plot_h
    );
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#111">hours into the shift</text>"##,
        LEFT + plot_w / 2.0,
        H - 14.0
    );
    let _ = writeln!(
        s,
        r##"<text transform="translate(20 {:.1}) rotate(-90)" text-anchor="middle" fill="#111">cumulative passkey prompts</text>"##,
        TOP + plot_h / 2.0
    );
    // Step lines.
    let end_ms = hours.saturating_mul(3_600_000).min(span_ms.max(1));
    for sr in series {
        let mut pts = format!("{:.1},{:.1}", x_of(0), y_of(0));
        for (i, t) in sr.times.iter().enumerate() {
            let x = x_of(*t);
            let n = i as u64;
            let _ = write!(pts, " {x:.1},{:.1} {x:.1},{:.1}", y_of(n), y_of(n + 1));
        }
        let last = sr.times.len() as u64;
        let _ = write!(pts, " {:.1},{:.1}", x_of(end_ms), y_of(last));
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{}" stroke-width="2.2" stroke-linejoin="round" points="{pts}"/>"#,
            sr.color
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" fill="{}" font-weight="600">{last}</text>"#,
            x_of(end_ms) - 26.0,
            y_of(last) - 6.0,
            sr.color
        );
    }
    // Legend.
    let lx = LEFT + 16.0;
    let mut ly = TOP + 14.0;
    let _ = writeln!(
        s,
        r##"<rect x="{:.1}" y="{:.1}" width="420" height="{:.1}" fill="#ffffff" fill-opacity="0.9" stroke="#ccc"/>"##,
        lx - 8.0,
        ly - 14.0,
        22.0 * series.len() as f64 + 8.0
    );
    for sr in series {
        let _ = writeln!(
            s,
            r#"<line x1="{lx:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{}" stroke-width="3"/>"#,
            ly - 4.0,
            lx + 24.0,
            ly - 4.0,
            sr.color
        );
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{ly:.1}" fill="#111">{}</text>"##,
            lx + 32.0,
            esc(&sr.label)
        );
        ly += 22.0;
    }
    s.push_str("</svg>\n");
    s
}
