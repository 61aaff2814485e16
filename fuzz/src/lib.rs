//! Helpers shared by the fuzz targets: RDB framing for raw blobs, a counting
//! visitor, the skip/decode agreement check and the error-offset check.
//!
//! Every target asserts invariants with `assert!`: libFuzzer reports a
//! failed assertion like any other crash, with the input that caused it.

use rdbkit::rdb::array::{ArrayElem, ArrayHead};
use rdbkit::rdb::cursor::Cursor;
use rdbkit::rdb::elem::Elem;
use rdbkit::rdb::module::ModuleValue;
use rdbkit::rdb::stream::{StreamId, StreamMeta};
use rdbkit::rdb::value::{decode_value, skip_value, Scratch, ValueType, ValueVisitor};
use rdbkit::Error;

/// File offset given to the first byte of a decoder's input. Not zero, so
/// that an error offset computed without the base (or with it twice) shows.
pub const BASE: u64 = 1 << 20;

/// Asserts that `e` names an offset inside `[lo, hi]` (inclusive: "ran out
/// of input" errors are reported at the end).
#[track_caller]
pub fn assert_offset(e: &Error, lo: u64, hi: u64, what: &str) {
    assert!(
        (lo..=hi).contains(&e.offset),
        "{what}: error offset {} outside the input [{lo}, {hi}]: {e}",
        e.offset
    );
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("at byte offset {}: ", e.offset)),
        "{what}: Display does not name the offset: {text}"
    );
}

/// Appends an RDB length (`rdbSaveLen`).
pub fn put_len(out: &mut Vec<u8>, n: u64) {
    if n < 64 {
        out.push(n as u8);
    } else if n < 16384 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Appends a raw RDB string.
pub fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    put_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// What a value's decode reported, by kind.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    pub strings: u64,
    pub string_bytes: Vec<u8>,
    pub list: u64,
    pub set: u64,
    pub zset: u64,
    pub hash: u64,
    pub hash_ttls: u64,
    pub stream_entries: u64,
    pub stream_fields: u64,
    pub stream_meta: u64,
    pub modules: u64,
    pub last_stream_id: Option<StreamId>,
    pub array_elements: u64,
    pub last_array_index: Option<u64>,
}

impl ValueVisitor for Tally {
    fn string(&mut self, v: Elem<'_>) -> rdbkit::Result<()> {
        self.strings += 1;
        self.string_bytes = v.to_vec();
        Ok(())
    }
    fn list_item(&mut self, v: Elem<'_>) -> rdbkit::Result<()> {
        let _ = v.byte_len();
        self.list += 1;
        Ok(())
    }
    fn set_member(&mut self, v: Elem<'_>) -> rdbkit::Result<()> {
        let _ = v.byte_len();
        self.set += 1;
        Ok(())
    }
    fn zset_member(&mut self, member: Elem<'_>, _score: f64) -> rdbkit::Result<()> {
        let _ = member.byte_len();
        self.zset += 1;
        Ok(())
    }
    fn hash_field(
        &mut self,
        field: Elem<'_>,
        value: Elem<'_>,
        expire_ms: Option<i64>,
    ) -> rdbkit::Result<()> {
        let _ = (field.byte_len(), value.byte_len());
        self.hash += 1;
        self.hash_ttls += expire_ms.is_some() as u64;
        Ok(())
    }
    fn stream_entry(
        &mut self,
        id: StreamId,
        fields: &[(Elem<'_>, Elem<'_>)],
    ) -> rdbkit::Result<()> {
        self.stream_entries += 1;
        self.stream_fields += fields.len() as u64;
        self.last_stream_id = Some(id);
        Ok(())
    }
    fn stream_meta(&mut self, meta: &StreamMeta) -> rdbkit::Result<()> {
        self.stream_meta += 1;
        // Every consumer's PEL entry is in its group's PEL (the decoder's
        // own promise: it refuses files where it is not).
        for g in &meta.groups {
            for c in &g.consumers {
                for id in &c.pending {
                    assert!(
                        g.pending.iter().any(|p| p.id == *id),
                        "consumer PEL id {id} missing from the group PEL"
                    );
                }
            }
            // Every NACKed id is pending and owned by no consumer (the
            // decoder's promise, as Redis' loader requires).
            for id in g.nacked.iter().flatten() {
                assert!(g.pending.iter().any(|p| p.id == *id));
                assert!(!g.consumers.iter().any(|c| c.pending.contains(id)));
            }
        }
        Ok(())
    }
    fn module(&mut self, value: &ModuleValue<'_>) -> rdbkit::Result<()> {
        let _ = value.raw.len();
        self.modules += 1;
        Ok(())
    }
    fn array_head(&mut self, head: ArrayHead) -> rdbkit::Result<()> {
        assert!(head.count > 0, "the decoder refuses empty arrays");
        Ok(())
    }
    fn array_element(&mut self, index: u64, value: ArrayElem<'_>) -> rdbkit::Result<()> {
        // Indices strictly increase (the decoder's promise).
        assert!(self.last_array_index.is_none_or(|p| p < index));
        self.last_array_index = Some(index);
        let _ = value.text();
        self.array_elements += 1;
        Ok(())
    }
}

