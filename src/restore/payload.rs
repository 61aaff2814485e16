//! `RESTORE` payloads built from the file's own bytes, without re-encoding
//! (`createDumpPayload` / `verifyDumpPayload` in Redis' `cluster.c`):
//!
//! ```text
//! [KEY_META opcode + body (RDB 13)] type-byte value-bytes | rdb-version (2 bytes LE) | CRC-64 (8 bytes LE)
//! ```
//!
//! The CRC-64 (Jones) covers everything before it. The version is the
//! file's own: stamping an older one would only make the target fail later
//! on an encoding it does not know.

use crate::rdb::consts::RDB_OPCODE_KEY_META;
use crate::rdb::crc64;
use crate::rdb::records::Record;

use super::commands::{append_long, Spill};
use crate::redis::resp;

/// Length of the payload of a record.
pub fn payload_len(rec: &Record<'_>) -> usize {
    meta_len(rec) + 1 + rec.value.len() + 10
}

fn meta_len(rec: &Record<'_>) -> usize {
    rec.key_meta.map(|m| m.len() + 1).unwrap_or(0)
}

/// Appends the payload of `rec` to `out`.
pub fn write_payload(out: &mut Vec<u8>, rec: &Record<'_>, rdb_version: u32) {
    out.reserve(payload_len(rec));
    // Without a spill nothing can fail.
    let _ = payload_to(out, rec, rdb_version, None);
}

/// Appends the payload of `rec`; with a spill, the value bytes go a block
/// at a time and the CRC-64 is computed as they pass, so that none of the
/// payload need stay in `out` (see [`Spill::mid_command`]).
fn payload_to(
    out: &mut Vec<u8>,
    rec: &Record<'_>,
    rdb_version: u32,
    spill: Option<&mut dyn Spill>,
) -> crate::Result<()> {
    let start = out.len();
    if let Some(m) = rec.key_meta {
        out.push(RDB_OPCODE_KEY_META);
        out.extend_from_slice(m);
    }
    out.push(rec.type_byte);
    let mut crc = crc64::crc64(0, &out[start..]);
    append_long(out, rec.value, spill, &mut |b| crc = crc64::crc64(crc, b))?;
    let version = (rdb_version as u16).to_le_bytes();
    out.extend_from_slice(&version);
    out.extend_from_slice(&crc64::crc64(crc, &version).to_le_bytes());
    Ok(())
}

