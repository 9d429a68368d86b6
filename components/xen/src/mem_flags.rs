//! A builder for the `mem_flags` word of a reservation: address-bit limit and NUMA node.

/// `XENMEMF_populate_on_demand`.
pub const XENMEMF_POPULATE_ON_DEMAND: u32 = 1 << 16;
/// `XENMEMF_exact_node_request`.
pub const XENMEMF_EXACT_NODE_REQUEST: u32 = 1 << 17;
/// `XENMEMF_vnode`.
pub const XENMEMF_VNODE: u32 = 1 << 18;

/// The `mem_flags` of a `xen_memory_reservation`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MemFlags(u32);

impl MemFlags {
    /// No constraint: any address, any node.
    pub const NONE: MemFlags = MemFlags(0);

    /// Flags exactly as a caller passed them (checked by the gateway, not here).
    pub const fn from_raw(raw: u32) -> MemFlags {
        MemFlags(raw)
    }

    /// The raw word.
    pub const fn raw(self) -> u32 {
        self.0
    }

    /// Restrict allocation to machine addresses below `2^bits` (`XENMEMF_address_bits`).
    pub const fn address_bits(self, bits: u8) -> MemFlags {
        MemFlags((self.0 & !0xff) | bits as u32)
    }

    /// Prefer NUMA node `node` (`XENMEMF_node`).
    pub const fn node(self, node: u8) -> MemFlags {
        // Xen stores the node plus one (0 means none); a `u8` plus one fits in the field's 9 bits.
        MemFlags((self.0 & !0xff00) | ((node as u32).wrapping_add(1) << 8))
    }

    /// Require the node given with [`MemFlags::node`] (`XENMEMF_exact_node_request`).
    pub const fn exact_node(self) -> MemFlags {
        MemFlags(self.0 | XENMEMF_EXACT_NODE_REQUEST)
    }

    /// The address-bit limit, 0 for none (`XENMEMF_get_address_bits`).
    pub const fn get_address_bits(self) -> u8 {
        (self.0 & 0xff) as u8
    }

    /// The requested node, if any (`XENMEMF_get_node`).
    pub const fn get_node(self) -> Option<u8> {
        // The field holds the node plus one; 0 (no node) has no predecessor.
        (((self.0 >> 8) & 0xff) as u8).checked_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_do_not_overlap() {
        let f = MemFlags::NONE.address_bits(32).node(1).exact_node();
        assert_eq!(f.get_address_bits(), 32);
        assert_eq!(f.get_node(), Some(1));
        assert_eq!(f.raw(), 32 | (2 << 8) | XENMEMF_EXACT_NODE_REQUEST);
        assert_eq!(MemFlags::NONE.get_node(), None);
    }
}
