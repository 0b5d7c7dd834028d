//! Crash safety (SPEC §7, §11): the real binary replays a simulated tape
//! with `--post` into a persistent state file, posting every alert to a
//! loopback Discord, and is killed with SIGKILL at random instants, at
//! least 100 times, restarting each time; then one run finishes. Every
//! restart replays from the tape's start, so it meets the alerts already
//! committed again (deduplicated by id, held back by their persisted
//! cooldowns) and delivers what is still pending.
//!
//! Then: the database passes `integrity_check` and `foreign_key_check` after
//! every kill; every alert and cooldown of an uninterrupted reference run is
//! in it, and nothing else; every alert was posted; an alert was posted
//! twice only when a kill fell between Discord's 200 and the commit that
//! marks it sent (the post was the last one of a killed run), and those are
//! counted. The kills fall at random instants spread over the length of a
//! run; every third one waits for Discord's next answered post and strikes
//! right after it, which is where the duplicate window is. The seed is printed;
//! `ORAKL_CRASH_SEED=N` replays a schedule of kills.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::NaiveTime;
use orakl::simulate::{SimOptions, simulate};
use orakl::store::Store;

use crate::support::fake_http::{FakeServer, Recorded, Reply};

const KILLS: usize = 100;
const DEFAULT_SEED: u64 = 20_260_309;
const TOKEN: &str = "CRASHCANARYtoken-42";
const WEBHOOK_ID: &str = "223456789012345678";

/// The bots on their shipped cadence, plus the heartbeat (snapshot and
/// metrics writes happen under the kills too).
const TIMETABLE: &str = "\
0,15,30,45   * 9-15 * * Mon-Fri orakl_flow    session=regular
3,18,33,48   * 9-15 * * Mon-Fri sweeps        session=regular
6,21,36,51   * 9-15 * * Mon-Fri golden_sweeps session=regular
9,24,39,54   * 9-15 * * Mon-Fri bullseye      session=regular
12,27,42,57  * 9-15 * * Mon-Fri scalps        session=regular
30           * 9-15 * * Mon-Fri darkpool      session=extended
*/5          * 9-15 * * Mon-Fri market_prints session=regular
0            * *    * * *       heartbeat     session=any
";

/// Low thresholds so a short tape carries many alerts: more commits and
/// posts for the kills to land between.
const THRESHOLDS: &[(&str, &str)] = &[
    ("MIN_PREMIUM", "2000"),
    ("REPEAT_SIGNAL_THRESHOLD", "1"),
    ("ORAKL_FLOW_MIN_ITM_PROBABILITY", "0.3"),
    // Any hit repeats: the tape is short, and the test wants many alerts.
    ("ORAKL_FLOW_MIN_VOLUME_MULTIPLE", "0"),
    ("ORAKL_FLOW_MIN_DELTA_VOI", "0"),
    // Every doubling of a move posts: more posts to lose or repeat.
    ("EPISODE_ESCALATION_MINUTES", "0"),
    ("SWEEPS_MIN_PREMIUM", "5000"),
    ("MIN_SWEEP_SCORE", "30"),
    // The background's ISO prints land on one venue each: counted as
    // sweeps, the prints lane has orders to alert (and a cursor to keep).
    ("SWEEPS_MIN_EXCHANGES", "1"),
    ("GOLDEN_MIN_PREMIUM", "50000"),
    ("DARKPOOL_MIN_SIZE", "2000"),
];

/// splitmix64: a seeded generator for the kill schedule.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A run and the alert ids of one message it posted.
type Posted = (usize, Vec<String>);

/// A loopback Discord that answers every post 200 and tells the test, in
/// order, which run posted which alerts (a message carries one alert, or
/// several when a backlog is batched). Each run gets its own webhook token
/// (`...r{run}`), so a post that the server handles after its run was
/// killed is still counted for that run.
struct Discord {
    server: FakeServer,
    /// (run, the alert ids of one message) per answered post.
    posts: Arc<Mutex<Vec<Posted>>>,
    events: mpsc::Receiver<usize>,
}

