//! STUB: owned by helper. Replace.
use crate::error::{Error, Result};
pub struct Intset<'a> { pub data: &'a [u8] }
pub fn parse(data: &[u8], offset: u64) -> Result<Intset<'_>> { let _ = data; Err(Error::invalid(offset, "intset", "stub")) }
impl<'a> Intset<'a> {
    pub fn len(&self) -> usize { 0 }
    pub fn is_empty(&self) -> bool { true }
    pub fn iter(&self) -> impl Iterator<Item = i64> + 'a { std::iter::empty() }
}
