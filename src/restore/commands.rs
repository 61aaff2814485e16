//! Command mode: a key written as ordinary commands instead of `RESTORE`,
//! for targets that cannot read the snapshot's RDB version or encodings, and
//! for keys too big for one `RESTORE`.
//!
//! Collections are split into commands of at most `batch_elements` elements
//! or `batch_bytes` bytes, so no single command is huge:
//!
//! | type | commands |
//! |---|---|
//! | string | `SET` |
//! | list | `RPUSH` |
//! | set | `SADD` |
//! | zset | `ZADD` (scores in shortest round-trip form, `inf`, `-inf`) |
//! | hash | `HSET`; field TTLs `HPEXPIREAT key ms FIELDS n f...` |
//! | stream | `XADD` with explicit IDs, `XSETID` (+`ENTRIESADDED`/`MAXDELETEDID`), `XGROUP CREATE ... ENTRIESREAD`, `XGROUP CREATECONSUMER`, PEL via `XCLAIM ... TIME ms RETRYCOUNT n FORCE JUSTID` (as Redis' AOF rewrite does); NACKed entries (Redis 8.8) via `XNACK key group FAIL IDS n id... RETRYCOUNT c FORCE`, consecutive entries of equal delivery count together (as 8.8's AOF rewrite does) |
//! | array (Redis 8.8) | `ARMSET key index value ...`, then `ARSEEK key insert_idx+1` when the file holds an insert cursor (as 8.8's AOF rewrite does) |
//! | key TTL | `PEXPIREAT` |
//!
//! [`CommandBuilder`] holds the batching rule; [`emit_record`] walks a
//! record's value with the decoders (nothing is materialised).

use crate::error::{Error, ErrorKind, Result};
use crate::rdb::array::{ArrayElem, ArrayHead};
use crate::rdb::cursor::Cursor;
use crate::rdb::elem::{decompress_blocks, Elem, RdbStr};
use crate::rdb::module::ModuleValue;
use crate::rdb::records::Record;
use crate::rdb::stream::{StreamId, StreamMeta};
use crate::rdb::value::{Kind, Scratch, ValueType, ValueVisitor};

use crate::redis::resp;

/// How the reason a key cannot be written as commands begins (in the
/// failed-keys report and the summary).
pub const NOT_WRITABLE: &str = "cannot be written with commands: ";

/// Limits of one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Elements (members, fields, entries) per command.
    pub elements: usize,
    /// Bytes of arguments per command.
    pub bytes: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            elements: 512,
            bytes: 4 << 20,
        }
    }
}

/// Told after every complete command of a key, with the buffer holding it:
/// lets the node writer put a huge key on the wire while it is still being
/// encoded (memory stays bounded by the write buffer, not by the key), and
/// lets [`with_replace`] notice that a key outgrew one transaction.
pub trait Spill {
    /// `count`: the key's commands so far (in `out`, or written out before).
    /// An error stops the key's encoding.
    fn after_command(&mut self, out: &mut Vec<u8>, count: usize) -> Result<()>;

    /// Told in the middle of one long command (a `RESTORE` payload, a big
    /// string's `SET`) each time another block of it is in `out`: `out` may
    /// be written out now, though the command is not complete. A long
    /// argument is checked before its first block goes in, so the only
    /// error after one is the spill's own (a broken connection): a command
    /// is never left half-written on the wire.
    fn mid_command(&mut self, out: &mut Vec<u8>) -> Result<()>;
}

/// Bytes of a long argument appended between two [`Spill::mid_command`]s.
pub const LONG_BLOCK: usize = 1 << 20;

/// Appends `bytes`, one argument's content, to `out`; with a spill, a
/// [`LONG_BLOCK`] at a time, telling it after each, so `out` need not hold
/// the whole argument. `seen` is shown every block as it passes (for a
/// checksum computed on the way).
pub fn append_long(
    out: &mut Vec<u8>,
    bytes: &[u8],
    spill: Option<&mut dyn Spill>,
    seen: &mut dyn FnMut(&[u8]),
) -> Result<()> {
    let Some(spill) = spill else {
        out.extend_from_slice(bytes);
        seen(bytes);
        return Ok(());
    };
    for block in bytes.chunks(LONG_BLOCK) {
        out.extend_from_slice(block);
        seen(block);
        spill.mid_command(out)?;
    }
    Ok(())
}

/// How one key's commands are written.
#[derive(Default)]
pub struct Sink<'s> {
    /// `ASKING` before each command (after an `-ASK` redirect: the flag holds
    /// for one command, or for a whole `MULTI` ... `EXEC`).
    pub asking: bool,
    pub spill: Option<&'s mut dyn Spill>,
}

/// Adds the commands a caller wrote before the key's own to the count.
struct Based<'a, 'b> {
    inner: &'a mut (dyn Spill + 'b),
    base: usize,
}

impl Spill for Based<'_, '_> {
    fn after_command(&mut self, out: &mut Vec<u8>, count: usize) -> Result<()> {
        self.inner.after_command(out, count + self.base)
    }

    fn mid_command(&mut self, out: &mut Vec<u8>) -> Result<()> {
        self.inner.mid_command(out)
    }
}

/// Refuses a transaction body over [`TX_MAX_BYTES`] or [`TX_MAX_COMMANDS`].
struct TxCap {
    hit: bool,
}

impl Spill for TxCap {
    fn after_command(&mut self, out: &mut Vec<u8>, count: usize) -> Result<()> {
        if out.len() > TX_MAX_BYTES || count > TX_MAX_COMMANDS {
            self.hit = true;
            return Err(Error::invalid(0, "key", "too big for one transaction"));
        }
        Ok(())
    }

    fn mid_command(&mut self, out: &mut Vec<u8>) -> Result<()> {
        self.after_command(out, 0)
    }
}

