//! What an output file may hold: its dialect and RDB version decide which
//! type bytes, opcodes and aux fields a reader of that version knows.
//!
//! ```text
//! RDB  6  Redis 2.6-2.8  ziplist/intset/zipmap types 9-13, no aux fields
//!      7  Redis 3.0-3.2  quicklist (14), AUX, RESIZEDB
//!      8  Redis 4.0      ZSET_2 (5), MODULE_2 (7), aof-preamble aux
//!      9  Redis 5.0-6.2  streams (15), IDLE/FREQ
//!     10  Redis 7.0      listpacks (16, 17), quicklist 2 (18), stream 19, FUNCTION2, aof-base
//!     11  Redis 7.2      set listpack (20), stream 21   (also Valkey 7.2-8.1)
//!     12  Redis 7.4-8.4  hash field TTLs (24, 25)
//!     13  Redis 8.6      stream 26 (IDMP), KEY_META
//!     14  Redis 8.8      stream 27 (NACKs), array (28): copied only, never re-encoded
//!     15  Redis 8.10     as 14 (hash templates are not read)
//! VALKEY080  Valkey 9.x  RDB 11's types + HASH_2 (22)
//! ```

use crate::rdb::consts::*;
use crate::rdb::value::Dialect;

/// The output's dialect and version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Format {
    pub dialect: Dialect,
    pub version: u32,
}

/// Lowest RDB version written (Redis 2.6): older ones predate the CRC-64
/// trailer and the compact encodings.
pub const MIN_VERSION: u32 = 6;

impl Format {
    /// A checked format: Redis 6..=13 or Valkey 80.
    pub fn new(dialect: Dialect, version: u32) -> Result<Format, String> {
        let ok = match dialect {
            Dialect::Redis => (MIN_VERSION..=REDIS_RDB_VERSION_MAX).contains(&version),
            Dialect::Valkey => version == VALKEY_RDB_VERSION_MIN,
        };
        if ok {
            Ok(Format { dialect, version })
        } else {
            Err(format!(
                "cannot write {} RDB version {version} (Redis {MIN_VERSION}..={REDIS_RDB_VERSION_MAX} or Valkey {VALKEY_RDB_VERSION_MIN})",
                dialect.name()
            ))
        }
    }

    /// The format a server release writes: `redis-7.0`, `valkey-9.1`, ...
    /// Returns the format and the version text for the `*-ver` aux field.
    pub fn for_server(name: &str) -> Result<(Format, String), String> {
        let bad = || {
            format!(
                "unknown target {name:?} (e.g. redis-2.8 ... redis-8.6, valkey-7.2 ... valkey-9.1)"
            )
        };
        let (family, ver) = name.split_once('-').ok_or_else(bad)?;
        let mut parts = ver.split('.').map(|p| p.parse::<u32>());
        let (Some(Ok(major)), Some(Ok(minor))) = (parts.next(), parts.next()) else {
            return Err(bad());
        };
        let (dialect, rdb) = match family.to_ascii_lowercase().as_str() {
            "redis" => (
                Dialect::Redis,
                match (major, minor) {
                    (2, 6..=8) => 6,
                    (3, _) => 7,
                    (4, _) => 8,
                    (5, _) | (6, _) => 9,
                    (7, 0) => 10,
                    (7, 2) => 11,
                    (7, 4) | (8, 0..=4) => 12,
                    (8, 6) => 13,
                    (8, 8) => 14,
                    (8, 10..) => 15,
                    _ => return Err(bad()),
                },
            ),
            "valkey" => match (major, minor) {
                (7, 2) | (8, _) => (Dialect::Redis, 11),
                (9, 0..=1) => (Dialect::Valkey, 80),
                _ => return Err(bad()),
            },
            _ => return Err(bad()),
        };
        Ok((Format::new(dialect, rdb)?, format!("{major}.{minor}.0")))
    }

    /// The Redis version whose features this format has (Valkey 80 = 11).
    pub fn level(self) -> u32 {
        match self.dialect {
            Dialect::Redis => self.version,
            Dialect::Valkey => 11,
        }
    }

    /// Whether a reader of this format knows type byte `t` as a file of
    /// dialect `from` meant it (type bytes >= 22 differ by dialect).
    pub fn accepts_type(self, t: u8, from: Dialect) -> bool {
        let l = self.level();
        match t {
            RDB_TYPE_STRING..=RDB_TYPE_HASH => true,
            RDB_TYPE_ZSET_2 | RDB_TYPE_MODULE_2 => l >= 8,
            RDB_TYPE_HASH_ZIPMAP..=RDB_TYPE_HASH_ZIPLIST => true,
            RDB_TYPE_LIST_QUICKLIST => l >= 7,
            RDB_TYPE_STREAM_LISTPACKS => l >= 9,
            RDB_TYPE_HASH_LISTPACK..=RDB_TYPE_STREAM_LISTPACKS_2 => l >= 10,
            RDB_TYPE_SET_LISTPACK | RDB_TYPE_STREAM_LISTPACKS_3 => l >= 11,
            _ => match (from, self.dialect) {
                (Dialect::Redis, Dialect::Redis) => match t {
                    RDB_TYPE_HASH_METADATA | RDB_TYPE_HASH_LISTPACK_EX => l >= 12,
                    RDB_TYPE_STREAM_LISTPACKS_4 => l >= 13,
                    // Copied byte for byte into RDB 14+; never re-encoded.
                    RDB_TYPE_STREAM_LISTPACKS_5 | RDB_TYPE_ARRAY => l >= 14,
                    _ => false,
                },
                (Dialect::Valkey, Dialect::Valkey) => t == VALKEY_RDB_TYPE_HASH_2,
                _ => false,
            },
        }
    }

