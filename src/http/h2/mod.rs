//! Sans-I/O HTTP/2 (RFC 9113) for the client side, in pieces.
//!
//! Like the HTTP/1.1 code beside it, nothing here touches a socket or a
//! clock: [`frame`] reads and writes the binary frames, HPACK (RFC 7541)
//! sits alongside to turn header fields into field blocks and back, and the
//! connection state machine that drives streams, settings and flow control
//! is built on top of them elsewhere, so that both I/O backends share it.

pub mod frame;