/// Builds commands that share a prefix (`RPUSH key`, `HSET key`, ...) and
/// cuts them by the limits. Complete commands are appended, RESP-encoded,
/// to `out`; `count` says how many (`ASKING`s included).
pub struct CommandBuilder<'o, 's> {
    pub out: &'o mut Vec<u8>,
    pub count: usize,
    limits: BatchLimits,
    prefix: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
    elements: usize,
    bytes: usize,
    asking: bool,
    spill: Option<&'s mut dyn Spill>,
}

impl<'o, 's> CommandBuilder<'o, 's> {
    pub fn new(out: &'o mut Vec<u8>, limits: BatchLimits) -> Self {
        Self::with_sink(out, limits, Sink::default())
    }

    pub fn with_sink(out: &'o mut Vec<u8>, limits: BatchLimits, sink: Sink<'s>) -> Self {
        CommandBuilder {
            out,
            count: 0,
            limits,
            prefix: Vec::new(),
            args: Vec::new(),
            elements: 0,
            bytes: 0,
            asking: sink.asking,
            spill: sink.spill,
        }
    }

    fn before(&mut self) {
        if self.asking {
            resp::command(self.out, &[b"ASKING"]);
            self.count += 1;
        }
    }

    fn after(&mut self) -> Result<()> {
        self.count += 1;
        match self.spill.as_deref_mut() {
            Some(s) => s.after_command(self.out, self.count),
            None => Ok(()),
        }
    }

    /// The limits commands are cut by.
    pub fn limits(&self) -> BatchLimits {
        self.limits
    }

    /// A whole command on its own.
    pub fn command(&mut self, args: &[&[u8]]) -> Result<()> {
        self.flush()?;
        self.before();
        resp::command(self.out, args);
        self.after()
    }

    /// A whole command whose last argument, `len` bytes, is too long to
    /// hold: `fill` appends it, handing `out` to the spill between blocks
    /// (see [`Spill::mid_command`]).
    pub fn long_command(
        &mut self,
        head: &[&[u8]],
        len: usize,
        fill: impl FnOnce(&mut Vec<u8>, Option<&mut dyn Spill>) -> Result<()>,
    ) -> Result<()> {
        self.flush()?;
        self.before();
        resp::array_header(self.out, head.len() + 1);
        for h in head {
            resp::bulk(self.out, h);
        }
        resp::bulk_header(self.out, len);
        let spill: Option<&mut dyn Spill> = match &mut self.spill {
            Some(s) => Some(&mut **s),
            None => None,
        };
        fill(self.out, spill)?;
        self.out.extend_from_slice(b"\r\n");
        self.after()
    }

    /// Starts a run of commands with this prefix (flushing any other run).
    pub fn start(&mut self, prefix: &[&[u8]]) -> Result<()> {
        if self.prefix.len() != prefix.len()
            || self
                .prefix
                .iter()
                .zip(prefix)
                .any(|(a, b)| a.as_slice() != *b)
        {
            self.flush()?;
            self.prefix = prefix.iter().map(|p| p.to_vec()).collect();
        }
        Ok(())
    }

    /// Adds one element (one or more arguments) to the current run.
    pub fn element(&mut self, parts: &[&[u8]]) -> Result<()> {
        let n: usize = parts.iter().map(|p| p.len()).sum();
        if self.elements > 0
            && (self.elements >= self.limits.elements || self.bytes + n > self.limits.bytes)
        {
            self.flush()?;
        }
        for p in parts {
            self.args.push(p.to_vec());
        }
        self.elements += 1;
        self.bytes += n;
        Ok(())
    }

    /// Writes the pending command of the current run, if any.
    pub fn flush(&mut self) -> Result<()> {
        if self.elements == 0 {
            return Ok(());
        }
        self.before();
        resp::array_header(self.out, self.prefix.len() + self.args.len());
        for p in &self.prefix {
            resp::bulk(self.out, p);
        }
        for a in self.args.drain(..) {
            resp::bulk(self.out, &a);
        }
        self.elements = 0;
        self.bytes = 0;
        self.after()
    }
}

/// Commands of one key in command mode. Under `rewrite` the key is replaced
/// atomically: `MULTI`, `DEL`, the commands, `EXEC` when the key takes at
/// most [`TX_MAX_COMMANDS`] commands and [`TX_MAX_BYTES`] bytes (a
/// transaction is queued whole in the server's memory, and encoded whole
/// here); a bigger key is built under a temporary name in the same slot and
/// `RENAME`d over the old one, so readers never see a half-written key.
pub const TX_MAX_COMMANDS: usize = 1000;
/// See [`TX_MAX_COMMANDS`].
pub const TX_MAX_BYTES: usize = 8 << 20;

/// Appends the commands of one key (see [`TX_MAX_COMMANDS`] for `replace`);
/// returns how many were written, 0 when nothing is left to write (all hash
/// fields expired).
///
/// With a spill in `sink`, a key may be partly written out when an error
/// comes back: the caller owns the cleanup (see the node writer).
#[allow(clippy::too_many_arguments)]
pub fn emit_key(
    out: &mut Vec<u8>,
    key: &[u8],
    rec: &Record<'_>,
    expire_ms: Option<i64>,
    replace: bool,
    limits: BatchLimits,
    features: TargetFeatures,
    scratch: &mut Scratch,
    sink: Sink<'_>,
) -> Result<usize> {
    with_replace(out, key, replace, sink, |o, k, s| {
        emit_record(o, k, rec, expire_ms, limits, features, scratch, s)
    })
}

