//! Intsets: header and size checks, the element walk, the sortedness check,
//! and the same bytes as an `RDB_TYPE_SET_INTSET` value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rdbkit::rdb::intset;
use rdbkit::rdb::value::ValueType;
use rdbkit_fuzz::{assert_offset, check_blob, BASE};

fuzz_target!(|data: &[u8]| {
    let hi = BASE + data.len() as u64;
    let d = match intset::parse(data, BASE) {
        Err(e) => {
            assert_offset(&e, BASE, hi, "intset::parse");
            Err(e)
        }
        Ok(s) => {
            let w = s.encoding();
            assert!(matches!(w, 2 | 4 | 8), "element width {w} accepted");
            assert_eq!(8 + s.len() * w as usize, data.len(), "size check");
            assert_eq!(s.is_empty(), data.len() == 8, "is_empty");
            let it = s.iter();
            assert_eq!(it.len(), s.len(), "ExactSizeIterator::len");
            let vals: Vec<i64> = it.collect();
            assert_eq!(vals.len(), s.len());
            let (lo, hi_v) = match w {
                2 => (i16::MIN as i64, i16::MAX as i64),
                4 => (i32::MIN as i64, i32::MAX as i64),
                _ => (i64::MIN, i64::MAX),
            };
            assert!(
                vals.iter().all(|v| (lo..=hi_v).contains(v)),
                "value wider than {w} bytes"
            );
            // The first element is the little-endian integer right after the header.
            if let Some(&first) = vals.first() {
                let mut b = [0u8; 8];
                b[..w as usize].copy_from_slice(&data[8..8 + w as usize]);
                let raw = i64::from_le_bytes(b);
                let shift = 64 - 8 * w;
                assert_eq!(first, (raw << shift) >> shift, "first element");
            }
            let sorted = vals.windows(2).all(|p| p[0] < p[1]);
            match s.validate_sorted() {
                Ok(()) => assert!(sorted, "validate_sorted accepted an unsorted intset"),
                Err(e) => {
                    assert!(!sorted, "validate_sorted refused a sorted intset: {e}");
                    assert_offset(&e, BASE + 8, hi, "validate_sorted");
                }
            }
            Ok(s.len() as u64)
        }
    };

    let (r, t) = check_blob(data, ValueType::SetIntset);
    assert_eq!(r.is_ok(), d.is_ok(), "set intset vs intset: {r:?} / {d:?}");
    if let Ok(n) = d {
        assert_eq!(t.set, n);
    }
});
