//! Getting the file's bytes: a read-only memory map. Inputs that cannot be
//! mapped (stdin, pipes) are first spooled to an unlinked temporary file
//! under `$TMPDIR` and mapped from there, so a 50 GB pipe is read in
//! bounded memory, as a file is.

use std::fs::File;
use std::io::Read;
use std::ops::Deref;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::arrival::Arrival;
use crate::compress::Format;

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

/// An input whose pages can be let go once the reader is past them.
pub trait Release {
    /// The bytes before `upto` will not be read again.
    fn release_before(&self, upto: u64);
}

impl Release for Input {
    fn release_before(&self, upto: u64) {
        Input::release_before(self, upto)
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

/// A compressed input read while it is decompressed: a thread of its own
/// writes the decompressed bytes into an unlinked temporary file, sized
/// from the start and mapped like any input, and publishes its progress in
/// an [`Arrival`] that the engine reads up to (see [`crate::arrival`]). On
/// two cores, `json` of a zstd file then costs the decompression's CPU
/// time beside the parse, not its wall time before it.
///
/// Only zstd files whose frames declare their sizes qualify (`zstd FILE`
/// writes them); anything else is opened the usual way.
pub struct Arriving {
    input: Input,
    arrival: Arc<Arrival>,
    cancel: Arc<AtomicBool>,
    writer: Option<std::thread::JoinHandle<()>>,
    /// The temporary file, for punching out what was read
    /// ([`Arriving::release_before`]), and how far that went.
    file: File,
    released: AtomicU64,
}

impl Arriving {
    /// Starts decompressing `path` in the background, or `None` when it is
    /// not a regular zstd file that declares its decompressed size.
    pub fn open(path: &Path) -> std::io::Result<Option<Arriving>> {
        let file = File::open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file() || crate::compress::sniff_file(&file)? != Some(Format::Zstd) {
            return Ok(None);
        }
        let Some(total) = crate::compress::zstd_declared_size(&file, meta.len())? else {
            return Ok(None);
        };
        let (out, _) = crate::compress::temp_file("decompress")?;
        // A declared size the temporary file or the address space cannot
        // take (a hostile header can claim terabytes from a big file) is
        // left to the usual path, which decompresses what is really there.
        let Ok(input) = out.set_len(total).and_then(|_| Input::map(&out)) else {
            return Ok(None);
        };
        let hole = out.try_clone()?;
        let arrival = Arc::new(Arrival::new(total));
        let cancel = Arc::new(AtomicBool::new(false));
        let (a, c) = (Arc::clone(&arrival), Arc::clone(&cancel));
        let writer = std::thread::Builder::new()
            .name("rdbkit-decompress".into())
            .spawn(move || a.finish(fill(file, out, total, &a, &c)))?;
        Ok(Some(Arriving {
            input,
            arrival,
            cancel,
            writer: Some(writer),
            file: hole,
            released: AtomicU64::new(0),
        }))
    }

    /// All the input's bytes as they will be; only the first
    /// [`Arrival::ready`] of them may be read yet (the rest are being
    /// written, as another process may write any mapped file).
    pub fn bytes(&self) -> &[u8] {
        &self.input
    }

    /// How far the bytes have come.
    pub fn arrival(&self) -> Arc<Arrival> {
        Arc::clone(&self.arrival)
    }

    /// Waits for the whole input: the map, or why it could not be written
    /// (the decompressor's error, with the compressed byte offset). The
    /// bytes [released](Arriving::release_before) before are not in it:
    /// reading them faults.
    pub fn into_input(mut self) -> std::io::Result<Input> {
        let r = self.arrival.wait_complete();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
        r.map_err(|u| std::io::Error::new(std::io::ErrorKind::InvalidData, u.detail))?;
        Ok(std::mem::replace(&mut self.input, Input::Owned(Vec::new())))
    }
}

/// The bytes before `upto` are gone for good: they are punched out of the
/// temporary file, so the next decompressed bytes land in the pages just
/// freed (a warm few megabytes, not a fresh gigabyte of page cache: on a
/// virtual machine, first touching fresh memory costs more system time
/// than the whole decompression), and the file never holds more than the
/// stretch between reader and decompressor. The range is also made
/// unreadable in the map, so that a stray read faults instead of seeing
/// zeros where the data was: this input is read once.
impl Release for Arriving {
    fn release_before(&self, upto: u64) {
        const STEP: u64 = 2 << 20;
        let upto = upto.min(self.arrival.ready()) / STEP * STEP;
        let from = self.released.load(Ordering::Relaxed);
        if upto <= from
            || self
                .released
                .compare_exchange(from, upto, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        punch(&self.file, &self.input, from, upto);
    }
}

/// Makes `from..upto` of `map` unreadable and frees it in `file`.
#[cfg(target_os = "linux")]
fn punch(file: &File, map: &Input, from: u64, upto: u64) {
    use std::os::fd::AsRawFd;
    let Input::Mapped(m, _) = map else {
        return;
    };
    // SAFETY: `from..upto` lies within the map (`upto` is at most the
    // bytes ready, at most its length) and starts on a 2 MiB boundary from
    // its page-aligned start. The range is never read again (the engine
    // releases only what its consumer is past), and PROT_NONE turns a read
    // that would break that promise into a fault rather than zeros.
    unsafe {
        let at = m.as_ptr().add(from as usize) as *mut libc::c_void;
        libc::mprotect(at, (upto - from) as usize, libc::PROT_NONE);
        libc::fallocate(
            file.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            from as libc::off_t,
            (upto - from) as libc::off_t,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn punch(_: &File, _: &Input, _: u64, _: u64) {}

impl Drop for Arriving {
    /// A run that stops early (a closed pipe, an error) stops the writer.
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

/// The decompressing thread: `src` into `out`, exactly `total` bytes,
/// each step published to `arrival`; stops when `cancel` is set.
fn fill(
    src: File,
    mut out: File,
    total: u64,
    arrival: &Arrival,
    cancel: &AtomicBool,
) -> Result<(), String> {
    use std::io::Write;
    let put = |b: &[u8], before: u64| {
        if cancel.load(Ordering::Relaxed) {
            return Err(std::io::Error::other("stopped"));
        }
        if before + b.len() as u64 > total {
            return Err(std::io::Error::other(format!(
                "the zstd input holds more than the {total} bytes its frames declare"
            )));
        }
        out.write_all(b)?;
        arrival.advance(before + b.len() as u64);
        Ok(())
    };
    let map = Input::map(&src).map_err(|e| e.to_string())?;
    let release = |read: u64, _| map.release_before(read);
    crate::compress::decompress_with(Format::Zstd, &map[..], put, &release)
        .map(|_| ())
        .map_err(|e| match e {
            crate::compress::Failure::Input(e) => e.to_string(),
            crate::compress::Failure::Output(e, at) => {
                format!("writing the decompressed input to $TMPDIR (after {at} bytes): {e}")
            }
        })
}
