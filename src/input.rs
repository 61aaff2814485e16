//! Getting the file's bytes: a read-only memory map, or a plain read for
//! inputs that cannot be mapped (pipes, stdin).

use std::fs::File;
use std::io::Read;
use std::ops::Deref;
use std::path::Path;

/// The whole input as one byte slice.
pub enum Input {
    Mapped(memmap2::Mmap),
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
        Ok(Input::Mapped(map))
    }
}

impl Deref for Input {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Input::Mapped(m) => m,
            Input::Owned(v) => v,
        }
    }
}
