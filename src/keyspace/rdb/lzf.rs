//! LZF decompression, for the compressed strings in RDB payloads (Redis compresses strings over
//! 20 bytes with liblzf when `rdbcompression` is on).
//!
//! The format is a sequence of runs, each starting with a control byte: below 32, a literal run of
//! `ctrl + 1` bytes follows; otherwise a back reference copies `len + 2` bytes starting `offset + 1`
//! bytes back in the output, where `len` is `ctrl >> 5` (7 means "plus the next byte") and
//! `offset` is `(ctrl & 31) << 8` plus the next byte.

/// Decompresses `input` into exactly `out_len` bytes; `None` when the input is malformed
/// (truncated, a reference before the start, or a length that does not come out exactly).
pub fn decompress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(out_len);
    let mut at = 0;
    while at < input.len() {
        let ctrl = input[at] as usize;
        at += 1;
        if ctrl < 32 {
            let run = input.get(at..at + ctrl + 1)?;
            if out.len() + run.len() > out_len {
                return None;
            }
            out.extend_from_slice(run);
            at += ctrl + 1;
            continue;
        }
        let mut len = ctrl >> 5;
        if len == 7 {
            len += *input.get(at)? as usize;
            at += 1;
        }
        let offset = ((ctrl & 0x1f) << 8) + *input.get(at)? as usize + 1;
        at += 1;
        let start = out.len().checked_sub(offset)?;
        if out.len() + len + 2 > out_len {
            return None;
        }
        // Byte by byte: a reference may overlap the bytes it produces (a repeated pattern).
        for i in 0..len + 2 {
            let b = out[start + i];
            out.push(b);
        }
    }
    (out.len() == out_len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_runs_and_overlapping_back_references_decode() {
        // "abc" literally, then a reference 3 back of length 7: "abcabcabca".
        let input = [2, b'a', b'b', b'c', 5 << 5, 2];
        assert_eq!(decompress(&input, 10).unwrap(), b"abcabcabca");
    }

    #[test]
    fn malformed_input_is_refused() {
        assert_eq!(decompress(&[5, b'a'], 6), None, "truncated literal");
        assert_eq!(
            decompress(&[0, b'a', 0x20, 5], 4),
            None,
            "reference before start"
        );
        assert_eq!(decompress(&[0, b'a'], 2), None, "short output");
        assert_eq!(decompress(&[1, b'a', b'b'], 1), None, "long output");
    }
}
