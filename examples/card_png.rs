//! Draws an alert card as Discord shows it, to a PNG, for the README:
//! `cargo run --example card_png -- docs/card.png`.
//!
//! The card is the real payload (`orakl::discord::render` of a sample
//! Golden Sweeps alert); this program only lays its JSON out the way
//! Discord's dark theme does (colour bar, title, headline, three inline
//! fields a row, footer), with the font the report chart bundles.

use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};
use serde_json::Value;

use orakl::alert::{Alert, ContractType, Details, Sentiment, Side};
use orakl::job::Bot;

const FONT: &str = "sans-serif";
const WIDTH: u32 = 760;
const BACKGROUND: RGBColor = RGBColor(0x31, 0x33, 0x38);
const EMBED: RGBColor = RGBColor(0x2B, 0x2D, 0x31);
const TEXT: RGBColor = RGBColor(0xDB, 0xDE, 0xE1);
const WHITE: RGBColor = RGBColor(0xF2, 0xF3, 0xF5);
const MUTED: RGBColor = RGBColor(0x94, 0x9B, 0xA4);

fn sample() -> Alert {
    let at = "2026-03-09T15:42:10Z".parse().unwrap();
    let mut a = Alert::new("golden_sweeps:O:NVDA260327C00185000:20260309T154210".into(), Bot::GoldenSweeps, at, "NVDA");
    a.contract = Some("O:NVDA260327C00185000".into());
    a.contract_type = Some(ContractType::Call);
    (a.strike, a.expiration, a.dte, a.spot) = (Some(185.0), "2026-03-27".parse().ok(), Some(18), Some(180.31));
    (a.premium, a.volume_delta, a.avg_price, a.open_interest) =
        (Some(178_920.0), Some(639.0), Some(2.80), Some(4_210.0));
    (a.side, a.sentiment, a.score) = (Side::Ask, Sentiment::Bullish, Some(74.0));
    a.label = "sweep confirmed: 4 ISO prints on 3 exchanges".into();
    (a.entry, a.stop, a.targets) = (Some(2.85), Some(1.43), Some(vec![4.28, 5.70]));
    a.details = Details {
        quote: Some((2.75, 2.85)),
        day_volume: Some(1_874.0),
        iv: Some(0.462),
        prob_itm: Some(0.326),
        vol_oi: Some(0.445),
        delta_vol_oi: Some(0.152),
        score_parts: vec![
            ("premium".into(), 24.0),
            ("Δvol/OI".into(), 15.0),
            ("ISO".into(), 20.0),
            ("DTE".into(), 15.0),
        ],
        unusual: vec!["6.2× this contract's usual volume for 60 s".into(), "NVDA's 3rd largest premium today".into()],
        ..Details::default()
    };
    a
}

