//! Constructs that newer servers are known to write but that this build does
//! not read, so that an error names them instead of a bare byte value.
//!
//! ```text
//! file start   "VKCS" ver codec flags kind   Valkey 9.2 compressed stream envelope (VKCS_MAGIC,
//!                                      compression_stream.h; codec 1 = VKCS_CODEC_LZ4, kind 0 = RDB)
//!              28 B5 2F FD             a bare Zstandard frame (a file compressed by hand)
//!              04 22 4D 18             a bare LZ4 frame (idem)
//! type byte    REDIS  29   (RDB <= 14) RDB_TYPE_GCRA (Redis unstable built with ENABLE_GCRA)
//!              REDIS  29..=32 (RDB 15) RDB_TYPE_HASH_TMPL_LP, _LP_REF, _ARRAY, _ARRAY_REF (8.10)
//!              REDIS  33   (RDB 15)    RDB_TYPE_GCRA after 8.10 renumbered it
//!              VALKEY 23               RDB_TYPE_PATH_HASH (Valkey 9.2, RDB 81)
//! opcode       REDIS  242              RDB_OPCODE_HASH_TEMPLATE: 8.10's template registry
//!              VALKEY 242              VALKEY_RDB_OPCODE_UPDATE: replication stream only
//! ```
//!
//! The Valkey 9.2 names and the VKCS envelope are from valkey-io/valkey's
//! `src/rdb.h` (commit 01756301, `RDB_VERSION 81`) and
//! `src/compression_stream.h`; the names of the Redis 8.10 constructs from
//! the review of redis/redis PR #15364 and librdb PR #107. No server source
//! of the Redis layouts could be fetched, and the Valkey ones are not
//! implemented yet (no Valkey 9.2 could be built here to check them
//! against), so nothing here decodes them: guessing would risk reading
//! garbage as data.

use crate::rdb::consts::*;
use crate::rdb::value::Dialect;

/// Zstandard frame magic (RFC 8878), little-endian 0xFD2FB528.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];
/// LZ4 frame magic, little-endian 0x184D2204.
const LZ4_MAGIC: [u8; 4] = [0x04, 0x22, 0x4D, 0x18];
/// Valkey's compressed-stream envelope (`VKCS_MAGIC_0..3`), 8 bytes:
/// magic, version, codec id, flags, stream kind.
const VKCS_MAGIC: &[u8; 4] = b"VKCS";
/// `VKCS_CODEC_LZ4`.
const VKCS_CODEC_LZ4: u8 = 0x01;

/// Names a whole-file compression wrapper at the start of the input.
pub(crate) fn compressed_input(data: &[u8]) -> Option<String> {
    if data.starts_with(VKCS_MAGIC) {
        let byte = |i: usize| data.get(i).map_or("?".to_string(), |b| b.to_string());
        let codec = match data.get(5) {
            Some(&VKCS_CODEC_LZ4) => "LZ4".to_string(),
            _ => format!("id {}", byte(5)),
        };
        Some(format!(
            "Valkey 9.2 compressed RDB stream (VKCS envelope version {}, codec {codec})",
            byte(4)
        ))
    } else if data.starts_with(&ZSTD_MAGIC) {
        Some("Zstandard-compressed input (decompress it first, e.g. `zstd -d`)".into())
    } else if data.starts_with(&LZ4_MAGIC) {
        Some("LZ4-compressed input (decompress it first, e.g. `lz4 -d`)".into())
    } else {
        None
    }
}

/// Names a value type byte that a newer server writes, if known.
pub(crate) fn type_feature(t: u8, dialect: Dialect, version: u32) -> Option<String> {
    const TMPL: [&str; 4] = ["TMPL_LP", "TMPL_LP_REF", "TMPL_ARRAY", "TMPL_ARRAY_REF"];
    let name = match (dialect, t) {
        (Dialect::Redis, RDB_TYPE_GCRA) if version < 15 => {
            "Redis GCRA value (type 29, RDB_TYPE_GCRA of Redis unstable built with ENABLE_GCRA)"
                .to_string()
        }
        (Dialect::Redis, 29..=32) => format!(
            "Redis 8.10 hash template (type {t}, RDB_TYPE_HASH_{})",
            TMPL[(t - 29) as usize]
        ),
        (Dialect::Redis, 33) => "Redis GCRA value (type 33, RDB_TYPE_GCRA)".to_string(),
        (Dialect::Valkey, VALKEY_RDB_TYPE_PATH_HASH) => {
            "Valkey 9.2 path hash (type 23, RDB_TYPE_PATH_HASH)".to_string()
        }
        _ => return None,
    };
    Some(name)
}

