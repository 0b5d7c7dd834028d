//! The main loop on the simulated clock, with a job runner that records
//! what fired when: timetable order, session gating, skipping late
//! firings, wall-clock steps, DST nights, SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::America::New_York;
use orakl::clock::{Clock, SimClock};
use orakl::notify::Notifier;
use orakl::runner::{JobResult, Jobs, LoopOptions, run_loop, run_once};
use orakl::schedule::{Line, Timetable};

use crate::support::logcap;

/// Records (job, scheduled instant in ET, instant it actually ran); a job
/// may take simulated time, and may script a wall-clock jump.
struct Recorder {
    clock: Arc<SimClock>,
    fired: Vec<(String, String, String)>,
    /// (job, how long it takes) for jobs that are slow.
    slow: Vec<(&'static str, Duration)>,
    /// After the Nth firing, step the wall clock by this much.
    jump_after: Option<(usize, chrono::Duration)>,
    /// Jobs whose late firings count as done by an earlier run (the prints
    /// lane polls inside long firings).
    covered: Vec<&'static str>,
    /// Firings reported skipped, per job.
    skipped: Vec<(String, u64)>,
}

impl Recorder {
    fn new(clock: Arc<SimClock>) -> Self {
        Recorder { clock, fired: vec![], slow: vec![], jump_after: None, covered: vec![], skipped: vec![] }
    }
}

fn et(t: DateTime<Utc>) -> String {
    t.with_timezone(&New_York).format("%m-%d %H:%M:%S %Z").to_string()
}

impl Jobs for Recorder {
    fn run(&mut self, line: &Line, scheduled: DateTime<Utc>) -> JobResult {
        self.fired.push((line.job.to_string(), et(scheduled), et(self.clock.now())));
        // A slow job is slow once.
        if let Some(i) = self.slow.iter().position(|(j, _)| *j == line.job.as_str()) {
            let (_, d) = self.slow.remove(i);
            self.clock.advance(d);
        }
        if let Some((n, delta)) = self.jump_after {
            if self.fired.len() == n {
                self.clock.jump_wall(delta);
            }
        }
        JobResult::Ok(String::new())
    }

    fn skipped(&mut self, line: &Line, missed: u64) {
        self.skipped.push((line.job.to_string(), missed));
    }

    fn covered(&self, line: &Line, _due: DateTime<Utc>) -> bool {
        self.covered.contains(&line.job.as_str())
    }
}

fn utc(y: i32, m: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, mi, s).unwrap()
}

/// Runs `timetable` from `start` for `span` of simulated time.
fn drive(timetable: &str, start: DateTime<Utc>, span: Duration, setup: impl FnOnce(&mut Recorder)) -> Vec<String> {
    let tt = Timetable::parse("schedule.cron", timetable).expect("timetable parses");
    let clock = Arc::new(SimClock::new(start));
    clock.shutdown_after(span);
    let mut rec = Recorder::new(clock.clone());
    setup(&mut rec);
    run_loop(&*clock, &tt, &LoopOptions { grace: Duration::from_secs(10) }, &Notifier::disabled(), &mut rec);
    rec.fired.into_iter().map(|(j, sched, ran)| format!("{j} {sched} ran {ran}")).collect()
}

fn check(got: Vec<String>, want: &[&str]) {
    assert_eq!(got, want.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "\ngot:\n{}", got.join("\n"));
}

#[test]
fn staggered_bots_fire_in_order_inside_the_regular_session_only() {
    let tt = "0,15,30,45 * 9-15 * * Mon-Fri orakl_flow session=regular\n\
              3,18,33,48 * 9-15 * * Mon-Fri sweeps session=regular\n";
    // 09:29:50 ET on Monday 2026-03-09 (EDT, the day after spring forward).
    let got = drive(tt, utc(2026, 3, 9, 13, 29, 50), Duration::from_secs(40), |_| {});
    check(
        got,
        &[
            "orakl_flow 03-09 09:30:00 EDT ran 03-09 09:30:00 EDT",
            "sweeps 03-09 09:30:03 EDT ran 03-09 09:30:03 EDT",
            "orakl_flow 03-09 09:30:15 EDT ran 03-09 09:30:15 EDT",
            "sweeps 03-09 09:30:18 EDT ran 03-09 09:30:18 EDT",
        ],
    );
}

