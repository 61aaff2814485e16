//! Hashes with per-field TTLs ("hash field expiration", HFE).
//!
//! Five layouts share this module. All are read starting just after the
//! type byte and the key; [`decode`] and [`skip`] leave the cursor just after
//! the value. Layouts, as written by the servers' `rdbSaveObject` and read by
//! their `rdbLoadObject` (Redis `src/rdb.c` 7.4-rc1/rc2, 7.4.x, 8.0; Valkey
//! `src/rdb.c` 9.x):
//!
//! ```text
//! Redis 7.4 RC  type 22 HASH_METADATA_PRE_GA   (hashtable encoding)
//!     <len n> n x ( <len ttl> <string field> <string value> )
//!     ttl = absolute expire time in Unix ms, 0 = field has no TTL
//!
//! Redis 7.4+    type 24 HASH_METADATA          (hashtable encoding)
//!     <u64 LE minExpire> <len n> n x ( <len ttl> <string field> <string value> )
//!     minExpire = smallest field expire time in the hash (absolute ms)
//!     ttl = 0 -> no TTL, otherwise expire = minExpire + ttl - 1
//!     (the +1 keeps 0 free to mean "no TTL")
//!
//! Redis 7.4 RC  type 23 HASH_LISTPACK_EX_PRE_GA
//!     <string listpack>
//!
//! Redis 7.4+    type 25 HASH_LISTPACK_EX
//!     <u64 LE minExpire> <string listpack>
//!     minExpire = next field expire time, 0 when no field has a TTL
//!     (Redis only keeps it "for future use" and ignores it on load)
//!
//!     listpack entries are triples: field, value, ttl; ttl is an integer
//!     entry holding the absolute expire time in ms, 0 (HASH_LP_NO_TTL)
//!     meaning no TTL, at most EB_EXPIRE_TIME_MAX (2^48 - 1)
//!
//! Valkey 9      type 22 HASH_2                 (hashtable encoding)
//!     <len n> n x ( <string field> <string value> <i64 LE expire> )
//!     expire = absolute Unix ms, -1 (EXPIRY_NONE) = no TTL; other negative
//!     values are corrupt
//! ```
//!
//! The listpack of types 23/25 is an ordinary RDB string, so it may be
//! LZF-compressed; it is then decompressed into a scratch buffer owned by
//! [`decode`], and the callback's elements borrow that buffer.
//!
//! **Fields whose TTL has already passed are reported, never dropped.** A
//! file saved at time T may hold fields that expired before T (servers write
//! them as they are in memory) and, read later, every TTL may lie in the
//! past. The decoder does not look at the clock: it calls the callback for
//! every field with its absolute expire time, and the caller decides whether
//! to keep, drop or flag it. Likewise an empty hash (count 0) is passed
//! through as zero callbacks.
//!
//! Checks mirror what the servers reject: a Redis expire time above
//! `EB_EXPIRE_TIME_MAX` (2^48 - 1 ms), a Redis minExpire above
//! `EB_EXPIRE_TIME_INVALID`, a Valkey expire below -1, a listpack whose entry
//! count is not a multiple of three, a non-integer or negative listpack TTL.
//! A relative TTL whose sum with minExpire overflows 64 bits is an error
//! here (Redis would silently wrap).

use crate::error::{Error, Result};
use crate::rdb::cursor::Cursor;
use crate::rdb::elem::{Elem, RdbStr};
use crate::rdb::listpack;

/// Largest expire time Redis accepts for a hash field (`EB_EXPIRE_TIME_MAX`
/// in `ebuckets.h`): 2^48 - 1 ms, about year 10889.
pub const EB_EXPIRE_TIME_MAX: u64 = (1 << 48) - 1;

/// Redis' "no expire time" marker in memory (`EB_EXPIRE_TIME_INVALID`).
pub const EB_EXPIRE_TIME_INVALID: u64 = EB_EXPIRE_TIME_MAX + 1;

/// Valkey's "field has no TTL" value in `RDB_TYPE_HASH_2` (`EXPIRY_NONE`).
pub const VALKEY_EXPIRY_NONE: i64 = -1;

