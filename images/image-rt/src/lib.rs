//! The unsafe runtime pieces both ballast real-Xen images share (the rest of an image's `unsafe`
//! is its own platform code: boot, console, clock, exit): the defmt logger on a Xen console
//! ([`logger`]) and access to guest frames through a mapping of RAM ([`mapped_ram`]: the static
//! images' identity map, the seL4 memory server's RAM window), the `FrameMemory` of
//! `ballast-frame-access` the apps use, and the rings' pages shared with another domain
//! ([`shared_page`]), and a raw hypercall that times what it spends in Xen
//! ([`timed_hypercall`], for `ballast hil`'s figures). Each image supplies what differs: its console, and how it
//! reads a word that may be ballooned. It depends on no app.
#![no_std]

pub mod logger;
pub mod mapped_ram;
pub mod shared_page;
pub mod timed_hypercall;
