//! Decoder for `Transfer-Encoding: chunked` bodies (RFC 9112 §7.1).
//!
//! A load generator only counts body bytes, so the decoder never copies data:
//! it walks the framing byte by byte, skips chunk data in bulk, and keeps a
//! few integers of state, whatever the body's size. Extensions are skipped up
//! to a cap; trailers are skipped up to a cap and never change framing.

use super::{HttpError, MAX_CHUNK_EXT_BYTES, MAX_TRAILER_BYTES};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading hex digits of a chunk size; `digits` seen so far.
    Size {
        digits: u8,
    },
    /// Whitespace after the size, before `;` or the line end.
    SizeWs,
    /// Inside a chunk extension, `len` bytes so far.
    Ext {
        len: usize,
    },
    /// Saw CR at the end of a size line; LF must follow.
    SizeLf,
    /// Chunk data left to skip.
    Data {
        left: u64,
    },
    /// Chunk data ended; CRLF (or bare LF) must follow.
    DataCr,
    DataLf,
    /// In the trailer section; `at_line_start` tells whether the next byte
    /// starts a line (an empty line ends the body).
    Trailer {
        at_line_start: bool,
    },
    /// Saw CR at the start of a trailer line: the final CRLF.
    FinalLf,
    Done,
}

/// Incremental chunked-body decoder. Feed it bytes in any segmentation.
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    state: State,
    size: u64,
    trailer_bytes: usize,
}

