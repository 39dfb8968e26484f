//! Replies, and their encoding in RESP2 or RESP3.

use bytes::Bytes;

/// One reply to one command. RESP3-only shapes (`Map`, `Set`, `Double`, `Verbatim`)
/// are written in their RESP2 form to RESP2 connections, as Redis does.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `+OK`, `+PONG`, ...
    Status(&'static str),
    /// A status built at run time (`+` line).
    StatusOwned(String),
    /// The full error text after `-`, including its code: `ERR ...`, `WRONGTYPE ...`.
    Error(String),
    Int(i64),
    Bulk(Bytes),
    /// The null bulk string (`$-1` in RESP2).
    Nil,
    Array(Vec<Reply>),
    Map(Vec<(Reply, Reply)>),
    Set(Vec<Reply>),
    Double(f64),
    /// A double as text Redis formats its own way (geo coordinates: `%.17Lf` without trailing
    /// zeros): `,` in RESP3, a bulk string in RESP2, like `Double`.
    DoubleText(String),
    /// Verbatim text (`=` in RESP3, bulk string in RESP2), e.g. `INFO`, `CLIENT INFO`.
    Verbatim(String),
    /// The null array (`*-1` in RESP2, `_` in RESP3): EXEC of a transaction a WATCH aborted.
    NilArray,
    /// Out-of-band data (`>` in RESP3, an array in RESP2): pub/sub messages and confirmations.
    Push(Vec<Reply>),
    /// Several frames answering one command, written one after the other (SUBSCRIBE a b c).
    Frames(Vec<Reply>),
}

pub const OK: Reply = Reply::Status("OK");

impl Reply {
    pub fn ok() -> Reply {
        OK
    }

    pub fn error(text: impl Into<String>) -> Reply {
        Reply::Error(text.into())
    }

    /// A bulk string copied from `bytes`.
    pub fn bulk(bytes: &[u8]) -> Reply {
        Reply::Bulk(bytes::Bytes::copy_from_slice(bytes))
    }

    pub fn bulk_str(text: &str) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()))
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Appends the encoding of this reply to `out`.
    pub fn encode(&self, out: &mut Vec<u8>, resp3: bool) {
        match self {
            Reply::Status(s) => line(out, b'+', s.as_bytes()),
            Reply::StatusOwned(s) => line(out, b'+', s.as_bytes()),
            Reply::Error(e) => line(out, b'-', e.as_bytes()),
            Reply::Int(n) => line(out, b':', itoa::Buffer::new().format(*n).as_bytes()),
            Reply::Bulk(b) => bulk(out, b),
            Reply::Nil => out.extend_from_slice(if resp3 { b"_\r\n" } else { b"$-1\r\n" }),
            Reply::NilArray => out.extend_from_slice(if resp3 { b"_\r\n" } else { b"*-1\r\n" }),
            Reply::Array(items) => {
                header(out, b'*', items.len());
                items.iter().for_each(|r| r.encode(out, resp3));
            }
            Reply::Push(items) => {
                header(out, if resp3 { b'>' } else { b'*' }, items.len());
                items.iter().for_each(|r| r.encode(out, resp3));
            }
            Reply::Frames(frames) => frames.iter().for_each(|r| r.encode(out, resp3)),
            Reply::Set(items) => {
                header(out, if resp3 { b'~' } else { b'*' }, items.len());
                items.iter().for_each(|r| r.encode(out, resp3));
            }
            Reply::Map(pairs) => {
                if resp3 {
                    header(out, b'%', pairs.len());
                } else {
                    header(out, b'*', pairs.len() * 2);
                }
                for (k, v) in pairs {
                    k.encode(out, resp3);
                    v.encode(out, resp3);
                }
            }
            Reply::Double(d) => double(out, &format_double(*d), resp3),
            Reply::DoubleText(text) => double(out, text, resp3),
            Reply::Verbatim(text) => {
                if resp3 {
                    header(out, b'=', text.len() + 4);
                    out.extend_from_slice(b"txt:");
                    out.extend_from_slice(text.as_bytes());
                    out.extend_from_slice(b"\r\n");
                } else {
                    bulk(out, text.as_bytes());
                }
            }
        }
    }
}

/// Formats a double as Redis does in replies: shortest round-trip form, `inf`/`-inf`/`nan`, and
/// exponent notation for very large or small magnitudes (like `%.17g`).
fn double(out: &mut Vec<u8>, text: &str, resp3: bool) {
    if resp3 {
        line(out, b',', text.as_bytes());
    } else {
        bulk(out, text.as_bytes());
    }
}

pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let abs = d.abs();
    if abs != 0.0 && !(1e-5..1e17).contains(&abs) {
        let s = format!("{d:e}");
        // Rust writes `1e21`; Redis writes `1e+21`.
        return match s.find('e') {
            Some(i) if !s[i + 1..].starts_with('-') => format!("{}e+{}", &s[..i], &s[i + 1..]),
            _ => s,
        };
    }
    format!("{d}")
}

fn header(out: &mut Vec<u8>, kind: u8, len: usize) {
    line(out, kind, itoa::Buffer::new().format(len).as_bytes());
}

fn line(out: &mut Vec<u8>, kind: u8, text: &[u8]) {
    out.push(kind);
    out.extend_from_slice(text);
    out.extend_from_slice(b"\r\n");
}

fn bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    header(out, b'$', bytes.len());
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(r: Reply, resp3: bool) -> String {
        let mut out = Vec::new();
        r.encode(&mut out, resp3);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn resp3_shapes_fall_back_to_resp2() {
        let map = Reply::Map(vec![(Reply::bulk_str("a"), Reply::Int(1))]);
        assert_eq!(enc(map.clone(), false), "*2\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(map, true), "%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(enc(Reply::Nil, false), "$-1\r\n");
        assert_eq!(enc(Reply::Double(1.5), false), "$3\r\n1.5\r\n");
        assert_eq!(enc(Reply::Double(f64::INFINITY), true), ",inf\r\n");
    }

    #[test]
    fn doubles_format_like_redis() {
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(0.1), "0.1");
        assert_eq!(format_double(1e21), "1e+21");
        assert_eq!(format_double(-2.5e-7), "-2.5e-7");
    }
}
