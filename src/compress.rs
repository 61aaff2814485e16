//! Compressed inputs and outputs: gzip, zstd, LZ4 frame and bzip2.
//!
//! Inputs are recognised by their magic bytes, never by their name (a
//! `dump.rdb` that is really gzip is read; a `dump.rdb.gz` that is plain is
//! read as it is). A compressed input is decompressed once, as a stream, to
//! an unlinked temporary file under `$TMPDIR` that is then memory-mapped:
//! memory stays bounded whatever the ratio (a decompression bomb fills the
//! temporary directory, not RAM, and stops with a clear error when the disk
//! is full), and the parallel readers run on the map as on any file.
//!
//! Outputs are compressed by their extension (`.gz`, `.zst`, `.lz4`,
//! `.bz2`) by an [`Encoder`] over any writer; the output layer puts one over
//! a file renamed into place only at the end, so a failed run still leaves
//! nothing behind.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A compression format rdbkit reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Gzip,
    Zstd,
    Lz4,
    Bzip2,
}

impl Format {
    /// The usual file extension, also used in messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Gzip => "gzip",
            Format::Zstd => "zstd",
            Format::Lz4 => "lz4",
            Format::Bzip2 => "bzip2",
        }
    }

    /// The format an output path asks for, by its extension.
    pub fn from_extension(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()? {
            "gz" => Some(Format::Gzip),
            "zst" | "zstd" => Some(Format::Zstd),
            "lz4" => Some(Format::Lz4),
            "bz2" => Some(Format::Bzip2),
            _ => None,
        }
    }
}

/// The format of a stream that starts with `head` (at least 4 bytes are
/// needed to recognise any of them). RDB files start with `REDIS`, JSON
/// Lines with `{`, AOF files with `*` or `REDIS`: none collides.
pub fn detect(head: &[u8]) -> Option<Format> {
    match head {
        [0x1f, 0x8b, ..] => Some(Format::Gzip),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Some(Format::Zstd),
        [0x04, 0x22, 0x4d, 0x18, ..] => Some(Format::Lz4),
        [b'B', b'Z', b'h', b'1'..=b'9', ..] => Some(Format::Bzip2),
        _ => None,
    }
}

/// The first bytes of a regular file, read without moving its cursor.
pub fn sniff_file(file: &File) -> io::Result<Option<Format>> {
    let mut head = [0u8; 4];
    let mut n = 0;
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        while n < head.len() {
            match file.read_at(&mut head[n..], n as u64)? {
                0 => break,
                k => n += k,
            }
        }
    }
    #[cfg(not(unix))]
    {
        use std::io::Seek;
        let mut f = file;
        n = f.read(&mut head)?;
        f.seek(io::SeekFrom::Start(0))?;
    }
    Ok(detect(&head[..n]))
}

/// A reader that counts the compressed bytes taken from it, so an error
/// can name where in the compressed file it happened.
struct Counted<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: BufRead> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Counting what the decoder consumes (not what a buffer below read
/// ahead), and lending the bytes without a copy when they are a map.
impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }
    fn consume(&mut self, n: usize) {
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        self.inner.consume(n)
    }
}

/// A decoder of `fmt` over `r`. Concatenated gzip members, zstd frames and
/// bzip2 streams are all read (as `gzip -d`, `zstd -d`, `bzip2 -d` do).
pub fn decoder<'a, R: BufRead + 'a>(fmt: Format, r: R) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match fmt {
        Format::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(r)),
        Format::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(r)?),
        Format::Lz4 => Box::new(lz4_flex::frame::FrameDecoder::new(r)),
        Format::Bzip2 => Box::new(bzip2::bufread::MultiBzDecoder::new(r)),
    })
}

/// Progress of a decompression: compressed bytes read so far, compressed total (0 if unknown).
pub type Progress<'a> = &'a dyn Fn(u64, u64);