#[test]
fn a_closed_market_runs_nothing_gated() {
    let tt = "0,15,30,45 * 9-15 * * Mon-Fri orakl_flow session=regular\n\
              0 */30 9-16 * * Mon-Fri outcomes session=any\n";
    // Good Friday 2026-04-03: the market is closed; `any` still runs.
    let got = drive(tt, utc(2026, 4, 3, 13, 29, 0), Duration::from_secs(32 * 60), |_| {});
    check(
        got,
        &["outcomes 04-03 09:30:00 EDT ran 04-03 09:30:00 EDT", "outcomes 04-03 10:00:00 EDT ran 04-03 10:00:00 EDT"],
    );
}

#[test]
fn a_slow_job_makes_later_firings_late_and_they_are_skipped_not_caught_up() {
    let tt = "0,15,30,45 * 9-15 * * Mon-Fri orakl_flow session=regular\n\
              3,18,33,48 * 9-15 * * Mon-Fri sweeps session=regular\n";
    let got = drive(tt, utc(2026, 3, 9, 13, 29, 59), Duration::from_secs(50), |r| {
        // The 09:30:00 run takes 40 s. At 09:30:40 sweeps 09:30:03 and 09:30:18
        // and flow 09:30:15 are more than 10 s late: skipped, not caught up.
        // Flow 09:30:30 (10 s late) and sweeps 09:30:33 (7 s) are within grace.
        r.slow.push(("orakl_flow", Duration::from_secs(40)));
    });
    check(
        got,
        &[
            "orakl_flow 03-09 09:30:00 EDT ran 03-09 09:30:00 EDT",
            "orakl_flow 03-09 09:30:30 EDT ran 03-09 09:30:40 EDT",
            "sweeps 03-09 09:30:33 EDT ran 03-09 09:30:40 EDT",
            "orakl_flow 03-09 09:30:45 EDT ran 03-09 09:30:45 EDT",
            "sweeps 03-09 09:30:48 EDT ran 03-09 09:30:48 EDT",
        ],
    );
}

#[test]
fn a_backward_wall_clock_step_never_replays_a_firing() {
    let tt = "0 */5 * * * * heartbeat\n";
    let got = drive(tt, utc(2026, 6, 1, 14, 4, 0), Duration::from_secs(14 * 60), |r| {
        // After the 10:05 run, the wall clock steps back 7 minutes (to 09:58).
        r.jump_after = Some((1, chrono::Duration::minutes(-7)));
    });
    // 10:00 and 10:05 must not fire again; the next run is 10:10 by the wall clock.
    check(
        got,
        &["heartbeat 06-01 10:05:00 EDT ran 06-01 10:05:00 EDT", "heartbeat 06-01 10:10:00 EDT ran 06-01 10:10:00 EDT"],
    );
}

#[test]
fn a_forward_wall_clock_step_skips_with_one_line_and_runs_at_most_once() {
    let tt = "0 */5 * * * * heartbeat\n";
    assert!(logcap::install(), "the log capture is this binary's logger");
    logcap::take();
    let got = drive(tt, utc(2026, 6, 1, 14, 4, 0), Duration::from_secs(7 * 60), |r| {
        // After the 10:05 run the wall clock jumps to 12:07 (a suspend): the
        // 24 firings from 10:10 to 12:05 are skipped in one line, not replayed.
        r.jump_after = Some((1, chrono::Duration::minutes(122)));
    });
    check(
        got,
        &["heartbeat 06-01 10:05:00 EDT ran 06-01 10:05:00 EDT", "heartbeat 06-01 12:10:00 EDT ran 06-01 12:10:00 EDT"],
    );
    let skipped: Vec<String> =
        logcap::take_lines().into_iter().filter(|l| l.contains("event=firing_skipped")).collect();
    assert_eq!(skipped.len(), 1, "one line for the whole gap: {skipped:?}");
    assert!(skipped[0].contains("job=heartbeat") && skipped[0].contains("missed=24"), "{}", skipped[0]);
}

