//! The runtime pieces both ballast real-Xen images share, and the only `unsafe` code of the
//! images outside their boot paths: the defmt logger on a Xen console ([`logger`]) and the
//! scenario's access to guest frames through an identity map ([`identity_ram`]). Each image
//! supplies what differs: its console, and how it reads a word that may be ballooned.
#![no_std]

pub mod identity_ram;
pub mod logger;
