//! RESP2: a command encoder, a zero-copy reply scanner for the hot path, and a full value parser
//! for the few control replies (`PING`, `CLUSTER SLOTS`) that need their contents.

use crate::limits::{ARRAY_LEN_MAX, BULK_BYTES_MAX, VALUE_DEPTH_MAX};
use std::fmt;
use std::io::{Read, Write};

/// Appends `args` to `out` as one RESP array of bulk strings.
pub fn encode_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.push(b'*');
    push_decimal(out, args.len() as u64);
    out.extend_from_slice(b"\r\n");
    for arg in args {
        out.push(b'$');
        push_decimal(out, arg.len() as u64);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Appends the decimal digits of `n` to `out`.
pub fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// A reply the server sent that breaks the protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RESP protocol error: {}", self.0)
    }
}

/// What the load generator needs to know about one reply: its top-level shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyHead {
    Simple,
    /// An error reply; its text is `buf[start..end]` of the scanned buffer.
    Error {
        start: usize,
        end: usize,
    },
    Integer(i64),
    /// A bulk string; `nil` for `$-1`.
    Bulk {
        nil: bool,
    },
    /// An array; `len` is -1 for a nil array.
    Array {
        len: i64,
    },
}

/// Finds the end of the line that starts at `from`; returns the index of its `\r`.
fn line_end(buf: &[u8], from: usize) -> Option<usize> {
    let rel = buf[from..].windows(2).position(|w| w == b"\r\n")?;
    Some(from + rel)
}

fn parse_int(bytes: &[u8]) -> Result<i64, ProtocolError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or_else(|| ProtocolError(format!("bad integer {:?}", String::from_utf8_lossy(bytes))))
}

/// One header line: its type byte, the line's payload range, and where the next element starts.
struct Header {
    kind: u8,
    start: usize,
    end: usize,
    next: usize,
}

fn header(buf: &[u8], at: usize) -> Option<Header> {
    if at >= buf.len() {
        return None;
    }
    let end = line_end(buf, at + 1)?;
    Some(Header {
        kind: buf[at],
        start: at + 1,
        end,
        next: end + 2,
    })
}

/// Scans one complete reply at the start of `buf` without copying it.
///
/// Returns `Ok(None)` when more bytes are needed, else the reply's length in bytes and its head.
pub fn scan_reply(buf: &[u8]) -> Result<Option<(usize, ReplyHead)>, ProtocolError> {
    let mut pos = 0usize;
    let mut remaining: i64 = 1; // elements still to scan, nested arrays included
    let mut head: Option<ReplyHead> = None;
    while remaining > 0 {
        let Some(h) = header(buf, pos) else {
            return Ok(None);
        };
        remaining -= 1;
        let this = match h.kind {
            b'+' => ReplyHead::Simple,
            b'-' => ReplyHead::Error {
                start: h.start,
                end: h.end,
            },
            b':' => ReplyHead::Integer(parse_int(&buf[h.start..h.end])?),
            b'$' => {
                let len = parse_int(&buf[h.start..h.end])?;
                if !(-1..=BULK_BYTES_MAX).contains(&len) {
                    return Err(ProtocolError(format!("bulk length {len} out of range")));
                }
                if len >= 0 {
                    let after = h.next + len as usize + 2;
                    if buf.len() < after {
                        return Ok(None);
                    }
                    if &buf[after - 2..after] != b"\r\n" {
                        return Err(ProtocolError("bulk string not followed by CRLF".into()));
                    }
                    pos = after;
                } else {
                    pos = h.next;
                }
                if head.is_none() {
                    head = Some(ReplyHead::Bulk { nil: len < 0 });
                }
                continue;
            }
            b'*' => {
                let len = parse_int(&buf[h.start..h.end])?;
                if !(-1..=ARRAY_LEN_MAX).contains(&len) {
                    return Err(ProtocolError(format!("array length {len} out of range")));
                }
                remaining += len.max(0);
                ReplyHead::Array { len }
            }
            other => {
                return Err(ProtocolError(format!(
                    "unexpected reply type byte 0x{other:02x}"
                )))
            }
        };
        pos = h.next;
        if head.is_none() {
            head = Some(this);
        }
    }
    Ok(head.map(|h| (pos, h)))
}

/// A fully parsed reply, for control commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Value>>),
}

impl Value {
    /// The value as text, for simple and bulk strings.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Value::Simple(s) => Some(s.clone()),
            Value::Bulk(Some(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        }
    }
}

/// Parses one complete reply at the start of `buf`; `Ok(None)` when more bytes are needed.
pub fn parse_value(buf: &[u8]) -> Result<Option<(usize, Value)>, ProtocolError> {
    parse_value_at(buf, 0, 0)
}

