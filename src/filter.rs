//! Record filters shared by every command (`json`, `resp`, `load`, `stats`,
//! `memory`, `verify`): database, key glob / regex (included or excluded),
//! type, serialized size, expiry.
//!
//! A filter looks only at what the boundary pass already has — the key, the
//! type byte, the expiry and the span of the encoded value — so a dropped
//! record's value is never decoded: the parser skipped its bytes by their
//! lengths, and the filter says no before any worker touches them.
//!
//! Keys are bytes. Globs follow Redis' `KEYS`/`SCAN MATCH` syntax
//! (`*`, `?`, `[abc]`, `[^a-z]`, `\x` escapes; see `stringmatchlen` in
//! Redis' `util.c`) and match raw bytes; regexes use `regex::bytes`, so
//! neither needs the key to be UTF-8. Regexes need the `regex` feature
//! (on by default); without it [`Pattern::regex`] is refused.

use std::fmt;

#[cfg(feature = "regex")]
use regex::bytes::Regex;

use crate::error::Result;
use crate::rdb::records::Record;
use crate::rdb::value::Kind;

/// A key pattern: a Redis-style glob or a regular expression.
#[derive(Clone)]
pub enum Pattern {
    Glob(Glob),
    #[cfg(feature = "regex")]
    Regex(Regex),
}

impl Pattern {
    pub fn glob(p: &str) -> Pattern {
        Pattern::Glob(Glob::new(p.as_bytes()))
    }

    /// A regex over the key's bytes (unanchored, like `grep`; use `^…$` to
    /// anchor).
    #[cfg(feature = "regex")]
    pub fn regex(re: &str) -> std::result::Result<Pattern, String> {
        Regex::new(re)
            .map(Pattern::Regex)
            .map_err(|e| format!("invalid --key-regex {re:?}: {e}"))
    }

    /// Built without the `regex` feature: every regex is refused.
    #[cfg(not(feature = "regex"))]
    pub fn regex(re: &str) -> std::result::Result<Pattern, String> {
        Err(format!(
            "--key-regex {re:?}: this build has no regex support (feature \"regex\")"
        ))
    }

    pub fn is_match(&self, key: &[u8]) -> bool {
        match self {
            Pattern::Glob(g) => g.is_match(key),
            #[cfg(feature = "regex")]
            Pattern::Regex(r) => r.is_match(key),
        }
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Glob(g) => write!(f, "glob({:?})", String::from_utf8_lossy(g.as_bytes())),
            #[cfg(feature = "regex")]
            Pattern::Regex(r) => write!(f, "regex({:?})", r.as_str()),
        }
    }
}

/// A Redis glob over bytes, compiled once into the pieces between its
/// stars. Every token other than `*` matches exactly one byte, so a glob is
/// `head * mid * ... * tail`: the head must match at the start, the tail at
/// the end, and each middle piece at its leftmost place after the one
/// before (leftmost is never worse for what follows). A literal middle
/// piece is found with `memchr::memmem`; `prefix*`, `*suffix`, `*infix*`
/// and literals cost one comparison or one search, where the byte-by-byte
/// backtracking of `stringmatchlen` (Redis' `util.c`) rescans the key at
/// every position (18% of a `rdbkit rdb --key '*[02468]'` run).
#[derive(Clone)]
pub struct Glob {
    src: Vec<u8>,
    /// The pieces; `None` when the pattern has no star (whole-key match).
    head: Piece,
    rest: Option<Starred>,
}

impl PartialEq for Glob {
    fn eq(&self, o: &Glob) -> bool {
        self.src == o.src
    }
}
impl Eq for Glob {}

/// What follows the first star: the middle pieces and the tail.
#[derive(Clone)]
struct Starred {
    mids: Vec<Piece>,
    tail: Piece,
}

/// A matcher of exactly one byte.
#[derive(Clone)]
enum Tok {
    Byte(u8),
    Any,
    /// A `[...]` class as a 256-bit set.
    Class(Box<[u64; 4]>),
}

