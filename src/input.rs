//! Getting the file's bytes: a read-only memory map, or a plain read for
//! inputs that cannot be mapped (pipes, stdin).

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
        if path.as_os_str() == "-" {
            let mut v = Vec::new();
            std::io::stdin().lock().read_to_end(&mut v)?;
            return Ok(Input::Owned(v));
        }
        let file = File::open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() || meta.len() == 0 {
            let mut v = Vec::new();
            (&file).read_to_end(&mut v)?;
            return Ok(Input::Owned(v));
        }
        // SAFETY: the map is read-only and private to this process. If another
        // process truncates the file while we read it, accesses past the new
        // end raise SIGBUS; that is the documented hazard of mapping a file
        // and the same one every mmap-based reader accepts. We never hand out
        // the map beyond the lifetime of `Input`.
        let map = unsafe { memmap2::MmapOptions::new().map(&file)? };
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
