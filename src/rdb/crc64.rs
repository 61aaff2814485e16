//! STUB: owned by helper. Replace.
pub fn crc64(crc: u64, data: &[u8]) -> u64 { let _ = data; crc }