    pub fn has_checksum(self) -> bool {
        self.version >= 5
    }
    pub fn has_aux(self) -> bool {
        self.level() >= 7
    }
    pub fn has_resize_db(self) -> bool {
        self.level() >= 7
    }
    /// `RDB_OPCODE_IDLE` / `RDB_OPCODE_FREQ` (RDB 9, Redis 5.0).
    pub fn has_idle_freq(self) -> bool {
        self.level() >= 9
    }
    pub fn has_functions(self) -> bool {
        self.level() >= 10
    }
    pub fn has_listpacks(self) -> bool {
        self.level() >= 10
    }
    pub fn has_set_listpack(self) -> bool {
        self.level() >= 11
    }
    pub fn has_modules(self) -> bool {
        self.level() >= 8
    }
    /// Hash field TTLs: Redis 7.4+ (24/25) or Valkey 9 (22).
    pub fn has_field_ttl(self) -> bool {
        self.dialect == Dialect::Valkey || self.version >= 12
    }
    /// `RDB_OPCODE_SLOT_INFO` (Redis 7.4, RDB 12): a cluster node's
    /// per-slot key and expire counts, which its loader sizes each slot's
    /// dictionaries by. (Valkey files are not given it.)
    pub fn has_slot_info(self) -> bool {
        self.dialect == Dialect::Redis && self.version >= 12
    }
    pub fn has_key_meta(self) -> bool {
        self.dialect == Dialect::Redis && self.version >= 13
    }

    /// The aux fields the server writes first (`rdbSaveInfoAuxFields`), with
    /// `ver` for its version field, `ctime` in Unix seconds and `used_mem`:
    /// Redis 3.2+ `redis-ver`, `redis-bits`, `ctime`, `used-mem`; 4.0-6.2
    /// add `aof-preamble`, 7.0+ `aof-base`; Valkey 8+ names its version
    /// `valkey-ver`.
    pub fn aux_fields(
        self,
        ver: &str,
        valkey: bool,
        ctime: u64,
        used_mem: u64,
    ) -> Vec<(String, String)> {
        if !self.has_aux() {
            return Vec::new();
        }
        let name = if valkey { "valkey-ver" } else { "redis-ver" };
        let mut v = vec![
            (name.to_string(), ver.to_string()),
            ("redis-bits".into(), "64".into()),
            ("ctime".into(), ctime.to_string()),
            ("used-mem".into(), used_mem.to_string()),
        ];
        match self.level() {
            8 | 9 => v.push(("aof-preamble".into(), "0".into())),
            10.. => v.push(("aof-base".into(), "0".into())),
            _ => {}
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers() {
        let f = |n: &str| Format::for_server(n).unwrap().0;
        assert_eq!(f("redis-7.0").version, 10);
        assert_eq!(f("redis-6.2").version, 9);
        assert_eq!(f("redis-2.8").version, 6);
        assert_eq!(
            f("valkey-8.0"),
            Format {
                dialect: Dialect::Redis,
                version: 11
            }
        );
        assert_eq!(
            f("valkey-9.1"),
            Format {
                dialect: Dialect::Valkey,
                version: 80
            }
        );
        assert!(Format::for_server("redis-9").is_err());
        assert!(Format::for_server("mysql-8.0").is_err());
    }

    #[test]
    fn types_by_version() {
        let r10 = Format::new(Dialect::Redis, 10).unwrap();
        assert!(r10.accepts_type(RDB_TYPE_ZSET_LISTPACK, Dialect::Redis));
        assert!(!r10.accepts_type(RDB_TYPE_SET_LISTPACK, Dialect::Redis));
        assert!(!r10.accepts_type(RDB_TYPE_HASH_LISTPACK_EX, Dialect::Redis));
        let v80 = Format::new(Dialect::Valkey, 80).unwrap();
        assert!(v80.accepts_type(VALKEY_RDB_TYPE_HASH_2, Dialect::Valkey));
        assert!(!v80.accepts_type(RDB_TYPE_HASH_METADATA, Dialect::Redis));
        let r12 = Format::new(Dialect::Redis, 12).unwrap();
        assert!(!r12.accepts_type(VALKEY_RDB_TYPE_HASH_2, Dialect::Valkey));
        assert!(r12.accepts_type(RDB_TYPE_HASH_METADATA, Dialect::Redis));
    }
}