#[test]
fn fall_back_night_fixed_hour_once_wildcard_keeps_cadence() {
    let tt = "0 30 1 * * * outcomes\n0 */30 * * * * heartbeat\n";
    // 2026-11-01: 01:00–01:59 happens twice (EDT then EST).
    let got = drive(tt, utc(2026, 11, 1, 4, 50, 0), Duration::from_secs(3 * 3600), |_| {});
    check(
        got,
        &[
            "heartbeat 11-01 01:00:00 EDT ran 11-01 01:00:00 EDT",
            "outcomes 11-01 01:30:00 EDT ran 11-01 01:30:00 EDT",
            "heartbeat 11-01 01:30:00 EDT ran 11-01 01:30:00 EDT",
            "heartbeat 11-01 01:00:00 EST ran 11-01 01:00:00 EST",
            "heartbeat 11-01 01:30:00 EST ran 11-01 01:30:00 EST",
            "heartbeat 11-01 02:00:00 EST ran 11-01 02:00:00 EST",
            "heartbeat 11-01 02:30:00 EST ran 11-01 02:30:00 EST",
        ],
    );
}

#[test]
fn spring_forward_neither_double_fires_nor_skips_the_bell() {
    let tt = "0 30 9 * * Mon-Fri orakl_flow session=regular\n0 30 2 * * * outcomes\n";
    // From Saturday 2026-03-07 to Monday 2026-03-09 10:00 ET.
    let start = utc(2026, 3, 7, 12, 0, 0);
    let span = (utc(2026, 3, 9, 14, 0, 0) - start).to_std().unwrap();
    let got = drive(tt, start, span, |_| {});
    check(
        got,
        &[
            "outcomes 03-08 03:00:00 EDT ran 03-08 03:00:00 EDT",
            "outcomes 03-09 02:30:00 EDT ran 03-09 02:30:00 EDT",
            "orakl_flow 03-09 09:30:00 EDT ran 03-09 09:30:00 EDT",
        ],
    );
}

#[test]
fn sigterm_stops_the_loop_between_jobs() {
    let tt = "0 * * * * * heartbeat\n";
    let got = drive(tt, utc(2026, 6, 1, 14, 0, 30), Duration::from_secs(150), |_| {});
    // 10:01, 10:02 run; the signal arrives at 10:03:00 exactly, before that run.
    assert_eq!(got.len(), 2, "{got:?}");
}

#[test]
fn once_runs_each_job_one_time_ignoring_times_and_sessions() {
    let tt = Timetable::parse(
        "schedule.cron",
        "0 0 9 * * Mon-Fri oi_confirm session=trading_day\n0 */5 * * * * heartbeat\n0 0 8 * * Mon heartbeat\n",
    )
    .unwrap();
    // A Sunday night: nothing would be in session.
    let clock = Arc::new(SimClock::new(utc(2026, 3, 8, 3, 0, 0)));
    let mut rec = Recorder::new(clock.clone());
    let stats = run_once(&*clock, &tt, &mut rec);
    assert_eq!(stats.fired, 2);
    let jobs: Vec<&str> = rec.fired.iter().map(|(j, _, _)| j.as_str()).collect();
    assert_eq!(jobs, ["oi_confirm", "heartbeat"]);
}

