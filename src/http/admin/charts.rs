//! Small bar charts drawn on the server as SVG: one bar per value, the scale from the
//! largest, the last bar the period under way. No script, no image request.

use std::fmt::Write;

/// The drawing's size, in CSS pixels (it scales down with the page).
const WIDTH: u32 = 480;
const HEIGHT: u32 = 120;

/// A bar chart of `values`, oldest first; `label` names it for screen readers, and each
/// bar's title says its value and how many periods ago it was.
pub fn bars(values: &[u64], label: &str, color: &str) -> String {
    let n = values.len().max(1) as u32;
    let most = values.iter().copied().max().unwrap_or(0).max(1);
    let slot = WIDTH / n;
    let bar = slot.saturating_sub(2).max(1);
    let mut svg = String::with_capacity(128 + values.len() * 96);
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}" preserveAspectRatio="none"><line x1="0" y1="{HEIGHT}" x2="{WIDTH}" y2="{HEIGHT}" stroke="currentColor" stroke-width="1"/>"#,
        escape(label)
    );
    for (i, value) in values.iter().enumerate() {
        let height = ((*value as f64 / most as f64) * f64::from(HEIGHT - 4)).round() as u32;
        let height = if *value > 0 { height.max(1) } else { 0 };
        let x = i as u32 * slot + 1;
        let y = HEIGHT - height;
        let ago = values.len() - 1 - i;
        let _ = write!(
            svg,
            r#"<rect x="{x}" y="{y}" width="{bar}" height="{height}" fill="{color}"><title>{value} (−{ago} h)</title></rect>"#
        );
    }
    svg.push_str("</svg>");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::bars;

    #[test]
    fn the_tallest_bar_fills_the_chart_and_zero_draws_nothing() {
        let svg = bars(&[0, 5, 10], "Sign-ins", "#2d6cdf");
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(svg.contains(r#"height="116""#), "the largest value: {svg}");
        assert!(svg.contains(r#"height="58""#), "half of it: {svg}");
        assert!(svg.contains(r#"height="0""#), "zero: {svg}");
        assert!(svg.contains("<title>10 (−0 h)</title>"));
        assert!(bars(&[], "Nothing", "#000").starts_with("<svg"));
    }
}
