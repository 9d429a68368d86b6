//! ballast's typed IPC interfaces, generated at build time from `idl/*.idol` by ballast-idl-gen:
//! per interface its ids, error and op enums, zerocopy message bodies, a client stub, a server
//! trait with typed responders (deferred replies), and `dispatch`. [`support`] is the hand-written
//! code they share, and documents the reply status encoding.
#![no_std]
#![forbid(unsafe_code)]

pub mod runs;
pub mod support;

/// Borrowing and returning unpopulated frames: driver components -> memory server.
pub mod balloon {
    include!(concat!(env!("OUT_DIR"), "/balloon.rs"));
}

/// Steering the balloon: toolstack agent, CLI, scenarios -> memory server.
pub mod balloon_control {
    include!(concat!(env!("OUT_DIR"), "/balloon_control.rs"));
}

/// Checked reservation hypercalls: memory server -> hypercall gateway.
pub mod hypercall {
    include!(concat!(env!("OUT_DIR"), "/hypercall.rs"));
}

/// A demonstration interface for tests of the generated code; no production component serves it.
pub mod echo {
    include!(concat!(env!("OUT_DIR"), "/echo.rs"));
}