/// Writes a key's commands with `emit(out, name, sink)`, wrapped for
/// `replace` (see [`TX_MAX_COMMANDS`]); returns the number of commands
/// (replies). Without `replace` the commands go straight to `out` (and the
/// spill); with it, a first attempt fills a capped transaction body, and a
/// key that outgrows it is encoded again, streaming, under a temporary name.
pub fn with_replace<F>(
    out: &mut Vec<u8>,
    key: &[u8],
    replace: bool,
    sink: Sink<'_>,
    mut emit: F,
) -> Result<usize>
where
    F: FnMut(&mut Vec<u8>, &[u8], Sink<'_>) -> Result<usize>,
{
    let Sink { asking, spill } = sink;
    if !replace {
        return emit(out, key, Sink { asking, spill });
    }
    let ask = |out: &mut Vec<u8>| {
        if asking {
            resp::command(out, &[b"ASKING"]);
        }
        asking as usize
    };
    let mut body = Vec::new();
    let mut cap = TxCap { hit: false };
    let tx = emit(
        &mut body,
        key,
        Sink {
            asking: false,
            spill: Some(&mut cap),
        },
    );
    match tx {
        Ok(0) => return Ok(0),
        Ok(n) => {
            // One ASKING before MULTI covers the transaction.
            let a = ask(out);
            resp::command(out, &[b"MULTI"]);
            resp::command(out, &[b"DEL", key]);
            out.extend_from_slice(&body);
            resp::command(out, &[b"EXEC"]);
            return Ok(a + n + 3);
        }
        Err(e) if !cap.hit => return Err(e),
        Err(_) => {}
    }
    drop(body);
    // During a slot migration (after -ASK) the importing node refuses a
    // RENAME onto a key it does not hold yet (TRYAGAIN), and the key held
    // by neither node is what sent us there: it is written in place.
    let tmp = if asking { key.to_vec() } else { temp_key(key) };
    let mut n = ask(out);
    resp::command(out, &[b"DEL", &tmp]);
    n += 1;
    let m = match spill {
        Some(inner) => emit(
            out,
            &tmp,
            Sink {
                asking,
                spill: Some(&mut Based { inner, base: n }),
            },
        )?,
        None => emit(
            out,
            &tmp,
            Sink {
                asking,
                spill: None,
            },
        )?,
    };
    if asking {
        return Ok(n + m);
    }
    n += m;
    resp::command(out, &[b"RENAME", &tmp, key]);
    Ok(n + 1)
}

/// A temporary name in the same cluster slot as `key`: the key itself plus a
/// suffix when it has a hash tag (the first tag still decides), else the
/// whole key made the tag. A key holding a `}` but no valid tag has no such
/// name, nor does the empty key; their `RENAME` then fails in a cluster
/// (CROSSSLOT) and is reported.
pub fn temp_key(key: &[u8]) -> Vec<u8> {
    let has_tag = crate::redis::slot::hash_tag(key).len() != key.len();
    let mut t = Vec::with_capacity(key.len() + 16);
    if !has_tag && !key.contains(&b'}') {
        t.push(b'{');
        t.extend_from_slice(key);
        t.push(b'}');
    } else {
        t.extend_from_slice(key);
    }
    t.extend_from_slice(b":rdbkit-tmp");
    t
}

const TMP_GROUP: &[u8] = b"rdbkit:tmp-group";

/// The source code of a function library item, with the `#!engine name=...`
/// header that `FUNCTION LOAD` needs (the Redis 7.0 RC format kept name and
/// engine apart from the code).
pub fn function_code(item: &crate::rdb::records::Item<'_>) -> Result<Vec<u8>> {
    use crate::rdb::records::Item;
    match item {
        Item::Function { code, .. } => code.to_vec(),
        Item::FunctionPreGa(f) => {
            let code = f.code.to_vec()?;
            if code.starts_with(b"#!") {
                return Ok(code);
            }
            let mut c = b"#!".to_vec();
            c.extend_from_slice(&f.engine.to_vec()?);
            c.extend_from_slice(b" name=");
            c.extend_from_slice(&f.name.to_vec()?);
            c.push(b'\n');
            c.extend_from_slice(&code);
            Ok(c)
        }
        _ => Ok(Vec::new()),
    }
}

/// Appends `FUNCTION LOAD [REPLACE] code`.
pub fn function_load(out: &mut Vec<u8>, code: &[u8], replace: bool) {
    if replace {
        resp::command(out, &[b"FUNCTION", b"LOAD", b"REPLACE", code]);
    } else {
        resp::command(out, &[b"FUNCTION", b"LOAD", code]);
    }
}

/// A score as text that parses back to the same double (`inf`, `-inf`).
pub fn score_text(f: f64) -> String {
    if f.is_nan() {
        "nan".into()
    } else if f == f64::INFINITY {
        "inf".into()
    } else if f == f64::NEG_INFINITY {
        "-inf".into()
    } else {
        ryu::Buffer::new().format_finite(f).to_string()
    }
}

/// What the target can take, for the choices command mode makes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TargetFeatures {
    /// `HPEXPIREAT` (Redis 7.4+, Valkey 9+).
    pub field_ttl: bool,
    /// `XSETID ... ENTRIESADDED ... MAXDELETEDID`, `XGROUP CREATE ... ENTRIESREAD` (7.0+).
    pub stream_v2: bool,
    /// Arrays, `ARMSET`/`ARSEEK` (Redis 8.8+).
    pub array: bool,
    /// `XNACK ... FORCE` (Redis 8.8+).
    pub xnack: bool,
    /// Drop what the target cannot hold (field TTLs, NACK state) instead of failing.
    pub lossy: bool,
    /// Unix ms: hash fields whose TTL is at or before this are left out, as
    /// a server loading the file drops them (0: keep every field).
    pub now_ms: i64,
}