/// SIGHUP's path through the loop: the reload asked for during a job swaps
/// the timetable before the next firing; a refused reload keeps it.
#[test]
fn a_reload_swaps_the_timetable_between_jobs_and_a_refused_one_keeps_it() {
    struct Reloading {
        clock: Arc<SimClock>,
        fired: Vec<String>,
        runs: usize,
        /// Answers to the reload requests, in turn (`None`: refused).
        answers: Vec<Option<Timetable>>,
    }
    impl Jobs for Reloading {
        fn run(&mut self, line: &Line, scheduled: DateTime<Utc>) -> JobResult {
            self.fired.push(format!("{} {}", line.job, et(scheduled)));
            self.runs += 1;
            // Every third firing a reload is asked for, as SIGHUP would.
            if self.runs % 3 == 0 {
                self.clock.shutdown().request_reload();
            }
            JobResult::Ok(String::new())
        }
        fn reload(&mut self) -> Option<Timetable> {
            self.fired.push("reload".into());
            if self.answers.is_empty() { None } else { self.answers.remove(0) }
        }
    }
    let parse = |text: &str| Timetable::parse("schedule.cron", text).unwrap();
    let clock = Arc::new(SimClock::new(utc(2026, 3, 9, 15, 0, 0)));
    clock.shutdown_after(Duration::from_secs(95));
    let mut jobs = Reloading {
        clock: clock.clone(),
        fired: vec![],
        runs: 0,
        answers: vec![None, Some(parse("5,15,25,35,45,55 * * * * * prune session=any\n"))],
    };
    let tt = parse("*/10 * * * * * heartbeat session=any\n");
    run_loop(&*clock, &tt, &LoopOptions { grace: Duration::from_secs(10) }, &Notifier::disabled(), &mut jobs);
    let got: Vec<&str> = jobs.fired.iter().map(String::as_str).collect();
    assert_eq!(
        got,
        [
            "heartbeat 03-09 11:00:00 EDT",
            "heartbeat 03-09 11:00:10 EDT",
            "heartbeat 03-09 11:00:20 EDT",
            "reload",
            "heartbeat 03-09 11:00:30 EDT",
            "heartbeat 03-09 11:00:40 EDT",
            "heartbeat 03-09 11:00:50 EDT",
            "reload",
            "prune 03-09 11:00:55 EDT",
            "prune 03-09 11:01:05 EDT",
            "prune 03-09 11:01:15 EDT",
            "reload",
            "prune 03-09 11:01:25 EDT",
        ]
    );
}

#[test]
fn a_late_firing_the_job_already_covered_is_neither_run_nor_skipped() {
    let tt = "0,15,30,45 * 9-15 * * Mon-Fri orakl_flow session=regular\n\
              */5 * 9-15 * * Mon-Fri market_prints session=regular\n";
    let tt = Timetable::parse("schedule.cron", tt).unwrap();
    let clock = Arc::new(SimClock::new(utc(2026, 3, 9, 13, 29, 59)));
    clock.shutdown_after(Duration::from_secs(20));
    let mut rec = Recorder::new(clock.clone());
    // The 09:30:00 flow firing takes 16 s: the lane's 09:30:00 and :05
    // firings are then more than 10 s late, but covered (its polls ran
    // inside the long firing); :10 is within grace and runs.
    rec.slow.push(("orakl_flow", Duration::from_secs(16)));
    rec.covered.push("market_prints");
    let stats =
        run_loop(&*clock, &tt, &LoopOptions { grace: Duration::from_secs(10) }, &Notifier::disabled(), &mut rec);
    let got: Vec<String> = rec.fired.iter().map(|(j, sched, ran)| format!("{j} {sched} ran {ran}")).collect();
    check(
        got,
        &[
            "orakl_flow 03-09 09:30:00 EDT ran 03-09 09:30:00 EDT",
            "market_prints 03-09 09:30:10 EDT ran 03-09 09:30:16 EDT",
            "orakl_flow 03-09 09:30:15 EDT ran 03-09 09:30:16 EDT",
            "market_prints 03-09 09:30:15 EDT ran 03-09 09:30:16 EDT",
        ],
    );
    assert!(rec.skipped.is_empty(), "{:?}", rec.skipped);
    assert_eq!(stats.skipped_late, 0);
}
