//! RDB object type bytes (Redis's `RDB_TYPE_*`).

pub const STRING: u8 = 0;
pub const LIST: u8 = 1;
pub const SET: u8 = 2;
pub const ZSET: u8 = 3;
pub const HASH: u8 = 4;
pub const ZSET_2: u8 = 5;
pub const SET_INTSET: u8 = 11;
pub const HASH_LISTPACK: u8 = 16;
pub const ZSET_LISTPACK: u8 = 17;
pub const LIST_QUICKLIST_2: u8 = 18;
pub const SET_LISTPACK: u8 = 20;
/// Streams: v1 (Redis 5/6), v2 (7.0: first id, max deleted id, entries added, groups' entries
/// read) and v3 (7.2: consumers' active time).
pub const STREAM_LISTPACKS: u8 = 15;
pub const STREAM_LISTPACKS_2: u8 = 19;
pub const STREAM_LISTPACKS_3: u8 = 21;

/// Quicklist node containers in `LIST_QUICKLIST_2`.
pub const QUICKLIST_NODE_PLAIN: u64 = 1;
pub const QUICKLIST_NODE_PACKED: u64 = 2;
