//! The checks on a reservation's flags and on its list: alignment, ownership, and no extent listed
//! twice. Each is one pass over the list with no allocation.

use ballast_xen::mem_flags::{XENMEMF_EXACT_NODE_REQUEST, XENMEMF_VNODE};
use ballast_xen::{ExtentOrder, Gfn};

use crate::caller_table::CallerEntry;

/// The `mem_flags` bits a caller may set: the address-bit limit, the node, and the exact and
/// virtual node qualifiers. Populate-on-demand (bit 16) is refused: it creates entries with no
/// memory behind them, which no component's page model knows, and Xen refuses it on oneself
/// anyway. Bits Xen does not define are refused so that a future meaning cannot slip through.
const ALLOWED_MEM_FLAGS: u32 = 0xff | 0xff00 | XENMEMF_EXACT_NODE_REQUEST | XENMEMF_VNODE;

/// Whether `mem_flags` sets only allowed bits.
pub(crate) fn flags_allowed(mem_flags: u32) -> bool {
    mem_flags & !ALLOWED_MEM_FLAGS == 0
}

/// Whether every frame is the first frame of an extent of `order`.
pub(crate) fn all_aligned(frames: &[Gfn], order: ExtentOrder) -> bool {
    frames.iter().all(|frame| frame.is_aligned_to(order))
}

/// Whether every extent lies wholly inside one of the caller's ranges: O(n log RANGES).
pub(crate) fn all_owned<const RANGES: usize>(
    frames: &[Gfn],
    order: ExtentOrder,
    caller: &CallerEntry<RANGES>,
) -> bool {
    frames.iter().all(|frame| caller.owns_extent(*frame, order))
}

/// Whether some extent appears twice. The extents are aligned to one order by now, so two of them
/// overlap exactly when their first frames are equal.
/// A repeated populate extent leaks a page: `docs/XEN-BEHAVIOUR.md#populate-populated-leaks`.
///
/// Strategy: the memory server builds its lists by walking its frame map upward, so lists arrive
/// strictly ascending, which one O(n) pass proves and which rules out repeats. Any other list is
/// copied into `scratch` (the gateway's fixed buffer of `FRAMES` entries, no allocation), sorted
/// in place there (O(n log n), `sort_unstable` needs no heap) and scanned for equal neighbours.
/// The caller's list itself is never reordered, so Xen's completed prefix keeps its meaning.
/// A list longer than `scratch` is counted as repeating: the gateway's length check rules that out
/// before this runs, and refusing is the safe answer should that ever change.
pub(crate) fn has_repeat(frames: &[Gfn], scratch: &mut [Gfn]) -> bool {
    if frames.windows(2).all(|pair| pair[0] < pair[1]) {
        return false;
    }
    let Some(copy) = scratch.get_mut(..frames.len()) else {
        return true;
    };
    copy.copy_from_slice(frames);
    copy.sort_unstable();
    copy.windows(2).any(|pair| pair[0] == pair[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gfns(raw: &[u64]) -> [Gfn; 6] {
        let mut out = [Gfn(0); 6];
        for (slot, value) in out.iter_mut().zip(raw) {
            *slot = Gfn(*value);
        }
        out
    }

    #[test]
    fn ascending_unsorted_and_repeating_lists() {
        let mut scratch = [Gfn(0); 6];
        assert!(!has_repeat(&gfns(&[1, 2, 3, 4, 5, 6]), &mut scratch));
        assert!(!has_repeat(&gfns(&[6, 1, 5, 2, 4, 3]), &mut scratch));
        assert!(has_repeat(&gfns(&[1, 2, 3, 4, 5, 5]), &mut scratch));
        assert!(has_repeat(&gfns(&[9, 1, 5, 2, 9, 3]), &mut scratch));
        assert!(!has_repeat(&[], &mut scratch));
        assert!(!has_repeat(&[Gfn(4)], &mut scratch));
    }

    #[test]
    fn the_callers_list_is_left_in_its_order() {
        let list = gfns(&[6, 1, 5, 2, 4, 3]);
        let mut scratch = [Gfn(0); 6];
        assert!(!has_repeat(&list, &mut scratch));
        assert_eq!(list, gfns(&[6, 1, 5, 2, 4, 3]));
    }

    #[test]
    fn a_list_longer_than_the_scratch_buffer_is_refused_unless_ascending() {
        let mut scratch = [Gfn(0); 2];
        assert!(has_repeat(&gfns(&[3, 2, 1, 4, 5, 6]), &mut scratch));
        assert!(!has_repeat(&gfns(&[1, 2, 3, 4, 5, 6]), &mut scratch));
    }

    #[test]
    fn only_address_bits_and_node_selection_are_allowed() {
        use ballast_xen::mem_flags::XENMEMF_POPULATE_ON_DEMAND;
        use ballast_xen::MemFlags;
        assert!(flags_allowed(0));
        assert!(flags_allowed(
            MemFlags::NONE.address_bits(32).node(3).exact_node().raw()
        ));
        assert!(flags_allowed(XENMEMF_VNODE));
        assert!(!flags_allowed(XENMEMF_POPULATE_ON_DEMAND));
        assert!(!flags_allowed(1 << 19));
        assert!(!flags_allowed(1 << 31));
    }

    #[test]
    fn alignment_is_checked_against_the_order() {
        let order = ExtentOrder::new(2).expect("order 2");
        assert!(all_aligned(&[Gfn(0), Gfn(4), Gfn(8)], order));
        assert!(!all_aligned(&[Gfn(0), Gfn(6)], order));
        assert!(all_aligned(&[Gfn(0), Gfn(7)], ExtentOrder::PAGE));
    }
}
