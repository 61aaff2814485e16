//! STUB: owned by helper. Replace.
use crate::error::{Error, Result};
use crate::rdb::elem::Elem;
pub struct Ziplist<'a> { pub data: &'a [u8] }
pub fn parse(data: &[u8], offset: u64) -> Result<Ziplist<'_>> { let _ = data; Err(Error::invalid(offset, "ziplist", "stub")) }
impl<'a> Ziplist<'a> {
    pub fn iter(&self) -> std::vec::IntoIter<Result<Elem<'a>>> { Vec::new().into_iter() }
}
