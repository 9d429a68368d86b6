//! The regions one PD maps, as the runtime reaches them: each region the PD owns (read-write) or
//! is granted (read-write or read-only, as the composition grants it), mapped by the root task at
//! the same address in every PD that shares it and reached through the kernel trait. A read-only
//! lease is handed to the handler as a copy in the PD's scratch buffer, so that nothing can write
//! through a read-only mapping.

use crate::kernel::{IpcError, LeaseId};
use crate::lease::LeaseWindow;
use crate::static_rt::tables::region_index;
use crate::tables::{ComponentId, Tables};

use super::kernel::Sel4Kernel;
use super::Sel4Error;

/// How component `me` of `tables` may reach region `index`: `Some(writable)` if it owns or is
/// granted the region, `None` if it may not see it.
fn access(tables: &Tables<'_>, me: ComponentId, index: usize) -> Option<bool> {
    let spec = tables.regions.get(index)?;
    if spec.owner == me {
        return Some(true);
    }
    (tables.grants.iter())
        .find(|g| g.region == spec.id && g.component == me)
        .map(|g| g.writable)
}

/// Check that `kernel` maps for component `me` exactly the regions it owns or is granted, each
/// exactly its size, read-write exactly where it may write; and that a scratch buffer of
/// `scratch` bytes holds the largest region it is granted.
pub(crate) fn check_mappings(
    kernel: &mut impl Sel4Kernel,
    tables: &Tables<'_>,
    me: ComponentId,
    scratch: usize,
) -> Result<(), Sel4Error> {
    for (index, spec) in tables.regions.iter().enumerate() {
        let size = spec.size as usize;
        let mapped = kernel.region(index).map(<[u8]>::len);
        let writable = kernel.region_mut(index).is_some();
        match access(tables, me, index) {
            None if mapped.is_some() => return Err(Sel4Error::RegionNotShared),
            None => continue,
            Some(_) if mapped.is_none() => return Err(Sel4Error::MissingRegionMemory),
            Some(may_write) if may_write != writable => {
                return Err(Sel4Error::RegionAccessMismatch)
            }
            Some(_) => {}
        }
        if mapped != Some(size) {
            return Err(Sel4Error::RegionSizeMismatch);
        }
        if spec.owner != me && scratch < size {
            return Err(Sel4Error::ScratchTooSmall);
        }
    }
    Ok(())
}

/// The bytes of region `id`, which `me` owns.
pub(crate) fn owned<'k>(
    kernel: &'k mut impl Sel4Kernel,
    tables: &Tables<'_>,
    me: ComponentId,
    id: LeaseId,
) -> Option<&'k mut [u8]> {
    let index = region_index(tables, id).filter(|&i| tables.regions[i].owner == me)?;
    kernel.region_mut(index)
}

/// The bytes of a checked lease window: the region itself when writable, else a copy in
/// `scratch`.
pub(crate) fn borrowed<'k>(
    kernel: &'k mut impl Sel4Kernel,
    scratch: &'k mut [u8],
    window: LeaseWindow,
) -> Result<&'k mut [u8], IpcError> {
    if window.writable {
        return kernel
            .region_mut(window.region)
            .and_then(|bytes| bytes.get_mut(window.bytes))
            .ok_or(IpcError::BadLease);
    }
    let lent = kernel
        .region(window.region)
        .and_then(|bytes| bytes.get(window.bytes))
        .ok_or(IpcError::BadLease)?;
    let copy = scratch.get_mut(..lent.len()).ok_or(IpcError::BadLease)?;
    copy.copy_from_slice(lent);
    Ok(copy)
}
