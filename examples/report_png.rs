//! Draws the weekly report's chart for a sample week, for the README:
//! `cargo run --example report_png -- docs/report.png`. The same function
//! (`orakl::chart::report_png`) draws the chart the `weekly_report` job
//! attaches and `orakl report --chart FILE` writes.

use orakl::job::Bot;
use orakl::outcomes::{Period, ReportParams, Row, Status, summarize};

fn main() {
    let out = std::env::args().nth(1).unwrap_or_else(|| "docs/report.png".to_string());
    // (bot, score, status, R) for a made-up week; no figure here is a result.
    let sample: &[(Bot, f64, Status, f64, usize)] = &[
        (Bot::Sweeps, 72.0, Status::T1, 1.0, 9),
        (Bot::Sweeps, 64.0, Status::Stopped, -1.0, 8),
        (Bot::GoldenSweeps, 85.0, Status::T2, 2.0, 3),
        (Bot::GoldenSweeps, 78.0, Status::Stopped, -1.0, 2),
        (Bot::OraklFlow, 55.0, Status::Stopped, -1.0, 6),
        (Bot::OraklFlow, 62.0, Status::T1, 1.0, 3),
        (Bot::Bullseye, 91.0, Status::T1, 1.5, 4),
        (Bot::Scalps, 68.0, Status::Stopped, -1.0, 5),
        (Bot::Scalps, 70.0, Status::T1, 1.2, 4),
        (Bot::Breakouts, 66.0, Status::Expired, 0.3, 3),
        (Bot::Strat, 74.0, Status::T2, 2.5, 2),
    ];
    let mut rows = Vec::new();
    for &(bot, score, status, r, n) in sample {
        for _ in 0..n {
            rows.push(Row {
                bot,
                score: Some(score),
                symbol: "SPY".into(),
                status,
                resolved: true,
                not_filled: false,
                r: Some(r),
                mfe: None,
                mae: None,
                opening_confirmed: None,
            });
        }
    }
    for _ in 0..12 {
        rows.push(Row {
            bot: Bot::Darkpool,
            score: None,
            symbol: "AAPL".into(),
            status: Status::Open,
            resolved: false,
            not_filled: false,
            r: None,
            mfe: None,
            mae: None,
            opening_confirmed: None,
        });
    }
    let report = summarize(&rows, &ReportParams { min_obs: 20, min_win: 0.2 });
    let period = Period::dates("2026-03-09".parse().unwrap(), "2026-03-15".parse().unwrap()).unwrap();
    let png = orakl::chart::report_png(&report, "orakl weekly report", &period).expect("chart");
    std::fs::write(&out, png).expect("output file");
    println!("wrote {out}");
}
