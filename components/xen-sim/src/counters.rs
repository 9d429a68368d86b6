//! What the simulator counts for each domain: hypercalls by op, extents and pages moved in each
//! direction, short answers, injected faults and what happened to its 2 MiB superpage mappings.

/// Per-domain counters. Calls count on the calling domain; extents, pages and superpages on the
/// domain the call acted on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// `XENMEM_increase_reservation` calls.
    pub increase_calls: u64,
    /// `XENMEM_decrease_reservation` calls.
    pub decrease_calls: u64,
    /// `XENMEM_populate_physmap` calls.
    pub populate_calls: u64,
    /// `XENMEM_current_reservation` calls.
    pub current_calls: u64,
    /// `XENMEM_maximum_reservation` calls.
    pub maximum_calls: u64,
    /// Any other `memory_op` command.
    pub other_calls: u64,
    /// Reservation calls that completed fewer extents than they asked for.
    pub short_calls: u64,
    /// Reservation calls a fault was injected into.
    pub faulted_calls: u64,
    /// Extents added by increase_reservation.
    pub extents_increased: u64,
    /// Extents given back by decrease_reservation.
    pub extents_decreased: u64,
    /// Extents populated by populate_physmap.
    pub extents_populated: u64,
    /// Pages added by increase_reservation (they have no gfn).
    pub pages_increased: u64,
    /// Pages given back to the host (including those of a failed extent).
    pub pages_released: u64,
    /// Pages populated.
    pub pages_populated: u64,
    /// Chunks mapped by an intact 2 MiB superpage now.
    pub superpages_intact: u64,
    /// Times an intact superpage was broken into 4 KiB entries while some of it stayed mapped.
    pub superpages_shattered: u64,
    /// Times a populate made a chunk an intact superpage.
    pub superpages_formed: u64,
}