/// Names an opcode that a newer server writes, if known.
pub(crate) fn opcode_feature(op: u8, dialect: Dialect) -> Option<&'static str> {
    match (dialect, op) {
        (Dialect::Redis, 242) => {
            Some("Redis 8.10 hash template registry (opcode 242, RDB_OPCODE_HASH_TEMPLATE)")
        }
        (Dialect::Valkey, VALKEY_RDB_OPCODE_UPDATE) => Some(
            "Valkey UPDATE (opcode 242, written only into a replication stream during a forkless save)",
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::error::ErrorKind;
    use crate::rdb::records::{ParseOptions, Parser};

    /// The error of the first item after a header `magic`, for `body`.
    fn first_error(magic: &[u8], body: &[u8]) -> crate::error::Error {
        let mut d = magic.to_vec();
        d.extend_from_slice(body);
        let mut p = Parser::new(&d, ParseOptions::default()).unwrap();
        p.next_item().unwrap_err()
    }

    fn feature(e: &crate::error::Error) -> &str {
        match &e.kind {
            ErrorKind::UnsupportedFeature { feature } => feature,
            other => panic!("expected UnsupportedFeature, got {other:?}"),
        }
    }

    #[test]
    fn newer_constructs_are_named_with_their_offset() {
        let e = first_error(b"REDIS0015", &[30, 1, b'k']);
        assert_eq!(e.offset, 9);
        assert_eq!(
            feature(&e),
            "Redis 8.10 hash template (type 30, RDB_TYPE_HASH_TMPL_LP_REF)"
        );
        assert!(e.to_string().ends_with("_LP_REF): not supported"), "{e}");
        let e = first_error(b"REDIS0014", &[29, 1, b'k']);
        assert!(feature(&e).contains("GCRA"), "{e}");
        let e = first_error(b"REDIS0015", &[29, 1, b'k']);
        assert!(feature(&e).contains("HASH_TMPL_LP)"), "{e}");
        let e = first_error(b"REDIS0015", &[242]);
        assert!(feature(&e).contains("hash template registry (opcode 242"));
        let e = first_error(b"VALKEY081", &[23, 1, b'k']);
        assert!(feature(&e).contains("PATH_HASH"));
        let e = first_error(b"VALKEY081", &[242]);
        assert!(feature(&e).contains("UPDATE"));
        // Bytes no server is known to write stay plain unknown types/opcodes.
        let e = first_error(b"REDIS0014", &[40, 1, b'k']);
        assert!(
            matches!(e.kind, ErrorKind::UnsupportedType { type_byte: 40, .. }),
            "{e}"
        );
        let e = first_error(b"REDIS0014", &[230]);
        assert!(
            matches!(e.kind, ErrorKind::UnsupportedOpcode { opcode: 230 }),
            "{e}"
        );
    }

    #[test]
    fn valkey_compressed_streams_are_named() {
        let d = b"VKCS\x01\x01\x00\x00\x04\x22\x4d\x18".to_vec();
        let e = Parser::new(&d, ParseOptions::default()).err().unwrap();
        assert_eq!(e.offset, 0);
        assert_eq!(
            feature(&e),
            "Valkey 9.2 compressed RDB stream (VKCS envelope version 1, codec LZ4)"
        );
    }

    #[test]
    fn compressed_files_are_named() {
        for (magic, word) in [
            ([0x28u8, 0xB5, 0x2F, 0xFD], "Zstandard"),
            ([0x04, 0x22, 0x4D, 0x18], "LZ4"),
        ] {
            let mut d = magic.to_vec();
            d.extend_from_slice(b"VALKEY081....");
            let e = Parser::new(&d, ParseOptions::default()).err().unwrap();
            assert_eq!(e.offset, 0);
            assert!(feature(&e).starts_with(word), "{e}");
        }
    }

    #[test]
    fn versions_14_and_15_are_accepted() {
        for v in [b"REDIS0014", b"REDIS0015", b"VALKEY081"] {
            let mut d = v.to_vec();
            d.push(255);
            d.extend_from_slice(&[0; 8]);
            let mut p = Parser::new(&d, ParseOptions::default()).unwrap();
            assert!(p.next_item().unwrap().is_some());
        }
        let e = Parser::new(b"REDIS0016\xff", ParseOptions::default())
            .err()
            .unwrap();
        assert!(matches!(
            e.kind,
            ErrorKind::UnsupportedVersion { version: 16, .. }
        ));
    }
}