impl Tok {
    #[inline]
    fn hits(&self, c: u8) -> bool {
        match self {
            Tok::Byte(b) => *b == c,
            Tok::Any => true,
            Tok::Class(set) => set[(c >> 6) as usize] >> (c & 63) & 1 == 1,
        }
    }
}

/// A run of one-byte tokens between stars; a literal run keeps its bytes
/// and a searcher.
#[derive(Clone, Default)]
struct Piece {
    toks: Vec<Tok>,
    lit: Option<Box<(Vec<u8>, memchr::memmem::Finder<'static>)>>,
}

impl Piece {
    fn new(toks: Vec<Tok>) -> Piece {
        let bytes: Option<Vec<u8>> = toks
            .iter()
            .map(|t| match t {
                Tok::Byte(b) => Some(*b),
                _ => None,
            })
            .collect();
        let lit = bytes.map(|b| {
            let f = memchr::memmem::Finder::new(&b).into_owned();
            Box::new((b, f))
        });
        Piece { toks, lit }
    }

    fn len(&self) -> usize {
        self.toks.len()
    }

    /// Whether the piece matches `s` (exactly its length).
    #[inline]
    fn at(&self, s: &[u8]) -> bool {
        match self.lit.as_deref() {
            // (An empty piece, before a leading star, is checked once per
            // key: no call into `memcmp` for it.)
            Some((b, _)) => b.len() == s.len() && (b.is_empty() || b[..] == s[..]),
            None => self.toks.iter().zip(s).all(|(t, &c)| t.hits(c)),
        }
    }

    /// The end of the leftmost match in `s`.
    fn find_end(&self, s: &[u8]) -> Option<usize> {
        let n = self.len();
        if let Some((_, f)) = self.lit.as_deref() {
            return f.find(s).map(|i| i + n);
        }
        (0..=s.len().checked_sub(n)?)
            .find(|&i| self.at(&s[i..i + n]))
            .map(|i| i + n)
    }
}

/// Splits a pattern into one-byte tokens and stars (`None`), with the
/// reading of the byte-by-byte matcher: `\x` is `x` (a trailing `\` is
/// itself), an unclosed `[` is a literal `[`.
fn tokens(p: &[u8]) -> Vec<Option<Tok>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            b'*' => {
                out.push(None);
                i += 1;
            }
            b'?' => {
                out.push(Some(Tok::Any));
                i += 1;
            }
            b'[' => match class_match(p, i, 0) {
                Some((_, next)) => {
                    let mut set = [0u64; 4];
                    for c in 0..=255u8 {
                        if class_match(p, i, c).is_some_and(|(hit, _)| hit) {
                            set[(c >> 6) as usize] |= 1 << (c & 63);
                        }
                    }
                    out.push(Some(Tok::Class(Box::new(set))));
                    i = next;
                }
                None => {
                    out.push(Some(Tok::Byte(b'[')));
                    i += 1;
                }
            },
            b'\\' if i + 1 < p.len() => {
                out.push(Some(Tok::Byte(p[i + 1])));
                i += 2;
            }
            c => {
                out.push(Some(Tok::Byte(c)));
                i += 1;
            }
        }
    }
    out
}

impl Glob {
    pub fn new(p: &[u8]) -> Glob {
        let mut pieces = vec![Vec::new()];
        for t in tokens(p) {
            match t {
                Some(t) => pieces.last_mut().expect("one piece").push(t),
                None => pieces.push(Vec::new()),
            }
        }
        let mut pieces: Vec<Piece> = pieces.into_iter().map(Piece::new).collect();
        let head = pieces.remove(0);
        let rest = pieces.pop().map(|tail| Starred {
            // Empty middles are runs of stars.
            mids: pieces.into_iter().filter(|m| m.len() > 0).collect(),
            tail,
        });
        Glob {
            src: p.to_vec(),
            head,
            rest,
        }
    }

