//! The weekly report as a picture: per family and per score band, the
//! alerts, the expectancy in R and the T1 hit rate, as bar charts in one PNG.
//!
//! Drawn with `plotters` on its bitmap backend. The font is bundled in the
//! binary (DejaVu Sans, see `assets/fonts/`) and handed to plotters through
//! its `ab_glyph` feature, so no system font is ever looked up: the chart is
//! the same on a bare server as on a desktop. Pure: a report in, PNG bytes
//! out, no clock and no IO.

use std::sync::OnceLock;

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::outcomes::{Period, Report, Stats};

/// The chart's size in pixels: wide enough for three panels side by side,
/// and what Discord shows without scaling down on a desktop.
pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 720;

const FONT_BYTES: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
const FONT: &str = "sans-serif";

const BACKGROUND: RGBColor = RGBColor(0x31, 0x33, 0x38);
const PANEL: RGBColor = RGBColor(0x2B, 0x2D, 0x31);
const TEXT: RGBColor = RGBColor(0xDB, 0xDE, 0xE1);
const MUTED: RGBColor = RGBColor(0x94, 0x9B, 0xA4);
const BLUE: RGBColor = RGBColor(0x58, 0x65, 0xF2);
const GREEN: RGBColor = RGBColor(0x2E, 0xCC, 0x71);
const RED: RGBColor = RGBColor(0xE7, 0x4C, 0x3C);
const AMBER: RGBColor = RGBColor(0xF1, 0xC4, 0x0F);

/// One bar chart's metric.
#[derive(Clone, Copy)]
enum Metric {
    Alerts,
    Expectancy,
    HitRate,
}

impl Metric {
    const ALL: [Metric; 3] = [Metric::Alerts, Metric::Expectancy, Metric::HitRate];

    fn title(self) -> &'static str {
        match self {
            Metric::Alerts => "Alerts",
            Metric::Expectancy => "Expectancy (R per plan)",
            Metric::HitRate => "T1 Hit Rate (of resolved)",
        }
    }

    fn value(self, s: &Stats) -> Option<f64> {
        match self {
            Metric::Alerts => Some(s.alerts as f64),
            Metric::Expectancy => s.expectancy(),
            Metric::HitRate => s.t1_rate(),
        }
    }

    fn text(self, v: f64) -> String {
        match self {
            Metric::Alerts => format!("{v:.0}"),
            Metric::Expectancy => format!("{v:+.2}R"),
            Metric::HitRate => format!("{:.0}%", v * 100.0),
        }
    }
}

/// The report drawn as a PNG of [`WIDTH`] × [`HEIGHT`]: the title with the
/// date range, then one row per grouping (family, score band) of three bar
/// charts (alerts, expectancy, hit rate). A group without a value (no
/// resolved outcome) shows "–" rather than a zero bar that would read as 0%.
pub fn report_png(report: &Report, title: &str, period: &Period) -> Result<Vec<u8>, String> {
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    draw(&mut rgb, report, title, period).map_err(|e| format!("drawing the report chart: {e}"))?;
    encode_png(&rgb)
}

fn draw(rgb: &mut [u8], report: &Report, title: &str, period: &Period) -> Result<(), Box<dyn std::error::Error>> {
    register_bundled_font()?;
    let root = BitMapBackend::with_buffer(rgb, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&BACKGROUND)?;
    let (head, body) = root.split_vertically(64);
    head.draw(&Text::new(crate::outcomes::titled(title, period), (24, 14), (FONT, 26).into_font().color(&TEXT)))?;
    head.draw(&Text::new(
        format!("{} alerts, {} resolved", report.total.alerts, report.total.resolved),
        (24, 44),
        (FONT, 15).into_font().color(&MUTED),
    ))?;
    let families: Vec<(String, Stats)> =
        report.by_bot.iter().map(|(b, s)| (b.display_name().to_string(), *s)).collect();
    let bands: Vec<(String, Stats)> =
        report.by_bucket.iter().map(|(b, s)| (format!("Score {}", b.label()), *s)).collect();
    let rows = body.split_evenly((2, 3));
    for (i, panel) in rows.iter().enumerate() {
        let (groups, what) = if i < 3 { (&families, "per family") } else { (&bands, "per score band") };
        draw_panel(panel, Metric::ALL[i % 3], what, groups)?;
    }
    root.present()?;
    Ok(())
}

