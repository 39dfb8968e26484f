//! Encoding of the frames pub/sub pushes: `message`, `pmessage`, `smessage` and the
//! (un)subscribe confirmations. They are arrays in RESP2 and push frames (`>`) in RESP3, which
//! differ in their first byte only, so each is encoded once without it (`Frame::body`).

use bytes::Bytes;

use crate::protocol::Reply;

/// A pushed frame without its first (type) byte.
pub struct Frame {
    pub body: Vec<u8>,
}

impl Frame {
    fn of(items: Vec<Reply>) -> Frame {
        let mut out = Vec::new();
        Reply::Array(items).encode(&mut out, false);
        out.remove(0);
        Frame { body: out }
    }

    /// `message <channel> <payload>` (or `smessage` for a shard channel).
    pub fn message(word: &'static str, channel: &Bytes, payload: &Bytes) -> Frame {
        Frame::of(vec![
            Reply::bulk_str(word),
            Reply::Bulk(channel.clone()),
            Reply::Bulk(payload.clone()),
        ])
    }

    /// `pmessage <pattern> <channel> <payload>`.
    pub fn pmessage(pattern: &Bytes, channel: &Bytes, payload: &Bytes) -> Frame {
        Frame::of(vec![
            Reply::bulk_str("pmessage"),
            Reply::Bulk(pattern.clone()),
            Reply::Bulk(channel.clone()),
            Reply::Bulk(payload.clone()),
        ])
    }

    /// The first byte for a client speaking RESP3 (`>`) or RESP2 (`*`).
    pub fn kind(resp3: bool) -> u8 {
        if resp3 {
            b'>'
        } else {
            b'*'
        }
    }
}

/// A (un)subscribe confirmation: `[word, name or nil, count]`, pushed in RESP3.
pub fn confirmation(word: &'static str, name: Option<&Bytes>, count: usize) -> Reply {
    Reply::Push(vec![
        Reply::bulk_str(word),
        name.map_or(Reply::Nil, |n| Reply::Bulk(n.clone())),
        Reply::Int(count as i64),
    ])
}
