//! Just enough SVG for the report's charts: linear and logarithmic scales
//! with round-number ticks, axes with units, lines, stacked areas, a
//! legend, and hover values as native `<title>` tooltips (no JavaScript).

use std::fmt::Write;

/// Maps data values to one pixel axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scale {
    Linear {
        min: f64,
        max: f64,
    },
    /// Base-10 logarithmic; both ends above 0.
    Log {
        min: f64,
        max: f64,
    },
}

impl Scale {
    /// A linear scale from 0 to a round number at or above `max`.
    pub fn from_zero(max: f64) -> Scale {
        let max = if max > 0.0 && max.is_finite() { max } else { 1.0 };
        let step = nice_step(max / 5.0);
        Scale::Linear { min: 0.0, max: (max / step).ceil() * step }
    }

    /// A log scale over whole decades around `[min, max]`.
    pub fn log(min: f64, max: f64) -> Scale {
        let min = if min > 0.0 && min.is_finite() { min } else { 1e-6 };
        let max = if max > min && max.is_finite() { max } else { min * 10.0 };
        Scale::Log { min: 10f64.powf(min.log10().floor()), max: 10f64.powf(max.log10().ceil()) }
    }

    /// Position of `v` between 0 (min) and 1 (max), clamped.
    pub fn fraction(&self, v: f64) -> f64 {
        let f = match *self {
            Scale::Linear { min, max } => (v - min) / (max - min),
            Scale::Log { min, max } => (v.max(min).log10() - min.log10()) / (max.log10() - min.log10()),
        };
        if f.is_finite() { f.clamp(0.0, 1.0) } else { 0.0 }
    }

    /// Values to put ticks at.
    pub fn ticks(&self) -> Vec<f64> {
        match *self {
            Scale::Linear { min, max } => {
                let step = nice_step((max - min) / 5.0);
                let first = (min / step).ceil() as i64;
                let last = (max / step + 1e-9).floor() as i64;
                (first..=last).map(|i| i as f64 * step).collect()
            }
            Scale::Log { min, max } => {
                let (low, high) = (min.log10().round() as i32, max.log10().round() as i32);
                let thirds = high - low <= 2;
                let mut ticks = Vec::new();
                for e in low..=high {
                    let decade = 10f64.powi(e);
                    ticks.push(decade);
                    if thirds && e < high {
                        ticks.extend([2.0 * decade, 5.0 * decade]);
                    }
                }
                ticks
            }
        }
    }
}

/// 1, 2 or 5 times a power of ten, at least `rough`.
fn nice_step(rough: f64) -> f64 {
    if !(rough > 0.0 && rough.is_finite()) {
        return 1.0;
    }
    let power = 10f64.powf(rough.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * power).find(|&s| s >= rough * (1.0 - 1e-9)).unwrap_or(10.0 * power)
}

