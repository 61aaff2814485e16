//! STUB: owned by helper. Replace.
use crate::error::{Error, Result};
pub struct Zipmap<'a> { pub data: &'a [u8] }
pub fn parse(data: &[u8], offset: u64) -> Result<Zipmap<'_>> { let _ = data; Err(Error::invalid(offset, "zipmap", "stub")) }
impl<'a> Zipmap<'a> {
    pub fn iter(&self) -> std::vec::IntoIter<Result<(&'a [u8], &'a [u8])>> { Vec::new().into_iter() }
}