/// Decompresses all of `src` (in format `fmt`, `total` compressed bytes
/// when known) into a new unlinked temporary file under `$TMPDIR`, and
/// returns that file, positioned anywhere (callers map it).
///
/// Errors name the compressed byte offset reached and how much had been
/// decompressed: a truncated or damaged file is never taken for a shorter
/// valid one.
pub fn decompress_to_temp(
    fmt: Format,
    src: &mut dyn Read,
    total: u64,
    progress: Option<Progress<'_>>,
) -> io::Result<File> {
    let (mut file, path) = temp_file("decompress")?;
    let put = |b: &[u8], _: u64| file.write_all(b);
    let src = BufReader::with_capacity(1 << 16, src);
    decompress_with(fmt, src, put, &|read, _| {
        if let Some(p) = progress {
            p(read, total)
        }
    })
    .map_err(|e| match e {
        Failure::Output(e, out) => io::Error::new(
            e.kind(),
            format!(
                "writing the decompressed input to {} ({out} bytes so far; set TMPDIR \
                 to a directory with room for the whole decompressed file): {e}",
                path.parent().unwrap_or(&path).display()
            ),
        ),
        Failure::Input(e) => e,
    })?;
    Ok(file)
}

/// Why [`decompress_with`] stopped: the compressed input (its error names
/// where), or the consumer of the output, with the bytes it had taken.
pub enum Failure {
    Input(io::Error),
    Output(io::Error, u64),
}

/// Decompresses all of `src` (in format `fmt`), handing each piece of
/// output to `put` with the count of bytes before it, and telling
/// `progress` of the compressed bytes read after each piece. Returns the
/// decompressed size. An input that yields nothing at all is an error.
pub fn decompress_with(
    fmt: Format,
    src: impl BufRead,
    mut put: impl FnMut(&[u8], u64) -> io::Result<()>,
    progress: &dyn Fn(u64, u64),
) -> Result<u64, Failure> {
    let read = Arc::new(AtomicU64::new(0));
    let counted = Counted {
        inner: src,
        read: Arc::clone(&read),
    };
    let at = |e: io::Error, out: u64| {
        Failure::Input(io::Error::new(
            e.kind(),
            format!(
                "{} input: {e} (at compressed byte offset {}, after {out} decompressed bytes)",
                fmt.name(),
                read.load(Ordering::Relaxed)
            ),
        ))
    };
    let mut dec = decoder(fmt, counted).map_err(|e| at(e, 0))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut out = 0u64;
    loop {
        let n = match dec.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(at(e, out)),
        };
        put(&buf[..n], out).map_err(|e| Failure::Output(e, out))?;
        out += n as u64;
        progress(read.load(Ordering::Relaxed), out);
    }
    if out == 0 && read.load(Ordering::Relaxed) == 0 {
        return Err(at(io::ErrorKind::UnexpectedEof.into(), 0));
    }
    Ok(out)
}

/// The decompressed size a zstd file of `len` bytes declares: the sum of
/// its frames' content sizes, when every frame states one (`zstd FILE`
/// writes it; a stream compressed from a pipe has none). `None` also for a
/// file that does not walk as whole frames, and for a size no zstd frame
/// can reach from these bytes (a block of at most 128 KiB takes at least 4
/// bytes), so a hostile header cannot size anything.
///
/// Walks the frame and block headers with small positioned reads (RFC 8878
/// §3.1): a few thousand reads for a gigabyte, and no page of the file
/// mapped.
#[cfg(unix)]
pub fn zstd_declared_size(file: &File, len: u64) -> io::Result<Option<u64>> {
    use std::os::unix::fs::FileExt;
    let at = |pos: u64, buf: &mut [u8]| -> io::Result<bool> {
        match file.read_exact_at(buf, pos) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(e),
        }
    };
    let (mut pos, mut total) = (0u64, 0u64);
    while pos < len {
        let mut head = [0u8; 18];
        let n = head.len().min((len - pos) as usize);
        if !at(pos, &mut head[..n])? {
            return Ok(None);
        }
        let Some(frame) = zstd_frame_head(&head[..n]) else {
            return Ok(None);
        };
        let (size, end) = match frame {
            FrameHead::Skippable { len } => (0, pos + 8 + len),
            FrameHead::Data { content: None, .. } => return Ok(None),
            FrameHead::Data {
                content: Some(c),
                header,
                checksum,
            } => match last_block_end(&at, pos + header)? {
                Some(p) => (c, p + if checksum { 4 } else { 0 }),
                None => return Ok(None),
            },
        };
        if end > len {
            return Ok(None);
        }
        pos = end;
        total = match total.checked_add(size) {
            Some(t) => t,
            None => return Ok(None),
        };
    }
    Ok((total > 0 && total <= len.saturating_mul(1 << 15)).then_some(total))
}

