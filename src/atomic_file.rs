//! Files replaced whole: a reader (a metrics scraper, a script reading an
//! export) sees the old file or the new one, never a mix.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` through a temporary file in the same directory
/// (a rename across file systems is not atomic), synced, then renamed over
/// the target. The temporary name starts with a dot so collectors that read
/// `*.prom` (or any glob of visible names) never pick it up.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_inner(path, bytes, None)
}

/// [`write`] with the file's permission bits set to `mode`, which the
/// process's umask cannot narrow (a file another user must read).
pub fn write_mode(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    write_inner(path, bytes, Some(mode))
}

fn write_inner(path: &Path, bytes: &[u8], mode: Option<u32>) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "file".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        if let Some(mode) = mode {
            use std::os::unix::fs::PermissionsExt as _;
            f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        // The temporary file is worthless; failing to remove it changes nothing.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_replaces_the_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orakl.prom");
        write(&path, b"one\n").unwrap();
        write(&path, b"two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
        let names: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        assert_eq!(names, ["orakl.prom"]);
    }
}
