//! How a simulated host and its domains are set up.

use core::ops::Range;

use crate::faults::Fault;

/// A domain id (`domid_t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DomId(pub u16);

/// The simulated host.
#[derive(Clone, Debug, PartialEq)]
pub struct HostConfig {
    /// Free pages in the host pool once the domains' boot memory is set aside.
    pub free_pages: u64,
    /// Seed of the random faults.
    pub seed: u64,
    /// Faults planned by call number.
    pub faults: Vec<Fault>,
    /// Probability of a random fault per reservation call (0: none): a hit call completes a
    /// random prefix of its extents, and a decrease may also free a random part of the extent
    /// that fails. Drawn from `seed`, so a run replays exactly.
    pub random_fault_probability: f64,
    /// The host has no free memory below `2^low_memory_bits` bytes: an allocation restricted to
    /// that many address bits or fewer finds nothing (measured: 13 and 20 fail, 30 works).
    /// See `docs/XEN-BEHAVIOUR.md#address-bits`.
    pub low_memory_bits: u8,
    /// The largest order of contiguous free memory: an extent of a higher order finds nothing
    /// (measured: 17 succeeded, 18 and above failed: `docs/XEN-BEHAVIOUR.md#max-order`).
    pub largest_free_order: u8,
}

impl Default for HostConfig {
    fn default() -> HostConfig {
        HostConfig {
            free_pages: 0,
            seed: 0,
            faults: Vec::new(),
            random_fault_probability: 0.0,
            low_memory_bits: 24,
            largest_free_order: 17,
        }
    }
}

/// One domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainConfig {
    /// Gfn ranges populated at boot (2 MiB-aligned whole chunks start as intact superpages).
    /// Overlaps count once. Boot memory does not come from the host pool.
    pub ram: Vec<Range<u64>>,
    /// `max_pages`.
    pub max_pages: u64,
    /// The domU extent-order limit Xen starts from (the first value of `memop-max-order`;
    /// [`DOMU_MAX_ORDER`] by default). Xen raises it for a control domain and for the hardware
    /// domain and caps it at [`XEN_MAX_ORDER`] (see [`extent_order_limit`]).
    pub max_order: u8,
}

impl DomainConfig {
    /// A domU with the one gfn range `ram` populated at boot, limited to `max_pages`, extent
    /// order up to 9. (Several ranges: build the struct.)
    pub fn domu(ram: Range<u64>, max_pages: u64) -> DomainConfig {
        DomainConfig {
            ram: core::iter::once(ram).collect(),
            max_pages,
            max_order: DOMU_MAX_ORDER,
        }
    }

    /// A domain 0 with the one gfn range `ram` populated at boot, limited to `max_pages`, Xen's
    /// default limits (create it with [`crate::XenSim::create_dom0`]: as the control and hardware
    /// domain its extent order goes up to [`DOM0_MAX_ORDER`]).
    pub fn dom0(ram: Range<u64>, max_pages: u64) -> DomainConfig {
        DomainConfig {
            ram: core::iter::once(ram).collect(),
            max_pages,
            max_order: DOMU_MAX_ORDER,
        }
    }
}

/// Xen 4.17's extent-order limit for a domU (`CONFIG_DOMU_MAX_ORDER`, a page table's order) on
/// x86 and arm: 2 MiB extents.
pub const DOMU_MAX_ORDER: u8 = 9;

/// Xen 4.17's limit for a control domain (`CONFIG_CTLDOM_MAX_ORDER`, which defaults to the page
/// allocator's largest order): 18 on x86 and arm.
pub const CTLDOM_MAX_ORDER: u8 = 18;

/// Xen 4.17's limit for the hardware domain (`CONFIG_HWDOM_MAX_ORDER`): 12 on x86 (arm: 10).
pub const HWDOM_MAX_ORDER: u8 = 12;

/// Xen 4.17's `MAX_ORDER`, the page allocator's largest order (`CONFIG_PAGEALLOC_MAX_ORDER`,
/// twice a page table's order on x86, also 18 on arm): no limit goes beyond it.
pub const XEN_MAX_ORDER: u8 = 18;

/// The limit of domain 0, both the control and the hardware domain: the largest of the three,
/// capped, so 18 (`docs/XEN-BEHAVIOUR.md#max-order`).
pub const DOM0_MAX_ORDER: u8 = extent_order_limit(DOMU_MAX_ORDER, true, true);

/// Xen's `max_order(d)` in `common/memory.c`: the largest extent order domain `d` may use in its
/// own reservation calls (and, as the caller, in calls on another domain): its domU limit
/// `domu`, raised to [`CTLDOM_MAX_ORDER`] for a control domain and to [`HWDOM_MAX_ORDER`] for
/// the hardware domain, capped at [`XEN_MAX_ORDER`]. (A domU with a passed-through device would
/// get the hardware domain's limit too; the simulator has none.)
pub const fn extent_order_limit(domu: u8, control: bool, hardware: bool) -> u8 {
    let mut order = domu;
    if control && order < CTLDOM_MAX_ORDER {
        order = CTLDOM_MAX_ORDER;
    }
    if hardware && order < HWDOM_MAX_ORDER {
        order = HWDOM_MAX_ORDER;
    }
    if order > XEN_MAX_ORDER {
        order = XEN_MAX_ORDER;
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extent_order_limits_follow_xen_4_17_max_order() {
        assert_eq!(
            extent_order_limit(DOMU_MAX_ORDER, false, false),
            9,
            "a domU"
        );
        assert_eq!(
            extent_order_limit(DOMU_MAX_ORDER, true, false),
            18,
            "a control domain"
        );
        assert_eq!(
            extent_order_limit(DOMU_MAX_ORDER, false, true),
            12,
            "a hardware domain"
        );
        assert_eq!(DOM0_MAX_ORDER, 18, "dom0 is both");
        assert_eq!(
            extent_order_limit(12, false, false),
            12,
            "memop-max-order=12"
        );
        assert_eq!(
            extent_order_limit(14, false, true),
            14,
            "a role only raises"
        );
        assert_eq!(
            extent_order_limit(30, true, true),
            XEN_MAX_ORDER,
            "capped at MAX_ORDER"
        );
    }
}
