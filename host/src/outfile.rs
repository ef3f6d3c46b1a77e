//! Files the host writes for the operator (lock files, reports): written
//! whole or not at all (a temporary file renamed into place, so an
//! interrupted write never leaves half a file), and never over a file the
//! host did not write itself.

use anyhow::{bail, Context, Result};
use std::io::{Read, Write};
use std::path::Path;

/// Writes `contents` to `path` through a temporary file in the same
/// directory, synced, then renamed over `path`.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<()> {
    write(path, contents, true)
}

/// Writes `contents` to a new file `path` the same way, and refuses if
/// `path` exists, even if it appears while this writes (the rename itself
/// refuses to replace): a report is never written over another file.
pub fn write_new(path: &Path, contents: &[u8]) -> Result<()> {
    write(path, contents, false)
}

/// A short write is retried, and a failed write, sync or rename is an
/// error; the directory is synced after the rename, so that a file said to
/// be written survives a crash. On any error the temporary file is removed.
fn write(path: &Path, contents: &[u8], replace: bool) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new().prefix(".host-write-").tempfile_in(dir).with_context(|| {
        format!("cannot write {}: cannot create a temporary file in {}", path.display(), dir.display())
    })?;
    tmp.write_all(contents)
        .and_then(|_| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    let persisted = if replace { tmp.persist(path) } else { tmp.persist_noclobber(path) };
    persisted.map_err(|e| e.error).with_context(|| {
        if replace {
            format!("cannot write {}", path.display())
        } else {
            format!("cannot write {} (it must not exist yet)", path.display())
        }
    })?;
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync the directory {} after writing {}", dir.display(), path.display()))?;
    Ok(())
}

/// Refuses to replace `path` unless it is missing or a file that starts
/// with `header` (one the host wrote); `what` names the kind of file.
pub fn refuse_foreign(path: &Path, header: &str, what: &str) -> Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot check {}", path.display())),
        Ok(m) => m,
    };
    if !meta.is_file() {
        bail!("refusing to write the {what} {}: it exists and is not a plain file", path.display());
    }
    let mut start = vec![0; header.len()];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut start))
        .with_context(|| format!("cannot read {}", path.display()))?;
    if n < header.len() || start != header.as_bytes() {
        bail!(
            "refusing to overwrite {}: it is not a {what} written by host (it would be destroyed); name a new file",
            path.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_its_own_file_and_refuses_any_other() {
        let dir = tempfile::tempdir().unwrap();
        let own = dir.path().join("a.lock");
        refuse_foreign(&own, "# host", "lock file").unwrap();
        write_atomic(&own, b"# host lock\n").unwrap();
        refuse_foreign(&own, "# host", "lock file").unwrap();
        let plugin = dir.path().join("gate.wasm");
        std::fs::write(&plugin, b"\0asm\x0d\0\x01\0").unwrap();
        let e = refuse_foreign(&plugin, "# host", "lock file").unwrap_err().to_string();
        assert!(e.contains("gate.wasm") && e.contains("not a lock file"), "{e}");
        let e = refuse_foreign(dir.path(), "# host", "lock file").unwrap_err().to_string();
        assert!(e.contains("not a plain file"), "{e}");
        // Nothing but the two files: no temporary file left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
    }

    #[test]
    fn a_new_file_is_never_written_over_one_that_exists() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.md");
        write_new(&path, b"first").unwrap();
        let e = format!("{:#}", write_new(&path, b"second").unwrap_err());
        assert!(e.contains("report.md (it must not exist yet)"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), b"first");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "a temporary file was left behind");
    }
}
