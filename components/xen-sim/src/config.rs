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
    /// The largest extent order the domain may use (`memop-max-order`; 9 for a domU).
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

    /// A domain 0 with the one gfn range `ram` populated at boot, limited to `max_pages`, extent
    /// order up to [`DOM0_MAX_ORDER`] (create it with [`crate::XenSim::create_dom0`]).
    pub fn dom0(ram: Range<u64>, max_pages: u64) -> DomainConfig {
        DomainConfig {
            ram: core::iter::once(ram).collect(),
            max_pages,
            max_order: DOM0_MAX_ORDER,
        }
    }
}

/// Xen's default `memop-max-order` for a domU.
pub const DOMU_MAX_ORDER: u8 = 9;

/// The extent-order limit of the hardware domain (dom0): the x86 probe's dom0 had order 17
/// accepted, order 18 failing only for want of contiguous host memory
/// (`docs/XEN-BEHAVIOUR.md#max-order`), so nothing short of Xen's own cap limits it here.
pub const DOM0_MAX_ORDER: u8 = crate::domain::XEN_MAX_ORDER;
