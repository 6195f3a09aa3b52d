//! Socket calls that std and tokio do not offer, shared by the engine's
//! backends and the built-in server: integer socket options and reads that
//! bring the kernel's receive timestamp. A leaf: it depends on nothing else
//! in the crate.

pub mod options;
pub mod stamp;