    /// The pattern as given.
    pub fn as_bytes(&self) -> &[u8] {
        &self.src
    }

    /// Whether the whole of `s` matches.
    pub fn is_match(&self, s: &[u8]) -> bool {
        let h = self.head.len();
        let Some(rest) = &self.rest else {
            return s.len() == h && self.head.at(s);
        };
        let t = rest.tail.len();
        if s.len() < h + t || !self.head.at(&s[..h]) || !rest.tail.at(&s[s.len() - t..]) {
            return false;
        }
        let mut free = &s[h..s.len() - t];
        for m in &rest.mids {
            match m.find_end(free) {
                Some(end) => free = &free[end..],
                None => return false,
            }
        }
        true
    }
}

/// Matches byte `c` against the class starting at `p[at] == b'['`. Returns
/// (matched, index after the class), or `None` when the class is unclosed.
fn class_match(p: &[u8], at: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = at + 1;
    let not = i < p.len() && p[i] == b'^';
    if not {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        if i >= p.len() {
            return None;
        }
        match p[i] {
            b']' if !first => break,
            b'\\' if i + 1 < p.len() => {
                hit |= p[i + 1] == c;
                i += 2;
            }
            lo if i + 2 < p.len() && p[i + 1] == b'-' && p[i + 2] != b']' => {
                let hi = p[i + 2];
                let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
                hit |= lo <= c && c <= hi;
                i += 3;
            }
            b => {
                hit |= b == c;
                i += 1;
            }
        }
        first = false;
    }
    Some((hit != not, i + 1))
}

/// Which keys by expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// Only keys with a TTL.
    Expiring,
    /// Only keys without one.
    Persistent,
}

/// The set of conditions a record must meet. The default keeps everything.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Databases to keep (empty: all).
    pub dbs: Vec<u64>,
    /// Keep keys matching any of these (empty: all keys).
    pub keys: Vec<Pattern>,
    /// Drop keys matching any of these.
    pub not_keys: Vec<Pattern>,
    /// Types to keep (empty: all).
    pub types: Vec<Kind>,
    /// Serialized value size bounds, inclusive: the bytes of the encoded
    /// value in the file (what `stats` calls value bytes, and the size of a
    /// RESTORE payload minus its 10-byte trailer).
    pub min_bytes: Option<u64>,
    pub max_bytes: Option<u64>,
    pub expiry: Option<Expiry>,
    /// Drop keys whose expiry is at or before this Unix time in ms.
    pub expired_before_ms: Option<i64>,
}

impl Filter {
    /// True when the filter keeps every record (callers skip the check).
    pub fn is_pass_all(&self) -> bool {
        self.dbs.is_empty()
            && self.keys.is_empty()
            && self.not_keys.is_empty()
            && self.types.is_empty()
            && self.min_bytes.is_none()
            && self.max_bytes.is_none()
            && self.expiry.is_none()
            && self.expired_before_ms.is_none()
    }

    /// Whether the filter has size bounds (which need a serialized value:
    /// JSON Lines input has none).
    pub fn has_size_bounds(&self) -> bool {
        self.min_bytes.is_some() || self.max_bytes.is_some()
    }

    /// Whether `rec` is kept. Cheap checks first; the key is decompressed
    /// into `scratch` only when it is LZF-encoded and a pattern needs it.
    #[inline]
    pub fn matches(&self, rec: &Record<'_>, scratch: &mut Vec<u8>) -> Result<bool> {
        if !self.matches_meta(
            rec.db,
            rec.vtype.kind(),
            Some(rec.value.len() as u64),
            rec.expire_ms,
        ) {
            return Ok(false);
        }
        if self.keys.is_empty() && self.not_keys.is_empty() {
            return Ok(true);
        }
        Ok(self.matches_key(rec.key.bytes(scratch)?))
    }

