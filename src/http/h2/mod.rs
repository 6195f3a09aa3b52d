//! Sans-I/O HTTP/2 (RFC 9113) for the client side, in pieces.
//!
//! Like the HTTP/1.1 code beside it, nothing here touches a socket or a
//! clock: [`frame`] reads and writes the binary frames, [`hpack`] (RFC 7541)
//! turns header fields into field blocks and back, and [`session`] is a
//! client connection's protocol state on top of them (settings, streams,
//! flow control, GOAWAY), fed bytes and polled for bytes, so that both I/O
//! backends share it.

pub mod frame;
pub mod hpack;
pub mod send_buffer;
pub mod session;

#[cfg(test)]
pub(crate) mod test_frames;
#[cfg(test)]
pub(crate) mod test_rng;
