//! Allocator arithmetic: jemalloc size classes and the sizes of Redis'
//! basic allocations (sds strings, listpack entries, intsets).
//!
//! Redis allocates through jemalloc and reports memory with
//! `zmalloc_size()` (`je_malloc_usable_size`), i.e. a request rounded up to
//! its size class. jemalloc 5 has four classes per doubling: sizes up to
//! four quanta are multiples of the quantum, above that a request of `n`
//! bytes with `2^k < n <= 2^(k+1)` rounds up to a multiple of `2^(k-2)`.
//! The quantum depends on how jemalloc was built:
//!
//! - **8 bytes** (`--with-lg-quantum=3`): the jemalloc bundled with Redis
//!   and Valkey sources, official tarballs and Docker images. Classes 8, 16,
//!   24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, ...
//! - **16 bytes** (jemalloc's default): distribution builds that link the
//!   system jemalloc, e.g. Debian's and Ubuntu's `redis-server`. Classes 8,
//!   16, 32, 48, 64, 80, 96, 112, 128, 160, ...

/// How jemalloc was built (its quantum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Quantum {
    /// 8-byte quantum: Redis/Valkey's bundled jemalloc (the default).
    #[default]
    Q8,
    /// 16-byte quantum: a system jemalloc (Debian/Ubuntu packages).
    Q16,
}

impl Quantum {
    pub fn bytes(self) -> u64 {
        match self {
            Quantum::Q8 => 8,
            Quantum::Q16 => 16,
        }
    }
}

/// The jemalloc size class of a request of `n` bytes (what
/// `malloc_usable_size` returns for it). `malloc(0)` gets the smallest
/// class.
#[inline]
pub(crate) fn size_class(n: u64, q: Quantum) -> u64 {
    let qb = q.bytes();
    if n <= 8 {
        return 8;
    }
    if n <= 4 * qb {
        return n.div_ceil(qb) * qb;
    }
    // 2^lg < n <= 2^(lg+1): spacing 2^(lg-1)... four classes per doubling.
    let lg = 63 - (n - 1).leading_zeros() as u64; // floor(log2(n - 1))
    let delta = 1u64 << (lg - 2);
    n.div_ceil(delta) * delta
}

/// Header bytes of an sds string of `len` bytes as `sdsnewlen` makes it
/// (Redis 7: type 5 below 32 bytes, then 8/16/32/64-bit headers).
#[inline]
pub(crate) fn sds_header(len: u64) -> u64 {
    if len < 1 << 5 {
        1
    } else if len < 1 << 8 {
        3
    } else if len < 1 << 16 {
        5
    } else if len < 1 << 32 {
        9
    } else {
        17
    }
}

/// `sdsZmallocSize` of a freshly made sds of `len` bytes: header, bytes,
/// terminating NUL, rounded to the size class.
#[inline]
pub(crate) fn sds_alloc(len: u64, q: Quantum) -> u64 {
    size_class(sds_header(len) + len + 1, q)
}

