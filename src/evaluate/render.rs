//! The scorecard for people (a table per family, then what went wrong,
//! listed) and for scripts (the [`Scorecard`] as JSON, its field names
//! stable under [`super::SCORECARD_VERSION`]). Both are functions of the
//! scorecard alone, so the same tape and options print the same bytes.

use std::fmt::Write;

use chrono::{DateTime, Utc};

use super::Scorecard;
use crate::alert::Sentiment;
use crate::calendar::{self, MARKET_TZ};
use crate::job::Bot;

/// Rows a text list shows before pointing to the JSON for the rest.
const TEXT_ROWS: usize = 20;

/// The scorecard as pretty-printed JSON, ending in a newline.
pub fn render_json(card: &Scorecard) -> String {
    // A scorecard is maps with string keys and finite numbers: it always
    // serialises.
    let mut s = serde_json::to_string_pretty(card).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"));
    s.push('\n');
    s
}

/// The scorecard as text: a table of the families, then sections.
pub fn render_text(card: &Scorecard) -> String {
    let run = &card.run;
    let one_day = calendar::trading_date(run.from) == calendar::trading_date(run.to);
    let when = |t: DateTime<Utc>| {
        let et = t.with_timezone(&MARKET_TZ);
        if one_day { et.format("%H:%M:%S").to_string() } else { et.format("%m-%d %H:%M:%S").to_string() }
    };
    let full = |t: DateTime<Utc>| t.with_timezone(&MARKET_TZ).format("%Y-%m-%d %H:%M:%S %Z").to_string();
    let mut s = String::new();
    let _ = writeln!(s, "scorecard (version {})", card.version);
    let _ = writeln!(s, "  replayed     {} → {}", full(run.from), full(run.to));
    s.push('\n');

    // The table: one row a family.
    let _ = writeln!(
        s,
        "  {:<14}{:>7}{:>8}{:>7}{:>10}{:>9}{:>10}{:>9}{:>11}{:>10}{:>8}",
        "family",
        "alerts",
        "updates",
        "tied",
        "precision",
        "recall",
        "near-miss",
        "fan-out",
        "plans <1R",
        "peak/min",
        "late"
    );
    let late_label = &card.noise.late_cutoff_et;
    for bot in Bot::ALL {
        let p = card.precision.get(&bot).cloned().unwrap_or_default();
        let recall =
            card.recall.by_family.get(&bot).map_or("-".to_string(), |r| format!("{}/{}", r.alerted, r.expected));
        let near = card.near_misses.by_family.get(&bot).map_or("-".to_string(), |n| format!("{}/{}", n.fired, n.lines));
        let plans = card
            .plans
            .by_family
            .get(&bot)
            .map_or("-".to_string(), |f| format!("{}/{}", f.below_1r + f.invalid, f.published));
        let _ = writeln!(
            s,
            "  {:<14}{:>7}{:>8}{:>7}{:>10}{:>9}{:>10}{:>9}{:>11}{:>10}{:>8}",
            bot.as_str(),
            p.alerts,
            card.alerts.updates_by_family.get(&bot).copied().unwrap_or(0),
            p.tied,
            p.precision.map_or("-".to_string(), |x| format!("{x:.3}")),
            recall,
            near,
            card.fanout.by_family.get(&bot).map_or(0, |f| f.pairs),
            plans,
            card.channels.by_family.get(&bot).map_or(0, |c| c.peak_per_minute),
            card.noise.after_cutoff.get(&bot).copied().unwrap_or(0),
        );
    }
    let t = &card.precision_total;
    let _ = writeln!(
        s,
        "  {:<14}{:>7}{:>8}{:>7}{:>10}{:>9}{:>10}{:>9}{:>11}",
        "total",
        t.alerts,
        card.alerts.updates,
        t.tied,
        t.precision.map_or("-".to_string(), |x| format!("{x:.3}")),
        format!("{}/{}", card.recall.recalled, card.recall.events),
        format!("{}/{}", card.near_misses.fired, card.near_misses.lines),
        card.fanout.pairs,
        format!("{}/{}", card.plans.below_1r + card.plans.invalid, card.plans.published),
    );
    let _ = writeln!(
        s,
        "  (alerts: posts; updates: hits that edited an open episode's message; recall: alerted/expected; \
         near-miss: fired/lines; plans <1R: below 1R or invalid/published; late: at or after {late_label} ET)"
    );
    if card.alerts.by_day.len() > 1 {
        s.push_str("\nalerts by day\n");
        for (day, fams) in &card.alerts.by_day {
            let list: Vec<String> = fams.iter().map(|(b, n)| format!("{} {n}", b.as_str())).collect();
            let _ = writeln!(s, "  {day}  {}", list.join(", "));
        }
    }

    // Recall.
    let r = &card.recall;
    let _ = writeln!(
        s,
        "\nrecall           {} of {} injected events alerted by one of their families",
        r.recalled, r.events
    );
    let windows: Vec<String> = r
        .match_window_s
        .iter()
        .map(
            |(b, s)| {
                if s % 60 == 0 { format!("{} {} min", b.as_str(), s / 60) } else { format!("{} {s} s", b.as_str()) }
            },
        )
        .collect();
    let _ = writeln!(s, "  {:<15}{}", "windows", windows.join(", "));
    for (bot, f) in &r.by_family {
        if let (Some(med), Some(max)) = (f.latency_median_s, f.latency_max_s) {
            let _ = writeln!(s, "  {:<15}latency from the event: median {med:.0} s, max {max} s", bot.as_str());
        }
        if let Some(p) = &f.print_latency {
            let _ = writeln!(
                s,
                "  {:<15}latency from the first print ({} events): p50 {:.1} s, p95 {:.1} s, max {:.1} s",
                bot.as_str(),
                p.events,
                p.p50_s,
                p.p95_s,
                p.max_s
            );
        }
        if f.by_move > 0 {
            let _ = writeln!(
                s,
                "  {:<15}{} of {} alerted by the post of their move (the event's hit joined it)",
                bot.as_str(),
                f.by_move,
                f.alerted
            );
        }
    }
    list(&mut s, "missed", &r.missed, |m| {
        let alerted = if m.alerted.is_empty() { String::new() } else { format!(" (alerted: {})", names(&m.alerted)) };
        let updated = if m.updated.is_empty() {
            String::new()
        } else {
            format!(" (joined an open episode: {})", names(&m.updated))
        };
        format!(
            "{} {} {} {}{} — no {}{alerted}{updated}",
            m.id,
            when(m.at),
            m.kind,
            m.symbol,
            contract_suffix(m.contract.as_deref()),
            names(&m.missing)
        )
    });

    let n = &card.near_misses;
    let _ = writeln!(s, "near-misses      {} of {} fired", n.fired, n.lines);
    list(&mut s, "fired", &n.fired_lines, |f| {
        format!(
            "{} {} {} {}{} — by {}",
            f.id,
            when(f.at),
            f.kind,
            f.symbol,
            contract_suffix(f.contract.as_deref()),
            names(&f.fired_by)
        )
    });

    let _ = writeln!(
        s,
        "precision        {} of {} alerts tied to an injected event ({})",
        t.tied,
        t.alerts,
        t.precision.map_or("-".to_string(), |x| format!("{x:.3}"))
    );
    let f = &card.fanout;
    let _ = writeln!(
        s,
        "fan-out          {} pairs within {} min without 2x escalation; {} alerts repeat an earlier one",
        f.pairs, f.window_minutes, f.alerts_in_pairs
    );

    let p = &card.plans;
    let _ = writeln!(s, "plans            {} published, {} below 1R, {} invalid", p.published, p.below_1r, p.invalid);
    for (bot, fam) in &p.by_family {
        let _ = writeln!(
            s,
            "  {:<15}{} published, {} below 1R, {} invalid; reward:risk min {}, median {}",
            bot.as_str(),
            fam.published,
            fam.below_1r,
            fam.invalid,
            opt(fam.min_reward_risk),
            opt(fam.median_reward_risk)
        );
    }
    list(&mut s, "below 1R", &p.below_1r_alerts, |row| {
        format!(
            "{} {} {}{} entry {} stop {} target {} → {}",
            when(row.at),
            row.bot.as_str(),
            row.ticker,
            contract_suffix(row.contract.as_deref()),
            row.entry,
            row.stop,
            row.target,
            row.reward_risk.map_or("invalid".to_string(), |x| format!("{x:.3}"))
        )
    });

    let d = &card.direction;
    let _ = writeln!(
        s,
        "direction        {} plans against their sentiment, {} plans under a neutral sentiment, {} flips within {} min",
        d.contradictions, d.neutral_with_plan, d.flips, d.flip_window_minutes
    );
    list(&mut s, "against", &d.contradiction_alerts, |c| {
        let sentiment = match c.sentiment {
            Sentiment::Bullish => "bullish",
            Sentiment::Bearish => "bearish",
            Sentiment::Neutral => "neutral",
        };
        let contract = contract_suffix(c.contract.as_deref());
        format!("{} {} {}{contract} {sentiment} with a {} plan", when(c.at), c.bot.as_str(), c.ticker, c.plan)
    });

    let c = &card.channels;
    let _ = writeln!(
        s,
        "channels         Discord allows {} messages a minute per channel, {} requests per 2 s per webhook; \
         {} channel-minutes over",
        c.limit_per_minute, c.limit_per_2s, c.minutes_over_limit
    );
    for (bot, load) in c.by_family.iter().filter(|(_, l)| l.peak_per_minute > 0) {
        let _ = writeln!(
            s,
            "  {:<15}peak {}/min at {}, {} minutes over; peak {} per 2 s, {} slots over",
            bot.as_str(),
            load.peak_per_minute,
            load.peak_minute.map_or("-".to_string(), &when),
            load.minutes_over_limit,
            load.peak_per_2s,
            load.slots_over_2s_limit
        );
    }
    let _ = writeln!(
        s,
        "firings          {} ran, {} skipped as late, {} job errors",
        run.firings, run.firings_skipped_late, run.job_errors
    );
    let _ = writeln!(s, "api              {} requests, {} pages", run.requests, run.pages);
    // Per hour of the replayed span: the prints lane's cost is a poll's
    // page or two, whatever the watchlist (SPEC §14).
    let hours = (run.to - run.from).num_seconds() as f64 / 3600.0;
    for (endpoint, e) in run.by_endpoint.iter().filter(|(_, e)| e.requests > 0) {
        let per_hour = if hours > 0.0 { format!(" ({:.0} an hour)", e.requests as f64 / hours) } else { String::new() };
        let _ = writeln!(s, "  {endpoint:<15}{} requests{per_hour}, {} pages", e.requests, e.pages);
    }
    let noise = &card.noise;
    let late: Vec<String> = noise.after_cutoff.iter().map(|(b, n)| format!("{} {n}", b.as_str())).collect();
    let _ = writeln!(
        s,
        "noise            at or after {late_label} ET: {}",
        if late.is_empty() { "none".to_string() } else { late.join(", ") }
    );
    let _ = writeln!(
        s,
        "                 {} contracts alerted more than once by one family (most: {}); \
         {} sweeps without ISO confirmation; {} implausible premiums",
        noise.repeat_contracts, noise.max_alerts_one_contract, noise.unconfirmed_sweeps, noise.implausible_premium
    );
    s
}

fn names(bots: &[Bot]) -> String {
    bots.iter().map(|b| b.as_str()).collect::<Vec<_>>().join(", ")
}

/// " O:SPY…" after a row's ticker when it names a contract, else nothing.
fn contract_suffix(contract: Option<&str>) -> String {
    contract.map(|c| format!(" {c}")).unwrap_or_default()
}

fn opt(x: Option<f64>) -> String {
    x.map_or("-".to_string(), |x| format!("{x:.3}"))
}

/// Up to [`TEXT_ROWS`] rows of `items` under `title`, then how many more.
fn list<T>(s: &mut String, title: &str, items: &[T], row: impl Fn(&T) -> String) {
    for item in items.iter().take(TEXT_ROWS) {
        let _ = writeln!(s, "  {title:<15}{}", row(item));
    }
    if items.len() > TEXT_ROWS {
        let _ = writeln!(s, "  {title:<15}... and {} more (--format json lists all)", items.len() - TEXT_ROWS);
    }
}
