//! Output files that can never destroy an input.
//!
//! Two rules, shared by every command:
//!
//! 1. [`check`]: no written path may be one of the inputs (or another
//!    output). Files are compared by device and inode, so a symlink or a
//!    hard link to the input counts as the input: `rdbkit json X.rdb -o
//!    X.rdb` would otherwise truncate the memory-mapped input and die of
//!    SIGBUS with the data gone.
//! 2. [`AtomicFile`]: a file output is written under a temporary name in
//!    the same directory and renamed over the real name only once complete,
//!    so a failed or interrupted run never leaves a truncated file that looks
//!    finished (nor clobbers a previous good one).

use std::fmt;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::compress::{Encoder, Format};

/// A written path that is also an input (or another output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SamePathError {
    /// The option that names the output (`-o`, `--html`, ...).
    pub option: String,
    pub output: PathBuf,
    /// What it collides with: `the input X` or `--failed Y`.
    pub other: String,
}

impl fmt::Display for SamePathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: is the same file as {}; refusing to overwrite it (choose another path)",
            self.option,
            self.output.display(),
            self.other
        )
    }
}

impl std::error::Error for SamePathError {}

/// Device and inode of an existing file (`None` if it does not exist or is
/// standard input, `-`).
fn identity(p: &Path) -> Option<(u64, u64)> {
    if p.as_os_str() == "-" {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        std::fs::canonicalize(p).ok().map(|c| {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            c.hash(&mut h);
            (0, h.finish())
        })
    }
}

/// Refuses when an output (`(option, path)`) is the same file as an input
/// or as an earlier output. Outputs that do not exist yet cannot collide
/// with an input; two such outputs collide when their paths are equal.
pub fn check(inputs: &[&Path], outputs: &[(&str, &Path)]) -> Result<(), SamePathError> {
    let ins: Vec<((u64, u64), &Path)> = inputs
        .iter()
        .filter_map(|p| identity(p).map(|id| (id, *p)))
        .collect();
    for (i, (opt, out)) in outputs.iter().enumerate() {
        let err = |other: String| SamePathError {
            option: opt.to_string(),
            output: out.to_path_buf(),
            other,
        };
        let id = identity(out);
        if let Some(id) = id {
            if let Some((_, inp)) = ins.iter().find(|(i, _)| *i == id) {
                return Err(err(format!("the input {}", inp.display())));
            }
        }
        for (prev_opt, prev) in &outputs[..i] {
            let same = match (id, identity(prev)) {
                (Some(a), Some(b)) => a == b,
                _ => prev == out,
            };
            if same && !is_special(out) {
                return Err(err(format!("{prev_opt} {}", prev.display())));
            }
        }
    }
    Ok(())
}

/// Whether `p` exists and is not a regular file (a terminal, a pipe,
/// `/dev/null`, `/dev/stdout`): those are written in place, never renamed over.
fn is_special(p: &Path) -> bool {
    std::fs::metadata(p).is_ok_and(|m| !m.is_file())
}

/// A file written under a temporary name beside its final path and renamed
/// into place by [`AtomicFile::commit`]. Dropped without `commit` (an error,
/// a panic), the temporary file is removed and the final path is untouched.
pub struct AtomicFile {
    out: Option<BufWriter<File>>,
    /// `None`: a special file written in place.
    tmp: Option<PathBuf>,
    path: PathBuf,
}