/// Appends the commands that rebuild `rec` under the name `key` (which may
/// differ from the record's, e.g. a temporary key); returns how many (0 when
/// nothing is left to write: a hash whose fields have all expired).
/// `expire_ms` is the absolute expiry to set, if any.
#[allow(clippy::too_many_arguments)]
pub fn emit_record(
    out: &mut Vec<u8>,
    key: &[u8],
    rec: &Record<'_>,
    expire_ms: Option<i64>,
    limits: BatchLimits,
    features: TargetFeatures,
    scratch: &mut Scratch,
    sink: Sink<'_>,
) -> Result<usize> {
    if sink.spill.is_some() {
        if let Some(s) = long_string(rec) {
            return emit_long_string(out, key, s, expire_ms, limits, sink);
        }
    }
    emit_with(
        out,
        key,
        rec.vtype.kind(),
        expire_ms,
        limits,
        features,
        rec.value_offset,
        sink,
        |v| rec.decode(scratch, v),
    )
}

/// A string value longer than [`LONG_BLOCK`], which a spilling sink gets
/// a block at a time instead of decoded whole. A header that does not parse
/// is left to the ordinary path, which reports it.
fn long_string<'a>(rec: &Record<'a>) -> Option<RdbStr<'a>> {
    string_value(rec).filter(|s| s.decoded_len() > LONG_BLOCK as u64)
}

fn string_value<'a>(rec: &Record<'a>) -> Option<RdbStr<'a>> {
    if rec.vtype != ValueType::String {
        return None;
    }
    Cursor::new(rec.value, rec.value_offset)
        .string("string value")
        .ok()
}

/// The length of a string value, known without decoding it (`None` for
/// other types, or a header that does not parse).
pub fn string_len(rec: &Record<'_>) -> Option<u64> {
    string_value(rec).map(|s| s.decoded_len())
}

/// `SET key value` (and `PEXPIREAT`) for a long string, the value written
/// straight from the file or decompressed a block at a time. An LZF string
/// is decompressed once to check it before any of it is written: a command
/// cannot be taken back once its first blocks have gone out.
fn emit_long_string(
    out: &mut Vec<u8>,
    key: &[u8],
    s: RdbStr<'_>,
    expire_ms: Option<i64>,
    limits: BatchLimits,
    sink: Sink<'_>,
) -> Result<usize> {
    let mut buf = Vec::new();
    if let RdbStr::Lzf { data, len, offset } = s {
        decompress_blocks(data, len, offset, LONG_BLOCK, &mut buf, &mut |_| Ok(()))?;
    }
    let mut b = CommandBuilder::with_sink(out, limits, sink);
    b.long_command(
        &[b"SET", key],
        s.decoded_len() as usize,
        |out, mut spill| match s {
            RdbStr::Raw(bytes) => append_long(out, bytes, spill, &mut |_| {}),
            RdbStr::Lzf { data, len, offset } => {
                decompress_blocks(data, len, offset, LONG_BLOCK, &mut buf, &mut |block| {
                    out.extend_from_slice(block);
                    spill.as_deref_mut().map_or(Ok(()), |s| s.mid_command(out))
                })
            }
            RdbStr::Int(i) => {
                out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
                Ok(())
            }
        },
    )?;
    if let Some(ms) = expire_ms {
        b.command(&[b"PEXPIREAT", key, ms.to_string().as_bytes()])?;
    }
    Ok(b.count)
}

/// Whether `rec` holds something the target cannot take in command mode
/// and that would only show once its commands are on their way: a hash
/// field TTL for a target without them (and no `--lossy`). Checked before
/// a big key is streamed, so such a key fails without touching the target.
pub fn unwritable(
    rec: &Record<'_>,
    features: TargetFeatures,
    scratch: &mut Scratch,
) -> Result<bool> {
    use crate::rdb::value::ValueType;
    if features.field_ttl || features.lossy || !matches!(rec.vtype, ValueType::HashTtl(_)) {
        return Ok(false);
    }
    struct Ttl(bool, i64);
    impl ValueVisitor for Ttl {
        fn hash_field(&mut self, _: Elem<'_>, _: Elem<'_>, e: Option<i64>) -> Result<()> {
            self.0 |= e.is_some_and(|ms| ms > self.1);
            Ok(())
        }
    }
    let mut t = Ttl(false, features.now_ms);
    rec.decode(scratch, &mut t)?;
    Ok(t.0)
}

/// The driver of [`emit_record`]: `drive` pushes the value's elements into
/// the visitor (from the decoders, or from a JSON line).
#[allow(clippy::too_many_arguments)]
pub(crate) fn emit_with<F>(
    out: &mut Vec<u8>,
    key: &[u8],
    kind: Kind,
    expire_ms: Option<i64>,
    limits: BatchLimits,
    features: TargetFeatures,
    offset: u64,
    sink: Sink<'_>,
    drive: F,
) -> Result<usize>
where
    F: FnOnce(&mut dyn ValueVisitor) -> Result<()>,
{
    let start = out.len();
    let mut v = Emit {
        b: CommandBuilder::with_sink(out, limits, sink),
        key,
        kind,
        features,
        ttl_fields: Vec::new(),
        lost: false,
        first_id: None,
        tmp: Vec::new(),
        fields: 0,
        dropped_fields: 0,
        insert_idx: None,
    };
    let r = drive(&mut v);
    if let Err(e) = r {
        v.b.out.truncate(start);
        return Err(e);
    }
    if let Err(e) = v.b.flush() {
        v.b.out.truncate(start);
        return Err(e);
    }
    if v.fields == 0 && v.dropped_fields > 0 {
        // Every field had expired: the key does not exist any more.
        v.b.out.truncate(start);
        return Ok(0);
    }
    // Field TTLs after all fields exist, grouped by expiry time.
    if !v.ttl_fields.is_empty() {
        v.ttl_fields.sort();
        let mut i = 0;
        while i < v.ttl_fields.len() {
            let ms = v.ttl_fields[i].0;
            let j = v.ttl_fields[i..]
                .iter()
                .position(|(m, _)| *m != ms)
                .map(|p| i + p)
                .unwrap_or(v.ttl_fields.len());
            for chunk in v.ttl_fields[i..j].chunks(limits.elements.max(1)) {
                let ms_s = ms.to_string();
                let n = chunk.len().to_string();
                let mut args: Vec<&[u8]> =
                    vec![b"HPEXPIREAT", key, ms_s.as_bytes(), b"FIELDS", n.as_bytes()];
                args.extend(chunk.iter().map(|(_, f)| f.as_slice()));
                v.b.command(&args)?;
            }
            i = j;
        }
    }
    if let Some(i) = v.insert_idx {
        // ARSEEK n sets the stored cursor to n-1; a stored cursor is never
        // 2^64-1 (the decoder refuses it), so i + 1 cannot overflow.
        let next = (i + 1).to_string();
        v.b.command(&[b"ARSEEK", key, next.as_bytes()])?;
    }
    if v.lost && !features.lossy {
        v.b.out.truncate(start);
        return Err(Error::new(
            offset,
            ErrorKind::Invalid { what: "value for this target", detail: "the hash has field TTLs, which the target does not support (use --lossy to load it without them)".into() },
        ));
    }
    if let Some(ms) = expire_ms {
        v.b.command(&[b"PEXPIREAT", key, ms.to_string().as_bytes()])?;
    }
    Ok(v.b.count)
}