/// Where a frame's blocks end, walking their 3-byte headers from `p`
/// (RFC 8878 §3.1.1.2); `None` when the file ends first or a block type
/// is reserved.
#[cfg(unix)]
fn last_block_end(
    at: &dyn Fn(u64, &mut [u8]) -> io::Result<bool>,
    mut p: u64,
) -> io::Result<Option<u64>> {
    loop {
        let mut b = [0u8; 3];
        if !at(p, &mut b)? {
            return Ok(None);
        }
        let h = u32::from_le_bytes([b[0], b[1], b[2], 0]);
        let body = match (h >> 1) & 3 {
            0 | 2 => u64::from(h >> 3),
            1 => 1,
            _ => return Ok(None),
        };
        p += 3 + body;
        if h & 1 == 1 {
            return Ok(Some(p));
        }
    }
}

#[cfg(not(unix))]
pub fn zstd_declared_size(_: &File, _: u64) -> io::Result<Option<u64>> {
    Ok(None)
}

/// A zstd frame's opening (RFC 8878 §3.1.1 and §3.1.2).
#[derive(Debug, PartialEq, Eq)]
enum FrameHead {
    /// A skippable frame of `len` bytes after its 8-byte header.
    Skippable { len: u64 },
    /// A data frame: its header's length, its content size if stated, and
    /// whether a 4-byte checksum follows the last block.
    Data {
        header: u64,
        content: Option<u64>,
        checksum: bool,
    },
}

/// Reads a frame's opening from its first (up to 18) bytes.
fn zstd_frame_head(b: &[u8]) -> Option<FrameHead> {
    let magic = u32::from_le_bytes(b.get(..4)?.try_into().ok()?);
    if magic & 0xFFFF_FFF0 == 0x184D_2A50 {
        let len = u32::from_le_bytes(b.get(4..8)?.try_into().ok()?);
        return Some(FrameHead::Skippable { len: len.into() });
    }
    if magic != 0xFD2F_B528 {
        return None;
    }
    let d = *b.get(4)?;
    let single = d & 0x20 != 0;
    if d & 0x08 != 0 {
        return None; // the reserved bit must be zero
    }
    let dict = [0usize, 1, 2, 4][(d & 3) as usize];
    let fcs = match d >> 6 {
        0 if single => 1,
        0 => 0,
        1 => 2,
        2 => 4,
        _ => 8,
    };
    let start = 5 + usize::from(!single) + dict;
    let field = b.get(start..start + fcs)?;
    let mut v = [0u8; 8];
    v[..fcs].copy_from_slice(field);
    let n = u64::from_le_bytes(v);
    Some(FrameHead::Data {
        header: (start + fcs) as u64,
        content: match fcs {
            0 => None,
            2 => Some(n + 256),
            _ => Some(n),
        },
        checksum: d & 0x04 != 0,
    })
}

/// A new temporary file under `$TMPDIR`, unlinked at once: it disappears
/// when rdbkit exits, however it exits. Returns the file and the name it had.
pub fn temp_file(what: &str) -> io::Result<(File, std::path::PathBuf)> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir();
    let path = dir.join(format!(
        ".rdbkit-{what}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    let _ = std::fs::remove_file(&path);
    Ok((file, path))
}

/// The format of a stream that cannot seek (a pipe, standard input), and
/// the same stream with the peeked bytes put back in front.
pub fn peek_format<'a>(r: &'a mut dyn Read) -> io::Result<(Option<Format>, impl Read + 'a)> {
    // A pipe may deliver fewer than 4 bytes per read: read until 4 or EOF,
    // then put those bytes back in front of the rest.
    let mut head = [0u8; 4];
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let fmt = detect(&head[..n]);
    Ok((fmt, io::Cursor::new(head[..n].to_vec()).chain(r)))
}

