//! What a ballast real-Xen image runs once it has booted, the same on x86-64 PVH and on arm64:
//! the composition of its manifest (compiled in by the build script), the components built from it
//! (the hypercall gateway over the image's Xen backend, the memory server, a test client and a
//! control component) on the static IPC runtime, and the hardware-in-the-loop scenarios. The
//! images own the boot path, the console and every `unsafe` access; they hand this crate a
//! [`RawHypercall`](ballast_xen::backend::RawHypercall), a clock and their frame access.
#![no_std]
#![forbid(unsafe_code)]

pub mod composition;
pub mod phases;
pub mod scenario;
pub mod system;
