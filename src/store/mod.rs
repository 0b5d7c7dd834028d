//! The SQLite state: the alert outbox, cooldowns, outcomes, cursors,
//! open-interest history, run records, processing errors, retired webhooks
//! and disabled API features.
//!
//! This is the only module that contains SQL, and it never reads the clock:
//! every write that records a time takes `now`. Times are stored as RFC 3339
//! UTC text with millisecond precision and a `Z` (`2025-10-22T14:30:05.000Z`),
//! so comparing the text compares the instants and SQL can filter on them.
//! Precision below a millisecond is dropped.
//!
//! Reads take `&self`, writes take `&mut self`.

mod entry;
mod episodes;
mod flow_history;
mod lock;
mod migrations;
mod ops;
mod outbox;
mod outcomes;
mod records;
mod retention;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ValueRef};
use rusqlite::{Connection, ErrorCode, OpenFlags};

pub use entry::{AlertStatus, OutboxEntry};
pub use episodes::{Joined, UpdateEntry};
pub use lock::{Holder, InstanceLock, LockError};
pub use migrations::SCHEMA_VERSION;
pub use ops::{Settled, Undelivered};
pub use outbox::{Cooldown, CooldownSet, OutboxCounts};
pub use outcomes::{AlertOutcome, OutcomeRecord};
pub use records::{Disabled, ProcessingError, RunRecord, RunResult};
pub use retention::Pruned;

/// Where the state lives unless `STATE_DB_PATH` says otherwise.
pub const DEFAULT_PATH: &str = "state/bot_state.db";

/// Long enough for a concurrent `orakl status` or `orakl backup` to finish
/// its read, short enough that a stuck lock surfaces as an error.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create directory {dir} for the state database: {cause}")]
    CreateDir { dir: PathBuf, cause: io::Error },
    #[error("cannot open state database {path}: {cause}")]
    Open { path: PathBuf, cause: rusqlite::Error },
    #[error("{path} is not a sqlite database (point STATE_DB_PATH elsewhere or move the file away)")]
    NotADatabase { path: PathBuf },
    #[error(
        "state database {path} has schema version {found}, but this build knows versions 0 to {known}; \
         refusing to use it (run the orakl that wrote it, or restore a backup)"
    )]
    UnknownVersion { path: PathBuf, found: i64, known: i64 },
    #[error(
        "state database {path} has schema version {found}, older than this build's {known}; a read-only \
         command cannot migrate it (the service does when it starts)"
    )]
    NotMigrated { path: PathBuf, found: i64, known: i64 },
    #[error("state database {path}: cannot switch to wal journal mode (still {mode})")]
    NoWal { path: PathBuf, mode: String },
    #[error("state database {path}: migration to schema version {version} failed: {cause}")]
    Migrate { path: PathBuf, version: i64, cause: rusqlite::Error },
    #[error("state database {path}: {op}: {cause}")]
    Sql { path: PathBuf, op: &'static str, cause: rusqlite::Error },
    #[error("state database {path}: alert {id}: bad json payload: {cause}")]
    Payload { path: PathBuf, id: String, cause: serde_json::Error },
    #[error("state database {path}: {op}: no alert with id {id}")]
    UnknownAlert { path: PathBuf, op: &'static str, id: String },
    #[error("state database {path}: {op}: alert {id} is {status}, not pending")]
    NotPending { path: PathBuf, op: &'static str, id: String, status: AlertStatus },
    #[error("refusing to back up state database {path} onto itself ({dest})")]
    BackupOntoLive { path: PathBuf, dest: PathBuf },
    #[error("backup of state database {path} to {dest} failed: {cause}")]
    Backup { path: PathBuf, dest: PathBuf, cause: String },
}

impl StoreError {
    /// SQLite only notices a foreign file at its first read, so every step
    /// of opening goes through here to report that case by name.
    fn opening(path: &Path, cause: rusqlite::Error) -> StoreError {
        if cause.sqlite_error_code() == Some(ErrorCode::NotADatabase) {
            StoreError::NotADatabase { path: path.to_path_buf() }
        } else {
            StoreError::Open { path: path.to_path_buf(), cause }
        }
    }
}

/// Maps a SQLite error of operation `op` into a [`StoreError`] naming the file.
fn sql_error<'a>(path: &'a Path, op: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + 'a {
    move |cause| StoreError::Sql { path: path.to_path_buf(), op, cause }
}

/// The connection settings as SQLite reports them, for `orakl health` and
/// for tests that must not take the settings on trust.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pragmas {
    /// `wal` once opened.
    pub journal_mode: String,
    /// `off`, `normal`, `full` or `extra`.
    pub synchronous: String,
    pub foreign_keys: bool,
    pub busy_timeout_ms: i64,
}