struct Emit<'o, 's, 'k> {
    b: CommandBuilder<'o, 's>,
    key: &'k [u8],
    kind: Kind,
    features: TargetFeatures,
    /// (expire ms, field) of hash fields with a TTL.
    ttl_fields: Vec<(i64, Vec<u8>)>,
    /// A field TTL was dropped because the target cannot hold it.
    lost: bool,
    first_id: Option<StreamId>,
    tmp: Vec<u8>,
    /// Hash fields written / left out because their TTL had passed.
    fields: u64,
    dropped_fields: u64,
    /// An array's stored insert cursor, restored after its elements.
    insert_idx: Option<u64>,
}

fn bytes<'e>(e: &'e Elem<'_>, buf: &'e mut itoa::Buffer) -> &'e [u8] {
    e.as_bytes(buf)
}

impl ValueVisitor for Emit<'_, '_, '_> {
    fn string(&mut self, v: Elem<'_>) -> Result<()> {
        let mut ib = itoa::Buffer::new();
        self.b.command(&[b"SET", self.key, bytes(&v, &mut ib)])
    }

    fn list_item(&mut self, v: Elem<'_>) -> Result<()> {
        self.b.start(&[b"RPUSH", self.key])?;
        let mut ib = itoa::Buffer::new();
        self.b.element(&[bytes(&v, &mut ib)])
    }

    fn set_member(&mut self, v: Elem<'_>) -> Result<()> {
        self.b.start(&[b"SADD", self.key])?;
        let mut ib = itoa::Buffer::new();
        self.b.element(&[bytes(&v, &mut ib)])
    }

    fn zset_member(&mut self, member: Elem<'_>, score: f64) -> Result<()> {
        self.b.start(&[b"ZADD", self.key])?;
        let mut ib = itoa::Buffer::new();
        let s = score_text(score);
        self.b.element(&[s.as_bytes(), bytes(&member, &mut ib)])
    }

    fn hash_field(
        &mut self,
        field: Elem<'_>,
        value: Elem<'_>,
        expire_ms: Option<i64>,
    ) -> Result<()> {
        if matches!(expire_ms, Some(ms) if ms <= self.features.now_ms) {
            self.dropped_fields += 1;
            return Ok(());
        }
        self.fields += 1;
        self.b.start(&[b"HSET", self.key])?;
        let (mut fb, mut vb) = (itoa::Buffer::new(), itoa::Buffer::new());
        let f = bytes(&field, &mut fb);
        self.b.element(&[f, bytes(&value, &mut vb)])?;
        if let Some(ms) = expire_ms {
            if self.features.field_ttl {
                self.ttl_fields.push((ms, f.to_vec()));
            } else {
                self.lost = true;
            }
        }
        Ok(())
    }

    fn stream_entry(&mut self, id: StreamId, fields: &[(Elem<'_>, Elem<'_>)]) -> Result<()> {
        if self.first_id.is_none() {
            self.first_id = Some(id);
        }
        self.tmp.clear();
        let ids = id.to_string();
        let mut args: Vec<Vec<u8>> = vec![b"XADD".to_vec(), self.key.to_vec(), ids.into_bytes()];
        for (f, v) in fields {
            args.push(f.to_vec());
            args.push(v.to_vec());
        }
        let refs: Vec<&[u8]> = args.iter().map(|a| a.as_slice()).collect();
        self.b.command(&refs)
    }

    fn stream_meta(&mut self, m: &StreamMeta) -> Result<()> {
        let key = self.key;
        let last = m.last_id.to_string();
        if self.first_id.is_none() {
            // No entries: create the stream empty through a temporary group
            // (unlike a placeholder XADD, this works for last ID 0-0 and
            // does not count an entry as added).
            self.b
                .command(&[b"XGROUP", b"CREATE", key, TMP_GROUP, b"0", b"MKSTREAM"])?;
            self.b.command(&[b"XGROUP", b"DESTROY", key, TMP_GROUP])?;
        }
        let mut xsetid: Vec<Vec<u8>> =
            vec![b"XSETID".to_vec(), key.to_vec(), last.clone().into_bytes()];
        if self.features.stream_v2 {
            if let Some(n) = m.entries_added {
                xsetid.push(b"ENTRIESADDED".to_vec());
                xsetid.push(n.to_string().into_bytes());
            }
            if let Some(id) = m.max_deleted_id {
                xsetid.push(b"MAXDELETEDID".to_vec());
                xsetid.push(id.to_string().into_bytes());
            }
        }
        let refs: Vec<&[u8]> = xsetid.iter().map(|a| a.as_slice()).collect();
        self.b.command(&refs)?;
        for g in &m.groups {
            let ld = g.last_delivered_id.to_string();
            let mut create: Vec<Vec<u8>> = vec![
                b"XGROUP".to_vec(),
                b"CREATE".to_vec(),
                key.to_vec(),
                g.name.clone(),
                ld.into_bytes(),
            ];
            if let (true, Some(n)) = (self.features.stream_v2, g.entries_read) {
                if n >= 0 {
                    create.push(b"ENTRIESREAD".to_vec());
                    create.push(n.to_string().into_bytes());
                }
            }
            let refs: Vec<&[u8]> = create.iter().map(|a| a.as_slice()).collect();
            self.b.command(&refs)?;
            for c in &g.consumers {
                self.b
                    .command(&[b"XGROUP", b"CREATECONSUMER", key, &g.name, &c.name])?;
            }
            // Each pending entry, claimed by its consumer with its delivery
            // time and count.
            for c in &g.consumers {
                for id in &c.pending {
                    if let Some(p) = g.pending.iter().find(|p| p.id == *id) {
                        let (ids, t, n) = (
                            id.to_string(),
                            (p.delivery_time_ms as i64).to_string(),
                            p.delivery_count.to_string(),
                        );
                        self.b.command(&[
                            b"XCLAIM",
                            key,
                            &g.name,
                            &c.name,
                            b"0",
                            ids.as_bytes(),
                            b"TIME",
                            t.as_bytes(),
                            b"RETRYCOUNT",
                            n.as_bytes(),
                            b"FORCE",
                            b"JUSTID",
                        ])?;
                    }
                }
            }
            if let Some(ids) = g.nacked.as_deref().filter(|v| !v.is_empty()) {
                self.nacked(g, ids)?;
            }
        }
        let _ = self.kind;
        Ok(())
    }

    fn module(&mut self, value: &ModuleValue<'_>) -> Result<()> {
        Err(Error::new(
            0,
            ErrorKind::UnsupportedModule { detail: format!("a value of module type '{}' can only be loaded with RESTORE into a server that has the module", value.name) },
        ))
    }

    fn array_head(&mut self, head: ArrayHead) -> Result<()> {
        if !self.features.array {
            return Err(Error::invalid(0, "value for this target", NO_ARRAYS));
        }
        self.insert_idx = head.insert_idx;
        Ok(())
    }

    fn array_element(&mut self, index: u64, value: ArrayElem<'_>) -> Result<()> {
        self.b.start(&[b"ARMSET", self.key])?;
        let text = value.text();
        self.b
            .element(&[itoa::Buffer::new().format(index).as_bytes(), &text])
    }
}

