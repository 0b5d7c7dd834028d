//! Architecture rules written down as absences, checked by reading `src/`.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Lines of `src/` (outside `allowed` files) that mention any of `needles`,
/// ignoring comment lines.
fn offenders(needles: &[&str], allowed: &[&str]) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/");
        if allowed.contains(&rel.as_str()) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            if needles.iter().any(|n| code.contains(n)) {
                out.push(format!("src/{rel}:{}: {}", i + 1, line.trim()));
            }
        }
    }
    out
}

/// Files of `src/` whose path starts with one of `prefixes`, as paths
/// relative to `src/`.
fn files_under(prefixes: &[&str]) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut out: Vec<String> = files
        .iter()
        .map(|f| f.strip_prefix(&src).unwrap().to_string_lossy().replace('\\', "/"))
        .filter(|rel| prefixes.iter().any(|p| rel.starts_with(p)))
        .collect();
    out.sort();
    out
}

/// Code lines (not comments, not `#[cfg(test)]` modules) of `src/<rel>`.
fn code_lines(rel: &str) -> Vec<(usize, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(rel);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let code = line.trim_start();
        // Unit tests sit at the end of a file; what follows is not shipped.
        if code.starts_with("#[cfg(test)]") {
            break;
        }
        if code.starts_with("//") {
            continue;
        }
        out.push((i + 1, line.trim().to_string()));
    }
    out
}

#[test]
fn only_the_clock_reads_the_os_clock_or_sleeps() {
    let found = offenders(
        &[
            "Instant::now",
            "SystemTime::now",
            "Utc::now",
            "Local::now",
            "thread::sleep",
            "UNIX_EPOCH.elapsed",
            "wait_timeout",
            "recv_timeout",
            "park_timeout",
        ],
        &["clock.rs"],
    );
    assert!(found.is_empty(), "clock reads outside src/clock.rs:\n{}", found.join("\n"));
}

#[test]
fn only_the_http_module_names_ureq() {
    let found = offenders(&["ureq::"], &["http.rs"]);
    assert!(found.is_empty(), "ureq outside src/http.rs:\n{}", found.join("\n"));
}

/// SQL in a line, in either case: `rusqlite`, the statements' keywords,
/// and `SELECT … FROM` / `UPDATE … SET` shapes (the bare words are English).
fn is_sql(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    ["rusqlite", "insert into", "delete from", "create table", "drop table", "alter table", "pragma "]
        .iter()
        .any(|k| l.contains(k))
        || (l.contains("select ") && l.contains(" from "))
        || (l.contains("update ") && l.contains(" set "))
}

#[test]
fn the_sql_needle_finds_every_statement() {
    for sql in [
        "SELECT id FROM alerts",
        "select id from alerts",
        "UPDATE outbox SET status = 'sent'",
        "update outbox set status = 'sent'",
        "DELETE FROM runs WHERE",
        "delete from runs",
        "INSERT INTO alerts",
        "pragma user_version",
        "use rusqlite::Connection;",
    ] {
        assert!(is_sql(sql), "{sql}");
    }
    for prose in ["select the best", "an update of the cursor", "deleted from the cache"] {
        assert!(!is_sql(prose), "{prose}");
    }
}

#[test]
fn only_the_store_contains_sql() {
    let mut outside = Vec::new();
    for rel in files_under(&[""]) {
        if rel.starts_with("store") {
            continue;
        }
        for (n, line) in code_lines(&rel) {
            if is_sql(&line) {
                outside.push(format!("src/{rel}:{n}: {line}"));
            }
        }
    }
    assert!(outside.is_empty(), "SQL outside src/store:\n{}", outside.join("\n"));
}

/// The pure core: the detection engine and everything it runs. None of it
/// names an IO crate or module; the shell (service, store, polygon client,
/// discord, cli, replay) does the IO.
const CORE: &[&str] = &[
    "engine/",
    "bots/",
    "flow.rs",
    "cache.rs",
    "scan.rs",
    "outcomes.rs",
    "indicators.rs",
    "strat.rs",
    "bars.rs",
    "calendar.rs",
    "schedule.rs",
    "alert.rs",
    "job.rs",
];