/// The state database. One process delivers and scans with a file (it
/// holds its [`InstanceLock`]); others read it through
/// [`Store::open_read_only`], and SQLite's locks keep those reads safe.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and migrates it
    /// forward to [`SCHEMA_VERSION`].
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|cause| StoreError::CreateDir { dir: dir.to_path_buf(), cause })?;
        }
        let opening = |cause| StoreError::opening(path, cause);
        let mut conn = Connection::open(path).map_err(opening)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(opening)?;
        // Read the version before any pragma writes to the file, so a file
        // from a newer build (or not a database at all) is left untouched.
        let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(opening)?;
        migrations::check_version(path, found)?;
        // Before the first write to a new file (switching it to WAL is one),
        // so a new file is made in this mode rather than vacuumed into it.
        retention::ensure_incremental_vacuum(&conn, path)?;
        let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)).map_err(opening)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::NoWal { path: path.to_path_buf(), mode });
        }
        // FULL in WAL mode syncs the log on every commit: writes are rare
        // here, and a power cut must not lose a committed alert.
        conn.pragma_update(None, "synchronous", "FULL").map_err(opening)?;
        conn.pragma_update(None, "foreign_keys", true).map_err(opening)?;
        migrations::run(&mut conn, path)?;
        Ok(Store { conn, path: path.to_path_buf() })
    }

    /// Opens the existing database at `path` for reading only, for the
    /// commands that report on a state a service may be using (`status`,
    /// `health`, `report`, `export`, `backup`): nothing is migrated, no
    /// pragma is written, and a user who cannot write the file or its
    /// directory can still read it.
    ///
    /// With a `-wal` file present (a service running, or one that crashed)
    /// the read goes through it. Without one there is nothing beyond the
    /// file itself, and it is opened `immutable`: a plain read-only open
    /// would create `-wal` and `-shm` files (owned by whoever ran the
    /// command, so the service's user might not write them later), or fail
    /// in a directory the reader cannot write. SQLite documents both cases
    /// in "Read-Only Databases" (<https://sqlite.org/wal.html#readonly>).
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        let opening = |cause| StoreError::opening(path, cause);
        let query = if with_suffix(path, "-wal").exists() { "mode=ro" } else { "mode=ro&immutable=1" };
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(file_uri(path, query), flags).map_err(opening)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(opening)?;
        let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(opening)?;
        migrations::check_version(path, found)?;
        if found < SCHEMA_VERSION {
            return Err(StoreError::NotMigrated { path: path.to_path_buf(), found, known: SCHEMA_VERSION });
        }
        Ok(Store { conn, path: path.to_path_buf() })
    }

    /// For a state nobody keeps (a replay's temporary file): commits are
    /// not synced to the disk (a replay commits thousands of times in
    /// seconds of wall time; syncing each would be most of its time), and
    /// the page cache is small.
    pub fn scratch(&self) -> Result<(), StoreError> {
        let opening = |cause| StoreError::opening(&self.path, cause);
        self.conn.pragma_update(None, "synchronous", "OFF").map_err(opening)?;
        // A quarter of SQLite's default page cache (2 MiB): the file is
        // small and in the OS's cache anyway, and a replay counts its memory.
        self.conn.pragma_update(None, "cache_size", -512).map_err(opening)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One small write (a row of its own in `cursors`), to learn whether the
    /// database can be written again after a write failed (a full disk).
    pub fn probe_write(&mut self, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO cursors (name, value, updated_at) VALUES ('store_write_probe', '', ?1)
                 ON CONFLICT (name) DO UPDATE SET updated_at = excluded.updated_at",
            )
            .and_then(|mut stmt| stmt.execute([ts(now)]))
            .map(drop)
            .map_err(sql_error(&self.path, "probe write"))
    }

    /// The schema version recorded in the file (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(sql_error(&self.path, "read schema version"))
    }

    pub fn pragmas(&self) -> Result<Pragmas, StoreError> {
        let fail = sql_error(&self.path, "read pragmas");
        let journal_mode: String = self.conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).map_err(&fail)?;
        let synchronous: i64 = self.conn.pragma_query_value(None, "synchronous", |r| r.get(0)).map_err(&fail)?;
        let foreign_keys: bool = self.conn.pragma_query_value(None, "foreign_keys", |r| r.get(0)).map_err(&fail)?;
        let busy_timeout_ms: i64 = self.conn.pragma_query_value(None, "busy_timeout", |r| r.get(0)).map_err(&fail)?;
        let synchronous = match synchronous {
            0 => "off".to_string(),
            1 => "normal".to_string(),
            2 => "full".to_string(),
            3 => "extra".to_string(),
            n => n.to_string(),
        };
        Ok(Pragmas { journal_mode: journal_mode.to_lowercase(), synchronous, foreign_keys, busy_timeout_ms })
    }

    /// Problems reported by `PRAGMA integrity_check` and
    /// `PRAGMA foreign_key_check`; empty means the file is sound.
    pub fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        let fail = sql_error(&self.path, "integrity check");
        let mut problems = Vec::new();
        let mut stmt = self.conn.prepare("PRAGMA integrity_check").map_err(&fail)?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(&fail)?;
        for row in rows {
            let line = row.map_err(&fail)?;
            if line != "ok" {
                problems.push(line);
            }
        }
        let mut stmt = self.conn.prepare("PRAGMA foreign_key_check").map_err(&fail)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?, r.get::<_, String>(2)?)))
            .map_err(&fail)?;
        for row in rows {
            let (table, rowid, parent) = row.map_err(&fail)?;
            // WITHOUT ROWID tables report no rowid.
            let row = rowid.map_or_else(|| format!("a {table} row"), |n| format!("{table} row {n}"));
            problems.push(format!("foreign key: {row} refers to a missing {parent} row"));
        }
        Ok(problems)
    }

    /// Writes a consistent copy of the live database to `dest` with SQLite's
    /// online backup API. Copying the file itself is not a backup: committed
    /// data may still sit in the `-wal` file. The copy is built beside `dest`
    /// and renamed into place, so `dest` is never a half-written file.
    pub fn backup_to(&self, dest: &Path) -> Result<(), StoreError> {
        if self.is_live_file(dest) {
            return Err(StoreError::BackupOntoLive { path: self.path.clone(), dest: dest.to_path_buf() });
        }
        let fail = |cause: String| StoreError::Backup { path: self.path.clone(), dest: dest.to_path_buf(), cause };
        if let Some(dir) = dest.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        }
        let partial = with_suffix(dest, ".partial");
        remove_if_present(&partial).map_err(|e| fail(e.to_string()))?;
        if let Err(cause) = self.copy_into(&partial) {
            // The partial file is worthless; a failure to remove it changes nothing for the caller.
            let _ = remove_if_present(&partial);
            return Err(fail(cause));
        }
        fs::rename(&partial, dest).map_err(|e| fail(e.to_string()))
    }

    fn copy_into(&self, partial: &Path) -> Result<(), String> {
        let mut out = Connection::open(partial).map_err(|e| e.to_string())?;
        {
            let backup = Backup::new(&self.conn, &mut out).map_err(|e| e.to_string())?;
            // All pages in one step: the copy is consistent without retries,
            // and nothing here sleeps.
            match backup.step(-1).map_err(|e| e.to_string())? {
                StepResult::Done => {}
                _ => {
                    return Err("the database was busy; try again".to_string());
                }
            }
        }
        // The copied header says WAL; a backup is a single file at rest.
        out.pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get::<_, String>(0))
            .map_err(|e| e.to_string())?;
        out.close().map_err(|(_, e)| e.to_string())
    }

    /// Whether `dest` names the live database or one of its side files,
    /// following symlinks and relative paths.
    fn is_live_file(&self, dest: &Path) -> bool {
        let Some(dest) = canonical(dest) else { return false };
        ["", "-wal", "-shm", "-journal"]
            .iter()
            .filter_map(|suffix| canonical(&with_suffix(&self.path, suffix)))
            .any(|live| live == dest)
    }
}