/// Parses bytes the way `string2ll` / `lpStringToInt64` accept them: an
/// optional `-`, 1 to 19 digits without leading zeros (a lone `0` is fine,
/// `-0` is not), no spaces, within `i64`.
#[inline]
pub(crate) fn strict_i64(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    let (neg, digits) = match b[0] {
        b'-' => (true, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || (digits[0] == b'0' && (digits.len() > 1 || neg)) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((d - b'0') as u64)?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

/// Number of decimal characters of `i` (with the sign).
#[inline]
pub(crate) fn dec_len(i: i64) -> u64 {
    let mut n = i.unsigned_abs();
    let mut l = 1 + (i < 0) as u64;
    while n >= 10 {
        n /= 10;
        l += 1;
    }
    l
}

/// Bytes of a listpack integer entry without its back-length byte.
#[inline]
fn lp_int_body(v: i64) -> u64 {
    if (0..=127).contains(&v) {
        1
    } else if (-4096..=4095).contains(&v) {
        2
    } else if (-32768..=32767).contains(&v) {
        3
    } else if (-8_388_608..=8_388_607).contains(&v) {
        4
    } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
        5
    } else {
        9
    }
}

/// `lpEncodeBacklen` size for an entry body of `l` bytes.
#[inline]
fn lp_backlen(l: u64) -> u64 {
    crate::rdb::listpack::backlen_size(l) as u64
}

/// Bytes one listpack entry takes for an integer.
#[inline]
pub(crate) fn lp_int_entry(v: i64) -> u64 {
    let b = lp_int_body(v);
    b + lp_backlen(b)
}

/// Bytes one listpack entry takes for a byte string, as `lpAppend` would
/// encode it (strings that look like integers become integers).
#[inline]
pub(crate) fn lp_str_entry(s: &[u8]) -> u64 {
    if let Some(v) = strict_i64(s) {
        return lp_int_entry(v);
    }
    lp_strlen_entry(s.len() as u64)
}

/// Bytes one listpack entry takes for a string of `len` bytes that is not
/// an integer.
#[inline]
pub(crate) fn lp_strlen_entry(len: u64) -> u64 {
    let b = if len < 64 {
        1 + len
    } else if len < 4096 {
        2 + len
    } else {
        5 + len
    };
    b + lp_backlen(b)
}

/// Header (total bytes + count) and end marker of a listpack.
pub(crate) const LP_OVERHEAD: u64 = 7;

/// Bytes of an intset holding `n` integers whose widest needs `width` bytes.
#[inline]
pub(crate) fn intset_bytes(n: u64, width: u64) -> u64 {
    8 + n * width
}

/// Width (2, 4 or 8 bytes) an intset needs for `v`.
#[inline]
pub(crate) fn intset_width(v: i64) -> u64 {
    if (i16::MIN as i64..=i16::MAX as i64).contains(&v) {
        2
    } else if (i32::MIN as i64..=i32::MAX as i64).contains(&v) {
        4
    } else {
        8
    }
}

/// Length of `%.17g` for a finite, non-zero double (what Redis' `d2string`
/// writes for scores that are not small integers).
pub(crate) fn g17_len(v: f64) -> u64 {
    // `{:.16e}` gives 17 significant digits: d.dddddddddddddddde<exp>.
    let s = format!("{:.16e}", v);
    let (mant, exp) = match s.split_once('e') {
        Some(x) => x,
        None => return s.len() as u64,
    };
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-') as u64;
    let digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    let sig = digits.iter().rposition(|&d| d != b'0').map_or(1, |p| p + 1) as i32;
    if !(-4..17).contains(&exp) {
        // d[.ddd]e±XX (at least two exponent digits)
        let e_digits = (exp.unsigned_abs().max(10)).to_string().len() as u64;
        neg + sig as u64 + (sig > 1) as u64 + 2 + e_digits
    } else if exp >= 0 {
        // integer part exp+1 digits, fraction the rest
        let int_digits = exp + 1;
        let frac = (sig - int_digits).max(0);
        neg + int_digits as u64 + if frac > 0 { 1 + frac as u64 } else { 0 }
    } else {
        // 0.000ddd
        let lead = (-exp - 1) as u64;
        neg + 2 + lead + sig as u64
    }
}

/// Length of the string `d2string` makes for a score (Redis 7).
pub(crate) fn score_str_len(v: f64) -> u64 {
    if v.is_nan() {
        3
    } else if v.is_infinite() {
        3 + (v < 0.0) as u64
    } else if v == 0.0 {
        1 + v.is_sign_negative() as u64
    } else if v > -4_503_599_627_370_495.0 && v < 4_503_599_627_370_496.0 && v == (v as i64) as f64
    {
        dec_len(v as i64)
    } else {
        g17_len(v)
    }
}

/// Bytes of the listpack entry `zzlInsertAt` writes for a score.
pub(crate) fn lp_score_entry(v: f64) -> u64 {
    if v.is_finite()
        && v > -4_503_599_627_370_495.0
        && v < 4_503_599_627_370_496.0
        && v == (v as i64) as f64
        && !(v == 0.0 && v.is_sign_negative())
    {
        return lp_int_entry(v as i64);
    }
    let len = score_str_len(v);
    let b = if len < 64 { 1 + len } else { 2 + len };
    b + lp_backlen(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_quantum_8() {
        let q = Quantum::Q8;
        let cases = [
            (0, 8),
            (1, 8),
            (8, 8),
            (9, 16),
            (17, 24),
            (24, 24),
            (25, 32),
            (33, 40),
            (57, 64),
            (65, 80),
            (129, 160),
            (257, 320),
            (536, 640),
            (1025, 1280),
            (4097, 5120),
            (8192, 8192),
            (8193, 10240),
            (16385, 20480),
            (100_000, 114_688),
            (1 << 20, 1 << 20),
            ((1 << 20) + 1, 1_310_720),
        ];
        for (n, c) in cases {
            assert_eq!(size_class(n, q), c, "n={n}");
        }
    }

    #[test]
    fn classes_quantum_16() {
        let q = Quantum::Q16;
        let cases = [
            (1, 8),
            (9, 16),
            (17, 32),
            (24, 32),
            (33, 48),
            (49, 64),
            (65, 80),
            (113, 128),
            (129, 160),
            (161, 192),
            (4096, 4096),
        ];
        for (n, c) in cases {
            assert_eq!(size_class(n, q), c, "n={n}");
        }
    }

    #[test]
    fn classes_are_monotonic_and_cover() {
        for q in [Quantum::Q8, Quantum::Q16] {
            let mut prev = 0;
            for n in 1..100_000u64 {
                let c = size_class(n, q);
                assert!(c >= n && c >= prev, "n={n} c={c}");
                // at most 25% above the request beyond the tiny classes
                if n > 64 {
                    assert!(c * 4 <= n * 5 + 4, "n={n} c={c}");
                }
                prev = c;
            }
        }
    }

    #[test]
    fn sds() {
        assert_eq!(sds_alloc(0, Quantum::Q8), 8);
        assert_eq!(sds_alloc(10, Quantum::Q8), 16);
        assert_eq!(sds_alloc(31, Quantum::Q8), 40); // 1 + 31 + 1 = 33
        assert_eq!(sds_alloc(32, Quantum::Q8), 40); // 3 + 32 + 1 = 36
        assert_eq!(sds_alloc(300, Quantum::Q8), 320); // 5 + 300 + 1
    }

    #[test]
    fn ints() {
        assert_eq!(strict_i64(b"0"), Some(0));
        assert_eq!(strict_i64(b"-12"), Some(-12));
        assert_eq!(strict_i64(b"012"), None);
        assert_eq!(strict_i64(b"-0"), None);
        assert_eq!(strict_i64(b"+1"), None);
        assert_eq!(strict_i64(b" 1"), None);
        assert_eq!(strict_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(strict_i64(b"9223372036854775808"), None);
        assert_eq!(strict_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(dec_len(0), 1);
        assert_eq!(dec_len(-10), 3);
        assert_eq!(dec_len(i64::MIN), 20);
    }

    #[test]
    fn listpack_entries() {
        assert_eq!(lp_str_entry(b"5"), 2);
        assert_eq!(lp_str_entry(b"1000"), 3);
        assert_eq!(lp_str_entry(b"hello"), 7);
        assert_eq!(lp_str_entry(&[b'a'; 63]), 65);
        assert_eq!(lp_str_entry(&[b'a'; 64]), 66 + 1);
        assert_eq!(lp_str_entry(&[b'a'; 200]), 202 + 2);
        assert_eq!(lp_int_entry(i64::MAX), 10);
    }

    #[test]
    fn score_strings() {
        assert_eq!(score_str_len(1.0), 1);
        assert_eq!(score_str_len(-25.0), 3);
        assert_eq!(score_str_len(0.5), 3);
        assert_eq!(score_str_len(0.1), "0.10000000000000001".len() as u64);
        assert_eq!(
            score_str_len(1.5e300),
            "1.5000000000000001e+300".len() as u64
        );
        assert_eq!(score_str_len(1e20), "1e+20".len() as u64);
        assert_eq!(score_str_len(123.456), "123.456".len() as u64);
        assert_eq!(score_str_len(1e-5), "1.0000000000000001e-05".len() as u64);
        assert_eq!(score_str_len(f64::INFINITY), 3);
        assert_eq!(score_str_len(3.25), 4);
    }
}
