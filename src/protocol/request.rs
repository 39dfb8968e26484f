//! Parses client requests: `*N\r\n$len\r\narg\r\n...` multibulk, or an inline line of words.

use std::borrow::Cow;

use bytes::{Buf, Bytes, BytesMut};

/// Longest inline request or multibulk/bulk header line Redis accepts before the `\r\n` (64 KiB).
pub const INLINE_BYTES_MAX: usize = 64 * 1024;
/// Most arguments one multibulk request may declare; more is refused with "invalid multibulk
/// length", as Redis 7 refuses counts above INT_MAX. (Memory stays bounded by the query buffer
/// limit: arguments are only stored once they have arrived.)
pub const ARGS_MAX: i64 = i32::MAX as i64;

#[derive(Clone, Copy, Debug)]
pub struct ParseLimits {
    /// `proto-max-bulk-len`: the largest single argument.
    pub bulk_bytes_max: usize,
}

/// A protocol violation. The text is Redis's, and the connection is closed after replying it.
#[derive(Debug, PartialEq, Eq)]
pub struct ProtocolError(pub Cow<'static, str>);

impl ProtocolError {
    fn new(reason: &'static str) -> ProtocolError {
        ProtocolError(Cow::Borrowed(reason))
    }

    pub fn reply_text(&self) -> String {
        format!("ERR Protocol error: {}", self.0)
    }
}

/// Takes one complete request off the front of `buf`.
///
/// `Ok(None)` means more bytes are needed (nothing is consumed). `Ok(Some(args))` may hold zero
/// arguments (an empty inline line or `*0`), which the caller ignores as Redis does.
pub fn parse_request(
    buf: &mut BytesMut,
    limits: ParseLimits,
) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    if buf.is_empty() {
        return Ok(None);
    }
    if buf[0] == b'*' {
        parse_multibulk(buf, limits)
    } else {
        parse_inline(buf)
    }
}