/// What a key holds that a command-mode target cannot (Redis 8.8 state
/// into an older server).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loss {
    /// An array: the whole key.
    Array,
    /// This many NACKed stream entries (the rest of the stream loads).
    Nacks(u64),
}

/// Finds what `rec` would lose on this target in command mode: an array
/// without AR* commands, a type-27 stream's NACK zones without XNACK.
/// Decided before anything is sent, so `--lossy` can count exactly what it
/// drops and its absence can refuse the key naming why.
pub fn target_loss(rec: &Record<'_>, features: TargetFeatures) -> Result<Option<Loss>> {
    use crate::rdb::stream::{self, StreamVersion};
    use crate::rdb::value::ValueType;
    match rec.vtype {
        ValueType::Array if !features.array => Ok(Some(Loss::Array)),
        ValueType::Stream(StreamVersion::V5) if !features.xnack => {
            struct Skip;
            impl stream::StreamVisitor for Skip {
                fn entry(&mut self, _: StreamId, _: &[(Elem<'_>, Elem<'_>)]) -> Result<()> {
                    Ok(())
                }
            }
            let mut cur = crate::rdb::cursor::Cursor::new(rec.value, rec.value_offset);
            let meta = stream::decode(&mut cur, StreamVersion::V5, &mut Skip)?;
            let n: usize = meta
                .groups
                .iter()
                .map(|g| g.nacked.as_ref().map_or(0, Vec::len))
                .sum();
            Ok((n > 0).then_some(Loss::Nacks(n as u64)))
        }
        _ => Ok(None),
    }
}

/// Why an array is refused by a target without arrays.
pub const NO_ARRAYS: &str =
    "arrays (Redis 8.8+) cannot be written to this target, which has no AR* commands (--lossy leaves such keys out)";
/// Why NACK state is refused by a target without XNACK.
pub const NO_XNACK: &str = "the stream has NACKed entries (XNACK, Redis 8.8+), which this target cannot hold (--lossy loads the stream without them)";