impl AtomicFile {
    /// Creates the temporary file (`.NAME.rdbkit-PID.tmp` in the same
    /// directory, so the rename never crosses file systems).
    pub fn create(path: &Path) -> io::Result<AtomicFile> {
        if is_special(path) {
            let f = std::fs::OpenOptions::new().write(true).open(path)?;
            return Ok(AtomicFile {
                out: Some(BufWriter::with_capacity(1 << 16, f)),
                tmp: None,
                path: path.to_path_buf(),
            });
        }
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".rdbkit-{}.tmp", std::process::id()));
        let tmp = path.with_file_name(tmp_name);
        let f = File::create(&tmp)?;
        Ok(AtomicFile {
            out: Some(BufWriter::with_capacity(1 << 16, f)),
            tmp: Some(tmp),
            path: path.to_path_buf(),
        })
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes, syncs and renames the file into place.
    pub fn commit(mut self) -> io::Result<()> {
        let Some(out) = self.out.take() else {
            return Ok(());
        };
        let f = out.into_inner().map_err(|e| e.into_error())?;
        if let Some(tmp) = self.tmp.take() {
            let r = f.sync_all().and_then(|_| std::fs::rename(&tmp, &self.path));
            if r.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            r?;
        }
        Ok(())
    }

    /// Writes `bytes` as the whole file, atomically.
    pub fn write_all_to(path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut f = AtomicFile::create(path)?;
        f.write_all(bytes)?;
        f.commit()
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.out {
            Some(o) => o.write(buf),
            None => Err(io::Error::other("output already committed")),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match &mut self.out {
            Some(o) => o.write_all(buf),
            None => Err(io::Error::other("output already committed")),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.out {
            Some(o) => o.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            self.out = None;
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// A command's main output: standard output, or a file written atomically
/// (compressed when its extension is `.gz`, `.zst`, `.lz4` or `.bz2`).
pub enum Output {
    Stdout(io::StdoutLock<'static>),
    File(Box<Encoder<AtomicFile>>),
}

impl Output {
    /// `None`: standard output.
    pub fn open(path: Option<&Path>) -> io::Result<Output> {
        Ok(match path {
            Some(p) => {
                let f = AtomicFile::create(p)?;
                Output::File(Box::new(Encoder::new(f, Format::from_extension(p))?))
            }
            None => Output::Stdout(io::stdout().lock()),
        })
    }

    /// Flushes; a file takes its final name only now.
    pub fn commit(self) -> io::Result<()> {
        match self {
            Output::Stdout(mut s) => s.flush(),
            Output::File(f) => f.finish()?.commit(),
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stdout(s) => s.write(buf),
            Output::File(f) => f.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Output::Stdout(s) => s.write_all(buf),
            Output::File(f) => f.write_all(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stdout(s) => s.flush(),
            Output::File(f) => f.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rdbkit-outpath-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn links_to_an_input_are_the_input() {
        let d = dir("links");
        let input = d.join("in.rdb");
        std::fs::write(&input, b"x").unwrap();
        let hard = d.join("hard.rdb");
        let _ = std::fs::remove_file(&hard);
        std::fs::hard_link(&input, &hard).unwrap();
        let e = check(&[&input], &[("-o", &hard)]).unwrap_err();
        assert!(e.to_string().contains("same file as the input"), "{e}");
        #[cfg(unix)]
        {
            let sym = d.join("sym.rdb");
            let _ = std::fs::remove_file(&sym);
            std::os::unix::fs::symlink(&input, &sym).unwrap();
            assert!(check(&[&input], &[("-o", &sym)]).is_err());
        }
        assert!(check(&[&input], &[("-o", &d.join("new.jsonl"))]).is_ok());
        let e = check(
            &[],
            &[("--failed", &d.join("a")), ("--conflicts", &d.join("a"))],
        );
        assert!(e.is_err());
    }

    #[test]
    fn an_uncommitted_file_leaves_nothing_behind() {
        let d = dir("atomic");
        let p = d.join("out.txt");
        std::fs::write(&p, b"previous").unwrap();
        {
            let mut f = AtomicFile::create(&p).unwrap();
            f.write_all(b"half").unwrap();
        }
        assert_eq!(std::fs::read(&p).unwrap(), b"previous");
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
        let mut f = AtomicFile::create(&p).unwrap();
        f.write_all(b"whole").unwrap();
        f.commit().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"whole");
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
    }
}