/// Decodes `value` (the bytes after a type byte and key) as `vt`, placed at
/// file offset [`BASE`], and checks that:
///
/// - an error names an offset inside the value;
/// - a value that decodes is also skipped by the boundary pass
///   ([`skip_value`]), and both end at the same byte.
///
/// Returns the decode's result, its tally and the bytes it consumed.
pub fn check_value(value: &[u8], vt: ValueType) -> (rdbkit::Result<()>, Tally, usize) {
    let hi = BASE + value.len() as u64;
    let mut tally = Tally::default();
    let mut scratch = Scratch::default();
    let mut cur = Cursor::new(value, BASE);
    let r = decode_value(&mut cur, vt, &mut scratch, &mut tally);
    let decoded_to = cur.pos();

    let mut skip_cur = Cursor::new(value, BASE);
    let s = skip_value(&mut skip_cur, vt);
    if let Err(e) = &s {
        assert_offset(e, BASE, hi, "skip_value");
    }
    match &r {
        Err(e) => assert_offset(e, BASE, hi, "decode_value"),
        Ok(()) => {
            assert!(
                s.is_ok(),
                "{vt:?}: decode_value accepts the value but skip_value refuses it: {}",
                s.unwrap_err()
            );
            assert_eq!(
                decoded_to,
                skip_cur.pos(),
                "{vt:?}: decode_value and skip_value end at different bytes"
            );
        }
    }
    (r, tally, decoded_to)
}

/// [`check_value`] of a blob stored as one raw RDB string.
pub fn check_blob(blob: &[u8], vt: ValueType) -> (rdbkit::Result<()>, Tally) {
    let mut v = Vec::with_capacity(blob.len() + 5);
    put_str(&mut v, blob);
    let (r, t, _) = check_value(&v, vt);
    (r, t)
}

/// A straightforward LZF decoder, written independently of rdbkit's and
/// as plainly as possible (one byte at a time), used as the reference of
/// the `lzf` target. `None` for any malformed stream or a length other
/// than `out_len`.
pub fn reference_lzf(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < input.len() {
        let ctrl = input[i] as usize;
        i += 1;
        if ctrl < 32 {
            for _ in 0..ctrl + 1 {
                let b = *input.get(i)?;
                i += 1;
                if out.len() == out_len {
                    return None;
                }
                out.push(b);
            }
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(i)? as usize;
                i += 1;
            }
            len += 2;
            let back = ((ctrl & 0x1f) << 8) + *input.get(i)? as usize + 1;
            i += 1;
            if back > out.len() {
                return None;
            }
            for _ in 0..len {
                if out.len() == out_len {
                    return None;
                }
                let b = out[out.len() - back];
                out.push(b);
            }
        }
    }
    (out.len() == out_len).then_some(out)
}

/// Parses one RESP array of bulk strings (a command as `redis-cli --pipe`
/// reads it) from the front of `buf`; returns the arguments and the rest.
/// Panics on anything else: the payload builder must write exactly this.
pub fn parse_command(buf: &[u8]) -> (Vec<&[u8]>, &[u8]) {
    fn line(buf: &[u8], tag: u8) -> (usize, &[u8]) {
        assert_eq!(buf.first(), Some(&tag), "expected '{}'", tag as char);
        let end = buf
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("CRLF after a RESP header");
        let text = std::str::from_utf8(&buf[1..end]).expect("ASCII header");
        assert!(
            !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()),
            "bad RESP length {text:?}"
        );
        (text.parse().expect("RESP length"), &buf[end + 2..])
    }
    let (n, mut rest) = line(buf, b'*');
    let mut args = Vec::with_capacity(n);
    for _ in 0..n {
        let (len, r) = line(rest, b'$');
        assert!(
            r.len() >= len + 2,
            "bulk of {len} bytes runs past the buffer"
        );
        assert_eq!(&r[len..len + 2], b"\r\n", "bulk not followed by CRLF");
        args.push(&r[..len]);
        rest = &r[len + 2..];
    }
    (args, rest)
}

/// Puts a value that decoded into a minimal RDB 14 file (header, `type_byte`,
/// key "k", the value, EOF, zero checksum: "not computed"), converts it with
/// `rdbkit json` and returns its one line: a decodable value must convert.
pub fn json_in_file(type_byte: u8, value: &[u8]) -> serde_json::Value {
    use rdbkit::sink::json::{to_vec, JsonOptions};
    let mut file = b"REDIS0014".to_vec();
    file.push(type_byte);
    file.extend_from_slice(b"\x01k");
    file.extend_from_slice(value);
    file.push(0xFF);
    file.extend_from_slice(&[0; 8]);
    let opts = JsonOptions {
        meta: false,
        verify_checksum: true,
    };
    let out = to_vec(&file, &opts)
        .unwrap_or_else(|e| panic!("a decodable value of type {type_byte} fails in a file: {e}"));
    serde_json::from_slice(&out).expect("one JSON line")
}
