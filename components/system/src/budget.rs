//! What each image target can give the arrays a manifest sizes: the page-bitmap storage of the
//! memory server and of the gateway, and the shared regions' memory. The simulator allocates them on the host; an image
//! holds them in a space fixed when it is linked, so a manifest that needs more than that space
//! would build an image that overruns it.

use crate::{Capacities, Composition, Target};

/// Bytes of the Xen images' (PVH and arm64) boot stack. Everything those images run runs on it,
/// the bitmap storage and the region memory included. 1 MiB: the image's reserved range (4 MiB
/// on x86-64, 8 MiB on arm64) holds it and the rest of the image with room to spare.
pub const XEN_IMAGE_STACK_BYTES: usize = 1024 * 1024;

/// What the manifest-sized arrays may take of a Xen image's boot stack: half of it. The other half
/// is for the call frames of the image's code, which no manifest sizes. The split is a margin,
/// not a measurement of those frames.
pub const XEN_IMAGE_ARRAY_BYTES: usize = XEN_IMAGE_STACK_BYTES / 2;

/// Bytes a seL4 protection domain's loadable segments may span: `ballast_sel4_plan`'s image
/// window, 4 MiB to 16 MiB of its address space.
pub const SEL4_PD_IMAGE_BYTES: usize = 12 << 20;

/// What the memory server PD's static arrays (bitmap storage and read-only-lease scratch) may
/// take of its image window: all but 1 MiB, kept for its code and data.
pub const SEL4_PD_ARRAY_BYTES: usize = SEL4_PD_IMAGE_BYTES - (1 << 20);

/// What a composition's image needs of its target's space for the manifest-sized arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageBudget {
    /// Bytes of page-bitmap storage: the memory server's, and on the Xen images, where both
    /// share one stack, the gateway's. (On seL4 the gateway's lies in its own protection domain:
    /// one bit per frame the memory server may own, less than the memory server's.)
    pub bitmap_bytes: usize,
    /// Bytes of region memory the image holds in the same space.
    pub region_bytes: usize,
    /// Bytes the target gives both.
    pub budget: usize,
    /// Where the target holds them.
    pub space: &'static str,
}

impl ImageBudget {
    /// The budget of `composition`'s image, or `None` for the simulator, which allocates on the
    /// host.
    pub const fn of(composition: &Composition) -> Option<ImageBudget> {
        let capacities = Capacities::of(composition);
        let server_bytes = capacities.bitmap_words.saturating_mul(8);
        let gateway_bytes = capacities.gateway_bitmap_words.saturating_mul(8);
        let bitmap_bytes = match composition.target {
            Target::Sel4XenArm64 => server_bytes,
            _ => server_bytes.saturating_add(gateway_bytes),
        };
        let (region_bytes, budget, space) = match composition.target {
            Target::Sim => return None,
            // Every region, plus the static runtime's scratch buffer of the largest region's size.
            Target::XenPvh | Target::XenArm64 => (
                capacities
                    .region_bytes
                    .saturating_mul(capacities.regions.saturating_add(1)),
                XEN_IMAGE_ARRAY_BYTES,
                "half its 1 MiB boot stack",
            ),
            // The regions are mapped apart; the memory server PD holds one scratch buffer.
            Target::Sel4XenArm64 => (
                capacities.region_bytes,
                SEL4_PD_ARRAY_BYTES,
                "the memory server PD's 12 MiB image window, less 1 MiB for its code",
            ),
        };
        Some(ImageBudget {
            bitmap_bytes,
            region_bytes,
            budget,
            space,
        })
    }

    /// Bytes the arrays need, both together.
    pub const fn needed(&self) -> usize {
        self.bitmap_bytes.saturating_add(self.region_bytes)
    }

    /// Whether the arrays fit the target's space.
    pub const fn fits(&self) -> bool {
        self.needed() <= self.budget
    }
}
