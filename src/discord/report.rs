//! The weekly report as a Discord message: the tables in a code block (so
//! the columns line up in Discord's monospace font), the method in the
//! footer, everything within Discord's limits.

use serde_json::{Value, json};

use super::embed::{GREY, limits, truncate};

/// The execute-webhook payload for a report. `body` is the report's tables
/// (monospace text), `method` what counts as a win. A body too long for one
/// embed keeps its first lines and says how to see the rest.
pub fn report_payload(title: &str, body: &str, method: &str, timestamp: &str) -> Value {
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
    json!({
        "username": "orakl reports",
        "embeds": [{
            "title": title,
            "description": description,
            "color": GREY,
            "footer": {"text": footer},
            "timestamp": timestamp,
        }],
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
        let p = report_payload("weekly", body, "Method: win = T1 first.", "2025-10-27T12:00:00Z");
        assert!(check_limits(&p).is_empty(), "{:?}", check_limits(&p));
        let d = p["embeds"][0]["description"].as_str().unwrap();
        assert_eq!(d, "```\nbot            alerts\nsweeps              3\n```");
        assert_eq!(p["embeds"][0]["footer"]["text"], "Method: win = T1 first.");
    }

    #[test]
    fn a_long_report_is_cut_at_a_line_and_says_so() {
        let body: String = (0..400).map(|i| format!("symbol{i:<4} resolved   25  T1 rate 4.0%\n")).collect();
        let method = "m".repeat(5000);
        let p = report_payload("weekly", &body, &method, "2025-10-27T12:00:00Z");
        assert!(check_limits(&p).is_empty(), "{:?}", check_limits(&p));
        let d = p["embeds"][0]["description"].as_str().unwrap();
        assert!(d.contains("more lines: run `orakl report`"), "{d}");
        assert!(d.lines().filter(|l| l.starts_with("symbol")).all(|l| l.ends_with('%')), "no line is cut in half");
    }

    #[test]
    fn backticks_in_the_body_cannot_close_the_block() {
        let p = report_payload("weekly", "a```b\n", "m", "2025-10-27T12:00:00Z");
        assert_eq!(p["embeds"][0]["description"], "```\na'''b\n```");
    }
}