impl Discord {
    fn start() -> Discord {
        let posts = Arc::new(Mutex::new(Vec::new()));
        let (tx, events) = mpsc::channel();
        let tx = Mutex::new(tx);
        let log = posts.clone();
        let server = FakeServer::start(move |req: &Recorded| {
            // An episode's edit (PATCH) changes a posted message: not a post.
            if req.method == "PATCH" {
                return Reply::json(200, r#"{"id":"1","channel_id":"1"}"#);
            }
            let ids = req.alert_ids();
            let run: usize = req.path().rsplit_once('r').and_then(|(_, n)| n.parse().ok()).unwrap_or(usize::MAX);
            let n = {
                let mut log = log.lock().unwrap();
                log.push((run, ids));
                log.len()
            };
            let _ = tx.lock().unwrap().send(run);
            Reply::json(200, format!(r#"{{"id":"77{n:016}","channel_id":"1"}}"#))
        });
        Discord { server, posts, events }
    }

    fn webhook(&self, run: usize) -> String {
        format!("{}/api/webhooks/{WEBHOOK_ID}/{TOKEN}r{run}", self.server.url())
    }

    /// Alert ids in the order their posts were answered.
    fn posts(&self) -> Vec<String> {
        self.posts.lock().unwrap().iter().flat_map(|(_, ids)| ids.clone()).collect()
    }

    /// The alert ids of each message a run posted, in order.
    fn posts_of(&self, run: usize) -> Vec<Vec<String>> {
        self.posts.lock().unwrap().iter().filter(|(r, _)| *r == run).map(|(_, ids)| ids.clone()).collect()
    }
}

struct Setup {
    dir: PathBuf,
    tape: PathBuf,
    schedule: PathBuf,
}

fn setup() -> Setup {
    // On tmpfs when there is one: SQLite's fsyncs (synchronous=FULL) cost
    // nothing there, and a killed process leaves the page cache exactly as a
    // disk would (only a power cut is different, and that is not this test).
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
    let dir = tempfile::Builder::new().prefix("orakl-crash-").tempdir_in(base).unwrap().keep();
    let tape = dir.join("crash.tape.jsonl");
    // Four minutes of two small chains: a run takes well under a second
    // in a debug build, so a hundred restarts stay quick.
    let opts = SimOptions {
        seed: 11,
        symbols: vec!["SPY".into(), "CSCO".into()],
        start: NaiveTime::from_hms_opt(12, 30, 0).unwrap(),
        minutes: 4,
        chain_scale: 0.3,
        ..SimOptions::default()
    };
    simulate(&opts, &tape, None).unwrap();
    let schedule = dir.join("schedule.cron");
    std::fs::write(&schedule, TIMETABLE).unwrap();
    Setup { dir, tape, schedule }
}

fn spawn(s: &Setup, db: &Path, webhook: &str, log: &Path) -> Child {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    Command::new(env!("CARGO_BIN_EXE_orakl"))
        .current_dir(&s.dir)
        .env_clear()
        .envs(THRESHOLDS.iter().copied())
        .env("DISCORD_WEBHOOK_URL", webhook)
        .env("METRICS_FILE", s.dir.join("orakl.prom"))
        .env("RUST_LOG", "info")
        .arg("--schedule")
        .arg(&s.schedule)
        .arg("--state")
        .arg(db)
        .args(["replay", "--post"])
        .arg(&s.tape)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start orakl replay")
}

/// Rows that must survive: alerts (id, bot, status) and cooldowns (what they
/// hold, and when they end).
fn dump(db: &Path) -> (BTreeMap<String, String>, BTreeMap<String, chrono::DateTime<chrono::Utc>>) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare("SELECT id, status FROM alerts ORDER BY id").unwrap();
    let alerts = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
    let mut stmt = conn
        .prepare("SELECT bot, key, until, coalesce(premium, -1), alert_id FROM cooldowns ORDER BY bot, key")
        .unwrap();
    let cooldowns = stmt
        .query_map([], |r| {
            let what = format!(
                "{} {} premium {} by {}",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, f64>(3)?,
                r.get::<_, String>(4)?
            );
            Ok((what, r.get::<_, String>(2)?.parse().unwrap()))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    (alerts, cooldowns)
}

fn assert_sound(db: &Path, when: &str) {
    let problems = Store::open(db).unwrap().integrity_check().unwrap();
    assert!(problems.is_empty(), "{when}: {problems:?}");
}

/// How one run ended.
#[derive(Debug)]
struct Run {
    killed: bool,
    /// Alert ids of the messages Discord answered 200 during the run, in
    /// order.
    posted: Vec<Vec<String>>,
}

#[test]
fn kill_9_at_random_instants_loses_nothing_and_duplicates_only_in_the_commit_window() {
    let seed = std::env::var("ORAKL_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(DEFAULT_SEED);
    println!("crash test seed {seed} (ORAKL_CRASH_SEED={seed} repeats this kill schedule)");
    let mut rng = Rng(seed);
    let s = setup();

    // The reference: one uninterrupted run.
    let reference_discord = Discord::start();
    let reference_db = s.dir.join("reference.db");
    let started = Instant::now();
    let status = spawn(&s, &reference_db, &reference_discord.webhook(0), &s.dir.join("reference.log")).wait().unwrap();
    let reference_wall = started.elapsed();
    assert!(status.success(), "{}", std::fs::read_to_string(s.dir.join("reference.log")).unwrap());
    let (ref_alerts, ref_cooldowns) = dump(&reference_db);
    let ref_posts = reference_discord.posts();
    assert!(ref_alerts.len() >= 10, "the tape should carry many alerts: {ref_alerts:?}");
    assert!(ref_alerts.values().all(|st| st == "sent"), "{ref_alerts:?}");
    assert_eq!(ref_posts.iter().collect::<BTreeSet<_>>(), ref_alerts.keys().collect::<BTreeSet<_>>());
    assert_eq!(ref_posts.len(), ref_alerts.len(), "the reference posts each alert once");

    // How long a run takes when it has (almost) nothing left to post: the
    // reference state replayed once more. Crash runs post only what is new,
    // so they take about this long too.
    let started = Instant::now();
    let quiet_discord = Discord::start();
    let status = spawn(&s, &reference_db, &quiet_discord.webhook(0), &s.dir.join("reference.log")).wait().unwrap();
    let quiet_wall = started.elapsed();
    assert!(status.success());
    assert!(quiet_discord.posts().is_empty(), "a replay of a finished state posts nothing again");

    // The crash runs. Kill k falls at a random instant of the k-th hundredth
    // of a run (stratified, so the kills cover the whole tape and each
    // restart gets a little further); every third kill instead waits for
    // the first post Discord answers after that instant and strikes right
    // after it, which is where the duplicate window is.
    let discord = Discord::start();
    let db = s.dir.join("crash.db");
    let log = s.dir.join("crash.log");
    let mut span_ms = quiet_wall.as_millis() as u64;
    let mut runs: Vec<Run> = Vec::new();
    let mut kills_timed = 0;
    let mut kills_on_post = 0;
    let mut finished_early = 0;
    while runs.iter().filter(|r| r.killed).count() < KILLS {
        assert!(finished_early <= 10 * KILLS, "runs keep finishing before their kill");
        let k = runs.iter().filter(|r| r.killed).count() as u64;
        let at = Duration::from_millis(span_ms * k / KILLS as u64 + rng.below(span_ms / KILLS as u64 + 1));
        let on_post = rng.below(3) == 0;
        let started = Instant::now();
        // An on-post kill that sees no post falls at the end of its stratum.
        let deadline = started + if on_post { at + Duration::from_millis(span_ms / 10 + 1) } else { at };
        let run = runs.len();
        let mut child = spawn(&s, &db, &discord.webhook(run), &log);
        let killed = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match discord.events.recv_timeout(left.min(Duration::from_millis(5))) {
                Ok(r) if r != run => {}
                Ok(_) => {
                    if on_post && started.elapsed() >= at {
                        child.kill().unwrap();
                        kills_on_post += 1;
                        break true;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if child.try_wait().unwrap().is_some() {
                        break false;
                    }
                    if Instant::now() >= deadline {
                        child.kill().unwrap();
                        kills_timed += 1;
                        break true;
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => unreachable!("the fake Discord outlives the runs"),
            }
        };
        let status = child.wait().unwrap();
        if !killed {
            assert!(status.success(), "a run ended by itself but failed: {status:?}");
            finished_early += 1;
            // The machine is slower or faster than the estimate said: a
            // run is never longer than one that just finished.
            // No floor near a run's length: late runs have little left to
            // do and may take less than 100 ms.
            span_ms = span_ms.min(started.elapsed().as_millis() as u64 * 9 / 10).max(1);
        }
        assert_sound(&db, &format!("after run {} (killed: {killed})", runs.len() + 1));
        runs.push(Run { killed, posted: Vec::new() });
    }

    // The last run finishes.
    let mut child = spawn(&s, &db, &discord.webhook(runs.len()), &log);
    let status = child.wait().unwrap();
    assert!(status.success(), "the final run failed: {status:?}");
    runs.push(Run { killed: false, posted: Vec::new() });
    // Every post counted for the run that made it, however late the fake
    // handled it.
    for (i, r) in runs.iter_mut().enumerate() {
        r.posted = discord.posts_of(i);
    }
    assert_sound(&db, "after the final run");

    let (alerts, cooldowns) = dump(&db);
    let posts = discord.posts();
    let mut times_posted: BTreeMap<&str, usize> = BTreeMap::new();
    for id in &posts {
        *times_posted.entry(id).or_default() += 1;
    }
    let lost: Vec<&String> = ref_alerts.keys().filter(|id| !alerts.contains_key(*id)).collect();
    let extra: Vec<&String> = alerts.keys().filter(|id| !ref_alerts.contains_key(*id)).collect();
    let unsent: Vec<(&String, &String)> = alerts.iter().filter(|(_, st)| *st != "sent").collect();
    let never_posted: Vec<&String> = alerts.keys().filter(|id| !times_posted.contains_key(id.as_str())).collect();
    let duplicates: Vec<(&str, usize)> =
        times_posted.iter().filter(|(_, n)| **n > 1).map(|(id, n)| (*id, *n)).collect();
    // A second post of an alert is explained only by a killed run whose last
    // answered post carried that alert: the kill fell between the 200 and
    // the commit (which marks a whole message's alerts at once).
    let window_kills: BTreeSet<&str> =
        runs.iter().filter(|r| r.killed).filter_map(|r| r.posted.last()).flatten().map(String::as_str).collect();
    let unexplained: Vec<&(&str, usize)> = duplicates.iter().filter(|(id, _)| !window_kills.contains(id)).collect();
    let window_hits = runs.iter().filter(|r| r.killed).filter(|r| r.posted.last().is_some()).count();
    let kills = runs.iter().filter(|r| r.killed).count();
    let batched = discord.posts.lock().unwrap().iter().filter(|(_, ids)| ids.len() > 1).count();

    println!(
        "crash test: seed {seed}, {kills} kills ({kills_timed} at random instants, \
         {kills_on_post} right after a post), {finished_early} runs finished before their kill, 1 final run; \
         reference run {} ms ({} ms with nothing to post), {} alerts; after the crashes {} alerts, {} posts \
         ({batched} messages of several alerts), {} duplicate posts \
         ({} alerts posted twice or more; {window_hits} of the killed runs had posted), {} lost, {} extra, \
         cooldowns {} (reference {})",
        reference_wall.as_millis(),
        quiet_wall.as_millis(),
        ref_alerts.len(),
        alerts.len(),
        posts.len(),
        posts.len() - times_posted.len(),
        duplicates.len(),
        lost.len(),
        extra.len(),
        cooldowns.len(),
        ref_cooldowns.len(),
    );
    assert!(lost.is_empty(), "alerts of the reference run lost: {lost:?}");
    assert!(extra.is_empty(), "alerts the reference run did not have: {extra:?}");
    assert!(unsent.is_empty(), "alerts left unsent: {unsent:?}");
    assert!(never_posted.is_empty(), "committed alerts never posted: {never_posted:?}");
    assert!(unexplained.is_empty(), "duplicates outside the commit window: {unexplained:?}");
    assert_eq!(
        cooldowns.keys().collect::<Vec<_>>(),
        ref_cooldowns.keys().collect::<Vec<_>>(),
        "every cooldown of the reference run, and only those"
    );
    // A restarted replay skips requests its earlier runs already answered
    // for (a sweep confirmation behind an existing cooldown), so its
    // simulated clock can reach the same commit a few token waits earlier:
    // the same cooldown, ending up to that much sooner or later.
    for (what, until) in &cooldowns {
        let drift = (*until - ref_cooldowns[what]).num_milliseconds().abs();
        assert!(drift <= 2_000, "{what}: ends {until}, the reference's {} ({drift} ms apart)", ref_cooldowns[what]);
    }

    // The canary webhook token reached no log, no state and no metrics.
    for file in [log, s.dir.join("crash.db-wal"), db, s.dir.join("orakl.prom")] {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(!String::from_utf8_lossy(&bytes).contains(TOKEN), "{} holds the webhook token", file.display());
    }
    let _ = std::fs::remove_dir_all(&s.dir);
}
