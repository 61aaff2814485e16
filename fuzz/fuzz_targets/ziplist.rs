//! Ziplists: the decoder on its own (every entry, prevlens, zllen, zltail,
//! the iterator's offsets), then the same bytes as the value of every type
//! that stores a ziplist (list, zset, hash, quicklist node), through
//! `decode_value` and `skip_value`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rdbkit::rdb::value::ValueType;
use rdbkit::rdb::ziplist;
use rdbkit_fuzz::{assert_offset, check_blob, check_value, put_len, put_str, BASE};

/// Walks the ziplist; `Ok(entries)` or the first error.
fn direct(data: &[u8]) -> Result<u64, rdbkit::Error> {
    let hi = BASE + data.len() as u64;
    let zl = match ziplist::parse(data, BASE) {
        Ok(zl) => zl,
        Err(e) => {
            assert_offset(&e, BASE, hi, "ziplist::parse");
            return Err(e);
        }
    };
    let mut it = zl.iter();
    let bound = it.size_hint().1.expect("an upper bound");
    let mut last = it.offset();
    assert_eq!(last, BASE + 10, "entries start after the 10-byte header");
    let mut n = 0u64;
    loop {
        match it.next() {
            None => break,
            Some(Ok(_)) => {
                n += 1;
                let o = it.offset();
                assert!(
                    o > last && o < hi,
                    "next entry offset {o} after {last}, end {hi}"
                );
                last = o;
            }
            Some(Err(e)) => {
                assert_offset(&e, BASE, hi, "ziplist entry");
                assert!(it.next().is_none(), "iterator goes on after an error");
                assert_eq!(zl.validate().unwrap_err(), e, "validate() disagrees");
                return Err(e);
            }
        }
    }
    assert!(it.next().is_none(), "iterator goes on after its end");
    assert_eq!(last, hi - 1, "the walk ends at the end byte");
    assert!(
        n as usize <= bound,
        "{n} entries, size_hint promised at most {bound}"
    );
    if zl.count_hint() != u16::MAX {
        assert_eq!(
            n,
            zl.count_hint() as u64,
            "header count accepted though wrong"
        );
    }
    assert_eq!(zl.validate().unwrap() as u64, n, "validate() disagrees");
    Ok(n)
}

fuzz_target!(|data: &[u8]| {
    let d = direct(data);

    let (r, t) = check_blob(data, ValueType::ListZiplist);
    assert_eq!(
        r.is_ok(),
        d.is_ok(),
        "list ziplist vs ziplist: {r:?} / {d:?}"
    );
    if let Ok(n) = d {
        assert_eq!(t.list, n);
    }

    for vt in [ValueType::ZSetZiplist, ValueType::HashZiplist] {
        let (r, t) = check_blob(data, vt);
        if r.is_ok() {
            let n = d
                .as_ref()
                .copied()
                .expect("decoded although the ziplist is bad");
            assert_eq!(n % 2, 0, "{vt:?}: odd entry count accepted");
            assert_eq!(t.zset + t.hash, n / 2);
        } else if let Ok(n) = d {
            if vt == ValueType::HashZiplist {
                assert!(
                    n % 2 == 1,
                    "a good ziplist with {n} entries refused as a hash"
                );
            }
        }
    }

    // A quicklist (RDB 7-9) whose only node is this ziplist.
    let mut v = Vec::new();
    put_len(&mut v, 1);
    put_str(&mut v, data);
    let (r, t, _) = check_value(&v, ValueType::ListQuicklist);
    assert_eq!(
        r.is_ok(),
        d.is_ok(),
        "quicklist node vs ziplist: {r:?} / {d:?}"
    );
    if let Ok(n) = d {
        assert_eq!(t.list, n);
    }
});