/// Finds `\r\n` at or after `from`; returns the index of `\r`.
fn find_crlf(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(off) = buf[i..].iter().position(|&b| b == b'\r') {
        let at = i + off;
        if at + 1 >= buf.len() {
            return None;
        }
        if buf[at + 1] == b'\n' {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

/// Parses a length as Redis's `string2ll` does: canonical decimal only, so `+1`, `01`, `-0` and
/// ` 1` are refused.
fn parse_int(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes.strip_prefix(b"-") {
        Some(digits) => (true, digits),
        None => (false, bytes),
    };
    match digits {
        [b'0'] if !negative => return Some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    // Accumulated on the sign's side, so that i64::MIN parses too.
    digits.iter().try_fold(0i64, |n, &b| {
        let digit = b.is_ascii_digit().then_some((b - b'0') as i64)?;
        let n = n.checked_mul(10)?;
        if negative {
            n.checked_sub(digit)
        } else {
            n.checked_add(digit)
        }
    })
}

fn parse_multibulk(
    buf: &mut BytesMut,
    limits: ParseLimits,
) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let Some(eol) = find_crlf(buf, 1) else {
        if buf.len() > INLINE_BYTES_MAX {
            return Err(ProtocolError::new("too big mbulk count string"));
        }
        return Ok(None);
    };
    let count = match parse_int(&buf[1..eol]) {
        Some(n) if n <= ARGS_MAX => n,
        _ => return Err(ProtocolError::new("invalid multibulk length")),
    };
    if count <= 0 {
        let _ = buf.split_to(eol + 2);
        return Ok(Some(Vec::new()));
    }
    // First pass: check the whole request is here, without copying anything.
    let mut pos = eol + 2;
    let mut spans = Vec::with_capacity((count as usize).min(1024));
    for _ in 0..count {
        if pos >= buf.len() {
            return Ok(None);
        }
        if buf[pos] != b'$' {
            return Err(expected_dollar(buf[pos]));
        }
        let Some(eol) = find_crlf(buf, pos + 1) else {
            if buf.len() - pos > INLINE_BYTES_MAX {
                return Err(ProtocolError::new("too big bulk count string"));
            }
            return Ok(None);
        };
        let len = match parse_int(&buf[pos + 1..eol]) {
            Some(n) if n >= 0 && n as u64 <= limits.bulk_bytes_max as u64 => n as usize,
            _ => return Err(ProtocolError::new("invalid bulk length")),
        };
        let start = eol + 2;
        let end = start + len;
        if end + 2 > buf.len() {
            return Ok(None);
        }
        spans.push((start, end));
        pos = end + 2;
    }
    // Second pass: each argument taken out of the buffer on its own (one reference count each),
    // the headers and line ends between them dropped. Slicing one frozen frame cost two more
    // atomic operations a request (the frame's own count, taken and dropped).
    let mut taken = 0;
    let args = spans
        .into_iter()
        .map(|(start, end)| {
            buf.advance(start - taken);
            taken = end;
            buf.split_to(end - start).freeze()
        })
        .collect();
    buf.advance(pos - taken);
    Ok(Some(args))
}

/// Redis names the offending byte; a line break in it would break the error line, and Redis
/// writes those as spaces.
fn expected_dollar(got: u8) -> ProtocolError {
    let shown = match got {
        b'\r' | b'\n' => ' ',
        other => char::from(other),
    };
    ProtocolError(Cow::Owned(format!("expected '$', got '{shown}'")))
}

fn parse_inline(buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
    let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > INLINE_BYTES_MAX {
            return Err(ProtocolError::new("too big inline request"));
        }
        return Ok(None);
    };
    let line = buf.split_to(nl + 1);
    let mut text = &line[..nl];
    if text.last() == Some(&b'\r') {
        text = &text[..text.len() - 1];
    }
    split_inline_args(text)
        .map(Some)
        .ok_or(ProtocolError::new("unbalanced quotes in request"))
}

/// Splits an inline command line into words the way redis-cli and `sdssplitargs` do: spaces
/// separate, "double quotes" allow `\n`-style and `\xHH` escapes, 'single quotes' are literal.
fn split_inline_args(line: &[u8]) -> Option<Vec<Bytes>> {
    let mut args = Vec::new();
    let mut i = 0;
    while i < line.len() {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == line.len() {
            break;
        }
        let mut word = Vec::new();
        match line[i] {
            b'"' => {
                i += 1;
                loop {
                    let c = *line.get(i)?;
                    match c {
                        b'\\'
                            if i + 3 < line.len()
                                && line[i + 1] == b'x'
                                && line[i + 2].is_ascii_hexdigit()
                                && line[i + 3].is_ascii_hexdigit() =>
                        {
                            let hex = std::str::from_utf8(&line[i + 2..i + 4]).ok()?;
                            word.push(u8::from_str_radix(hex, 16).ok()?);
                            i += 4;
                        }
                        b'\\' if i + 1 < line.len() => {
                            word.push(match line[i + 1] {
                                b'n' => b'\n',
                                b'r' => b'\r',
                                b't' => b'\t',
                                b'b' => 8,
                                b'a' => 7,
                                other => other,
                            });
                            i += 2;
                        }
                        b'"' => {
                            i += 1;
                            break;
                        }
                        _ => {
                            word.push(c);
                            i += 1;
                        }
                    }
                }
                if i < line.len() && !line[i].is_ascii_whitespace() {
                    return None;
                }
            }
            b'\'' => {
                i += 1;
                loop {
                    let c = *line.get(i)?;
                    if c == b'\\' && line.get(i + 1) == Some(&b'\'') {
                        word.push(b'\'');
                        i += 2;
                    } else if c == b'\'' {
                        i += 1;
                        break;
                    } else {
                        word.push(c);
                        i += 1;
                    }
                }
                if i < line.len() && !line[i].is_ascii_whitespace() {
                    return None;
                }
            }
            _ => {
                while i < line.len() && !line[i].is_ascii_whitespace() {
                    word.push(line[i]);
                    i += 1;
                }
            }
        }
        args.push(Bytes::from(word));
    }
    Some(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ParseLimits = ParseLimits {
        bulk_bytes_max: 512 * 1024 * 1024,
    };

    fn parse(input: &[u8]) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        parse_request(&mut BytesMut::from(input), LIMITS)
    }

    #[test]
    fn lengths_are_canonical_decimal_i64s() {
        let cases: [(&[u8], Option<i64>); 14] = [
            (b"0", Some(0)),
            (b"7", Some(7)),
            (b"-1", Some(-1)),
            (b"1234567890", Some(1_234_567_890)),
            (b"9223372036854775807", Some(i64::MAX)),
            (b"-9223372036854775808", Some(i64::MIN)),
            (b"9223372036854775808", None),
            (b"-9223372036854775809", None),
            (b"-0", None),
            (b"01", None),
            (b"", None),
            (b"-", None),
            (b"+1", None),
            (b"12a", None),
        ];
        for (text, expected) in cases {
            assert_eq!(
                parse_int(text),
                expected,
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }

    #[test]
    fn multibulk_waits_for_the_whole_request_then_consumes_exactly_it() {
        let whole = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n*1\r\n$4\r\nPING\r\n";
        for cut in 0..22 {
            assert_eq!(parse(&whole[..cut]), Ok(None), "cut at {cut}");
        }
        let mut buf = BytesMut::from(&whole[..]);
        let args = parse_request(&mut buf, LIMITS).unwrap().unwrap();
        assert_eq!(args, vec![Bytes::from("GET"), Bytes::from("key")]);
        assert_eq!(&buf[..], b"*1\r\n$4\r\nPING\r\n");
    }

    #[test]
    fn malformed_multibulk_gets_redis_protocol_errors() {
        assert_eq!(
            parse(b"*x\r\n"),
            Err(ProtocolError::new("invalid multibulk length"))
        );
        assert_eq!(
            parse(b"*1\r\n+foo\r\n"),
            Err(ProtocolError::new("expected '$', got '+'"))
        );
        assert_eq!(
            parse(b"*1\r\n$-2\r\n"),
            Err(ProtocolError::new("invalid bulk length"))
        );
        assert_eq!(
            parse(b"*1\r\nfoo\r\n"),
            Err(ProtocolError::new("expected '$', got 'f'"))
        );
        let small = ParseLimits { bulk_bytes_max: 3 };
        let err = parse_request(&mut BytesMut::from(&b"*1\r\n$4\r\n"[..]), small);
        assert_eq!(err, Err(ProtocolError::new("invalid bulk length")));
    }

    #[test]
    fn lengths_must_be_canonical_decimals_as_in_redis() {
        for bad in [
            &b"*+1\r\n"[..],
            b"*01\r\n",
            b"* 1\r\n",
            b"*-0\r\n",
            b"*2147483648\r\n",
        ] {
            let err = parse(bad).unwrap_err();
            assert_eq!(
                err,
                ProtocolError::new("invalid multibulk length"),
                "{bad:?}"
            );
        }
        for bad in [&b"*1\r\n$+4\r\n"[..], b"*1\r\n$04\r\n", b"*1\r\n$-0\r\n"] {
            let err = parse(bad).unwrap_err();
            assert_eq!(err, ProtocolError::new("invalid bulk length"), "{bad:?}");
        }
        assert_eq!(
            parse(b"*2147483647\r\n"),
            Ok(None),
            "INT_MAX waits for more"
        );
        assert_eq!(parse(b"*-1\r\n").unwrap().unwrap().len(), 0);
    }

    #[test]
    fn inline_commands_split_like_redis_cli() {
        let args = parse(b"SET k \"a b\\x41\\n\" 'it''s'\r\n");
        assert_eq!(
            parse(b"set  'x'y\r\n"),
            Err(ProtocolError::new("unbalanced quotes in request"))
        );
        assert!(
            args.is_err(),
            "adjacent quoted strings are unbalanced in Redis too"
        );
        let args = parse(b"SET k \"a b\\x41\\n\"\n").unwrap().unwrap();
        assert_eq!(
            args,
            vec![Bytes::from("SET"), Bytes::from("k"), Bytes::from("a bA\n")]
        );
        assert_eq!(parse(b"\r\n").unwrap().unwrap().len(), 0);
    }
}
