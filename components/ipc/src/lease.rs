//! Lease checks both host runtimes share: the lender's side (a window of a region it owns) and
//! the borrower's side (a region it is granted, lent to it by a call still outstanding).

use core::ops::Range;

use crate::composition::Composition;
use crate::kernel::{Badge, IpcError, LeaseDescriptor, LeaseId};
use crate::tables::ComponentId;

/// Where a checked lease lies and how it may be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LeaseWindow {
    /// Position of the region in [`Composition::regions`].
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
        .ok_or(IpcError::BadLease)?;
    if end > size {
        return Err(IpcError::BadLease);
    }
    let start = usize::try_from(lease.offset).map_err(|_| IpcError::BadLease)?;
    let end = usize::try_from(end).map_err(|_| IpcError::BadLease)?;
    Ok(start..end)
}

/// The lender's check: `owner` may lend `lease` only from a region it owns, inside its bounds.
pub(crate) fn check_lend(
    composition: &Composition,
    owner: ComponentId,
    lease: &LeaseDescriptor,
) -> Result<LeaseWindow, IpcError> {
    let region = composition
        .region_index(LeaseId(lease.region))
        .ok_or(IpcError::BadLease)?;
    let spec = &composition.regions()[region];
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
    let lent_end = u64::from(lent.offset) + u64::from(lent.len);
    let asked_end = u64::from(asked.offset) + u64::from(asked.len);
    lent.region == asked.region
        && asked.offset >= lent.offset
        && asked_end <= lent_end
        && asked.writable <= lent.writable
}

/// The borrower's check: `server` may touch `asked` if the client behind `badge` owns the
/// region, `server` is granted it (for writing, if asked), the window is in bounds, and one of
/// the client's calls still outstanding at `server` lent a window covering it.
pub(crate) fn check_access<'a>(
    composition: &Composition,
    server: ComponentId,
    badge: Badge,
    asked: &LeaseDescriptor,
    outstanding: impl IntoIterator<Item = &'a LeaseDescriptor>,
) -> Result<LeaseWindow, IpcError> {
    let client = composition
        .client_of(server, badge)
        .ok_or(IpcError::BadLease)?;
    let checked = check_lend(composition, client, asked)?;
    let grant = composition
        .grant(LeaseId(asked.region), server)
        .ok_or(IpcError::BadLease)?;
    if checked.writable && !grant.writable {
        return Err(IpcError::BadLease);
    }
    if !outstanding.into_iter().any(|lent| covers(lent, asked)) {
        return Err(IpcError::BadLease);
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::composition::CompositionBuilder;
    use crate::tables::ComponentKind;

    fn lease(region: u16, writable: u16, offset: u32, len: u32) -> LeaseDescriptor {
        LeaseDescriptor {
            region,
            writable,
            offset,
            len,
            reserved: 0,
        }
    }

    fn composition() -> (Composition, ComponentId, ComponentId) {
        let mut builder = CompositionBuilder::new();
        let client = builder.component("client", ComponentKind::External);
        let server = builder.component("server", ComponentKind::Handler);
        builder.endpoint(client, server, Badge(7));
        builder
            .region(LeaseId(1), 64, client)
            .share(LeaseId(1), server, false);
        builder
            .region(LeaseId(2), 64, client)
            .share(LeaseId(2), server, true);
        builder.region(LeaseId(3), 64, server);
        (builder.build().expect("valid"), client, server)
    }

    #[test]
    fn lender_owns_the_region_and_stays_in_bounds() {
        let (composition, client, server) = composition();
        let good = check_lend(&composition, client, &lease(1, 0, 8, 56)).expect("in bounds");
        assert_eq!(good.bytes, 8..64);
        assert!(!good.writable);
        let refusals = [
            check_lend(&composition, client, &lease(1, 0, 8, 57)),
            check_lend(&composition, client, &lease(1, 0, u32::MAX, 2)),
            check_lend(&composition, client, &lease(3, 0, 0, 1)),
            check_lend(&composition, client, &lease(9, 0, 0, 1)),
            check_lend(&composition, client, &lease(1, 2, 0, 1)),
            check_lend(&composition, server, &lease(1, 0, 0, 1)),
        ];
        assert!(refusals.iter().all(|r| *r == Err(IpcError::BadLease)));
    }

    #[test]
    fn borrower_needs_a_grant_write_right_and_an_outstanding_loan() {
        let (composition, _, server) = composition();
        let lent = [lease(1, 0, 0, 32), lease(2, 1, 0, 64)];
        let read = check_access(&composition, server, Badge(7), &lease(1, 0, 4, 8), &lent);
        assert_eq!(read.map(|w| w.bytes), Ok(4..12));
        let write = check_access(&composition, server, Badge(7), &lease(2, 1, 0, 64), &lent);
        assert_eq!(write.map(|w| w.writable), Ok(true));
        let refusals = [
            check_access(&composition, server, Badge(7), &lease(1, 1, 0, 8), &lent),
            check_access(&composition, server, Badge(7), &lease(1, 0, 30, 8), &lent),
            check_access(&composition, server, Badge(8), &lease(1, 0, 0, 8), &lent),
            check_access(&composition, server, Badge(7), &lease(2, 0, 0, 8), &[]),
        ];
        assert!(refusals.iter().all(|r| *r == Err(IpcError::BadLease)));
    }
}
