//! Building intsets (`intsetAdd` in Redis' `intset.c`); the layout is drawn
//! in [`crate::rdb::intset`]:
//!
//! ```text
//! <encoding u32LE: 2, 4 or 8> <length u32LE> <sorted unique ints, LE>
//! ```

/// The intset of `vals` (sorted and deduplicated here), in the smallest
/// element width that holds them all.
pub fn build(vals: &mut Vec<i64>) -> Vec<u8> {
    vals.sort_unstable();
    vals.dedup();
    let width: usize = if vals.iter().all(|&v| i16::try_from(v).is_ok()) {
        2
    } else if vals.iter().all(|&v| i32::try_from(v).is_ok()) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + width * vals.len());
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(vals.len() as u32).to_le_bytes());
    for &v in vals.iter() {
        out.extend_from_slice(&v.to_le_bytes()[..width]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::intset;

    #[test]
    fn widths_and_order() {
        for (mut v, w) in [
            (vec![3, 1, 2, 2], 2u32),
            (vec![-40000, 5], 4),
            (vec![i64::MIN, 0, i64::MAX], 8),
        ] {
            let b = build(&mut v);
            let p = intset::parse(&b, 0).unwrap();
            assert_eq!(p.encoding(), w);
            p.validate_sorted().unwrap();
            assert_eq!(p.iter().collect::<Vec<_>>(), v);
        }
    }
}
