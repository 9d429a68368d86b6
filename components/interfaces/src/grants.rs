//! The lease layouts of the `Hypercall` interface's `grant_map` and `grant_unmap`: what a driver
//! writes for each grant and reads back (shared by the drivers and the gateway, as [`crate::runs`]
//! is by the drivers and the memory server). The gateway copies every entry into its own buffer before checking it and builds
//! Xen's structs itself (the address from the gfn, `GNTMAP_host_map` always), so a driver that
//! changes its lease during the call cannot change what Xen is asked.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// `GrantMapEntry::flags` bit: map read-only (`GNTMAP_readonly`). No other bit may be set.
pub const GRANT_READONLY: u32 = 1;

/// The grant entries one `grant_map` or `grant_unmap` may carry: a backend's batch of 256 pages
/// (1 MiB) in one hypercall.
pub const GRANTS_PER_CALL: usize = 256;

/// One entry of a `grant_map` lease (24 bytes).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct GrantMapEntry {
    /// In: the borrowed gfn to map the grant at.
    pub gfn: u64,
    /// In: the reference in the granting domain's table.
    pub grant_ref: u32,
    /// In: [`GRANT_READONLY`] or 0.
    pub flags: u32,
    /// Out: the mapping's handle, for `grant_unmap`, where `status` is `GNTST_okay`.
    pub handle: u32,
    /// Out: Xen's `GNTST_*` status for this entry.
    pub status: i32,
}

/// One entry of a `grant_unmap` lease (8 bytes).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct GrantUnmapEntry {
    /// In: the handle `grant_map` gave.
    pub handle: u32,
    /// Out: Xen's `GNTST_*` status for this entry.
    pub status: i32,
}

const _: () = assert!(core::mem::size_of::<GrantMapEntry>() == 24);
const _: () = assert!(core::mem::size_of::<GrantUnmapEntry>() == 8);
