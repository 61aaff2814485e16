//! Zipmaps (hashes of Redis < 2.6): framing, the pair walk with its free
//! space, the count byte, and the same bytes as an `RDB_TYPE_HASH_ZIPMAP`
//! value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rdbkit::rdb::value::ValueType;
use rdbkit::rdb::zipmap;
use rdbkit_fuzz::{assert_offset, check_blob, BASE};

/// Walks the zipmap; `Ok(pairs)` or the first error.
fn direct(data: &[u8]) -> Result<u64, rdbkit::Error> {
    let hi = BASE + data.len() as u64;
    let zm = match zipmap::parse(data, BASE) {
        Ok(zm) => zm,
        Err(e) => {
            assert_offset(&e, BASE, hi, "zipmap::parse");
            return Err(e);
        }
    };
    let mut it = zm.iter();
    let bound = it.size_hint().1.expect("an upper bound");
    let mut last = it.offset();
    assert_eq!(last, BASE + 1, "pairs start after the count byte");
    let mut n = 0u64;
    let mut bytes = 0usize;
    loop {
        match it.next() {
            None => break,
            Some(Ok((k, v))) => {
                n += 1;
                bytes += k.len() + v.len();
                let o = it.offset();
                assert!(
                    o > last && o < hi,
                    "next pair offset {o} after {last}, end {hi}"
                );
                last = o;
            }
            Some(Err(e)) => {
                assert_offset(&e, BASE, hi, "zipmap pair");
                assert!(it.next().is_none(), "iterator goes on after an error");
                assert_eq!(zm.validate().unwrap_err(), e, "validate() disagrees");
                return Err(e);
            }
        }
    }
    assert!(it.next().is_none(), "iterator goes on after its end");
    assert_eq!(last, hi - 1, "the walk ends at the end byte");
    assert!(
        n as usize <= bound,
        "{n} pairs, size_hint promised at most {bound}"
    );
    // Each pair takes at least 3 framing bytes besides its field and value.
    assert!(bytes + 3 * n as usize + 2 <= data.len());
    if zm.count_hint() != 254 {
        assert_eq!(
            n,
            zm.count_hint() as u64,
            "count byte accepted though wrong"
        );
    }
    assert_eq!(zm.validate().unwrap() as u64, n, "validate() disagrees");
    Ok(n)
}

fuzz_target!(|data: &[u8]| {
    let d = direct(data);
    let (r, t) = check_blob(data, ValueType::HashZipmap);
    assert_eq!(r.is_ok(), d.is_ok(), "hash zipmap vs zipmap: {r:?} / {d:?}");
    if let Ok(n) = d {
        assert_eq!(t.hash, n);
    }
});