/// Lines of `text` no wider than `max` pixels at `size`, breaking at spaces.
fn wrap(area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>, text: &str, size: u32, max: u32) -> Vec<String> {
    let font: TextStyle = (FONT, size).into_font().into();
    let mut out = Vec::new();
    for para in text.split('\n') {
        let mut line = String::new();
        for word in para.split(' ') {
            let next = if line.is_empty() { word.to_string() } else { format!("{line} {word}") };
            let w = area.estimate_text_size(&next, &font).map(|(w, _)| w).unwrap_or(0);
            if w > max && !line.is_empty() {
                out.push(std::mem::replace(&mut line, word.to_string()));
            } else {
                line = next;
            }
        }
        out.push(line);
    }
    out
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

/// Top of the embed's box, under the sender's name.
const BOX_TOP: i32 = 48;

/// Lays the message out; returns the height used. With `bottom` (the box's
/// bottom, from a measuring pass) it draws, the box first; without, it only
/// measures.
fn lay_out(area: &Area<'_>, payload: &Value, bottom: Option<i32>) -> i32 {
    let draw = bottom.is_some();
    let e = &payload["embeds"][0];
    let colour = e["color"].as_u64().unwrap_or(0);
    let bar = RGBColor((colour >> 16) as u8, (colour >> 8) as u8, colour as u8);
    let (x0, inner) = (36, WIDTH as i32 - 36 - 24 - 16);
    if let Some(bottom) = bottom {
        area.draw(&Rectangle::new([(16, BOX_TOP), (WIDTH as i32 - 24, bottom)], EMBED.filled())).unwrap();
        area.draw(&Rectangle::new([(16, BOX_TOP), (20, bottom)], bar.filled())).unwrap();
    }
    let mut y = 16;
    let text = |s: &str, x: i32, y: i32, size: u32, c: &RGBColor| {
        if draw {
            area.draw(&Text::new(s.to_string(), (x, y), (FONT, size).into_font().color(c))).unwrap();
        }
    };
    text(payload["username"].as_str().unwrap_or(""), 20, y, 17, &WHITE);
    text("BOT · today at 11:42 AM", 170, y + 2, 13, &MUTED);
    y = BOX_TOP + 14;
    for line in wrap(area, e["title"].as_str().unwrap_or(""), 17, inner as u32) {
        text(&line, x0, y, 17, &WHITE);
        y += 24;
    }
    for line in wrap(area, e["description"].as_str().unwrap_or(""), 15, inner as u32) {
        text(&line, x0, y, 15, &TEXT);
        y += 22;
    }
    y += 8;
    let fields = e["fields"].as_array().cloned().unwrap_or_default();
    let col = inner / 3;
    let mut i = 0;
    while i < fields.len() {
        // Up to three inline fields share a row; a full-width one is alone.
        let row: Vec<&Value> = if fields[i]["inline"] == true {
            fields[i..].iter().take_while(|f| f["inline"] == true).take(3).collect()
        } else {
            vec![&fields[i]]
        };
        let width = if row.len() == 1 && row[0]["inline"] != true { inner } else { col - 8 };
        let mut row_h = 0;
        for (k, f) in row.iter().enumerate() {
            let x = x0 + k as i32 * col;
            let mut fy = y;
            text(f["name"].as_str().unwrap_or(""), x, fy, 14, &WHITE);
            fy += 20;
            for line in wrap(area, f["value"].as_str().unwrap_or(""), 14, width as u32) {
                text(&line, x, fy, 14, &TEXT);
                fy += 19;
            }
            row_h = row_h.max(fy - y);
        }
        y += row_h + 8;
        i += row.len();
    }
    let footer = format!("{} • {}", e["footer"]["text"].as_str().unwrap_or(""), "03/09/2026 11:42 AM");
    for line in wrap(area, &footer, 12, inner as u32) {
        text(&line, x0, y, 12, &MUTED);
        y += 17;
    }
    y + 10
}

fn main() {
    let out = std::env::args().nth(1).unwrap_or_else(|| "docs/card.png".to_string());
    let font: &'static [u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
    assert!(register_font(FONT, FontStyle::Normal, font).is_ok(), "the bundled font");
    let payload = orakl::discord::render(&sample());
    assert!(orakl::discord::check_limits(&payload).is_empty());
    // Measure on a tall scratch canvas, then draw at the height used.
    let bottom = {
        let mut scratch = vec![0u8; (WIDTH * 2000 * 3) as usize];
        let area = BitMapBackend::with_buffer(&mut scratch, (WIDTH, 2000)).into_drawing_area();
        lay_out(&area, &payload, None)
    };
    let height = (bottom + 16) as u32;
    let mut rgb = vec![0u8; (WIDTH * height * 3) as usize];
    {
        let area = BitMapBackend::with_buffer(&mut rgb, (WIDTH, height)).into_drawing_area();
        area.fill(&BACKGROUND).unwrap();
        lay_out(&area, &payload, Some(bottom));
        area.present().unwrap();
    }
    let file = std::fs::File::create(&out).expect("output file");
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), WIDTH, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header().and_then(|mut w| w.write_image_data(&rgb)).expect("png");
    println!("wrote {out} ({WIDTH}×{height})");
}
