//! Lease checks every runtime shares: the lender's side (a window of a region it owns) and the
//! borrower's side (a region it is granted, lent to it by a call of that client still
//! outstanding), over whichever form of the composition tables the runtime holds.

use core::ops::Range;

use crate::kernel::{Badge, IpcError, LeaseDescriptor, LeaseId};
use crate::tables::{ComponentId, RegionGrant, RegionSpec};

#[cfg(test)]
mod tests;

/// The lookups the lease checks make in a runtime's composition tables.
pub(crate) trait LeaseTables {
    /// The client that calls `server` with `badge`.
    fn client_of(&self, server: ComponentId, badge: Badge) -> Option<ComponentId>;

    /// Region `id` with its position in the runtime's region table.
    fn region(&self, id: LeaseId) -> Option<(usize, RegionSpec)>;

    /// The grant of `region` to `component`, if any.
    fn grant(&self, region: LeaseId, component: ComponentId) -> Option<RegionGrant>;
}

/// Where a checked lease lies and how it may be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LeaseWindow {
    /// Position of the region in the runtime's region table.
    pub region: usize,
    /// The bytes of the window within the region.
    pub bytes: Range<usize>,
    /// Whether the borrower may write.
    pub writable: bool,
}

/// The window `lease` names inside a region of `size` bytes, if well formed and in bounds.
fn window(lease: &LeaseDescriptor, size: u32) -> Result<Range<usize>, IpcError> {
    if lease.reserved != 0 || lease.writable > 1 {
        return Err(IpcError::BadLease);
    }
    let end = lease
        .offset
        .checked_add(lease.len)
        .filter(|&end| end <= size)
        .ok_or(IpcError::BadLease)?;
    let start = usize::try_from(lease.offset).map_err(|_| IpcError::BadLease)?;
    let end = usize::try_from(end).map_err(|_| IpcError::BadLease)?;
    Ok(start..end)
}

/// The lender's check: `owner` may lend `lease` only from a region it owns, inside its bounds.
pub(crate) fn check_lend(
    tables: &impl LeaseTables,
    owner: ComponentId,
    lease: &LeaseDescriptor,
) -> Result<LeaseWindow, IpcError> {
    let (region, spec) = tables
        .region(LeaseId(lease.region))
        .ok_or(IpcError::BadLease)?;
    if spec.owner != owner {
        return Err(IpcError::BadLease);
    }
    Ok(LeaseWindow {
        region,
        bytes: window(lease, spec.size)?,
        writable: lease.writable == 1,
    })
}

/// Whether `asked` lies inside `lent` and asks for no more access than was lent.
fn covers(lent: &LeaseDescriptor, asked: &LeaseDescriptor) -> bool {
    // Two `u32`s summed in a `u64` cannot wrap.
    let lent_end = u64::from(lent.offset).saturating_add(u64::from(lent.len));
    let asked_end = u64::from(asked.offset).saturating_add(u64::from(asked.len));
    lent.region == asked.region
        && asked.offset >= lent.offset
        && asked_end <= lent_end
        && asked.writable <= lent.writable
}

/// The borrower's check: `server` may touch `asked` if the client behind `badge` owns the region,
/// `server` is granted it (for writing, if asked), the window is in bounds, and one of the
/// client's calls still outstanding at `server` lent a window covering it.
pub(crate) fn check_access<'a>(
    tables: &impl LeaseTables,
    server: ComponentId,
    badge: Badge,
    asked: &LeaseDescriptor,
    outstanding: impl IntoIterator<Item = &'a LeaseDescriptor>,
) -> Result<LeaseWindow, IpcError> {
    let client = tables.client_of(server, badge).ok_or(IpcError::BadLease)?;
    let checked = check_lend(tables, client, asked)?;
    let granted = tables
        .grant(LeaseId(asked.region), server)
        .ok_or(IpcError::BadLease)?;
    if checked.writable && !granted.writable {
        return Err(IpcError::BadLease);
    }
    if !outstanding.into_iter().any(|lent| covers(lent, asked)) {
        return Err(IpcError::BadLease);
    }
    Ok(checked)
}
