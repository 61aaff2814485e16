//! Finding the way back into a damaged file (`--skip-corrupt`).
//!
//! An RDB file has no record markers or index: a record is only found by
//! walking every length before it. When a length is damaged, the walk is
//! lost. To go on, [`resync`] tries each later byte as a record start and
//! accepts the first position from which several items in a row parse —
//! keys whose type byte, key string and value lengths all hold together —
//! or from which the walk reaches a well-formed end of file. Random bytes
//! pass that test very rarely: a type byte must be one of ~30 values, then
//! a key string and a whole value must fit inside the file, several times.

use super::consts::*;
use super::cursor::Cursor;
use super::records::{Header, Item, ParseOptions, Parser};

/// Items that must parse in a row (at least two of them keys) for a
/// position to count as a record start, unless the file ends cleanly first.
pub const RESYNC_ITEMS: usize = 4;

/// The first offset in `from..` where parsing resumes plausibly (see the
/// module doc), with the database to assume there (`db`, the one selected
/// before the damage). `None` if there is none: the rest of the file is lost.
pub fn resync(data: &[u8], header: Header, from: usize, db: u64) -> Option<usize> {
    let lo = from.max(header.len);
    (lo..data.len()).find(|&p| plausible_start(data, header, p, db))
}

fn plausible_start(data: &[u8], header: Header, p: usize, db: u64) -> bool {
    // Cheap filter first: the byte must open an item.
    let b = data[p];
    let opens = matches!(
        b,
        RDB_OPCODE_EOF
            | RDB_OPCODE_SELECTDB
            | RDB_OPCODE_RESIZEDB
            | RDB_OPCODE_AUX
            | RDB_OPCODE_EXPIRETIME_MS
            | RDB_OPCODE_EXPIRETIME
            | RDB_OPCODE_IDLE
            | RDB_OPCODE_FREQ
    ) || super::value::ValueType::from_byte(b, header.dialect).is_some();
    if !opens {
        return false;
    }
    let Ok(mut parser) = Parser::resume(
        data,
        header,
        p,
        data.len(),
        db,
        ParseOptions {
            verify_checksum: false,
        },
    ) else {
        return false;
    };
    let (mut items, mut keys) = (0, 0);
    while items < RESYNC_ITEMS {
        match parser.next_item() {
            Ok(Some(Item::Eof { trailing, .. })) => return trailing == 0,
            Ok(Some(Item::Key(_))) => keys += 1,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return false,
        }
        items += 1;
    }
    keys >= 2
}

/// The key of the record starting at `at`, if its opening (expiry, LRU/LFU
/// opcodes, type byte, key string) is readable: for reports of a damaged
/// record whose value could not be walked.
pub fn key_at(data: &[u8], header: Header, at: usize) -> Option<Vec<u8>> {
    let mut cur = Cursor::new(data.get(at..)?, at as u64);
    loop {
        match cur.u8("opcode").ok()? {
            RDB_OPCODE_EXPIRETIME_MS => {
                cur.i64_le("expiry").ok()?;
            }
            RDB_OPCODE_EXPIRETIME => {
                cur.u32_le("expiry").ok()?;
            }
            RDB_OPCODE_IDLE => {
                cur.length("idle").ok()?;
            }
            RDB_OPCODE_FREQ => {
                cur.u8("freq").ok()?;
            }
            t => {
                super::value::ValueType::from_byte(t, header.dialect)?;
                let key = cur.string("key").ok()?;
                // An LZF key is decompressed only if it is small.
                if key.decoded_len() > 1 << 20 {
                    return None;
                }
                return key.to_vec().ok();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RDB 9 file with `n` string keys `kNN` = `vNN`.
    fn file(n: usize) -> Vec<u8> {
        let mut f = b"REDIS0009".to_vec();
        f.extend_from_slice(&[0xFE, 0x00]);
        for i in 0..n {
            let k = format!("k{i:02}");
            let v = format!("v{i:02}");
            f.push(0);
            f.push(k.len() as u8);
            f.extend_from_slice(k.as_bytes());
            f.push(v.len() as u8);
            f.extend_from_slice(v.as_bytes());
        }
        f.push(0xFF);
        f.extend_from_slice(&[0; 8]);
        f
    }

    fn header(f: &[u8]) -> Header {
        Parser::new(f, ParseOptions::default()).unwrap().header()
    }

    #[test]
    fn finds_the_next_record_after_a_damaged_length() {
        let mut f = file(10);
        let h = header(&f);
        // Record 3 starts at 11 + 3*9 = 38; its key length byte is 39.
        let rec3 = 11 + 3 * 9;
        assert_eq!(key_at(&f, h, rec3).as_deref(), Some(&b"k03"[..]));
        f[rec3 + 1] = 0x3F; // key length 63: swallows the following records
        assert_eq!(resync(&f, h, rec3 + 1, 0), Some(rec3 + 9));
    }

    #[test]
    fn near_the_end_the_eof_decides() {
        let f = file(3);
        let h = header(&f);
        let last = 11 + 2 * 9;
        // One key, then EOF with exactly its 8-byte trailer: accepted.
        assert_eq!(resync(&f, h, last, 0), Some(last));
        // No plausible start in pure noise.
        let mut g = f[..11].to_vec();
        g.extend((0..2000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 | 0x80));
        assert_eq!(resync(&g, h, 11, 0), None);
    }
}