/// Which hash-with-field-TTL layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HfeKind {
    /// Redis 7.4 RC type 22 (`RDB_TYPE_HASH_METADATA_PRE_GA`): TTLs absolute.
    RedisMetadataPreGa,
    /// Redis 7.4 RC type 23 (`RDB_TYPE_HASH_LISTPACK_EX_PRE_GA`): listpack
    /// of (field, value, ttl) triples, no minExpire header.
    RedisListpackExPreGa,
    /// Redis 7.4+ type 24 (`RDB_TYPE_HASH_METADATA`): minExpire header, TTLs
    /// relative to it.
    RedisMetadata,
    /// Redis 7.4+ type 25 (`RDB_TYPE_HASH_LISTPACK_EX`): minExpire header,
    /// then the listpack of triples.
    RedisListpackEx,
    /// Valkey 9 type 22 (`RDB_TYPE_HASH_2`): (field, value, i64 expire).
    ValkeyHash2,
}

/// Decodes a hash with field TTLs; calls `f(field, value, expire_ms)` once
/// per field in file order, with `expire_ms` the absolute expire time in
/// Unix milliseconds or `None` for a field without TTL. Expired fields are
/// reported like any other (see the module docs).
pub fn decode<F>(cur: &mut Cursor<'_>, kind: HfeKind, mut f: F) -> Result<()>
where
    F: FnMut(Elem<'_>, Elem<'_>, Option<i64>) -> Result<()>,
{
    match kind {
        HfeKind::RedisMetadataPreGa => decode_metadata(cur, None, &mut f),
        HfeKind::RedisMetadata => {
            let min = read_min_expire(cur, true)?;
            decode_metadata(cur, Some(min), &mut f)
        }
        HfeKind::RedisListpackExPreGa => decode_listpack_ex(cur, &mut f),
        HfeKind::RedisListpackEx => {
            read_min_expire(cur, false)?;
            decode_listpack_ex(cur, &mut f)
        }
        HfeKind::ValkeyHash2 => decode_hash2(cur, &mut f),
    }
}

/// Skips such a value without decoding strings, decompressing or looking
/// inside the listpack. Counts are still checked against the remaining input.
pub fn skip(cur: &mut Cursor<'_>, kind: HfeKind) -> Result<()> {
    match kind {
        HfeKind::RedisMetadataPreGa | HfeKind::RedisMetadata => {
            if kind == HfeKind::RedisMetadata {
                cur.skip(8, "hash minimum field expire time")?;
            }
            let n = cur.count("hash length", 3)?;
            for _ in 0..n {
                cur.length("hash field TTL")?;
                cur.skip_string("hash field")?;
                cur.skip_string("hash value")?;
            }
            Ok(())
        }
        HfeKind::RedisListpackExPreGa => cur.skip_string("hash listpack"),
        HfeKind::RedisListpackEx => {
            cur.skip(8, "hash minimum field expire time")?;
            cur.skip_string("hash listpack")
        }
        HfeKind::ValkeyHash2 => {
            let n = cur.count("hash length", 10)?;
            for _ in 0..n {
                cur.skip_string("hash field")?;
                cur.skip_string("hash value")?;
                cur.skip(8, "hash field expire time")?;
            }
            Ok(())
        }
    }
}

/// Reads the 8-byte little-endian minimum expire time of types 24/25.
/// For type 24 Redis rejects a value above `EB_EXPIRE_TIME_INVALID`; for
/// type 25 it ignores the value entirely, so it is not checked.
fn read_min_expire(cur: &mut Cursor<'_>, check: bool) -> Result<u64> {
    let pos = cur.pos();
    let min = cur.u64_le("hash minimum field expire time")?;
    if check && min > EB_EXPIRE_TIME_INVALID {
        return Err(cur.invalid_at(
            pos,
            "hash minimum field expire time",
            format!("{min} is above the largest valid expire time {EB_EXPIRE_TIME_MAX}"),
        ));
    }
    Ok(min)
}

/// Types 22 (Redis RC) and 24: `[ttl][field][value]` tuples. `min` is the
/// minExpire header for type 24, `None` for the pre-GA absolute TTLs.
fn decode_metadata<F>(cur: &mut Cursor<'_>, min: Option<u64>, f: &mut F) -> Result<()>
where
    F: FnMut(Elem<'_>, Elem<'_>, Option<i64>) -> Result<()>,
{
    let n = cur.count("hash length", 3)?;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let tpos = cur.pos();
        let ttl = cur.length("hash field TTL")?;
        let expire = match min {
            None => ttl,
            Some(_) if ttl == 0 => 0,
            Some(min) => ttl.checked_add(min).map(|s| s - 1).ok_or_else(|| {
                cur.invalid_at(
                    tpos,
                    "hash field TTL",
                    format!("relative TTL {ttl} plus minimum expire time {min} overflows"),
                )
            })?,
        };
        if expire > EB_EXPIRE_TIME_MAX {
            return Err(cur.invalid_at(
                tpos,
                "hash field TTL",
                format!("expire time {expire} is above the maximum {EB_EXPIRE_TIME_MAX}"),
            ));
        }
        let field = cur.string("hash field")?;
        let value = cur.string("hash value")?;
        let expire = (expire != 0).then_some(expire as i64);
        f(field.resolve(&mut a)?, value.resolve(&mut b)?, expire)?;
    }
    Ok(())
}

/// Valkey type 22: `[field][value][i64 LE expire]` tuples.
fn decode_hash2<F>(cur: &mut Cursor<'_>, f: &mut F) -> Result<()>
where
    F: FnMut(Elem<'_>, Elem<'_>, Option<i64>) -> Result<()>,
{
    let n = cur.count("hash length", 10)?;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let field = cur.string("hash field")?;
        let value = cur.string("hash value")?;
        let epos = cur.pos();
        let expire = cur.i64_le("hash field expire time")?;
        let expire = match expire {
            VALKEY_EXPIRY_NONE => None,
            e if e < VALKEY_EXPIRY_NONE => {
                return Err(cur.invalid_at(
                    epos,
                    "hash field expire time",
                    format!("{e} is negative (only -1, meaning no TTL, may be)"),
                ))
            }
            e => Some(e),
        };
        f(field.resolve(&mut a)?, value.resolve(&mut b)?, expire)?;
    }
    Ok(())
}

/// Types 23 and 25 after the optional header: a listpack string of
/// (field, value, ttl) triples. Errors inside the listpack carry the file
/// offset of the listpack's first byte; for an LZF-compressed listpack that
/// is the first byte of the compressed data (decompressed bytes have no
/// file offset of their own).
fn decode_listpack_ex<F>(cur: &mut Cursor<'_>, f: &mut F) -> Result<()>
where
    F: FnMut(Elem<'_>, Elem<'_>, Option<i64>) -> Result<()>,
{
    let spos = cur.pos();
    let s = cur.string("hash listpack")?;
    let mut scratch = Vec::new();
    let (bytes, offset, compressed): (&[u8], u64, Option<u64>) = match s {
        RdbStr::Raw(b) => (b, cur.offset() - b.len() as u64, None),
        // Decompressed bytes have no file offsets: walk them from 0 and
        // re-anchor any error at the compressed data.
        RdbStr::Lzf { offset, .. } => (s.bytes(&mut scratch)?, 0, Some(offset)),
        RdbStr::Int(_) => {
            return Err(cur.invalid_at(
                spos,
                "hash listpack",
                "expected a listpack blob, found an integer-encoded string",
            ))
        }
    };
    let r = walk_listpack_ex(bytes, offset, f);
    match compressed {
        Some(at) => r.map_err(|e| crate::rdb::elem::in_compressed(e, at, "hash listpack")),
        None => r,
    }
}

fn walk_listpack_ex<F>(bytes: &[u8], offset: u64, f: &mut F) -> Result<()>
where
    F: FnMut(Elem<'_>, Elem<'_>, Option<i64>) -> Result<()>,
{
    let lp = listpack::parse(bytes, offset)?;
    let mut field = Elem::Int(0);
    let mut value = Elem::Int(0);
    // Entries read so far, and the position inside the current triple
    // (kept separately rather than as `i % 3`: the crate's MSRV predates
    // `is_multiple_of`).
    let mut i: u64 = 0;
    let mut slot = 0u8;
    for e in lp.iter() {
        let e = e?;
        match slot {
            0 => field = e,
            1 => value = e,
            _ => {
                let ttl = match e {
                    Elem::Int(v) => Some(v),
                    Elem::Bytes(_) => e.as_i64(),
                };
                let ttl = match ttl {
                    Some(t) if (0..=EB_EXPIRE_TIME_MAX as i64).contains(&t) => t,
                    _ => {
                        return Err(Error::invalid(
                            offset,
                            "hash listpack TTL",
                            format!(
                                "entry {i} (TTL of field {}) must be an integer from 0 to {EB_EXPIRE_TIME_MAX}, found {:?}",
                                i / 3,
                                String::from_utf8_lossy(&e.to_vec())
                            ),
                        ))
                    }
                };
                f(field, value, (ttl != 0).then_some(ttl))?;
            }
        }
        i += 1;
        slot = if slot == 2 { 0 } else { slot + 1 };
    }
    if slot != 0 {
        return Err(Error::invalid(
            offset,
            "hash listpack",
            format!("{i} entries is not a whole number of (field, value, TTL) triples"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test-only listpack writer: strings up to 63 bytes (6-bit length),
    /// integers as 7-bit, 13-bit or 64-bit entries.
    enum L<'s> {
        S(&'s [u8]),
        I(i64),
    }
    fn lp(entries: &[L<'_>]) -> Vec<u8> {
        let mut body = Vec::new();
        for e in entries {
            let start = body.len();
            match *e {
                L::S(s) => {
                    assert!(s.len() < 64);
                    body.push(0x80 | s.len() as u8);
                    body.extend_from_slice(s);
                }
                L::I(v) if (0..128).contains(&v) => body.push(v as u8),
                L::I(v) if (-4096..4096).contains(&v) => {
                    let u = (v as u16) & 0x1fff;
                    body.push(0xc0 | (u >> 8) as u8);
                    body.push(u as u8);
                }
                L::I(v) => {
                    body.push(0xf4);
                    body.extend_from_slice(&v.to_le_bytes());
                }
            }
            let len = body.len() - start;
            assert!(len < 128);
            body.push(len as u8);
        }
        let total = 6 + body.len() + 1;
        let mut out = (total as u32).to_le_bytes().to_vec();
        out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
        out.extend_from_slice(&body);
        out.push(0xff);
        out
    }

    fn rstr(out: &mut Vec<u8>, s: &[u8]) {
        assert!(s.len() < 64);
        out.push(s.len() as u8);
        out.extend_from_slice(s);
    }

    use crate::rdb::testutil::rlen;

    type Field = (Vec<u8>, Vec<u8>, Option<i64>);

    fn run(data: &[u8], kind: HfeKind) -> Result<(Vec<Field>, usize)> {
        let mut cur = Cursor::new(data, 1000);
        let mut out = Vec::new();
        decode(&mut cur, kind, |f, v, t| {
            out.push((f.to_vec(), v.to_vec(), t));
            Ok(())
        })?;
        Ok((out, cur.pos()))
    }

    fn skip_len(data: &[u8], kind: HfeKind) -> Result<usize> {
        let mut cur = Cursor::new(data, 1000);
        skip(&mut cur, kind)?;
        Ok(cur.pos())
    }

    fn fv(f: &str, v: &str, t: Option<i64>) -> Field {
        (f.as_bytes().to_vec(), v.as_bytes().to_vec(), t)
    }

    const T1: u64 = 4102444800123; // 2100-01-01T00:00:00.123Z
    const T2: u64 = 1893456000000; // 2030-01-01

    fn metadata_ga() -> Vec<u8> {
        let mut d = T2.to_le_bytes().to_vec();
        rlen(&mut d, 3);
        rlen(&mut d, 1); // ttl 1 -> minExpire itself
        rstr(&mut d, b"a");
        rstr(&mut d, b"1");
        rlen(&mut d, 0); // no TTL
        rstr(&mut d, b"b");
        d.extend_from_slice(&[0xc0, 0x07]); // int-encoded value 7
        rlen(&mut d, T1 - T2 + 1);
        rstr(&mut d, b"c");
        rstr(&mut d, b"");
        d.push(0xaa); // trailing byte: must not be consumed
        d
    }

    #[test]
    fn redis_metadata_ga_relative_ttls() {
        let d = metadata_ga();
        let (got, end) = run(&d, HfeKind::RedisMetadata).unwrap();
        assert_eq!(
            got,
            vec![
                fv("a", "1", Some(T2 as i64)),
                fv("b", "7", None),
                fv("c", "", Some(T1 as i64))
            ]
        );
        assert_eq!(end, d.len() - 1);
        assert_eq!(skip_len(&d, HfeKind::RedisMetadata).unwrap(), d.len() - 1);
    }

    #[test]
    fn redis_metadata_pre_ga_absolute_ttls() {
        let mut d = Vec::new();
        rlen(&mut d, 2);
        rlen(&mut d, T1);
        rstr(&mut d, b"f1");
        rstr(&mut d, b"v1");
        rlen(&mut d, 0);
        rstr(&mut d, b"f2");
        rstr(&mut d, b"v2");
        let (got, end) = run(&d, HfeKind::RedisMetadataPreGa).unwrap();
        assert_eq!(
            got,
            vec![fv("f1", "v1", Some(T1 as i64)), fv("f2", "v2", None)]
        );
        assert_eq!(end, d.len());
        assert_eq!(skip_len(&d, HfeKind::RedisMetadataPreGa).unwrap(), d.len());
    }

    #[test]
    fn redis_metadata_ttl_limits() {
        // Absolute TTL above 2^48-1 is refused, with the TTL's offset.
        let mut d = Vec::new();
        rlen(&mut d, 1);
        rlen(&mut d, EB_EXPIRE_TIME_MAX + 1);
        rstr(&mut d, b"f");
        rstr(&mut d, b"v");
        let e = run(&d, HfeKind::RedisMetadataPreGa).unwrap_err();
        assert_eq!(e.offset, 1001);
        assert!(e.to_string().contains("above the maximum"), "{e}");
        // Exactly the maximum is fine.
        let mut d = Vec::new();
        rlen(&mut d, 1);
        rlen(&mut d, EB_EXPIRE_TIME_MAX);
        rstr(&mut d, b"f");
        rstr(&mut d, b"v");
        assert_eq!(
            run(&d, HfeKind::RedisMetadataPreGa).unwrap().0[0].2,
            Some(EB_EXPIRE_TIME_MAX as i64)
        );
        // GA: relative TTL that overflows u64.
        let mut d = 5u64.to_le_bytes().to_vec();
        rlen(&mut d, 1);
        rlen(&mut d, u64::MAX);
        rstr(&mut d, b"f");
        rstr(&mut d, b"v");
        let e = run(&d, HfeKind::RedisMetadata).unwrap_err();
        assert_eq!(e.offset, 1009);
        assert!(e.to_string().contains("overflows"), "{e}");
        // GA: minExpire beyond EB_EXPIRE_TIME_INVALID.
        let mut d = (EB_EXPIRE_TIME_INVALID + 1).to_le_bytes().to_vec();
        rlen(&mut d, 0);
        let e = run(&d, HfeKind::RedisMetadata).unwrap_err();
        assert_eq!(e.offset, 1000);
    }

    #[test]
    fn redis_listpack_ex_ga_and_pre_ga() {
        let body = lp(&[
            L::S(b"f1"),
            L::S(b"v1"),
            L::I(T2 as i64),
            L::S(b"n"),
            L::I(-5),
            L::I(0),
            L::S(b"f3"),
            L::I(300),
            L::I(T1 as i64),
        ]);
        let want = vec![
            fv("f1", "v1", Some(T2 as i64)),
            fv("n", "-5", None),
            fv("f3", "300", Some(T1 as i64)),
        ];
        // GA: minExpire header (ignored), then the listpack string.
        let mut d = T2.to_le_bytes().to_vec();
        rlen(&mut d, body.len() as u64);
        d.extend_from_slice(&body);
        d.push(0xee);
        let (got, end) = run(&d, HfeKind::RedisListpackEx).unwrap();
        assert_eq!(got, want);
        assert_eq!(end, d.len() - 1);
        assert_eq!(skip_len(&d, HfeKind::RedisListpackEx).unwrap(), d.len() - 1);
        // Pre-GA: no header.
        let d = d[8..].to_vec();
        let (got, end) = run(&d, HfeKind::RedisListpackExPreGa).unwrap();
        assert_eq!(got, want);
        assert_eq!(end, d.len() - 1);
        assert_eq!(
            skip_len(&d, HfeKind::RedisListpackExPreGa).unwrap(),
            d.len() - 1
        );
    }

    #[test]
    fn listpack_ex_with_no_ttl_and_min_zero() {
        // Redis writes minExpire 0 for a listpackex hash without any TTL left.
        let body = lp(&[L::S(b"a"), L::S(b"b"), L::I(0)]);
        let mut d = 0u64.to_le_bytes().to_vec();
        rlen(&mut d, body.len() as u64);
        d.extend_from_slice(&body);
        assert_eq!(
            run(&d, HfeKind::RedisListpackEx).unwrap().0,
            vec![fv("a", "b", None)]
        );
    }

    #[test]
    fn listpack_ex_lzf_compressed() {
        // Hand-made LZF: literal run of the whole listpack (control byte =
        // length - 1), which every LZF decoder must accept.
        let body = lp(&[L::S(b"field"), L::S(b"value"), L::I(T1 as i64)]);
        assert!(body.len() <= 32);
        let mut d = T1.to_le_bytes().to_vec();
        d.push(0xc3);
        rlen(&mut d, body.len() as u64 + 1);
        rlen(&mut d, body.len() as u64);
        d.push(body.len() as u8 - 1);
        d.extend_from_slice(&body);
        let (got, end) = run(&d, HfeKind::RedisListpackEx).unwrap();
        assert_eq!(got, vec![fv("field", "value", Some(T1 as i64))]);
        assert_eq!(end, d.len());
        assert_eq!(skip_len(&d, HfeKind::RedisListpackEx).unwrap(), d.len());
    }

    #[test]
    fn listpack_ex_bad_triples() {
        // Two entries: not a multiple of three.
        let body = lp(&[L::S(b"a"), L::S(b"b")]);
        let mut d = Vec::new();
        rlen(&mut d, body.len() as u64);
        d.extend_from_slice(&body);
        let e = run(&d, HfeKind::RedisListpackExPreGa).unwrap_err();
        assert_eq!(e.offset, 1001);
        assert!(e.to_string().contains("triples"), "{e}");
        // TTL entry that is a non-numeric string.
        let body = lp(&[L::S(b"a"), L::S(b"b"), L::S(b"x")]);
        let mut d = Vec::new();
        rlen(&mut d, body.len() as u64);
        d.extend_from_slice(&body);
        assert!(run(&d, HfeKind::RedisListpackExPreGa)
            .unwrap_err()
            .to_string()
            .contains("TTL"));
        // Negative TTL.
        let body = lp(&[L::S(b"a"), L::S(b"b"), L::I(-1)]);
        let mut d = Vec::new();
        rlen(&mut d, body.len() as u64);
        d.extend_from_slice(&body);
        assert!(run(&d, HfeKind::RedisListpackExPreGa).is_err());
        // TTL above 2^48-1.
        let body = lp(&[L::S(b"a"), L::S(b"b"), L::I(1 << 48)]);
        let mut d = Vec::new();
        rlen(&mut d, body.len() as u64);
        d.extend_from_slice(&body);
        assert!(run(&d, HfeKind::RedisListpackExPreGa).is_err());
        // A numeric string TTL is accepted (lpGetIntegerValue parses strings).
        let body = lp(&[L::S(b"a"), L::S(b"b"), L::S(b"1234")]);
        let mut d = Vec::new();
        rlen(&mut d, body.len() as u64);
        d.extend_from_slice(&body);
        assert_eq!(
            run(&d, HfeKind::RedisListpackExPreGa).unwrap().0,
            vec![fv("a", "b", Some(1234))]
        );
        // An integer-encoded RDB string is not a listpack.
        let e = run(&[0xc0, 0x05], HfeKind::RedisListpackExPreGa).unwrap_err();
        assert_eq!(e.offset, 1000);
    }

    fn hash2() -> Vec<u8> {
        let mut d = Vec::new();
        rlen(&mut d, 3);
        rstr(&mut d, b"x");
        rstr(&mut d, b"1");
        d.extend_from_slice(&(T1 as i64).to_le_bytes());
        rstr(&mut d, b"y");
        rstr(&mut d, b"2");
        d.extend_from_slice(&(-1i64).to_le_bytes());
        rstr(&mut d, b"z");
        d.extend_from_slice(&[0xc1, 0x39, 0x30]); // int16 12345
        d.extend_from_slice(&0i64.to_le_bytes()); // epoch: long expired, still reported
        d
    }

    #[test]
    fn valkey_hash2() {
        let d = hash2();
        let (got, end) = run(&d, HfeKind::ValkeyHash2).unwrap();
        assert_eq!(
            got,
            vec![
                fv("x", "1", Some(T1 as i64)),
                fv("y", "2", None),
                fv("z", "12345", Some(0))
            ]
        );
        assert_eq!(end, d.len());
        assert_eq!(skip_len(&d, HfeKind::ValkeyHash2).unwrap(), d.len());
        // Below -1 is corrupt.
        let mut d = Vec::new();
        rlen(&mut d, 1);
        rstr(&mut d, b"x");
        rstr(&mut d, b"1");
        d.extend_from_slice(&(-2i64).to_le_bytes());
        let e = run(&d, HfeKind::ValkeyHash2).unwrap_err();
        assert_eq!(e.offset, 1005);
    }

    #[test]
    fn empty_hashes_decode_to_nothing() {
        assert_eq!(run(&[0], HfeKind::ValkeyHash2).unwrap(), (vec![], 1));
        assert_eq!(run(&[0], HfeKind::RedisMetadataPreGa).unwrap(), (vec![], 1));
        let mut d = T1.to_le_bytes().to_vec();
        d.push(0);
        assert_eq!(run(&d, HfeKind::RedisMetadata).unwrap(), (vec![], 9));
    }

    #[test]
    fn callback_error_stops_decoding() {
        let d = hash2();
        let mut cur = Cursor::new(&d, 0);
        let mut calls = 0;
        let e = decode(&mut cur, HfeKind::ValkeyHash2, |_, _, _| {
            calls += 1;
            Err(Error::invalid(7, "sink", "stop"))
        })
        .unwrap_err();
        assert_eq!((calls, e.offset), (1, 7));
    }

    fn all_kinds() -> Vec<(HfeKind, Vec<u8>)> {
        let body = lp(&[
            L::S(b"f1"),
            L::S(b"v1"),
            L::I(T2 as i64),
            L::S(b"n"),
            L::I(9),
            L::I(0),
        ]);
        let mut lpga = T2.to_le_bytes().to_vec();
        rlen(&mut lpga, body.len() as u64);
        lpga.extend_from_slice(&body);
        let mut pre = Vec::new();
        rlen(&mut pre, 2);
        rlen(&mut pre, T1);
        rstr(&mut pre, b"f1");
        rstr(&mut pre, b"v1");
        rlen(&mut pre, 0);
        rstr(&mut pre, b"f2");
        rstr(&mut pre, b"v2");
        vec![
            (HfeKind::RedisMetadata, metadata_ga()),
            (HfeKind::RedisMetadataPreGa, pre),
            (HfeKind::RedisListpackExPreGa, lpga[8..].to_vec()),
            (HfeKind::RedisListpackEx, lpga),
            (HfeKind::ValkeyHash2, hash2()),
        ]
    }

    #[test]
    fn truncation_at_every_byte_is_an_error_not_a_panic() {
        for (kind, d) in all_kinds() {
            let (_, full) = run(&d, kind).unwrap();
            for cut in 0..full {
                let part = &d[..cut];
                let r = run(part, kind);
                assert!(r.is_err(), "{kind:?} cut at {cut} decoded");
                let e = r.unwrap_err();
                assert!(
                    e.offset >= 1000 && e.offset <= 1000 + cut as u64,
                    "{kind:?} {cut}: {e}"
                );
                assert!(
                    skip_len(part, kind).is_err(),
                    "{kind:?} cut at {cut} skipped"
                );
            }
        }
    }

    #[test]
    fn every_single_byte_corruption_is_handled() {
        // Flip each byte to a few values; decoding must return, never panic.
        for (kind, d) in all_kinds() {
            for i in 0..d.len() {
                for v in [0x00, 0x3f, 0x40, 0x7f, 0x80, 0x81, 0xc3, 0xff] {
                    let mut m = d.clone();
                    m[i] = v;
                    let _ = run(&m, kind);
                    let _ = skip_len(&m, kind);
                }
            }
        }
    }

    #[test]
    fn hostile_counts_are_rejected_before_looping() {
        let huge = [0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
        for kind in [HfeKind::ValkeyHash2, HfeKind::RedisMetadataPreGa] {
            let e = run(&huge, kind).unwrap_err();
            assert_eq!(e.offset, 1000);
            assert!(e.to_string().contains("cannot fit"), "{e}");
            assert!(skip_len(&huge, kind).is_err());
        }
        let mut d = T1.to_le_bytes().to_vec();
        d.extend_from_slice(&huge);
        assert_eq!(run(&d, HfeKind::RedisMetadata).unwrap_err().offset, 1008);
        // 4 entries claimed, room for 3 bytes each needed: 10 bytes left is too few.
        let mut d = vec![4];
        d.extend_from_slice(&[0; 10]);
        assert!(run(&d, HfeKind::RedisMetadataPreGa).is_err());
        // A listpack string whose declared LZF size is absurd.
        let mut d = vec![0xc3];
        rlen(&mut d, 2);
        rlen(&mut d, 1 << 40);
        d.extend_from_slice(&[0, 0]);
        assert!(run(&d, HfeKind::RedisListpackExPreGa).is_err());
    }
}
