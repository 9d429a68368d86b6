//! ballast's typed IPC interfaces, generated at build time from `idl/*.idol` by ballast-idl-gen:
//! per interface its ids, its error, op and IDL enums, zerocopy message bodies, per op a request
//! encoder and a reply decoder, a blocking client and a deferred one (submit now, decode later), a
//! server trait with typed responders and checked leases, and `dispatch`. [`support`] is the hand-written
//! code they share, and documents the reply status encoding.
#![no_std]
#![forbid(unsafe_code)]

pub mod grants;
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

/// Checked hypercalls: memory server (reservations) and toolstack agent (event sends, shutdown)
/// -> hypercall gateway.
pub mod hypercall {
    include!(concat!(env!("OUT_DIR"), "/hypercall.rs"));
}

/// A demonstration interface for tests of the generated code; no production component serves it.
pub mod echo {
    include!(concat!(env!("OUT_DIR"), "/echo.rs"));
}
