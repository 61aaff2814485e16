//! Where a written file goes: never onto an input (same device and inode,
//! whatever the path), and only complete — written under a temporary name
//! in the same directory, synced, then renamed over the target, so a crash
//! or an error leaves the old file (or none) and never a partial one.

use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

/// (device, inode) of an existing file; `None` when it does not exist.
#[cfg(unix)]
fn identity(p: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
fn identity(p: &Path) -> Option<(u64, u64)> {
    fs::canonicalize(p).ok().map(|c| {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        c.hash(&mut h);
        (0, h.finish())
    })
}

/// Refuses an output that is one of the inputs (through any path, link or
/// hard link).
pub fn check_not_input(output: &Path, inputs: &[PathBuf]) -> Result<(), String> {
    let Some(out) = identity(output) else {
        return Ok(());
    };
    for i in inputs {
        if identity(i) == Some(out) {
            return Err(format!(
                "the output {} is the input {}: refusing to overwrite an input",
                output.display(),
                i.display()
            ));
        }
    }
    Ok(())
}

/// A file being written under a temporary name; [`TempFile::commit`]
/// renames it into place, dropping it uncommitted removes it.
pub struct TempFile {
    tmp: PathBuf,
    target: PathBuf,
    done: bool,
}

impl TempFile {
    /// Creates `.NAME.tmp-PID` next to `target`.
    pub fn create(target: &Path) -> io::Result<(TempFile, BufWriter<File>)> {
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = target.file_name().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "the output has no file name")
        })?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".tmp-{}", std::process::id()));
        let tmp = dir.join(tmp_name);
        let f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        Ok((
            TempFile {
                tmp,
                target: target.to_path_buf(),
                done: false,
            },
            // Small: the writers hand over megabyte pieces, which a buffer at
            // most this size passes straight through instead of copying.
            BufWriter::with_capacity(super::emit::DIRECT, f),
        ))
    }

    /// Syncs the finished file and renames it over the target.
    pub fn commit(mut self, file: File) -> io::Result<()> {
        file.sync_all()?;
        drop(file);
        fs::rename(&self.tmp, &self.target)?;
        self.done = true;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}
