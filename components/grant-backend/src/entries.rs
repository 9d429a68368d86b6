//! The grant entries the backend lends the gateway: a map batch written from its gfns and grant
//! references and read back for Xen's handles and statuses, and the unmap batch of the handles
//! that mapped.

use ballast_interfaces::grants::{GrantMapEntry, GrantUnmapEntry, GRANTS_PER_CALL};
use ballast_ipc::{LeaseDescriptor, LeaseId, Sys};
use heapless::Vec;
use zerocopy::FromBytes;

/// Bytes the grant region must hold: one full map batch.
pub const GRANT_REGION_BYTES: usize = GRANTS_PER_CALL * core::mem::size_of::<GrantMapEntry>();

/// What Xen answered for one entry of a map batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mapped {
    /// The handle, for the unmap.
    pub handle: u32,
    /// Xen's `GNTST_*` status (0: mapped).
    pub status: i32,
}

/// A lease of the first `len` bytes of `region`.
fn lease(region: LeaseId, len: usize) -> Option<LeaseDescriptor> {
    Some(LeaseDescriptor {
        region: region.0,
        writable: 1,
        offset: 0,
        len: u32::try_from(len).ok()?,
        reserved: 0,
    })
}

/// Write one map entry per `(gfn, grant_ref)` (mapped writable) into `region`; the lease that
/// carries them, or `None` if the batch is longer than one call or the region too small.
pub(crate) fn write_map(
    sys: &mut dyn Sys,
    region: LeaseId,
    batch: impl ExactSizeIterator<Item = (u64, u32)>,
) -> Option<LeaseDescriptor> {
    if batch.len() > GRANTS_PER_CALL {
        return None;
    }
    let len = batch
        .len()
        .checked_mul(core::mem::size_of::<GrantMapEntry>())?;
    let bytes = sys.own_region(region)?.get_mut(..len)?;
    let entries = <[GrantMapEntry]>::mut_from_bytes(bytes).ok()?;
    for (entry, (gfn, grant_ref)) in entries.iter_mut().zip(batch) {
        *entry = GrantMapEntry {
            gfn,
            grant_ref,
            ..GrantMapEntry::default()
        };
    }
    lease(region, len)
}

/// Xen's answer for each of the `count` entries of the map batch in `region`.
pub(crate) fn read_map(
    sys: &mut dyn Sys,
    region: LeaseId,
    count: usize,
) -> Option<Vec<Mapped, GRANTS_PER_CALL>> {
    if count > GRANTS_PER_CALL {
        return None;
    }
    let len = count.checked_mul(core::mem::size_of::<GrantMapEntry>())?;
    let bytes = sys.own_region(region)?.get(..len)?;
    let entries = <[GrantMapEntry]>::ref_from_bytes(bytes).ok()?;
    let mut answers = Vec::new();
    for entry in entries {
        let mapped = Mapped {
            handle: entry.handle,
            status: entry.status,
        };
        answers.push(mapped).ok()?;
    }
    Some(answers)
}

/// Write one unmap entry per handle into `region`; the lease that carries them.
pub(crate) fn write_unmap(
    sys: &mut dyn Sys,
    region: LeaseId,
    handles: impl ExactSizeIterator<Item = u32>,
) -> Option<LeaseDescriptor> {
    if handles.len() > GRANTS_PER_CALL {
        return None;
    }
    let len = handles
        .len()
        .checked_mul(core::mem::size_of::<GrantUnmapEntry>())?;
    let bytes = sys.own_region(region)?.get_mut(..len)?;
    let entries = <[GrantUnmapEntry]>::mut_from_bytes(bytes).ok()?;
    for (entry, handle) in entries.iter_mut().zip(handles) {
        *entry = GrantUnmapEntry { handle, status: 0 };
    }
    lease(region, len)
}

/// Xen's status for each of the `count` entries of the unmap batch in `region`.
pub(crate) fn unmap_statuses(
    sys: &mut dyn Sys,
    region: LeaseId,
    count: usize,
) -> Option<impl Iterator<Item = i32> + '_> {
    let len = count.checked_mul(core::mem::size_of::<GrantUnmapEntry>())?;
    let bytes = sys.own_region(region)?.get(..len)?;
    let entries = <[GrantUnmapEntry]>::ref_from_bytes(bytes).ok()?;
    Some(entries.iter().map(|entry| entry.status))
}

#[cfg(test)]
mod tests {
    use zerocopy::IntoBytes;

    use super::*;

    #[test]
    fn a_full_batch_fits_the_region_and_entries_keep_their_layout() {
        assert_eq!(GRANT_REGION_BYTES, 256 * 24);
        let entry = GrantMapEntry {
            gfn: 0x10_0000,
            grant_ref: 7,
            ..GrantMapEntry::default()
        };
        assert_eq!(&entry.as_bytes()[..8], &0x10_0000u64.to_le_bytes());
    }
}
