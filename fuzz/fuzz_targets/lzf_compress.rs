//! The LZF compressor of the writer (`rdb::write::lzf::compress_into`):
//! whatever it is given, a compressed form it returns reads back, through
//! the decompressor and through an independent byte-at-a-time reference
//! decoder, to exactly the input; it never takes more than the `max` bytes
//! it was allowed; and a refusal leaves the output as it was.
//!
//! Input: one byte of slack (`max` is the input length minus it, as
//! `rdbSaveLzfStringObject` allows `len - 4`), then the bytes to compress.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rdbkit::rdb::lzf;
use rdbkit::rdb::write::lzf::compress_into;
use rdbkit_fuzz::reference_lzf;

fuzz_target!(|data: &[u8]| {
    let Some((&slack, s)) = data.split_first() else {
        return;
    };
    let max = s.len().saturating_sub(usize::from(slack % 8));
    let mut out = b"prefix".to_vec();
    match compress_into(s, &mut out, max) {
        None => assert_eq!(out, b"prefix", "a refusal wrote bytes"),
        Some(n) => {
            assert_eq!(out.len(), 6 + n, "the length returned");
            assert!(n <= max, "{n} bytes, {max} allowed");
            assert!(out.starts_with(b"prefix"), "the bytes before were changed");
            let packed = &out[6..];
            let mut back = Vec::new();
            lzf::decompress_into(packed, s.len(), &mut back, 0).expect("reads back");
            assert_eq!(back, s, "decompressed differs");
            assert_eq!(reference_lzf(packed, s.len()).as_deref(), Some(s), "reference differs");
        }
    }
});