/// What one call to [`ChunkedDecoder::decode`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// Input bytes consumed (framing and data).
    pub consumed: usize,
    /// Payload bytes among them.
    pub data: u64,
    /// The terminating chunk and trailers have been read; bytes after
    /// `consumed` belong to whatever follows the body.
    pub done: bool,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    pub fn new() -> Self {
        ChunkedDecoder { state: State::Size { digits: 0 }, size: 0, trailer_bytes: 0 }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Consumes as much of `buf` as belongs to the body.
    pub fn decode(&mut self, buf: &[u8]) -> Result<Decoded, HttpError> {
        self.decode_with(buf, |_| {})
    }

    /// [`ChunkedDecoder::decode`], handing each piece of chunk data to
    /// `payload` as it passes (for bodies that are read, not only counted).
    #[inline]
    pub fn decode_with(&mut self, buf: &[u8], mut payload: impl FnMut(&[u8])) -> Result<Decoded, HttpError> {
        let mut i = 0;
        let mut data = 0u64;
        while i < buf.len() && self.state != State::Done {
            if let State::Data { left } = self.state {
                let take = left.min((buf.len() - i) as u64);
                payload(&buf[i..i + take as usize]);
                i += take as usize;
                data += take;
                self.state = if take == left { State::DataCr } else { State::Data { left: left - take } };
                continue;
            }
            self.step(buf[i])?;
            i += 1;
        }
        Ok(Decoded { consumed: i, data, done: self.state == State::Done })
    }

    /// Advances the framing state machine by one byte outside chunk data.
    fn step(&mut self, b: u8) -> Result<(), HttpError> {
        self.state = match self.state {
            State::Size { digits } => match hex_value(b) {
                Some(v) => {
                    if self.size > u64::MAX >> 4 {
                        return Err(HttpError::ChunkSize);
                    }
                    self.size = (self.size << 4) | u64::from(v);
                    State::Size { digits: digits.saturating_add(1) }
                }
                None if digits == 0 => return Err(HttpError::ChunkSize),
                None => self.after_size(b)?,
            },
            State::SizeWs => self.after_size(b)?,
            State::Ext { len } => match b {
                b'\r' => State::SizeLf,
                b'\n' => self.end_size_line(),
                _ if len >= MAX_CHUNK_EXT_BYTES => return Err(HttpError::ChunkExtension),
                _ => State::Ext { len: len + 1 },
            },
            State::SizeLf => match b {
                b'\n' => self.end_size_line(),
                _ => return Err(HttpError::BareCr),
            },
            State::DataCr => match b {
                b'\r' => State::DataLf,
                b'\n' => State::Size { digits: 0 },
                _ => return Err(HttpError::ChunkDelimiter),
            },
            State::DataLf => match b {
                b'\n' => State::Size { digits: 0 },
                _ => return Err(HttpError::ChunkDelimiter),
            },
            State::Trailer { at_line_start } => {
                self.trailer_bytes += 1;
                if self.trailer_bytes > MAX_TRAILER_BYTES {
                    return Err(HttpError::TrailersTooLarge);
                }
                match (b, at_line_start) {
                    (b'\r', true) => State::FinalLf,
                    (b'\n', true) => State::Done,
                    (b'\n', false) => State::Trailer { at_line_start: true },
                    _ => State::Trailer { at_line_start: false },
                }
            }
            State::FinalLf => match b {
                b'\n' => State::Done,
                _ => return Err(HttpError::BareCr),
            },
            State::Data { .. } | State::Done => unreachable!("handled by decode"),
        };
        Ok(())
    }

    /// The byte after a chunk size's digits (or after whitespace following them).
    fn after_size(&mut self, b: u8) -> Result<State, HttpError> {
        Ok(match b {
            b' ' | b'\t' => State::SizeWs,
            b';' => State::Ext { len: 0 },
            b'\r' => State::SizeLf,
            b'\n' => self.end_size_line(),
            _ => return Err(HttpError::ChunkSize),
        })
    }

    fn end_size_line(&mut self) -> State {
        let size = std::mem::take(&mut self.size);
        if size == 0 { State::Trailer { at_line_start: true } } else { State::Data { left: size } }
    }
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Valid bodies: (encoded body followed by "NEXT", payload).
    const GOOD: &[(&[u8], &[u8])] = &[
        (b"0\r\n\r\nNEXT", b""),
        (b"5\r\nhello\r\n0\r\n\r\nNEXT", b"hello"),
        (b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nNEXT", b"hello world"),
        (b"A\r\n0123456789\r\n0\r\n\r\nNEXT", b"0123456789"),
        (b"a;name=value;x\r\n0123456789\r\n0;last\r\n\r\nNEXT", b"0123456789"),
        (b"3 ;ext\r\nabc\r\n0\r\n\r\nNEXT", b"abc"),
        (b"3\r\nabc\r\n0\r\nX-Trailer: yes\r\nOther: 1\r\n\r\nNEXT", b"abc"),
        (b"3\nabc\n0\n\nNEXT", b"abc"),
        (b"000003\r\nabc\r\n0000\r\n\r\nNEXT", b"abc"),
    ];

    const BAD: &[(&[u8], HttpError)] = &[
        (b"zz\r\n", HttpError::ChunkSize),
        (b"-1\r\n", HttpError::ChunkSize),
        (b"\r\n", HttpError::ChunkSize),
        (b"f0000000000000003\r\n", HttpError::ChunkSize),
        (b"3x\r\n", HttpError::ChunkSize),
        (b"3\rX", HttpError::BareCr),
        (b"3\r\nabcX\r\n", HttpError::ChunkDelimiter),
        (b"3\r\nabc\rX", HttpError::ChunkDelimiter),
        (b"0\r\n\rX", HttpError::BareCr),
    ];

    /// Feeds `input` in pieces cut at `cuts`, returning (consumed, data, done).
    fn feed_split(input: &[u8], cuts: &[usize]) -> Result<(usize, u64, bool), HttpError> {
        feed_split_payload(input, cuts, &mut Vec::new())
    }

    /// [`feed_split`], gathering the payload into `payload`.
    fn feed_split_payload(
        input: &[u8],
        cuts: &[usize],
        payload: &mut Vec<u8>,
    ) -> Result<(usize, u64, bool), HttpError> {
        let mut dec = ChunkedDecoder::new();
        let (mut consumed, mut data) = (0, 0);
        let mut bounds = cuts.to_vec();
        bounds.push(input.len());
        let mut start = 0;
        for end in bounds {
            let d = dec.decode_with(&input[start..end], |piece| payload.extend_from_slice(piece))?;
            consumed += d.consumed;
            data += d.data;
            if d.done {
                return Ok((consumed, data, true));
            }
            assert_eq!(d.consumed, end - start, "a body that is not done consumes everything");
            start = end;
        }
        Ok((consumed, data, false))
    }

    #[test]
    fn good_bodies_decode_whole_and_split_at_every_offset() {
        for &(input, want) in GOOD {
            let (body_len, payload) = (input.len() - 4, want.len() as u64);
            assert_eq!(feed_split(input, &[]), Ok((body_len, payload, true)), "{input:?}");
            for cut in 0..input.len() {
                let mut got = Vec::new();
                let decoded = feed_split_payload(input, &[cut], &mut got);
                assert_eq!((decoded, &got[..]), (Ok((body_len, payload, true)), want), "{input:?} cut at {cut}");
            }
            let every_byte: Vec<usize> = (1..input.len()).collect();
            assert_eq!(feed_split(input, &every_byte), Ok((body_len, payload, true)));
        }
    }

    #[test]
    fn bad_bodies_give_their_error_at_every_split() {
        for &(input, err) in BAD {
            assert_eq!(feed_split(input, &[]), Err(err), "{input:?}");
            for cut in 0..input.len() {
                assert_eq!(feed_split(input, &[cut]), Err(err), "{input:?} cut at {cut}");
            }
        }
    }

    #[test]
    fn a_body_without_its_last_chunk_is_not_done() {
        assert_eq!(feed_split(b"5\r\nhello\r\n", &[]), Ok((10, 5, false)));
    }

    #[test]
    fn long_extensions_and_trailers_are_capped() {
        let mut ext = b"1;".to_vec();
        ext.resize(2 + MAX_CHUNK_EXT_BYTES + 1, b'x');
        assert_eq!(feed_split(&ext, &[]), Err(HttpError::ChunkExtension));
        let mut trailers = b"0\r\n".to_vec();
        while trailers.len() < MAX_TRAILER_BYTES + 10 {
            trailers.extend_from_slice(b"X-T: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        assert_eq!(feed_split(&trailers, &[]), Err(HttpError::TrailersTooLarge));
    }

    #[test]
    fn largest_chunk_size_is_accepted_without_overflow() {
        let mut dec = ChunkedDecoder::new();
        let d = dec.decode(b"ffffffffffffffff\r\nab").unwrap();
        assert_eq!((d.data, d.done), (2, false));
    }
}