/// Documented exceptions: (file, needle, why).
const CORE_EXCEPTIONS: &[(&str, &str, &str)] =
    &[("schedule.rs", "std::fs", "`Timetable::load` reads the timetable file; parsing and the arithmetic are pure")];

#[test]
fn the_core_does_no_io() {
    let needles = [
        "ureq",
        "rusqlite",
        "std::fs",
        "std::net",
        "std::thread",
        "thread::spawn",
        "std::io::stdout",
        "std::process",
        "crate::store",
        "crate::http",
        "crate::discord::Sender",
        "polygon::Client",
        "Instant::now",
        "SystemTime::now",
        "Utc::now",
        "Local::now",
        "thread::sleep",
        "SystemClock",
    ];
    let files = files_under(CORE);
    assert!(files.iter().any(|f| f.starts_with("engine/")), "the engine is part of the core: {files:?}");
    let mut found = Vec::new();
    for rel in &files {
        for (n, line) in code_lines(rel) {
            for needle in needles {
                let excused = CORE_EXCEPTIONS.iter().any(|(f, x, _)| f == rel && *x == needle);
                if line.contains(needle) && !excused {
                    found.push(format!("src/{rel}:{n}: {line}"));
                }
            }
        }
    }
    assert!(found.is_empty(), "IO in the core:\n{}", found.join("\n"));
}

/// Files that may name `HashMap`/`HashSet`, and why no iteration order of
/// theirs reaches output. Anything else uses `BTreeMap`/`BTreeSet`.
const HASHED: &[(&str, &str)] = &[
    ("cache.rs", "the volume cache's tables are only looked up and swept, never listed"),
    ("replay/", "the replay's lookup tables answer requests by key; what they list is sorted first"),
];

#[test]
fn no_hash_map_order_reaches_output() {
    let mut found = Vec::new();
    for rel in files_under(&[""]) {
        if HASHED.iter().any(|(p, _)| rel.starts_with(p)) {
            continue;
        }
        for (n, line) in code_lines(&rel) {
            if line.contains("HashMap") || line.contains("HashSet") {
                found.push(format!("src/{rel}:{n}: {line}"));
            }
        }
    }
    assert!(found.is_empty(), "hashed collections outside the allow-list (use BTreeMap):\n{}", found.join("\n"));
}

/// Where threads are started, and why.
const THREADS: &[(&str, &str)] = &[
    ("cli/mod.rs", "the signal handler of the one-shot commands"),
    ("service/signals.rs", "the service's signal handler (SIGTERM, SIGINT, SIGHUP)"),
    ("record.rs", "the tape writer behind a bounded channel"),
    ("replay/", "the tape reader and prefetch threads of a replay"),
];

#[test]
fn threads_start_only_where_listed() {
    let mut found = Vec::new();
    for rel in files_under(&[""]) {
        if THREADS.iter().any(|(p, _)| rel.starts_with(p)) {
            continue;
        }
        for (n, line) in code_lines(&rel) {
            if ["thread::spawn", "thread::Builder", "thread::scope", ".spawn("].iter().any(|k| line.contains(k)) {
                found.push(format!("src/{rel}:{n}: {line}"));
            }
        }
    }
    assert!(found.is_empty(), "threads started outside the allow-list:\n{}", found.join("\n"));
}

/// The CLI owns exit codes and `Failure`; nothing below it names the CLI,
/// so there is no cycle between `cli` and `service`.
#[test]
fn nothing_below_the_cli_names_it() {
    let mut found = Vec::new();
    for rel in files_under(&[""]) {
        if rel.starts_with("cli/") || rel == "main.rs" {
            continue;
        }
        for (n, line) in code_lines(&rel) {
            if line.contains("crate::cli") || line.contains("cli::Failure") {
                found.push(format!("src/{rel}:{n}: {line}"));
            }
        }
    }
    assert!(found.is_empty(), "the CLI named below it:\n{}", found.join("\n"));
}

/// The code map at the top of src/lib.rs names every module.
#[test]
fn the_code_map_names_every_module() {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let map: String = lib.lines().filter(|l| l.starts_with("//!")).collect::<Vec<_>>().join("\n");
    let missing: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod ")?.strip_suffix(';'))
        .filter(|m| !map.contains(&format!("`{m}`")))
        .collect();
    assert!(missing.is_empty(), "src/lib.rs's code map does not name {missing:?}");
}
