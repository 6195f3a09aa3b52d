//! Bytes an HTTP/2 endpoint has queued for the peer, sent in pieces: the
//! client session and the built-in server keep their output the same way.

/// Queued bytes and how many of them went out.
#[derive(Debug, Default)]
pub struct SendBuffer {
    bytes: Vec<u8>,
    sent: usize,
}

impl SendBuffer {
    /// A buffer holding `bytes` to send (a connection's first flight).
    pub fn new(bytes: Vec<u8>) -> SendBuffer {
        SendBuffer { bytes, sent: 0 }
    }

    /// Where frames are appended.
    pub fn queue(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }

    /// Bytes waiting to be sent.
    pub fn pending(&self) -> &[u8] {
        &self.bytes[self.sent..]
    }

    /// `n` bytes of [`SendBuffer::pending`] were sent; the memory is reused
    /// once everything went.
    pub fn sent(&mut self, n: usize) {
        self.sent = (self.sent + n).min(self.bytes.len());
        if self.sent == self.bytes.len() {
            self.bytes.clear();
            self.sent = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_go_out_in_pieces_and_the_memory_is_reused() {
        let mut buffer = SendBuffer::new(b"abc".to_vec());
        buffer.queue().extend_from_slice(b"de");
        buffer.sent(2);
        assert_eq!(buffer.pending(), b"cde");
        buffer.sent(10);
        assert_eq!(buffer.pending(), b"");
        buffer.queue().push(b'f');
        assert_eq!(buffer.pending(), b"f");
    }
}