fn parse_value_at(
    buf: &[u8],
    at: usize,
    depth: usize,
) -> Result<Option<(usize, Value)>, ProtocolError> {
    if depth > VALUE_DEPTH_MAX {
        return Err(ProtocolError(format!(
            "reply nested deeper than {VALUE_DEPTH_MAX}"
        )));
    }
    let Some(h) = header(buf, at) else {
        return Ok(None);
    };
    let text = || String::from_utf8_lossy(&buf[h.start..h.end]).into_owned();
    let parsed = match h.kind {
        b'+' => (h.next, Value::Simple(text())),
        b'-' => (h.next, Value::Error(text())),
        b':' => (h.next, Value::Integer(parse_int(&buf[h.start..h.end])?)),
        b'$' => {
            let len = parse_int(&buf[h.start..h.end])?;
            if !(-1..=BULK_BYTES_MAX).contains(&len) {
                return Err(ProtocolError(format!("bulk length {len} out of range")));
            }
            if len < 0 {
                (h.next, Value::Bulk(None))
            } else {
                let end = h.next + len as usize;
                if buf.len() < end + 2 {
                    return Ok(None);
                }
                (end + 2, Value::Bulk(Some(buf[h.next..end].to_vec())))
            }
        }
        b'*' => {
            let len = parse_int(&buf[h.start..h.end])?;
            if !(-1..=ARRAY_LEN_MAX).contains(&len) {
                return Err(ProtocolError(format!("array length {len} out of range")));
            }
            if len < 0 {
                (h.next, Value::Array(None))
            } else {
                let mut items = Vec::with_capacity(len.min(1024) as usize);
                let mut pos = h.next;
                for _ in 0..len {
                    let Some((next, item)) = parse_value_at(buf, pos, depth + 1)? else {
                        return Ok(None);
                    };
                    items.push(item);
                    pos = next;
                }
                (pos, Value::Array(Some(items)))
            }
        }
        other => {
            return Err(ProtocolError(format!(
                "unexpected reply type byte 0x{other:02x}"
            )))
        }
    };
    Ok(Some(parsed))
}

/// Sends one command on a blocking stream and reads its whole reply.
pub fn blocking_command<S: Read + Write>(stream: &mut S, args: &[&[u8]]) -> Result<Value, String> {
    let mut out = Vec::new();
    encode_command(&mut out, args);
    stream
        .write_all(&out)
        .map_err(|e| format!("write failed: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 << 10];
    loop {
        if let Some((_, value)) = parse_value(&buf).map_err(|e| e.to_string())? {
            return Ok(value);
        }
        if buf.len() > crate::limits::REPLY_BUFFER_BYTES_MAX {
            return Err("control reply exceeds REPLY_BUFFER_BYTES_MAX".into());
        }
        let n = stream
            .read(&mut chunk)
            .map_err(|e| format!("read failed: {e}"))?;
        if n == 0 {
            return Err("server closed the connection".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_set_as_array_of_bulk_strings() {
        let mut out = Vec::new();
        encode_command(&mut out, &[b"SET", b"k", b"value"]);
        assert_eq!(out, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n");
    }

    #[test]
    fn scan_waits_for_incomplete_bulk() {
        assert_eq!(scan_reply(b"$5\r\nhel").unwrap(), None);
        assert_eq!(scan_reply(b"$5\r\nhello\r").unwrap(), None);
        let (n, head) = scan_reply(b"$5\r\nhello\r\n+OK\r\n").unwrap().unwrap();
        assert_eq!((n, head), (11, ReplyHead::Bulk { nil: false }));
    }

    #[test]
    fn scan_reports_nil_bulk_and_empty_array() {
        assert_eq!(
            scan_reply(b"$-1\r\n").unwrap(),
            Some((5, ReplyHead::Bulk { nil: true }))
        );
        assert_eq!(
            scan_reply(b"*0\r\n").unwrap(),
            Some((4, ReplyHead::Array { len: 0 }))
        );
    }

    #[test]
    fn scan_skips_nested_arrays_whole() {
        let reply = b"*2\r\n*2\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n";
        let (n, head) = scan_reply(reply).unwrap().unwrap();
        assert_eq!(n, reply.len());
        assert_eq!(head, ReplyHead::Array { len: 2 });
        assert_eq!(scan_reply(&reply[..reply.len() - 1]).unwrap(), None);
    }

    #[test]
    fn scan_points_at_error_text() {
        let buf = b"-MOVED 3999 127.0.0.1:6381\r\n";
        let (_, head) = scan_reply(buf).unwrap().unwrap();
        let ReplyHead::Error { start, end } = head else {
            panic!("expected error")
        };
        assert_eq!(&buf[start..end], b"MOVED 3999 127.0.0.1:6381");
    }

    #[test]
    fn scan_rejects_garbage_and_huge_lengths() {
        assert!(scan_reply(b"?x\r\n").is_err());
        assert!(scan_reply(b"$99999999999\r\n").is_err());
        assert!(scan_reply(b":abc\r\n").is_err());
    }

    #[test]
    fn parse_value_reads_nested_cluster_slots_shape() {
        let buf = b"*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:7000\r\n";
        let (n, v) = parse_value(buf).unwrap().unwrap();
        assert_eq!(n, buf.len());
        let Value::Array(Some(slots)) = v else {
            panic!()
        };
        assert_eq!(slots.len(), 1);
    }
}