/// One panel: its title and a horizontal bar per group, scaled to the
/// largest magnitude; negative expectancy grows left of a zero line.
fn draw_panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    metric: Metric,
    what: &str,
    groups: &[(String, Stats)],
) -> Result<(), Box<dyn std::error::Error>> {
    let (w, h) = area.dim_in_pixel();
    let (w, h) = (w as i32, h as i32);
    area.draw(&Rectangle::new([(8, 8), (w - 8, h - 8)], PANEL.filled()))?;
    area.draw(&Text::new(metric.title(), (20, 18), (FONT, 17).into_font().color(&TEXT)))?;
    area.draw(&Text::new(what, (20, 40), (FONT, 13).into_font().color(&MUTED)))?;
    if groups.is_empty() {
        area.draw(&Text::new("no alerts", (20, 72), (FONT, 14).into_font().color(&MUTED)))?;
        return Ok(());
    }
    let values: Vec<Option<f64>> = groups.iter().map(|(_, s)| metric.value(s).filter(|v| v.is_finite())).collect();
    let scale = values.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    let negatives = values.iter().flatten().any(|v| *v < 0.0);
    let (label_w, value_w) = (118, 64);
    let (left, right) = (20 + label_w, w - 20 - value_w);
    // With losses to show, zero sits mid-panel; otherwise at the left.
    let zero = if negatives { (left + right) / 2 } else { left };
    let half = if negatives { (right - left) / 2 } else { right - left };
    let top = 62;
    let row_h = ((h - top - 16) / groups.len() as i32).clamp(12, 34);
    for (k, ((name, _), value)) in groups.iter().zip(&values).enumerate() {
        let y = top + k as i32 * row_h;
        let mid = y + row_h / 2;
        area.draw(&Text::new(
            crate::discord::embed::truncate(name, 14),
            (20, mid - 7),
            (FONT, 13).into_font().color(&TEXT),
        ))?;
        let Some(v) = value else {
            area.draw(&Text::new("–", (zero + 4, mid - 7), (FONT, 13).into_font().color(&MUTED)))?;
            continue;
        };
        let len = if scale > 0.0 { (v.abs() / scale * f64::from(half)).round() as i32 } else { 0 };
        let (x0, x1) = if *v < 0.0 { (zero - len, zero) } else { (zero, zero + len.max(1)) };
        let colour = match metric {
            Metric::Alerts => BLUE,
            Metric::Expectancy if *v < 0.0 => RED,
            Metric::Expectancy => GREEN,
            Metric::HitRate => AMBER,
        };
        let pad = (row_h / 5).max(2);
        area.draw(&Rectangle::new([(x0, y + pad), (x1, y + row_h - pad)], colour.filled()))?;
        area.draw(&Text::new(metric.text(*v), (right + 6, mid - 7), (FONT, 13).into_font().color(&TEXT)))?;
    }
    if negatives {
        area.draw(&PathElement::new(vec![(zero, top - 4), (zero, h - 16)], MUTED.stroke_width(1)))?;
    }
    Ok(())
}

/// Hands the bundled font to plotters once per process.
fn register_bundled_font() -> Result<(), String> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok());
    if ok { Ok(()) } else { Err("the bundled font could not be read".into()) }
}

/// An RGB buffer of [`WIDTH`] × [`HEIGHT`] as PNG bytes.
fn encode_png(rgb: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, WIDTH, HEIGHT);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| format!("png: {e}"))?;
    writer.write_image_data(rgb).map_err(|e| format!("png: {e}"))?;
    writer.finish().map_err(|e| format!("png: {e}"))?;
    Ok(out)
}