impl Emit<'_, '_, '_> {
    /// A group's NACKed entries: `XNACK ... FAIL IDS n id... RETRYCOUNT c
    /// FORCE` creates each as an unowned PEL entry with that delivery count
    /// (and delivery time 0, as XNACK leaves it), in stored order, a run of
    /// equal counts per command. Without XNACK on the target they are left
    /// out under `--lossy` (counted by the caller) and refused otherwise.
    fn nacked(&mut self, g: &crate::rdb::stream::Group, ids: &[StreamId]) -> Result<()> {
        if !self.features.xnack {
            if self.features.lossy {
                return Ok(());
            }
            return Err(Error::invalid(0, "value for this target", NO_XNACK));
        }
        let count_of = |id: &StreamId| {
            g.pending
                .iter()
                .find(|p| p.id == *id)
                .map_or(0, |p| p.delivery_count)
        };
        let max = self.b.limits().elements.max(1);
        let mut i = 0;
        while i < ids.len() {
            let c = count_of(&ids[i]);
            let mut j = i + 1;
            while j < ids.len() && j - i < max && count_of(&ids[j]) == c {
                j += 1;
            }
            let texts: Vec<String> = ids[i..j].iter().map(|id| id.to_string()).collect();
            let (n, cs) = ((j - i).to_string(), c.to_string());
            let mut args: Vec<&[u8]> =
                vec![b"XNACK", self.key, &g.name, b"FAIL", b"IDS", n.as_bytes()];
            args.extend(texts.iter().map(|t| t.as_bytes()));
            args.extend([&b"RETRYCOUNT"[..], cs.as_bytes(), b"FORCE"]);
            self.b.command(&args)?;
            i = j;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::redis::slot::key_slot;
    #[test]
    fn temp_keys_stay_in_the_slot() {
        // (The empty key has no such name: its slot 0 needs a CRC16 of 0.)
        for k in [&b"plain"[..], b"{user1}:a", b"a{b}c", b"a{b", b"{x}{}"] {
            assert_eq!(
                key_slot(&temp_key(k)),
                key_slot(k),
                "{:?}",
                String::from_utf8_lossy(k)
            );
        }
    }

    /// The commands of a RESP stream, as argument lists.
    pub(super) fn parse(b: &[u8]) -> Vec<Vec<Vec<u8>>> {
        let mut r = b;
        let mut cmds = Vec::new();
        while !r.is_empty() {
            match resp::read_reply(&mut r).unwrap() {
                resp::Reply::Array(Some(a)) => cmds.push(
                    a.into_iter()
                        .map(|x| x.as_bytes().unwrap().to_vec())
                        .collect(),
                ),
                other => panic!("{other:?}"),
            }
        }
        cmds
    }

    #[test]
    fn builder_cuts_by_elements_and_bytes() {
        let mut out = Vec::new();
        let mut b = CommandBuilder::new(
            &mut out,
            BatchLimits {
                elements: 2,
                bytes: 10,
            },
        );
        b.start(&[b"RPUSH", b"k"]).unwrap();
        for e in [&b"a"[..], b"b", b"c", b"0123456789", b"d"] {
            b.element(&[e]).unwrap();
        }
        b.flush().unwrap();
        let n = b.count;
        let cmds = parse(&out);
        assert_eq!(n, 4);
        assert_eq!(
            cmds[0],
            vec![
                b"RPUSH".to_vec(),
                b"k".to_vec(),
                b"a".to_vec(),
                b"b".to_vec()
            ]
        );
        assert_eq!(
            cmds[1],
            vec![b"RPUSH".to_vec(), b"k".to_vec(), b"c".to_vec()]
        );
        assert_eq!(
            cmds[2],
            vec![b"RPUSH".to_vec(), b"k".to_vec(), b"0123456789".to_vec()]
        );
        assert_eq!(
            cmds[3],
            vec![b"RPUSH".to_vec(), b"k".to_vec(), b"d".to_vec()]
        );
    }

    #[test]
    fn scores_round_trip() {
        for f in [
            0.1,
            1.0 / 3.0,
            1e300,
            -1e-300,
            9007199254740993.0,
            -0.5,
            0.0,
            -0.0,
        ] {
            assert_eq!(
                score_text(f).parse::<f64>().unwrap().to_bits(),
                f.to_bits(),
                "{f}"
            );
        }
        assert_eq!(score_text(f64::INFINITY), "inf");
        assert_eq!(score_text(f64::NEG_INFINITY), "-inf");
    }

    /// Takes whatever a spill is handed, as the output thread writes it.
    #[derive(Default)]
    pub(crate) struct Collect {
        pub written: Vec<u8>,
        /// The most `out` held when handed over, and how often it was.
        pub peak: usize,
        pub calls: usize,
    }

    impl Spill for Collect {
        fn after_command(&mut self, out: &mut Vec<u8>, _: usize) -> Result<()> {
            self.mid_command(out)
        }

        fn mid_command(&mut self, out: &mut Vec<u8>) -> Result<()> {
            self.peak = self.peak.max(out.len());
            self.calls += 1;
            self.written.append(out);
            Ok(())
        }
    }

    /// An LZF string of `1 + 264 * refs` copies of `b`, declared `extra`
    /// bytes longer than that (a corrupt one when `extra > 0`).
    fn lzf_string(b: u8, refs: usize, extra: usize) -> (Vec<u8>, Vec<u8>) {
        let mut data = vec![0, b];
        for _ in 0..refs {
            data.extend_from_slice(&[0xE0, 255, 0]);
        }
        let n = 1 + 264 * refs;
        let mut v = vec![0xC3];
        crate::rdb::testutil::rlen(&mut v, data.len() as u64);
        crate::rdb::testutil::rlen(&mut v, (n + extra) as u64);
        v.extend_from_slice(&data);
        (v, vec![b; n])
    }

    fn emit(rec: &Record<'_>, replace: bool, spill: Option<&mut dyn Spill>) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let sink = Sink {
            asking: false,
            spill,
        };
        let (limits, features) = (BatchLimits::default(), TargetFeatures::default());
        let mut scratch = Scratch::default();
        emit_key(
            &mut out,
            b"k",
            rec,
            Some(77),
            replace,
            limits,
            features,
            &mut scratch,
            sink,
        )?;
        Ok(out)
    }

    /// A string over one block goes out a block at a time (raw from the
    /// file, LZF decompressed on the way) with the same bytes as when it
    /// is built whole; under `replace` one too big for a transaction is
    /// streamed under the temporary name.
    #[test]
    fn long_strings_stream_to_the_same_bytes() {
        let mut raw_value: Vec<u8> = (0..(5 << 19) as u32).map(|i| (i * 7 % 251) as u8).collect();
        raw_value[1000] = b'\r';
        let mut raw = Vec::new();
        crate::rdb::testutil::rlen(&mut raw, raw_value.len() as u64);
        raw.extend_from_slice(&raw_value);
        let (small_lzf, small_want) = lzf_string(b'a', 8000, 0);
        let (big_lzf, big_want) = lzf_string(b'b', 36_000, 0);
        assert!(big_want.len() > TX_MAX_BYTES);
        for (value, want, replace) in [
            (&raw, &raw_value, false),
            (&raw, &raw_value, true),
            (&small_lzf, &small_want, false),
            (&big_lzf, &big_want, true),
        ] {
            let rec = crate::rdb::testutil::string_record(value);
            let whole = emit(&rec, replace, None).unwrap();
            let cmds = parse(&whole);
            let set = cmds.iter().find(|c| c[0] == b"SET").unwrap();
            assert_eq!(&set[2], want);
            let last: &[u8] = match (replace, want.len() > TX_MAX_BYTES) {
                (false, _) => b"PEXPIREAT",
                (true, false) => b"EXEC",
                (true, true) => b"RENAME",
            };
            assert_eq!(cmds.last().unwrap()[0], last);
            let mut c = Collect::default();
            let rest = emit(&rec, replace, Some(&mut c)).unwrap();
            c.written.extend_from_slice(&rest);
            assert!(
                c.written == whole,
                "replace {replace}: streamed bytes differ"
            );
            if !replace || want.len() > TX_MAX_BYTES {
                assert!(c.calls > 2, "{} calls", c.calls);
                assert!(c.peak <= LONG_BLOCK + 256, "held {} bytes", c.peak);
            }
        }
    }

    /// A corrupt LZF string is refused before any of it is handed to the
    /// spill, with the error the whole-value path gives.
    #[test]
    fn corrupt_long_string_writes_nothing() {
        let (bad, _) = lzf_string(b'c', 8000, 5);
        let rec = crate::rdb::testutil::string_record(&bad);
        let whole = emit(&rec, false, None).unwrap_err();
        let mut c = Collect::default();
        let streamed = emit(&rec, false, Some(&mut c)).unwrap_err();
        assert_eq!(streamed.to_string(), whole.to_string());
        assert!(whole.to_string().contains("stream ended"), "{whole}");
        assert_eq!(c.calls, 0);
    }
}

