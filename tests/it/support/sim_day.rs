//! One simulated slice of a market day, replayed once by the real binary and
//! shared by the tests that judge it (recall, outcomes): the simulation and
//! the replay are the slowest steps of the suite, so they run once.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use chrono::NaiveTime;
use orakl::simulate::{SimOptions, TruthEvent, simulate};

pub struct SimDay {
    pub dir: PathBuf,
    pub tape: PathBuf,
    pub truth: Vec<TruthEvent>,
    /// The timetable the replay ran: the shipped one with `outcomes` every
    /// minute, so outcomes are measured up to the end of the tape.
    pub schedule: PathBuf,
    /// `orakl replay --format jsonl` stdout.
    pub stdout: String,
    /// The state the replay left (alerts, outcomes).
    pub state: PathBuf,
}

/// SPY and CSCO over 12:30–14:10 ET, seed 11 (the demo's day): every
/// family has a hit and a near-miss.
pub fn demo_slice() -> &'static SimDay {
    static DAY: OnceLock<SimDay> = OnceLock::new();
    DAY.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sim-day-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let tape = dir.join("day.jsonl");
        let truth_path = dir.join("truth.jsonl");
        let opts = SimOptions {
            seed: 11,
            symbols: vec!["SPY".into(), "CSCO".into()],
            start: NaiveTime::from_hms_opt(12, 30, 0).unwrap(),
            minutes: 100,
            ..SimOptions::default()
        };
        simulate(&opts, &tape, Some(&truth_path)).unwrap();
        let truth =
            std::fs::read_to_string(&truth_path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();

        let shipped = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("schedule.cron")).unwrap();
        let every_minute: String = shipped
            .lines()
            .map(|l| {
                if l.split_whitespace().nth(6) == Some("outcomes") {
                    "0 * 9-16 * * Mon-Fri outcomes session=any".to_string()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let schedule = dir.join("schedule.cron");
        std::fs::write(&schedule, every_minute).unwrap();
        let state = dir.join("state.db");
        let stdout = replay(&dir, &tape, &schedule, Some(&state));
        SimDay { dir, tape, truth, schedule, stdout, state }
    })
}

/// `orakl replay --format jsonl TAPE` in `dir` with a clean environment.
pub fn replay(dir: &Path, tape: &Path, schedule: &Path, state: Option<&Path>) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_orakl"));
    cmd.current_dir(dir).env_clear().args(["replay", "--format", "jsonl"]).arg("--schedule").arg(schedule);
    // The rules' recall is measured without the hourly alert budget: on
    // rules that fire far more than a day's band the valve binds, and the
    // budget has tests of its own.
    for bot in orakl::job::Bot::ALL {
        cmd.env(format!("{}_MAX_ALERTS_PER_HOUR", bot.as_str().to_uppercase()), "0");
    }
    // The detection rules alone, every hit an alert: with episodes a hit
    // joining an open one is an update line (tests/it/episodes.rs).
    cmd.env("EPISODE_MINUTES", "0");
    if let Some(s) = state {
        cmd.arg("--state").arg(s);
    }
    let out = cmd.arg(tape).output().expect("run orakl replay");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}