/// Appends a `FUNCTION RESTORE` payload for a function item's raw bytes
/// (opcode and body, as in the file).
pub fn write_function_payload(out: &mut Vec<u8>, raw: &[u8], rdb_version: u32) {
    let start = out.len();
    out.extend_from_slice(raw);
    out.extend_from_slice(&(rdb_version as u16).to_le_bytes());
    let crc = crc64::crc64(0, &out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// Options that shape a RESTORE command.
#[derive(Debug, Clone, Copy, Default)]
pub struct RestoreArgs {
    /// `REPLACE`: overwrite an existing key atomically.
    pub replace: bool,
    /// Absolute expiry in ms (sent with `ABSTTL`), or none.
    pub expire_ms: Option<i64>,
    /// `IDLETIME s`.
    pub idle: Option<u64>,
    /// `FREQ f`.
    pub freq: Option<u8>,
}

/// Appends `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]`.
pub fn write_restore(
    out: &mut Vec<u8>,
    key: &[u8],
    rec: &Record<'_>,
    rdb_version: u32,
    a: &RestoreArgs,
) {
    // Without a spill nothing can fail.
    let _ = restore_to(out, key, rec, rdb_version, a, None);
}

/// [`write_restore`] for a payload too big to hold: the value bytes go to
/// `out` a block at a time, and `spill` may write `out` out after each
/// (the bulk length comes from the record's span, the CRC-64 is computed
/// as the bytes pass). Fails only when the spill does.
pub fn write_restore_spilling(
    out: &mut Vec<u8>,
    key: &[u8],
    rec: &Record<'_>,
    rdb_version: u32,
    a: &RestoreArgs,
    spill: &mut dyn Spill,
) -> crate::Result<()> {
    restore_to(out, key, rec, rdb_version, a, Some(spill))
}

fn restore_to(
    out: &mut Vec<u8>,
    key: &[u8],
    rec: &Record<'_>,
    rdb_version: u32,
    a: &RestoreArgs,
    spill: Option<&mut dyn Spill>,
) -> crate::Result<()> {
    let n = 4
        + a.replace as usize
        + a.expire_ms.is_some() as usize
        + 2 * a.idle.is_some() as usize
        + 2 * a.freq.is_some() as usize;
    resp::array_header(out, n);
    resp::bulk(out, b"RESTORE");
    resp::bulk(out, key);
    resp::bulk_int(out, a.expire_ms.unwrap_or(0));
    resp::bulk_header(out, payload_len(rec));
    if spill.is_none() {
        out.reserve(payload_len(rec));
    }
    payload_to(out, rec, rdb_version, spill)?;
    out.extend_from_slice(b"\r\n");
    if a.replace {
        resp::bulk(out, b"REPLACE");
    }
    if a.expire_ms.is_some() {
        resp::bulk(out, b"ABSTTL");
    }
    if let Some(i) = a.idle {
        resp::bulk(out, b"IDLETIME");
        resp::bulk_int(out, idletime_arg(i));
    }
    if let Some(f) = a.freq {
        resp::bulk(out, b"FREQ");
        resp::bulk_int(out, f as i64);
    }
    Ok(())
}

/// Largest `IDLETIME` sent. The file's idle time is any 64-bit length, but
/// RESTORE refuses a negative value (what `as i64` made of 2^63 and up) and
/// multiplies the seconds by 1000 in a signed 64-bit integer; anything
/// beyond this already means "idle for longer than the LRU clock can tell".
pub const MAX_IDLETIME: i64 = i64::MAX / 1000;

fn idletime_arg(idle: u64) -> i64 {
    i64::try_from(idle).map_or(MAX_IDLETIME, |i| i.min(MAX_IDLETIME))
}

/// Appends `FUNCTION RESTORE payload [REPLACE]`.
pub fn write_function_restore(out: &mut Vec<u8>, raw: &[u8], rdb_version: u32, replace: bool) {
    resp::array_header(out, 3 + replace as usize);
    resp::bulk(out, b"FUNCTION");
    resp::bulk(out, b"RESTORE");
    resp::bulk_header(out, raw.len() + 10);
    write_function_payload(out, raw, rdb_version);
    out.extend_from_slice(b"\r\n");
    if replace {
        resp::bulk(out, b"REPLACE");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restore_with_idle(idle: u64) -> Vec<u8> {
        let rec = Record {
            idle: Some(idle),
            ..crate::rdb::testutil::string_record(b"\x01v")
        };
        let mut out = Vec::new();
        let args = RestoreArgs {
            idle: rec.idle,
            ..Default::default()
        };
        write_restore(&mut out, b"k", &rec, 11, &args);
        out
    }

    /// Found by the `restore_payload` fuzz target: an IDLE opcode of 2^63 or
    /// more became a negative IDLETIME, which RESTORE refuses.
    #[test]
    fn idletime_is_never_negative() {
        let tail = |out: &[u8]| {
            let s = String::from_utf8_lossy(out).into_owned();
            s.split("IDLETIME\r\n").nth(1).unwrap().to_string()
        };
        assert!(tail(&restore_with_idle(5)).ends_with("$1\r\n5\r\n"));
        let max = format!("${}\r\n{MAX_IDLETIME}\r\n", MAX_IDLETIME.to_string().len());
        for idle in [1 << 63, u64::MAX, 13108621717840686332, i64::MAX as u64] {
            assert_eq!(tail(&restore_with_idle(idle)), max, "idle {idle}");
        }
        let just = MAX_IDLETIME as u64;
        assert!(tail(&restore_with_idle(just)).ends_with(&format!("{just}\r\n")));
    }

    /// A payload over several blocks, handed to a spill as it is built,
    /// has the bytes of the one built whole, and its trailer the CRC-64
    /// of everything before it; `out` never holds much more than a block.
    #[test]
    fn spilled_restore_equals_whole() {
        use crate::restore::commands::{tests::Collect, LONG_BLOCK};
        let value: Vec<u8> = (0..(3 << 20) + 12345u32).map(|i| (i % 253) as u8).collect();
        for meta in [None, Some(&b"\x01\x02meta"[..])] {
            let rec = Record {
                idle: Some(3),
                freq: Some(4),
                key_meta: meta,
                vendor_hints: false,
                ..crate::rdb::testutil::string_record(&value)
            };
            let args = RestoreArgs {
                replace: true,
                expire_ms: Some(5),
                idle: rec.idle,
                freq: rec.freq,
            };
            let mut whole = Vec::new();
            write_restore(&mut whole, b"key", &rec, 12, &args);
            let mut c = Collect::default();
            let mut rest = Vec::new();
            write_restore_spilling(&mut rest, b"key", &rec, 12, &args, &mut c).unwrap();
            c.written.extend_from_slice(&rest);
            assert!(c.written == whole, "spilled RESTORE differs");
            assert_eq!(c.calls, 4);
            assert!(c.peak <= LONG_BLOCK + 64, "held {}", c.peak);
            let mut p = Vec::new();
            write_payload(&mut p, &rec, 12);
            let (body, crc) = p.split_at(p.len() - 8);
            assert_eq!(crc, crc64::crc64_table(0, body).to_le_bytes());
            assert_eq!(&body[body.len() - 2..], &12u16.to_le_bytes());
            let at = whole.windows(p.len()).position(|w| w == &p[..]);
            assert!(at.is_some(), "payload not in the command");
        }
    }
}