#[cfg(test)]
mod rdb14_tests {
    use super::*;
    use crate::rdb::stream::{Group, PendingEntry, StreamMeta};

    fn run(
        features: TargetFeatures,
        drive: impl FnOnce(&mut dyn ValueVisitor) -> Result<()>,
    ) -> Result<Vec<Vec<Vec<u8>>>> {
        let mut out = Vec::new();
        let limits = BatchLimits {
            elements: 2,
            bytes: 1 << 20,
        };
        emit_with(
            &mut out,
            b"k",
            Kind::Stream,
            None,
            limits,
            features,
            0,
            Sink::default(),
            drive,
        )?;
        Ok(super::tests::parse(&out))
    }

    fn text(cmd: &[Vec<u8>]) -> String {
        cmd.iter()
            .map(|a| String::from_utf8_lossy(a))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A group whose entries 1-0, 2-0, 3-0 are NACKed with delivery counts
    /// 3, 3, 5 (owned by no consumer).
    fn nacked_meta() -> StreamMeta {
        let id = |ms| StreamId { ms, seq: 0 };
        let pe = |ms, n| PendingEntry {
            id: id(ms),
            delivery_time_ms: 0,
            delivery_count: n,
        };
        StreamMeta {
            last_id: id(3),
            groups: vec![Group {
                name: b"g".to_vec(),
                last_delivered_id: id(3),
                entries_read: None,
                pending: vec![pe(1, 3), pe(2, 3), pe(3, 5)],
                consumers: vec![],
                nacked: Some(vec![id(1), id(2), id(3)]),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn nacked_entries_become_xnack_force_runs_of_equal_counts() {
        let f = TargetFeatures {
            xnack: true,
            ..Default::default()
        };
        let cmds = run(f, |v| v.stream_meta(&nacked_meta())).unwrap();
        let xnack: Vec<String> = cmds
            .iter()
            .filter(|c| c[0] == b"XNACK")
            .map(|c| text(c))
            .collect();
        assert_eq!(
            xnack,
            vec![
                "XNACK k g FAIL IDS 2 1-0 2-0 RETRYCOUNT 3 FORCE",
                "XNACK k g FAIL IDS 1 3-0 RETRYCOUNT 5 FORCE"
            ]
        );
        // Without XNACK: refused, or left out under --lossy.
        let e = run(TargetFeatures::default(), |v| v.stream_meta(&nacked_meta())).unwrap_err();
        assert!(e.to_string().contains("NACKed entries"), "{e}");
        let lossy = TargetFeatures {
            lossy: true,
            ..Default::default()
        };
        let cmds = run(lossy, |v| v.stream_meta(&nacked_meta())).unwrap();
        assert!(cmds.iter().all(|c| c[0] != b"XNACK"));
    }

    #[test]
    fn arrays_become_armset_then_arseek() {
        let drive = |v: &mut dyn ValueVisitor| {
            v.array_head(ArrayHead {
                count: 3,
                insert_idx: Some(41),
            })?;
            v.array_element(0, ArrayElem::Int(-7))?;
            v.array_element(1 << 40, ArrayElem::Float(2.5))?;
            v.array_element(u64::MAX - 1, ArrayElem::Small(Elem::Bytes(b"abc")))
        };
        let f = TargetFeatures {
            array: true,
            ..Default::default()
        };
        let cmds: Vec<String> = run(f, drive).unwrap().iter().map(|c| text(c)).collect();
        assert_eq!(
            cmds,
            vec![
                "ARMSET k 0 -7 1099511627776 2.5",
                "ARMSET k 18446744073709551614 abc",
                "ARSEEK k 42"
            ]
        );
        let e = run(TargetFeatures::default(), drive).unwrap_err();
        assert!(e.to_string().contains("arrays (Redis 8.8+)"), "{e}");
    }
}
