//! The memory-server app of the real-Xen images, what `ballast image` builds: once an image has
//! booted, it builds the components of its manifest (compiled in by the build script) through the
//! one assembly, `ballast_system` (the hypercall gateway over the image's Xen backend, the memory
//! server), runs them on the static IPC runtime, and serves ([`serve`]); on a domU it plays the
//! toolstack agent and the manifest's backend driver ([`driver`]), which maps dom0's grants into
//! frames it borrows. The same architecture-free
//! code runs on x86-64 PVH and on arm64; the images own the boot path, the console and every
//! `unsafe` access, and hand this crate a
//! [`RawHypercall`](ballast_xen::backend::RawHypercall), a clock and their frame access. The HIL
//! test app (`ballast-app-hil-test`) drives the same [`composition`] and [`system`].
#![no_std]
#![forbid(unsafe_code)]

pub mod composition;
pub mod domain;
pub mod driver;
pub mod serve;
pub mod system;
mod toolstack;
