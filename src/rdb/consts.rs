//! Redis' and Valkey's own names for type bytes and opcodes (`rdb.h`), so a
//! reader can grep both sources.

pub const RDB_TYPE_STRING: u8 = 0;
pub const RDB_TYPE_LIST: u8 = 1;
pub const RDB_TYPE_SET: u8 = 2;
pub const RDB_TYPE_ZSET: u8 = 3;
pub const RDB_TYPE_HASH: u8 = 4;
pub const RDB_TYPE_ZSET_2: u8 = 5;
pub const RDB_TYPE_MODULE_PRE_GA: u8 = 6;
pub const RDB_TYPE_MODULE_2: u8 = 7;
pub const RDB_TYPE_HASH_ZIPMAP: u8 = 9;
pub const RDB_TYPE_LIST_ZIPLIST: u8 = 10;
pub const RDB_TYPE_SET_INTSET: u8 = 11;
pub const RDB_TYPE_ZSET_ZIPLIST: u8 = 12;
pub const RDB_TYPE_HASH_ZIPLIST: u8 = 13;
pub const RDB_TYPE_LIST_QUICKLIST: u8 = 14;
pub const RDB_TYPE_STREAM_LISTPACKS: u8 = 15;
pub const RDB_TYPE_HASH_LISTPACK: u8 = 16;
pub const RDB_TYPE_ZSET_LISTPACK: u8 = 17;
pub const RDB_TYPE_LIST_QUICKLIST_2: u8 = 18;
pub const RDB_TYPE_STREAM_LISTPACKS_2: u8 = 19;
pub const RDB_TYPE_SET_LISTPACK: u8 = 20;
pub const RDB_TYPE_STREAM_LISTPACKS_3: u8 = 21;
/// Redis dialect: 7.4 release candidates' hash with field TTLs.
pub const RDB_TYPE_HASH_METADATA_PRE_GA: u8 = 22;
/// Redis dialect: 7.4 release candidates' listpack hash with field TTLs.
pub const RDB_TYPE_HASH_LISTPACK_EX_PRE_GA: u8 = 23;
/// Redis dialect (7.4+): hashtable hash with field TTLs.
pub const RDB_TYPE_HASH_METADATA: u8 = 24;
/// Redis dialect (7.4+): listpack hash with field TTLs (`listpackex`).
pub const RDB_TYPE_HASH_LISTPACK_EX: u8 = 25;
/// Redis dialect (8.6, RDB 13): type 21 followed by an IDMP block.
pub const RDB_TYPE_STREAM_LISTPACKS_4: u8 = 26;
/// Redis dialect (8.8, RDB 14): type 26 plus each group's NACKed IDs (XNACK).
pub const RDB_TYPE_STREAM_LISTPACKS_5: u8 = 27;
/// Redis dialect (8.8, RDB 14): sparse array (the AR* commands).
pub const RDB_TYPE_ARRAY: u8 = 28;
/// Redis dialect: `RDB_TYPE_GCRA` in Redis `unstable` built with
/// `ENABLE_GCRA` (not in releases, RDB 14); Redis 8.10 (RDB 15) gives 29 to
/// `RDB_TYPE_HASH_TMPL_LP` and moves GCRA to 33. Not read.
pub const RDB_TYPE_GCRA: u8 = 29;
/// Valkey dialect (9.0, RDB 80): hash with per-field expiry.
pub const VALKEY_RDB_TYPE_HASH_2: u8 = 22;
/// Valkey dialect (9.2, RDB 81): path hash.
pub const VALKEY_RDB_TYPE_PATH_HASH: u8 = 23;

/// Redis Enterprise: RAM LRU hint, one length follows.
pub const RDB_OPCODE_ENTERPRISE_RAM_LRU: u8 = 107;
/// Redis Enterprise: slot number, one length follows.
pub const RDB_OPCODE_ENTERPRISE_SLOT_NUM: u8 = 121;
/// Valkey: inline replication command during forkless save (not in files).
pub const VALKEY_RDB_OPCODE_UPDATE: u8 = 242;
/// Redis dialect (8.6, RDB 13): per-key metadata before the type byte.
pub const RDB_OPCODE_KEY_META: u8 = 243;
/// Valkey dialect (9.0): slot import state.
pub const VALKEY_RDB_OPCODE_SLOT_IMPORT: u8 = 243;
pub const RDB_OPCODE_SLOT_INFO: u8 = 244;
pub const RDB_OPCODE_FUNCTION2: u8 = 245;
pub const RDB_OPCODE_FUNCTION_PRE_GA: u8 = 246;
pub const RDB_OPCODE_MODULE_AUX: u8 = 247;
pub const RDB_OPCODE_IDLE: u8 = 248;
pub const RDB_OPCODE_FREQ: u8 = 249;
pub const RDB_OPCODE_AUX: u8 = 250;
pub const RDB_OPCODE_RESIZEDB: u8 = 251;
pub const RDB_OPCODE_EXPIRETIME_MS: u8 = 252;
pub const RDB_OPCODE_EXPIRETIME: u8 = 253;
pub const RDB_OPCODE_SELECTDB: u8 = 254;
pub const RDB_OPCODE_EOF: u8 = 255;

/// Quicklist 2 node containers (`QUICKLIST_NODE_CONTAINER_*`).
pub const QUICKLIST_NODE_CONTAINER_PLAIN: u64 = 1;
pub const QUICKLIST_NODE_CONTAINER_PACKED: u64 = 2;

/// Highest Redis-magic RDB version understood (14 = Redis 8.8; 15 = Redis
/// 8.10 is accepted too: a file of it reads unless it holds a hash template,
/// which is refused by name).
pub const REDIS_RDB_VERSION_MAX: u32 = 15;
/// Valkey-magic versions understood: 80 (Valkey 9.0/9.1) and the later 8x.
pub const VALKEY_RDB_VERSION_MIN: u32 = 80;
pub const VALKEY_RDB_VERSION_MAX: u32 = 89;
