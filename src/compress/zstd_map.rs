//! A zstd file whose first frame declares its decompressed size
//! (`Frame_Content_Size` in the frame header, written by `zstd FILE`,
//! absent when `zstd` compressed a pipe) is decompressed straight into a
//! shared writable map of a temporary file of that size: no intermediate
//! buffer and no `write` copy, and the pages the decoder fills are the ones
//! the readers then use (issue 17: `json` of a `.zst` close to the plain
//! file's time).
//!
//! The file's blocks are reserved first (`fallocate`), so a full disk is a
//! clear error before any byte is written rather than a `SIGBUS` on a store
//! into the map. Pages behind the decoder are released as it goes, so the
//! resident set stays small whatever the file size, as on the streaming
//! path. The declared size is checked both ways: a frame that ends short of
//! it, or that holds more, is an error naming the compressed offset.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

use zstd::stream::raw::{Decoder, InBuffer, Operation, OutBuffer};

use super::{Format, Progress};
use crate::input::Input;

/// Compressed bytes read per step (also how often progress is told).
const STEP: usize = 4 << 20;
/// Decoded bytes released from the resident set at a time.
const RELEASE: usize = 2 << 20;

/// `Ok(None)`: the frame does not declare its size (or declares 0), or the
/// temporary directory's file system cannot reserve blocks: the caller
/// takes the streaming path.
pub fn open(file: &File, total: u64, progress: Option<Progress<'_>>) -> io::Result<Option<Input>> {
    let mut head = [0u8; 18]; // ZSTD_FRAMEHEADERSIZE_MAX
    let n = read_at_most(file, &mut head, 0)?;
    let declared = match zstd::zstd_safe::get_frame_content_size(&head[..n]) {
        Ok(Some(d)) if d > 0 => d,
        _ => return Ok(None),
    };
    let Ok(len) = usize::try_from(declared) else {
        return Ok(None);
    };
    let (mut out, path) = super::temp_file("decompress")?;
    if !reserve(&out, declared, &path)? {
        return Ok(None);
    }
    // SAFETY: the file was created by us and unlinked at once, so no other
    // process can truncate it; its blocks are reserved, so a store into the
    // map cannot fault on a full disk. The map does not outlive this call
    // except as the read-only `Input` below.
    let mut map = unsafe { memmap2::MmapOptions::new().map_mut(&out)? };
    let (done, read) = decode_frame(file, &mut map, total, progress)?;
    if done != len {
        return Err(error(
            io::ErrorKind::InvalidData,
            format!("the frame header declares {declared} decompressed bytes but the frame holds {done}"),
            read,
            done,
        ));
    }
    if read == total {
        let map = map.make_read_only()?;
        let _ = map.advise(memmap2::Advice::Sequential);
        return Ok(Some(Input::Mapped(map, Default::default())));
    }
    // More frames follow (`cat a.zst b.zst`): stream them after the first.
    drop(map);
    out.seek(SeekFrom::Start(declared))?;
    let mut rest = io::BufReader::new(Tail { file, at: read });
    super::decompress_into(
        Format::Zstd,
        &mut rest,
        &mut out,
        &path,
        (declared, read),
        total,
        progress,
    )?;
    Input::map_spooled(&out).map(Some)
}

/// Decodes the first frame of `file` into `map`; returns the decompressed
/// and compressed bytes done.
fn decode_frame(
    file: &File,
    map: &mut memmap2::MmapMut,
    total: u64,
    progress: Option<Progress<'_>>,
) -> io::Result<(usize, u64)> {
    let mut dec = Decoder::new()?;
    let mut buf = vec![0u8; STEP];
    let (mut filled, mut used, mut read) = (0usize, 0usize, 0u64);
    let (mut done, mut released) = (0usize, 0usize);
    loop {
        if used == filled {
            filled = read_at_most(file, &mut buf, read)?;
            used = 0;
        }
        let mut inb = InBuffer::around(&buf[used..filled]);
        let mut outb = OutBuffer::around_pos(&mut map[..], done);
        let hint = dec
            .run(&mut inb, &mut outb)
            .map_err(|e| error(e.kind(), e.to_string(), read, done))?;
        let moved = inb.pos() > 0 || outb.pos() > done;
        used += inb.pos();
        read += inb.pos() as u64;
        done = outb.pos();
        if let Some(p) = progress {
            p(read, total);
        }
        if hint == 0 {
            return Ok((done, read)); // the frame is complete
        }
        if !moved {
            return Err(if done == map.len() {
                error(
                    io::ErrorKind::InvalidData,
                    format!("the frame holds more than the {done} decompressed bytes its header declares"),
                    read,
                    done,
                )
            } else {
                error(
                    io::ErrorKind::UnexpectedEof,
                    "unexpected end of file".into(),
                    read,
                    done,
                )
            });
        }
        let upto = done / RELEASE * RELEASE;
        if upto > released {
            // SAFETY: a shared file map: MADV_DONTNEED drops page-table
            // entries only; the written bytes stay in the file's pages and
            // a later access faults them back in.
            let _ = unsafe {
                map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    released,
                    upto - released,
                )
            };
            released = upto;
        }
    }
}

/// Reserves `len` bytes of blocks for `out`; `false` if its file system
/// cannot (the streaming path then runs).
fn reserve(out: &File, len: u64, path: &Path) -> io::Result<bool> {
    let Ok(n) = libc::off_t::try_from(len) else {
        return Ok(false);
    };
    // SAFETY: a plain system call on a file descriptor we own.
    if unsafe { libc::fallocate(out.as_raw_fd(), 0, 0, n) } == 0 {
        return Ok(true);
    }
    let e = io::Error::last_os_error();
    if matches!(
        e.raw_os_error(),
        Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS)
    ) {
        return Ok(false);
    }
    Err(io::Error::new(
        e.kind(),
        format!(
            "reserving the {len} bytes the zstd frame header declares in {} (set TMPDIR to a \
             directory with room for the whole decompressed file): {e}",
            path.parent().unwrap_or(path).display()
        ),
    ))
}

/// Fills `buf` from `file` at `at`, short only at the end of the file.
fn read_at_most(file: &File, buf: &mut [u8], at: u64) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read_at(&mut buf[n..], at + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn error(kind: io::ErrorKind, what: String, read: u64, done: usize) -> io::Error {
    io::Error::new(
        kind,
        format!("zstd input: {what} (at compressed byte offset {read}, after {done} decompressed bytes)"),
    )
}

/// The rest of `file` from `at`, read without moving its cursor.
struct Tail<'a> {
    file: &'a File,
    at: u64,
}

impl io::Read for Tail<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}
