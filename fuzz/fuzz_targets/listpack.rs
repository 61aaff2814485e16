//! Listpacks: the decoder on its own (every entry, the header count, the
//! iterator's offsets), then the same bytes as the value of every type that
//! stores a listpack (set, zset, hash, quicklist-2 node, hash with field
//! TTLs), through `decode_value` and `skip_value`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rdbkit::rdb::hfe::HfeKind;
use rdbkit::rdb::listpack;
use rdbkit::rdb::value::ValueType;
use rdbkit_fuzz::{assert_offset, check_blob, check_value, put_len, put_str, BASE};

/// Walks the listpack; `Ok(elements)` or the first error.
fn direct(data: &[u8]) -> Result<u64, rdbkit::Error> {
    let hi = BASE + data.len() as u64;
    let lp = match listpack::parse(data, BASE) {
        Ok(lp) => lp,
        Err(e) => {
            assert_offset(&e, BASE, hi, "listpack::parse");
            return Err(e);
        }
    };
    let mut it = lp.iter();
    let bound = it.size_hint().1.expect("an upper bound");
    let mut last = it.offset();
    assert_eq!(last, BASE + 6, "entries start after the 6-byte header");
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
                assert_offset(&e, BASE, hi, "listpack entry");
                assert!(it.next().is_none(), "iterator goes on after an error");
                assert_eq!(lp.validate().unwrap_err(), e, "validate() disagrees");
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
    if lp.count_hint() != u16::MAX {
        assert_eq!(
            n,
            lp.count_hint() as u64,
            "header count accepted though wrong"
        );
    }
    assert_eq!(lp.validate().unwrap() as u64, n, "validate() disagrees");
    Ok(n)
}

fuzz_target!(|data: &[u8]| {
    let d = direct(data);

    let (r, t) = check_blob(data, ValueType::SetListpack);
    assert_eq!(
        r.is_ok(),
        d.is_ok(),
        "set listpack vs listpack: {r:?} / {d:?}"
    );
    if let Ok(n) = d {
        assert_eq!(t.set, n);
    }

    for (vt, per) in [(ValueType::ZSetListpack, 2), (ValueType::HashListpack, 2)] {
        let (r, t) = check_blob(data, vt);
        if r.is_ok() {
            let n = d
                .as_ref()
                .copied()
                .expect("decoded although the listpack is bad");
            assert_eq!(n % per, 0, "{vt:?}: odd element count accepted");
            assert_eq!(t.zset + t.hash, n / per);
        } else if let Ok(n) = d {
            if vt == ValueType::HashListpack {
                assert!(
                    n % 2 == 1,
                    "a good listpack with {n} elements refused as a hash"
                );
            }
        }
    }

    // A quicklist-2 with this as its one packed node.
    let mut v = Vec::new();
    put_len(&mut v, 1);
    put_len(&mut v, 2);
    put_str(&mut v, data);
    let (r, t, _) = check_value(&v, ValueType::ListQuicklist2);
    assert_eq!(
        r.is_ok(),
        d.is_ok(),
        "quicklist node vs listpack: {r:?} / {d:?}"
    );
    if let Ok(n) = d {
        assert_eq!(t.list, n);
    }

    // Hash with field TTLs: (field, value, ttl) triples.
    let (r, t) = check_blob(data, ValueType::HashTtl(HfeKind::RedisListpackExPreGa));
    if r.is_ok() {
        let n = d
            .as_ref()
            .copied()
            .expect("decoded although the listpack is bad");
        assert_eq!(n % 3, 0);
        assert_eq!(t.hash, n / 3);
    }
    let mut v = 1_700_000_000_000u64.to_le_bytes().to_vec();
    put_str(&mut v, data);
    let (r, _, _) = check_value(&v, ValueType::HashTtl(HfeKind::RedisListpackEx));
    if r.is_ok() {
        assert!(d.is_ok(), "decoded although the listpack is bad");
    }
});
