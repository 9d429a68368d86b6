//! Grant-table mapping, from Xen's public `grant_table.h`: `GNTTABOP_map_grant_ref` and
//! `GNTTABOP_unmap_grant_ref`, their argument structs as a 64-bit guest passes them, the `GNTMAP_*`
//! flags and `GNTST_*` statuses, and the `GrantTable` trait the hypercall gateway calls to map
//! another domain's granted pages into its own guest-physical frames and to unmap them.
//!
//! For an auto-translated guest (PVH, HVM, arm64) `host_addr` is a guest-physical address: Xen
//! puts the granted page into the p2m at that gfn. The `c_headers` integration test checks every
//! value and offset against Debian's `libxen-dev` headers.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::XenErrno;

/// `__HYPERVISOR_grant_table_op`.
pub const HYPERVISOR_GRANT_TABLE_OP: u32 = xen_sys::__HYPERVISOR_grant_table_op;
/// `GNTTABOP_map_grant_ref`.
pub const GNTTABOP_MAP_GRANT_REF: u32 = 0;
/// `GNTTABOP_unmap_grant_ref`.
pub const GNTTABOP_UNMAP_GRANT_REF: u32 = 1;

/// `GNTMAP_device_map`: map for I/O devices (ballast never asks for it).
pub const GNTMAP_DEVICE_MAP: u32 = 1 << 0;
/// `GNTMAP_host_map`: map for the guest's CPUs, at `host_addr`.
pub const GNTMAP_HOST_MAP: u32 = 1 << 1;
/// `GNTMAP_readonly`: the mapping allows reads only.
pub const GNTMAP_READONLY: u32 = 1 << 2;

/// `grant_ref_t`: an index into the granting domain's grant table.
pub type GrantRef = u32;
/// `grant_handle_t`: what Xen names one mapping by, for its unmap.
pub type GrantHandle = u32;

/// `GNTST_okay`.
pub const GNTST_OKAY: i16 = 0;
/// `GNTST_general_error`: among others, the entry does not grant access to the caller, is
/// revoked, or is read-only and a writable mapping was asked for.
pub const GNTST_GENERAL_ERROR: i16 = -1;
/// `GNTST_bad_domain`: no domain has that id.
pub const GNTST_BAD_DOMAIN: i16 = -2;
/// `GNTST_bad_gntref`: the reference is past the granter's table.
pub const GNTST_BAD_GNTREF: i16 = -3;
/// `GNTST_bad_handle`: the handle names no mapping of the caller.
pub const GNTST_BAD_HANDLE: i16 = -4;
/// `GNTST_bad_virt_addr`: the host address cannot take a mapping.
pub const GNTST_BAD_VIRT_ADDR: i16 = -5;
/// `GNTST_permission_denied`.
pub const GNTST_PERMISSION_DENIED: i16 = -8;
/// `GNTST_eagain`: not done, try again (a paged-out granted frame).
pub const GNTST_EAGAIN: i16 = -12;
/// `GNTST_no_space`: out of mapping handles.
pub const GNTST_NO_SPACE: i16 = -13;

/// `struct gnttab_map_grant_ref` (32 bytes): one mapping asked for, and Xen's answer to it.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct GnttabMapGrantRef {
    /// In: where to map; for an auto-translated guest the gfn's address (gfn << 12).
    pub host_addr: u64,
    /// In: `GNTMAP_*`.
    pub flags: u32,
    /// In: the reference in the granter's table.
    pub grant_ref: GrantRef,
    /// In: the granting domain.
    pub dom: u16,
    /// Out: a `GNTST_*` status.
    pub status: i16,
    /// Out: the mapping's handle, valid when `status` is [`GNTST_OKAY`].
    pub handle: GrantHandle,
    /// Out: the bus address for a device mapping (unused by ballast).
    pub dev_bus_addr: u64,
}

const _: () = assert!(core::mem::size_of::<GnttabMapGrantRef>() == 32);

/// `struct gnttab_unmap_grant_ref` (24 bytes): one mapping to destroy, and Xen's answer.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout,
)]
#[repr(C)]
pub struct GnttabUnmapGrantRef {
    /// In: the address it was mapped at (an auto-translated guest must give it: Xen removes the
    /// p2m entry there).
    pub host_addr: u64,
    /// In: the device mapping's bus address, 0 for none.
    pub dev_bus_addr: u64,
    /// In: the handle Xen gave the mapping.
    pub handle: GrantHandle,
    /// Out: a `GNTST_*` status.
    pub status: i16,
    /// Tail padding of the C struct, zero.
    pub padding: [u8; 2],
}

const _: () = assert!(core::mem::size_of::<GnttabUnmapGrantRef>() == 24);

/// Grant mapping on the calling domain: one hypercall per batch, Xen's status per entry.
///
/// Implementations do not validate policy (which frames a caller may map into): that is the
/// gateway's job. They pass the batch to Xen and report its answer faithfully.
pub trait GrantTable {
    /// `GNTTABOP_map_grant_ref` over `batch` in one call. `Ok` means Xen processed the batch and
    /// wrote `status` (and, where it is [`GNTST_OKAY`], `handle`) into every entry; an `Err` is an
    /// errno for the whole call (e.g. `EFAULT`), with no entry's status to trust.
    fn map_grants(&mut self, batch: &mut [GnttabMapGrantRef]) -> Result<(), XenErrno>;

    /// `GNTTABOP_unmap_grant_ref` over `batch` in one call, answered as [`Self::map_grants`].
    fn unmap_grants(&mut self, batch: &mut [GnttabUnmapGrantRef]) -> Result<(), XenErrno>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_entry_round_trips_through_its_bytes() {
        let entry = GnttabMapGrantRef {
            host_addr: 0x1234_5000,
            flags: GNTMAP_HOST_MAP | GNTMAP_READONLY,
            grant_ref: 8,
            dom: 0,
            status: GNTST_BAD_GNTREF,
            handle: 7,
            dev_bus_addr: 0,
        };
        let copy = GnttabMapGrantRef::read_from_bytes(entry.as_bytes()).expect("32 bytes");
        assert_eq!(copy, entry);
        assert_eq!(entry.as_bytes()[18..20], (-3i16).to_ne_bytes());
    }
}
