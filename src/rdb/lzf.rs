//! STUB: owned by helper (lzf decoder). Replace.
use crate::error::{Error, Result};
pub fn decompress_into(input: &[u8], out_len: usize, out: &mut Vec<u8>, offset: u64) -> Result<()> {
    let _ = (input, out_len, out);
    Err(Error::invalid(offset, "LZF", "not implemented"))
}
