//! Empty collections: servers never save one and their loaders skip one
//! ("skipping empty key"), and `redis-check-rdb` refuses one, so a written
//! file leaves them out. Found from the value's counts alone (a plain
//! collection's length, a blob's header count, every quicklist node's
//! count), without decoding elements.
//!
//! ```text
//! plain list/set/zset/hash   <len 0>
//! listpack  <u32 total> <u16 count = 0>      ziplist  <u32> <u32> <u16 count = 0>
//! intset    <u32 enc> <u32 count = 0>        quicklist  every node empty
//! ```

use crate::rdb::cursor::Cursor;
use crate::rdb::elem::RdbStr;
use crate::rdb::records::Record;
use crate::rdb::value::ValueType;

/// Whether the blob string's header says it holds no element. An
/// LZF-compressed blob is never empty (an empty one compresses to nothing).
fn blob_empty(s: RdbStr<'_>, count_at: usize, width: usize) -> bool {
    match s {
        RdbStr::Raw(b) => b
            .get(count_at..count_at + width)
            .is_some_and(|c| c.iter().all(|&x| x == 0)),
        _ => false,
    }
}

/// Whether `rec` is an empty collection. A value that does not read as
/// expected counts as not empty (it is copied, and a decoder reports it).
pub fn is_empty(rec: &Record<'_>) -> bool {
    use ValueType::*;
    let mut cur = Cursor::new(rec.value, rec.value_offset);
    let quicklist = |cur: &mut Cursor<'_>, v2: bool| -> Option<bool> {
        let n = cur.length("n").ok()?;
        for _ in 0..n {
            if v2 && cur.length("container").ok()? == 1 {
                return Some(false); // a plain node holds one element
            }
            let s = cur.string("node").ok()?;
            let empty = if v2 {
                blob_empty(s, 4, 2)
            } else {
                blob_empty(s, 8, 2)
            };
            if !empty {
                return Some(false);
            }
        }
        Some(true)
    };
    let r = match rec.vtype {
        List | Set | ZSet | ZSet2 | Hash => cur.length("n").ok().map(|n| n == 0),
        ListQuicklist => quicklist(&mut cur, false),
        ListQuicklist2 => quicklist(&mut cur, true),
        SetListpack | ZSetListpack | HashListpack => {
            cur.string("lp").ok().map(|s| blob_empty(s, 4, 2))
        }
        ListZiplist | ZSetZiplist | HashZiplist => {
            cur.string("zl").ok().map(|s| blob_empty(s, 8, 2))
        }
        SetIntset => cur.string("is").ok().map(|s| blob_empty(s, 4, 4)),
        _ => Some(false),
    };
    r.unwrap_or(false)
}
