//! What SCAN, SSCAN, HSCAN and ZSCAN share: the cursor, the MATCH/COUNT(/TYPE) options and the
//! `[cursor, [items]]` reply.

use bytes::Bytes;

use super::{parse_i64, syntax_error};
use crate::keyspace::pattern::glob_match;
use crate::protocol::Reply;

/// Redis's default COUNT.
pub const SCAN_COUNT_DEFAULT: usize = 10;

/// An unsigned decimal as Redis's strtoul-based cursor parser takes it: a leading `+` and leading
/// zeros are fine, and the empty string is 0.
pub fn parse_cursor(arg: &[u8]) -> Result<u64, Reply> {
    if arg.is_empty() {
        return Ok(0);
    }
    std::str::from_utf8(arg)
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .ok_or_else(|| Reply::error("ERR invalid cursor"))
}

pub struct ScanOptions {
    pub count: usize,
    /// `None` for no MATCH or `MATCH *`.
    pub pattern: Option<Bytes>,
    /// SCAN's TYPE filter (`None`: any type).
    pub type_name: Option<Bytes>,
}

impl ScanOptions {
    /// Parses `[MATCH pattern] [COUNT count]`, and `[TYPE type]` when `with_type` (SCAN).
    pub fn parse(args: &[Bytes], with_type: bool) -> Result<ScanOptions, Reply> {
        let mut opts = ScanOptions {
            count: SCAN_COUNT_DEFAULT,
            pattern: None,
            type_name: None,
        };
        for pair in args.chunks(2) {
            let [name, value] = pair else {
                return Err(syntax_error());
            };
            match name.to_ascii_uppercase().as_slice() {
                b"COUNT" => match parse_i64(value)? {
                    count if count >= 1 => opts.count = count as usize,
                    _ => return Err(syntax_error()),
                },
                b"MATCH" => opts.pattern = (value.as_ref() != b"*").then(|| value.clone()),
                b"TYPE" if with_type => opts.type_name = Some(value.clone()),
                _ => return Err(syntax_error()),
            }
        }
        Ok(opts)
    }

    /// Whether `element` passes MATCH.
    pub fn matches(&self, element: &[u8]) -> bool {
        self.pattern
            .as_ref()
            .is_none_or(|pattern| glob_match(pattern, element, false))
    }
}

pub fn scan_reply(cursor: u64, items: Vec<Reply>) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(cursor.to_string())),
        Reply::Array(items),
    ])
}