    /// The checks that do not need the key. `size` is the serialized value
    /// size when known (size bounds reject an unknown size).
    #[inline]
    pub fn matches_meta(
        &self,
        db: u64,
        kind: Kind,
        size: Option<u64>,
        expire_ms: Option<i64>,
    ) -> bool {
        if !self.dbs.is_empty() && !self.dbs.contains(&db) {
            return false;
        }
        if !self.types.is_empty() && !self.types.contains(&kind) {
            return false;
        }
        if self.has_size_bounds() {
            let Some(size) = size else { return false };
            if self.min_bytes.is_some_and(|m| size < m) || self.max_bytes.is_some_and(|m| size > m)
            {
                return false;
            }
        }
        match (self.expiry, expire_ms) {
            (Some(Expiry::Expiring), None) | (Some(Expiry::Persistent), Some(_)) => return false,
            _ => {}
        }
        if let (Some(now), Some(e)) = (self.expired_before_ms, expire_ms) {
            if e <= now {
                return false;
            }
        }
        true
    }

    /// The key patterns alone.
    #[inline]
    pub fn matches_key(&self, key: &[u8]) -> bool {
        if !self.keys.is_empty() && !self.keys.iter().any(|p| p.is_match(key)) {
            return false;
        }
        !self.not_keys.iter().any(|p| p.is_match(key))
    }
}

