//! LZF: `lzf::decompress_into` against an independent byte-at-a-time
//! reference decoder, the declared-size guard of `elem::decompress`, and an
//! LZF-encoded RDB string value end to end.
//!
//! Input: declared uncompressed length (u32 little endian), then the
//! compressed bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rdbkit::rdb::elem::{self, LZF_MAX_RATIO};
use rdbkit::rdb::lzf;
use rdbkit::rdb::value::ValueType;
use rdbkit_fuzz::{assert_offset, check_value, put_len, reference_lzf, BASE};

fuzz_target!(|data: &[u8]| {
    let Some((len, input)) = data.split_first_chunk::<4>() else {
        return;
    };
    let declared = u32::from_le_bytes(*len) as usize;
    let hi = BASE + input.len() as u64;

    let mut out = Vec::new();
    let r = lzf::decompress_into(input, declared, &mut out, BASE);
    assert!(
        out.len() <= declared,
        "wrote {} bytes, {declared} declared",
        out.len()
    );
    // Memory follows the input, not the declared length: at most 88 output
    // bytes per input byte (a 3-byte back reference copies 264).
    let justified = declared.min(input.len() * 88);
    assert!(
        out.capacity() <= (2 * justified).max(64),
        "reserved {} bytes for {} input bytes declaring {declared}",
        out.capacity(),
        input.len()
    );
    let reference = reference_lzf(input, declared);
    match (&r, &reference) {
        (Ok(()), Some(want)) => assert_eq!(&out, want, "output differs from the reference"),
        (Err(e), None) => assert_offset(e, BASE, hi, "decompress_into"),
        (Ok(()), None) => panic!("accepted a stream the reference refuses"),
        (Err(e), Some(_)) => panic!("refused a stream the reference accepts: {e}"),
    }

    // With the declared-size guard.
    let mut out2 = vec![0xAA; 3];
    match elem::decompress(input, declared as u64, BASE, &mut out2) {
        Ok(()) => assert_eq!(Some(&out2), reference.as_ref()),
        Err(e) => {
            assert_offset(&e, BASE, hi, "elem::decompress");
            let too_big = declared as u64 > input.len() as u64 * LZF_MAX_RATIO + 64;
            assert!(too_big || r.is_err(), "guard refused a good stream: {e}");
        }
    }

    // As an RDB string value: 0xC3 <clen> <len> <data>.
    let mut v = vec![0xC3];
    put_len(&mut v, input.len() as u64);
    put_len(&mut v, declared as u64);
    v.extend_from_slice(input);
    let (r3, t, _) = check_value(&v, ValueType::String);
    match r3 {
        Ok(()) => assert_eq!(Some(&t.string_bytes), reference.as_ref()),
        Err(_) => assert!(
            reference.is_none() || declared as u64 > input.len() as u64 * LZF_MAX_RATIO + 64
        ),
    }
});
