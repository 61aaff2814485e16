//! Getting the file's bytes: a read-only memory map. Inputs that cannot be
//! mapped (stdin, pipes) are first spooled to an unlinked temporary file
//! under `$TMPDIR` and mapped from there, so a 50 GB pipe is read in
//! bounded memory, as a file is.

use std::fs::File;
use std::io::Read;
use std::ops::Deref;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The whole input as one byte slice.
pub enum Input {
    Mapped(memmap2::Mmap, AtomicUsize),
    Owned(Vec<u8>),
}

impl Input {
    /// Opens `path` (`-` is standard input).
    pub fn open(path: &Path) -> std::io::Result<Input> {
        Input::open_with(path, None)
    }

    /// Opens `path`; a compressed file (gzip, zstd, LZ4, bzip2, recognised
    /// by its magic bytes) is first decompressed to a temporary file, with
    /// `progress` told of the compressed bytes read (see [`crate::compress`]).
    pub fn open_with(
        path: &Path,
        progress: Option<crate::compress::Progress<'_>>,
    ) -> std::io::Result<Input> {
        if path.as_os_str() == "-" {
            return Input::spool(&mut std::io::stdin().lock());
        }
        let mut file = File::open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() {
            return Input::spool(&mut &file);
        }
        if let Some(fmt) = crate::compress::sniff_file(&file)? {
            let out = crate::compress::decompress_to_temp(fmt, &mut file, meta.len(), progress)?;
            return Input::map_spooled(&out);
        }
        if meta.len() == 0 {
            return Ok(Input::Owned(Vec::new()));
        }
        Input::map(&file)
    }

    /// Copies `r` into a temporary file under `$TMPDIR` that is unlinked at
    /// once (it disappears when rdbkit exits, however it exits) and maps it.
    /// A compressed stream is decompressed on the way.
    pub fn spool(r: &mut dyn Read) -> std::io::Result<Input> {
        let (fmt, mut r) = crate::compress::peek_format(r)?;
        if let Some(fmt) = fmt {
            let out = crate::compress::decompress_to_temp(fmt, &mut r, 0, None)?;
            return Input::map_spooled(&out);
        }
        let r = &mut r;
        let dir = std::env::temp_dir();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = dir.join(format!(".rdbkit-stdin-{}-{nanos}", std::process::id()));
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("spooling stdin to {}: {e}", path.display()),
                )
            })?;
        let _ = std::fs::remove_file(&path);
        let n = std::io::copy(r, &mut file).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("spooling stdin to {}: {e}", dir.display()),
            )
        })?;
        if n == 0 {
            return Ok(Input::Owned(Vec::new()));
        }
        Input::map(&file)
    }

    /// Maps a spooled temporary file (an empty one as no bytes).
    pub fn map_spooled(file: &File) -> std::io::Result<Input> {
        if file.metadata()?.len() == 0 {
            return Ok(Input::Owned(Vec::new()));
        }
        Input::map(file)
    }

    fn map(file: &File) -> std::io::Result<Input> {
        // SAFETY: the map is read-only and private to this process. If another
        // process truncates the file while we read it, accesses past the new
        // end raise SIGBUS; that is the documented hazard of mapping a file
        // and the same one every mmap-based reader accepts. We never hand out
        // the map beyond the lifetime of `Input`.
        let map = unsafe { memmap2::MmapOptions::new().map(file)? };
        #[cfg(unix)]
        {
            let _ = map.advise(memmap2::Advice::Sequential);
        }
        Ok(Input::Mapped(map, AtomicUsize::new(0)))
    }
}

impl Deref for Input {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Input::Mapped(m, _) => m,
            Input::Owned(v) => v,
        }
    }
}

impl Input {
    /// Tells the kernel that the bytes before `upto` will not be read again,
    /// so their pages leave this process's resident set (they stay in the
    /// page cache). This is what keeps RSS flat on files far larger than
    /// memory. A no-op for inputs that are not mapped.
    ///
    /// `u64::MAX` releases the whole map and starts over: the file will be
    /// read again from its start (a load walks a file once before it
    /// reads it for the keys).
    pub fn release_before(&self, upto: u64) {
        if let Input::Mapped(map, released) = self {
            if upto == u64::MAX {
                // SAFETY: as below; the whole read-only private map.
                let _ = unsafe {
                    map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, 0, map.len())
                };
                released.store(0, Ordering::Relaxed);
                return;
            }
            const PAGE: usize = 1 << 21; // release in 2 MiB steps: few syscalls
            let upto = (upto as usize).min(map.len()) / PAGE * PAGE;
            let from = released.load(Ordering::Relaxed);
            if upto > from
                && released
                    .compare_exchange(from, upto, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                // SAFETY: the map is read-only and private (never written), so
                // MADV_DONTNEED only drops page-table entries: a later access to
                // the range faults the same file bytes back in. No data is lost
                // and no reference into the map becomes invalid.
                let _ = unsafe {
                    map.unchecked_advise_range(
                        memmap2::UncheckedAdvice::DontNeed,
                        from,
                        upto - from,
                    )
                };
            }
        }
    }
}
