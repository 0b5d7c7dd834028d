//! The weekly report as a Discord message: the chart as the embed's image
//! (a PNG attached to the same message), the tables in a code block (so
//! the columns line up in Discord's monospace font), the date range in the
//! title, the method in the footer, everything within Discord's limits.

use serde_json::{Value, json};

use super::embed::{GREY, limits, truncate};
use super::sender::Attachment;
use crate::outcomes::{self, Period, Report};

/// The chart's file name in the message, as the embed refers to it.
pub const CHART_FILE: &str = "report.png";

/// The report's message: the payload and, when the chart could be drawn,
/// the PNG to attach (without it the tables still go out).
pub fn report_message(report: &Report, title: &str, period: &Period, timestamp: &str) -> (Value, Option<Attachment>) {
    let chart = match crate::chart::report_png(report, title, period) {
        Ok(bytes) => Some(Attachment { name: CHART_FILE.into(), content_type: "image/png".into(), bytes }),
        Err(e) => {
            log::warn!(error:% = e; "report_chart_failed");
            None
        }
    };
    let body = outcomes::render_tables_for(report, title, period);
    let image = chart.as_ref().map(|c| format!("attachment://{}", c.name));
    let payload =
        report_payload(&outcomes::titled(title, period), &body, outcomes::METHOD, timestamp, image.as_deref());
    (payload, chart)
}

/// The execute-webhook payload for a report. `body` is the report's tables
/// (monospace text), `method` what counts as a win, `image` the embed's
/// picture (`attachment://report.png`). A body too long for one embed keeps
/// its first lines and says how to see the rest.
pub fn report_payload(title: &str, body: &str, method: &str, timestamp: &str, image: Option<&str>) -> Value {
    const FENCE: &str = "```";
    let title = truncate(title, limits::TITLE);
    let footer = truncate(method.trim(), limits::FOOTER_TEXT);
    // The description gets what the other texts leave of the message total,
    // less the fences, their newlines and the note about cut lines.
    let left = limits::TOTAL - title.chars().count() - footer.chars().count();
    let room = left.min(limits::DESCRIPTION) - 2 * FENCE.len() - 2 - 80;
    let lines: Vec<&str> = body.trim_end().lines().collect();
    let mut kept = String::new();
    let mut shown = 0;
    for line in &lines {
        if kept.chars().count() + line.chars().count() + 1 > room {
            break;
        }
        kept.push_str(line);
        kept.push('\n');
        shown += 1;
    }
    // A backtick run inside the block would end it early.
    let kept = kept.replace(FENCE, "'''");
    let mut description = format!("{FENCE}\n{kept}{FENCE}");
    if shown < lines.len() {
        description.push_str(&format!("\n… {} more lines: run `orakl report` on the host", lines.len() - shown));
    }
    let mut embed = json!({
        "title": title,
        "description": description,
        "color": GREY,
        "footer": {"text": footer},
        "timestamp": timestamp,
    });
    if let Some(url) = image {
        embed["image"] = json!({ "url": url });
    }
    json!({
        "username": "orakl reports",
        "embeds": [embed],
        "allowed_mentions": {"parse": []},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::discord::check_limits;

    #[test]
    fn a_report_fits_discords_limits_and_keeps_its_columns() {
        let body = "bot            alerts\nsweeps              3\n";
        let p = report_payload("weekly", body, "Method: win = T1 first.", "2025-10-27T12:00:00Z", None);
        assert!(check_limits(&p).is_empty(), "{:?}", check_limits(&p));
        let d = p["embeds"][0]["description"].as_str().unwrap();
        assert_eq!(d, "```\nbot            alerts\nsweeps              3\n```");
        assert_eq!(p["embeds"][0]["footer"]["text"], "Method: win = T1 first.");
        assert!(p["embeds"][0].get("image").is_none());
    }

    #[test]
    fn the_report_message_shows_its_chart_and_date_range() {
        let report = outcomes::summarize(&[], &outcomes::ReportParams { min_obs: 20, min_win: 0.2 });
        let period = Period::dates("2025-10-20".parse().unwrap(), "2025-10-26".parse().unwrap()).unwrap();
        let (p, file) = report_message(&report, "orakl weekly report", &period, "2025-10-27T12:00:00Z");
        assert!(check_limits(&p).is_empty(), "{:?}", check_limits(&p));
        assert_eq!(p["embeds"][0]["title"], "orakl weekly report · 2025-10-20 – 2025-10-26");
        assert_eq!(p["embeds"][0]["image"]["url"], "attachment://report.png");
        let file = file.expect("the chart is drawn");
        assert_eq!((file.name.as_str(), file.content_type.as_str()), ("report.png", "image/png"));
        assert!(file.bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    }

    #[test]
    fn a_long_report_is_cut_at_a_line_and_says_so() {
        let body: String = (0..400).map(|i| format!("symbol{i:<4} resolved   25  T1 rate 4.0%\n")).collect();
        let method = "m".repeat(5000);
        let p = report_payload("weekly", &body, &method, "2025-10-27T12:00:00Z", None);
        assert!(check_limits(&p).is_empty(), "{:?}", check_limits(&p));
        let d = p["embeds"][0]["description"].as_str().unwrap();
        assert!(d.contains("more lines: run `orakl report`"), "{d}");
        assert!(d.lines().filter(|l| l.starts_with("symbol")).all(|l| l.ends_with('%')), "no line is cut in half");
    }

    #[test]
    fn backticks_in_the_body_cannot_close_the_block() {
        let p = report_payload("weekly", "a```b\n", "m", "2025-10-27T12:00:00Z", None);
        assert_eq!(p["embeds"][0]["description"], "```\na'''b\n```");
    }
}
