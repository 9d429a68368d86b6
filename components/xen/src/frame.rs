//! Frame numbers (guest and machine) as newtypes and the extent order as a checked type.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// log2 of the 4 KiB page size Xen uses on x86-64 and arm64.
pub const PAGE_SHIFT: u32 = 12;
/// Size of one page in bytes.
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;
/// The order of a 2 MiB superpage extent (the domU default `memop-max-order`).
pub const SUPERPAGE_ORDER: ExtentOrder = ExtentOrder(9);
/// Number of 4 KiB frames in a 2 MiB superpage.
pub const FRAMES_PER_SUPERPAGE: u64 = 1 << 9;
/// The frame beyond the last one a guest can map: guest-physical addresses have at most 52 bits
/// (the architectural maximum of x86-64 and arm64). The simulated Xen holds guests to it and a
/// manifest may name no frame at or above it.
pub const GFN_LIMIT: u64 = 1 << 40;

/// A guest frame number: a guest-physical address shifted right by [`PAGE_SHIFT`].
///
/// `#[repr(transparent)]` over `u64`, so a `[Gfn]` is exactly the `xen_pfn_t` array Xen reads and
/// writes through `extent_start`.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    FromBytes,
    IntoBytes,
    Immutable,
    KnownLayout,
)]
#[repr(transparent)]
pub struct Gfn(pub u64);

/// A machine frame number, as Xen writes it back for a non-translated guest.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    FromBytes,
    IntoBytes,
    Immutable,
    KnownLayout,
)]
#[repr(transparent)]
pub struct Mfn(pub u64);

impl Gfn {
    /// The guest-physical byte address of the frame.
    pub const fn address(self) -> u64 {
        self.0 << PAGE_SHIFT
    }

    /// Whether the frame is the first one of an extent of `order`.
    pub const fn is_aligned_to(self, order: ExtentOrder) -> bool {
        self.0.is_multiple_of(order.frames())
    }
}

/// The order of an extent: an extent of order `n` covers `2^n` contiguous 4 KiB frames.
///
/// Only orders up to [`ExtentOrder::MAX`] can be built; Xen's own per-domain limit
/// (`memop-max-order`) and the gateway's configured maximum are checked where they apply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ExtentOrder(u8);

impl ExtentOrder {
    /// Order 0: a single 4 KiB frame.
    pub const PAGE: ExtentOrder = ExtentOrder(0);
    /// The largest order this type admits (1 GiB extents are order 18); Xen itself caps lower.
    pub const MAX: u8 = 18;

    /// An order if it is at most [`ExtentOrder::MAX`].
    pub const fn new(order: u8) -> Option<ExtentOrder> {
        if order <= Self::MAX {
            Some(ExtentOrder(order))
        } else {
            None
        }
    }

    /// The order as Xen's `extent_order` field holds it.
    pub const fn get(self) -> u8 {
        self.0
    }

    /// Number of 4 KiB frames in one extent of this order.
    pub const fn frames(self) -> u64 {
        1 << self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_above_the_maximum_cannot_be_built() {
        assert_eq!(ExtentOrder::new(9), Some(SUPERPAGE_ORDER));
        assert_eq!(ExtentOrder::new(ExtentOrder::MAX + 1), None);
        assert_eq!(SUPERPAGE_ORDER.frames(), FRAMES_PER_SUPERPAGE);
    }

    #[test]
    fn alignment_follows_the_order() {
        assert!(Gfn(0x200).is_aligned_to(SUPERPAGE_ORDER));
        assert!(!Gfn(0x201).is_aligned_to(SUPERPAGE_ORDER));
        assert!(Gfn(0x201).is_aligned_to(ExtentOrder::PAGE));
        assert_eq!(Gfn(3).address(), 0x3000);
    }
}