/// Parses a `--type` list (`string,list,set,zset,hash,stream,module,array`).
pub fn parse_types(s: &str) -> std::result::Result<Vec<Kind>, String> {
    let mut out = Vec::new();
    for t in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        out.push(match t.to_ascii_lowercase().as_str() {
            "string" => Kind::String,
            "list" => Kind::List,
            "set" => Kind::Set,
            "zset" | "sortedset" => Kind::ZSet,
            "hash" => Kind::Hash,
            "stream" => Kind::Stream,
            "module" => Kind::Module,
            "array" => Kind::Array,
            other => {
                return Err(format!(
                "unknown type {other:?} (expected string, list, set, zset, hash, stream, module, array)"
            ))
            }
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(p: &str, s: &str) -> bool {
        Glob::new(p.as_bytes()).is_match(s.as_bytes())
    }

    #[test]
    fn glob_basics() {
        assert!(g("*", ""));
        assert!(g("*", "anything"));
        assert!(g("user:*", "user:1"));
        assert!(!g("user:*", "users:1"));
        assert!(g("h?llo", "hello"));
        assert!(!g("h?llo", "hllo"));
        assert!(g("h[ae]llo", "hallo"));
        assert!(!g("h[ae]llo", "hillo"));
        assert!(g("h[^e]llo", "hallo"));
        assert!(!g("h[^e]llo", "hello"));
        assert!(g("h[a-b]llo", "hbllo"));
        assert!(g("h[b-a]llo", "hallo"), "reversed range as in Redis");
        assert!(g("a\\*b", "a*b"));
        assert!(!g("a\\*b", "axb"));
        assert!(g("*:*:x", "a:b:c:x"));
        assert!(!g("*:*:x", "a:b:c:y"));
        assert!(g("a*b*c", "aXXbYYc"));
        assert!(!g("a*b*c", "aXXbYY"));
        assert!(g("[", "["), "unclosed class is literal");
        assert!(g("x[]]y", "x]y"), "']' first in a class is literal");
        assert!(g("**a", "bba"));
    }

    #[test]
    fn glob_bytes_and_no_blowup() {
        let gl = Glob::new(b"\xff*\x00");
        assert!(gl.is_match(b"\xffabc\x00"));
        assert!(!gl.is_match(b"\xfeabc\x00"));
        // a*a*a*...b against aaaa...: exponential in a naive recursive matcher.
        let p = "a*".repeat(30) + "b";
        let s = "a".repeat(5000);
        assert!(!g(&p, &s));
    }

    /// The byte-by-byte single-backtrack matcher the compiled glob
    /// replaced (`stringmatchlen`'s reading), as the reference.
    fn backtrack(p: &[u8], s: &[u8]) -> bool {
        let (mut pi, mut si) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while si < s.len() {
            if pi < p.len() {
                match p[pi] {
                    b'*' => {
                        while pi < p.len() && p[pi] == b'*' {
                            pi += 1;
                        }
                        if pi == p.len() {
                            return true;
                        }
                        star = Some((pi, si));
                        continue;
                    }
                    b'?' => {
                        pi += 1;
                        si += 1;
                        continue;
                    }
                    b'[' => {
                        if let Some((ok, next)) = class_match(p, pi, s[si]) {
                            if ok {
                                pi = next;
                                si += 1;
                                continue;
                            }
                        } else if s[si] == b'[' {
                            pi += 1;
                            si += 1;
                            continue;
                        }
                    }
                    b'\\' if pi + 1 < p.len() => {
                        if p[pi + 1] == s[si] {
                            pi += 2;
                            si += 1;
                            continue;
                        }
                    }
                    c => {
                        if c == s[si] {
                            pi += 1;
                            si += 1;
                            continue;
                        }
                    }
                }
            }
            match star {
                Some((sp, ss)) => {
                    pi = sp;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            }
        }
        while pi < p.len() && p[pi] == b'*' {
            pi += 1;
        }
        pi == p.len()
    }

    #[test]
    fn glob_fast_paths() {
        assert!(g("*[02468]", "key:12"));
        assert!(!g("*[02468]", "key:13"));
        assert!(!g("*[02468]", ""));
        assert!(g("user:*", "user:"));
        assert!(g("*:session", "a:session"));
        assert!(!g("*:session", "a:sessionx"));
        assert!(g("*sess*", "xsessx"));
        assert!(g("*sess*", "sess"));
        assert!(!g("*sess*", "ses"));
        assert!(g("exact", "exact"));
        assert!(!g("exact", "exactly"));
        assert!(!g("ab*ba", "aba"), "head and tail may not overlap");
        assert!(g("ab*ba", "abba"));
        assert!(g("a*b?d*e", "aXXbcdYe"));
        assert!(!g("a*b?d*e", "aXXbcYe"));
    }

    /// The compiled glob agrees with the byte-by-byte matcher on random
    /// patterns and keys over an alphabet rich in metacharacters.
    #[test]
    fn glob_equals_backtracking() {
        let pat_bytes = b"ab*?[]^-\\";
        let key_bytes = b"ab[]-\\*";
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n as u64) as usize
        };
        let mut hits = 0;
        for _ in 0..40_000 {
            let p: Vec<u8> = (0..next(8))
                .map(|_| pat_bytes[next(pat_bytes.len())])
                .collect();
            let s: Vec<u8> = (0..next(10))
                .map(|_| key_bytes[next(key_bytes.len())])
                .collect();
            let want = backtrack(&p, &s);
            hits += want as u32;
            assert_eq!(
                Glob::new(&p).is_match(&s),
                want,
                "pattern {:?} key {:?}",
                String::from_utf8_lossy(&p),
                String::from_utf8_lossy(&s)
            );
        }
        assert!(hits > 1000, "the sample must hold matches too ({hits})");
    }

    #[test]
    fn types() {
        assert_eq!(
            parse_types("string, zset").unwrap(),
            vec![Kind::String, Kind::ZSet]
        );
        assert!(parse_types("blob").is_err());
    }

    #[test]
    fn regex_bytes() {
        let p = Pattern::regex("^sess:[0-9]+$").unwrap();
        assert!(p.is_match(b"sess:42"));
        assert!(!p.is_match(b"sess:4x"));
        let p = Pattern::regex(r"(?-u)\xff").unwrap();
        assert!(p.is_match(b"a\xffb"));
        assert!(Pattern::regex("(").is_err());
    }
}
