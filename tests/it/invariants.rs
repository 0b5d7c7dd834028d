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

#[test]
fn only_the_clock_reads_the_os_clock_or_sleeps() {
    let found = offenders(
        &["Instant::now", "SystemTime::now", "Utc::now", "Local::now", "thread::sleep", "UNIX_EPOCH.elapsed"],
        &["clock.rs"],
    );
    assert!(found.is_empty(), "clock reads outside src/clock.rs:\n{}", found.join("\n"));
}

#[test]
fn only_the_http_module_names_ureq() {
    let found = offenders(&["ureq::"], &["http.rs"]);
    assert!(found.is_empty(), "ureq outside src/http.rs:\n{}", found.join("\n"));
}

#[test]
fn only_the_store_contains_sql() {
    let found = offenders(&["rusqlite", "SELECT ", "INSERT INTO", "CREATE TABLE", "PRAGMA "], &[]);
    let outside: Vec<_> = found.into_iter().filter(|l| !l.starts_with("src/store")).collect();
    assert!(outside.is_empty(), "SQL outside src/store:\n{}", outside.join("\n"));
}
