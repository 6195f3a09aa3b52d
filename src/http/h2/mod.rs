//! HTTP/2 (RFC 9113) for the client side, sans-I/O like [`super`]'s
//! HTTP/1.1: the pieces here turn bytes into protocol events and back
//! without touching a socket, so both I/O backends share them.

pub mod hpack;