/// A writer compressing into `W` in a format (an output file's, from its
/// extension: [`Format::from_extension`]), or passing bytes through.
pub enum Encoder<W: Write> {
    Plain(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
    Lz4(lz4_flex::frame::FrameEncoder<W>),
    Bzip2(bzip2::write::BzEncoder<W>),
}

impl<W: Write> Encoder<W> {
    /// Compresses into `f` as `fmt` says (`None`: plain).
    pub fn new(f: W, fmt: Option<Format>) -> io::Result<Encoder<W>> {
        Ok(match fmt {
            None => Encoder::Plain(f),
            Some(Format::Gzip) => Encoder::Gzip(flate2::write::GzEncoder::new(
                f,
                flate2::Compression::new(6),
            )),
            Some(Format::Zstd) => Encoder::Zstd(zstd::stream::write::Encoder::new(f, 3)?),
            Some(Format::Lz4) => Encoder::Lz4(lz4_flex::frame::FrameEncoder::new(f)),
            Some(Format::Bzip2) => {
                Encoder::Bzip2(bzip2::write::BzEncoder::new(f, bzip2::Compression::new(6)))
            }
        })
    }

    /// Ends the compressed stream; returns the writer.
    pub fn finish(self) -> io::Result<W> {
        Ok(match self {
            Encoder::Plain(f) => f,
            Encoder::Gzip(e) => e.finish()?,
            Encoder::Zstd(e) => e.finish()?,
            Encoder::Lz4(e) => e.finish().map_err(io::Error::other)?,
            Encoder::Bzip2(e) => e.finish()?,
        })
    }

    fn inner(&mut self) -> &mut dyn Write {
        match self {
            Encoder::Plain(f) => f,
            Encoder::Gzip(e) => e,
            Encoder::Zstd(e) => e,
            Encoder::Lz4(e) => e,
            Encoder::Bzip2(e) => e,
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner().write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.inner().write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(fmt: Format, ext: &str) {
        let d = std::env::temp_dir().join(format!("rdbkit-compress-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let p = d.join(format!("out.{ext}"));
        let data: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let f = File::create(&p).unwrap();
        let mut e = Encoder::new(f, Format::from_extension(&p)).unwrap();
        e.write_all(&data).unwrap();
        e.finish().unwrap().sync_all().unwrap();
        let mut f = File::open(&p).unwrap();
        assert_eq!(sniff_file(&f).unwrap(), Some(fmt));
        let mut t = decompress_to_temp(fmt, &mut f, 0, None).unwrap();
        use std::io::Seek;
        t.seek(io::SeekFrom::Start(0)).unwrap();
        let mut back = Vec::new();
        t.read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
        // Truncated: an error naming the offset, never a shorter file.
        let whole = std::fs::read(&p).unwrap();
        let cut = &whole[..whole.len() / 2];
        let e = decompress_to_temp(fmt, &mut &cut[..], 0, None).unwrap_err();
        assert!(e.to_string().contains("compressed byte offset"), "{e}");
        // Through the pipe path.
        let mut r: &[u8] = &whole;
        let (got, raw) = peek_format(&mut r).unwrap();
        assert_eq!(got, Some(fmt));
        let mut back = Vec::new();
        decoder(fmt, BufReader::new(raw))
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn every_format_round_trips_and_truncation_is_an_error() {
        roundtrip(Format::Gzip, "gz");
        roundtrip(Format::Zstd, "zst");
        roundtrip(Format::Lz4, "lz4");
        roundtrip(Format::Bzip2, "bz2");
    }

    #[test]
    fn plain_streams_pass_through() {
        let data = b"REDIS0011rest".to_vec();
        let mut r: &[u8] = &data;
        let (f, mut rd) = peek_format(&mut r).unwrap();
        assert_eq!(f, None);
        let mut back = Vec::new();
        rd.read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
        let mut r: &[u8] = b"RE";
        let (_, mut rd) = peek_format(&mut r).unwrap();
        let mut back = Vec::new();
        rd.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"RE");
    }
}
