//! One process delivers and scans per state database (SPEC §11).
//!
//! Two services on one file post the same alerts twice: each commits and
//! delivers what it detects, and SQLite's own locks only keep single writes
//! apart. So a process that delivers or scans first takes an exclusive
//! advisory lock (`flock`) on a file beside the database,
//! `<database>.lock`, and keeps it until it exits. The kernel drops the lock
//! with the process however it ends — a `kill -9` or a crash included — so a
//! stale lock never blocks a restart, and there is no PID file to clean up.
//! The holder writes its PID into the file so the refused process can name
//! it. Commands that only read (`status`, `health`, `report`, `export`,
//! `backup`) never take it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The exclusive right to deliver and scan with one state database; held
/// until dropped (or the process ends).
#[derive(Debug)]
pub struct InstanceLock {
    /// Closing the file releases the lock.
    _file: File,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "state database {db} is in use by another orakl process ({holder}; lock file {lock}): one process \
         delivers and scans per state file; stop it first or give this one its own --state \
         (status, health, report, export and backup work beside it)"
    )]
    Held { db: PathBuf, lock: PathBuf, holder: Holder },
    #[error("cannot lock state database {db} (lock file {lock}): {cause}")]
    Io { db: PathBuf, lock: PathBuf, cause: io::Error },
}

/// Who holds a lock, as far as its file says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    Pid(u32),
    /// The holder has not written its PID yet (it took the lock a moment ago).
    Unknown,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Holder::Pid(pid) => write!(f, "PID {pid}"),
            Holder::Unknown => f.write_str("PID not yet written"),
        }
    }
}

impl InstanceLock {
    /// Takes the lock of the database at `db` without waiting: another
    /// holder is an error naming it.
    pub fn acquire(db: &Path) -> Result<InstanceLock, LockError> {
        let path = lock_path(db);
        let io_error = |cause| LockError::Io { db: db.to_path_buf(), lock: path.clone(), cause };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(io_error)?;
        }
        // Never truncated on open: the holder's PID must survive a refused
        // process opening the file.
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io_error)?;
        if let Err(cause) = try_lock_exclusive(&file) {
            if cause.kind() == io::ErrorKind::WouldBlock {
                return Err(LockError::Held {
                    db: db.to_path_buf(),
                    lock: path.clone(),
                    holder: read_holder(&mut file),
                });
            }
            return Err(io_error(cause));
        }
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "{}", std::process::id()))
            .and_then(|()| file.flush())
            .map_err(io_error)?;
        Ok(InstanceLock { _file: file })
    }
}

/// `<database>.lock`, beside the database (the state directory is the one
/// place the service may write).
fn lock_path(db: &Path) -> PathBuf {
    super::with_suffix(db, ".lock")
}

/// `flock(LOCK_EX | LOCK_NB)`: the lock belongs to the open file, so it
/// lasts while the file is open and no child process inherits it (std opens
/// files close-on-exec). (`File::try_lock` does the same from Rust 1.89,
/// newer than this crate's minimum.)
fn try_lock_exclusive(file: &File) -> io::Result<()> {
    // SAFETY: flock takes a descriptor that `file` owns and keeps open for
    // the call, and no memory.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

fn read_holder(file: &mut File) -> Holder {
    let mut text = String::new();
    // Only the first line matters and it is short; a longer file is not ours.
    let read = file.rewind().and_then(|()| Read::by_ref(file).take(64).read_to_string(&mut text));
    match read {
        Ok(_) => text.trim().parse().map_or(Holder::Unknown, Holder::Pid),
        Err(_) => Holder::Unknown,
    }
}