/// The canonical form of `path`, or of its directory joined with its file
/// name when the file does not exist yet.
fn canonical(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = path.canonicalize() {
        return Some(p);
    }
    let name = path.file_name()?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Some(dir.canonicalize().ok()?.join(name))
}

/// A SQLite `file:` URI for `path` with `query`. Every byte outside the
/// unreserved set is percent-encoded, so `?`, `#` and `%` in a file name
/// stay part of the name.
fn file_uri(path: &Path, query: &str) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut uri = String::from("file:");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'.' | b'_' | b'~') {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push('?');
    uri.push_str(query);
    uri
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The stored text of an instant; see the module docs.
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An instant read back from its stored text.
struct Ts(DateTime<Utc>);

impl FromSql for Ts {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let text = value.as_str()?;
        DateTime::parse_from_rfc3339(text)
            .map(|t| Ts(t.with_timezone(&Utc)))
            .map_err(|e| FromSqlError::Other(format!("bad time {text:?}: {e}").into()))
    }
}

/// Free text from the outside world (HTTP bodies, error chains) is cut to
/// this many characters so one bad response cannot bloat the file.
const MAX_TEXT_CHARS: usize = 2000;

fn bounded(text: &str) -> &str {
    match text.char_indices().nth(MAX_TEXT_CHARS) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}