/// A number for an axis or a tooltip: short, without needless zeros.
pub fn short(v: f64) -> String {
    let a = v.abs();
    let text = if a == 0.0 {
        "0".to_string()
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    if text.contains('.') && !text.ends_with(['M', 'k']) {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

/// Escapes text for HTML and SVG.
pub fn escape(text: &str) -> String {
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

/// One chart being drawn.
pub struct Chart {
    pub width: f64,
    pub height: f64,
    left: f64,
    right: f64,
    top: f64,
    bottom: f64,
    pub x: Scale,
    pub y: Scale,
    /// Tick values for x instead of the scale's own.
    x_ticks: Option<Vec<f64>>,
    body: String,
}

impl Chart {
    pub fn new(width: f64, height: f64, x: Scale, y: Scale) -> Chart {
        Chart {
            width,
            height,
            left: 64.0,
            right: 16.0,
            top: 12.0,
            bottom: 44.0,
            x,
            y,
            x_ticks: None,
            body: String::new(),
        }
    }

    /// Puts the x ticks at these values.
    pub fn x_ticks(&mut self, ticks: Vec<f64>) {
        self.x_ticks = Some(ticks);
    }

    pub fn px(&self, x: f64) -> f64 {
        self.left + self.x.fraction(x) * (self.width - self.left - self.right)
    }

    pub fn py(&self, y: f64) -> f64 {
        self.height - self.bottom - self.y.fraction(y) * (self.height - self.top - self.bottom)
    }

    /// Grid, ticks and axis titles; `label` writes a tick's text.
    pub fn axes(
        &mut self,
        x_title: &str,
        y_title: &str,
        x_label: &dyn Fn(f64) -> String,
        y_label: &dyn Fn(f64) -> String,
    ) {
        let (x0, x1, y0, y1) = (self.left, self.width - self.right, self.height - self.bottom, self.top);
        for v in self.y.ticks() {
            let y = self.py(v);
            let _ = write!(self.body, r##"<line class="grid" x1="{x0:.1}" y1="{y:.1}" x2="{x1:.1}" y2="{y:.1}"/>"##);
            let _ = write!(
                self.body,
                r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
                x0 - 6.0,
                y + 4.0,
                escape(&y_label(v))
            );
        }
        for v in self.x_ticks.clone().unwrap_or_else(|| self.x.ticks()) {
            let x = self.px(v);
            let _ = write!(self.body, r#"<line class="grid" x1="{x:.1}" y1="{y0:.1}" x2="{x:.1}" y2="{y1:.1}"/>"#);
            let _ = write!(
                self.body,
                r#"<text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                y0 + 16.0,
                escape(&x_label(v))
            );
        }
        let _ = write!(self.body, r#"<line class="axis" x1="{x0:.1}" y1="{y0:.1}" x2="{x1:.1}" y2="{y0:.1}"/>"#);
        let _ = write!(self.body, r#"<line class="axis" x1="{x0:.1}" y1="{y0:.1}" x2="{x0:.1}" y2="{y1:.1}"/>"#);
        let _ = write!(
            self.body,
            r#"<text class="title" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            (x0 + x1) / 2.0,
            self.height - 6.0,
            escape(x_title)
        );
        let (cx, cy) = (14.0, (y0 + y1) / 2.0);
        let _ = write!(
            self.body,
            r#"<text class="title" x="{cx}" y="{cy:.1}" text-anchor="middle" transform="rotate(-90 {cx} {cy:.1})">{}</text>"#,
            escape(y_title)
        );
    }

    /// A polyline through `points` (data coordinates); breaks at NaN.
    pub fn line(&mut self, points: &[(f64, f64)], color: &str, dash: Option<&str>) {
        let mut d = String::new();
        let mut pen_down = false;
        for &(x, y) in points {
            if !(x.is_finite() && y.is_finite()) {
                pen_down = false;
                continue;
            }
            let _ = write!(d, "{}{:.1},{:.1}", if pen_down { "L" } else { "M" }, self.px(x), self.py(y));
            pen_down = true;
        }
        let dash = dash.map(|d| format!(r#" stroke-dasharray="{d}""#)).unwrap_or_default();
        let _ = write!(self.body, r#"<path class="series" d="{d}" stroke="{color}"{dash} fill="none"/>"#);
    }

    /// The area between two curves sharing their x values (a stacked band).
    pub fn band(&mut self, xs: &[f64], lower: &[f64], upper: &[f64], color: &str) {
        let mut d = String::new();
        for (i, (&x, &y)) in xs.iter().zip(upper).enumerate() {
            let _ = write!(d, "{}{:.1},{:.1}", if i == 0 { "M" } else { "L" }, self.px(x), self.py(y));
        }
        for (&x, &y) in xs.iter().zip(lower).rev() {
            let _ = write!(d, "L{:.1},{:.1}", self.px(x), self.py(y));
        }
        let _ = write!(self.body, r#"<path class="band" d="{d}Z" fill="{color}"/>"#);
    }

    /// A small marker at a data point, with a tooltip.
    pub fn marker(&mut self, x: f64, y: f64, color: &str, tip: &str) {
        let (cx, cy) = (self.px(x), self.py(y));
        let _ = write!(
            self.body,
            r#"<circle class="mark" cx="{cx:.1}" cy="{cy:.1}" r="3.5" fill="{color}"><title>{}</title></circle>"#,
            escape(tip)
        );
    }

    /// Invisible columns over `[x0, x1)` ranges whose tooltip is `tip`: the
    /// chart's hover values, one per data point.
    pub fn hover(&mut self, columns: &[(f64, f64, String)]) {
        let (top, bottom) = (self.top, self.height - self.bottom);
        for (x0, x1, tip) in columns {
            let (a, b) = (self.px(*x0), self.px(*x1));
            let _ = write!(
                self.body,
                r#"<rect class="pt" x="{a:.1}" y="{top:.1}" width="{:.1}" height="{:.1}"><title>{}</title></rect>"#,
                (b - a).max(1.0),
                bottom - top,
                escape(tip)
            );
        }
    }

    /// The finished `<svg>` with an id, an accessible title and a legend
    /// of (color, dash, label) below it.
    pub fn finish(self, id: &str, title: &str, legend: &[(String, Option<&str>, String)]) -> String {
        let mut svg = format!(
            r#"<figure><svg id="{id}" class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{t}"><title>{t}</title>{body}</svg>"#,
            w = self.width,
            h = self.height,
            t = escape(title),
            body = self.body
        );
        if !legend.is_empty() {
            svg.push_str(r#"<figcaption class="legend">"#);
            for (color, dash, label) in legend {
                let dash = dash.map(|d| format!(r#" stroke-dasharray="{d}""#)).unwrap_or_default();
                let _ = write!(
                    svg,
                    r#"<span><svg width="22" height="10"><line x1="0" y1="5" x2="22" y2="5" stroke="{color}" stroke-width="3"{dash}/></svg>{}</span>"#,
                    escape(label)
                );
            }
            svg.push_str("</figcaption>");
        }
        svg.push_str("</figure>");
        svg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_ticks_are_round_and_cover_the_range() {
        assert_eq!(Scale::from_zero(87.0), Scale::Linear { min: 0.0, max: 100.0 });
        assert_eq!(Scale::from_zero(87.0).ticks(), [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(Scale::from_zero(0.0), Scale::Linear { min: 0.0, max: 1.0 });
        assert_eq!(Scale::from_zero(f64::NAN).ticks().len(), 6);
        let Scale::Linear { max, .. } = Scale::from_zero(123_456.0) else { panic!() };
        assert_eq!(max, 150_000.0);
    }

    #[test]
    fn log_scales_span_whole_decades() {
        let s = Scale::log(0.00031, 0.042);
        assert_eq!(s, Scale::Log { min: 1e-4, max: 0.1 });
        assert_eq!(s.ticks().len(), 4, "{:?}", s.ticks());
        assert_eq!(Scale::log(0.5, 3.0).ticks(), [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0]);
        assert_eq!(s.fraction(1e-4), 0.0);
        assert_eq!(s.fraction(0.1), 1.0);
        assert!((s.fraction(0.01) - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(s.fraction(0.0), 0.0, "zero sits at the bottom, not at -infinity");
    }

    #[test]
    fn numbers_are_short_and_text_is_escaped() {
        let cases = [
            (0.0, "0"),
            (0.25, "0.25"),
            (1.5, "1.5"),
            (12.0, "12"),
            (250.0, "250"),
            (48_200.0, "48k"),
            (2.5e6, "2.5M"),
        ];
        for (v, want) in cases {
            assert_eq!(short(v), want, "{v}");
        }
        assert_eq!(escape(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
