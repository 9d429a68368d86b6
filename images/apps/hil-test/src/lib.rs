//! The hardware-in-the-loop test app of the real-Xen images, what `ballast hil` builds, the same on
//! x86-64 PVH and on arm64: the scenarios ([`scenario`]) in their phases ([`phases`]) over the
//! composition and components of the memory-server app (`ballast-app-memory-server`), every step
//! logged for the host to check again. Kept apart from the product app, as Hubris keeps its test
//! apps apart from its product apps. The images own the boot path, the console and every `unsafe`
//! access; they hand this crate a [`RawHypercall`](ballast_xen::backend::RawHypercall), a clock and
//! their frame access.
#![no_std]
#![forbid(unsafe_code)]

pub mod phases;
pub mod scenario;
mod stand_in;
