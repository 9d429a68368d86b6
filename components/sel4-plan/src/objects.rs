//! The kernel objects the root task creates, counted, and the untyped memory they take.
//!
//! seL4 5.0 aarch64 object sizes: a CNode slot 32 bytes (a CNode of radix r: 2^(r+5) bytes), a
//! TCB 2 KiB, every paging structure (global, upper, directory, table) 4 KiB, a small page 4 KiB,
//! an endpoint 16 bytes, a notification 32 bytes. An ASID is an entry of an ASID pool, not memory:
//! the root task's initial pool has 1024, one of them its own.

use crate::cspace::CNODE_RADIX_BITS;
use crate::vspace::PAGE_BYTES;

/// Bytes of one CNode slot.
pub const SLOT_BYTES: u64 = 1 << 5;
/// Bytes of a TCB.
pub const TCB_BYTES: u64 = 1 << 11;
/// Bytes of any paging structure.
pub const PAGING_STRUCTURE_BYTES: u64 = 1 << 12;
/// Bytes of an endpoint.
pub const ENDPOINT_BYTES: u64 = 1 << 4;
/// Bytes of a notification.
pub const NOTIFICATION_BYTES: u64 = 1 << 5;
/// ASIDs the root task's initial ASID pool holds for the PDs (its own taken).
pub const POOL_ASIDS: u64 = 1023;

/// Kernel objects (and frame capability copies) to create.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ObjectCounts {
    /// CNodes (radix [`CNODE_RADIX_BITS`]).
    pub cnodes: u64,
    /// TCBs.
    pub tcbs: u64,
    /// Page global directories (VSpace roots).
    pub vspaces: u64,
    /// Page upper directories.
    pub upper_directories: u64,
    /// Page directories.
    pub directories: u64,
    /// Page tables.
    pub page_tables: u64,
    /// Small pages.
    pub frames: u64,
    /// Copies of frame capabilities, one for each further PD a shared frame is mapped into (a frame
    /// capability maps once).
    pub frame_copies: u64,
    /// Endpoints.
    pub endpoints: u64,
    /// Notifications.
    pub notifications: u64,
    /// ASIDs assigned from the root task's pool.
    pub asids: u64,
}

impl ObjectCounts {
    /// Bytes of untyped memory the objects take (without alignment slack).
    pub const fn bytes(&self) -> u64 {
        let paging = self.vspaces + self.upper_directories + self.directories + self.page_tables;
        self.cnodes * (SLOT_BYTES << CNODE_RADIX_BITS)
            + self.tcbs * TCB_BYTES
            + paging * PAGING_STRUCTURE_BYTES
            + self.frames * PAGE_BYTES
            + self.endpoints * ENDPOINT_BYTES
            + self.notifications * NOTIFICATION_BYTES
    }

    /// Capability slots the root task needs to hold them all (one per object and copy).
    pub const fn slots(&self) -> u64 {
        self.cnodes
            + self.tcbs
            + self.vspaces
            + self.upper_directories
            + self.directories
            + self.page_tables
            + self.frames
            + self.frame_copies
            + self.endpoints
            + self.notifications
    }

    /// Both counts together.
    pub const fn plus(self, other: ObjectCounts) -> ObjectCounts {
        ObjectCounts {
            cnodes: self.cnodes + other.cnodes,
            tcbs: self.tcbs + other.tcbs,
            vspaces: self.vspaces + other.vspaces,
            upper_directories: self.upper_directories + other.upper_directories,
            directories: self.directories + other.directories,
            page_tables: self.page_tables + other.page_tables,
            frames: self.frames + other.frames,
            frame_copies: self.frame_copies + other.frame_copies,
            endpoints: self.endpoints + other.endpoints,
            notifications: self.notifications + other.notifications,
            asids: self.asids + other.asids,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_slots_add_up_per_object() {
        let one_of_each = ObjectCounts {
            cnodes: 1,
            tcbs: 1,
            vspaces: 1,
            upper_directories: 1,
            directories: 1,
            page_tables: 1,
            frames: 1,
            frame_copies: 1,
            endpoints: 1,
            notifications: 1,
            asids: 1,
        };
        assert_eq!(one_of_each.bytes(), 8192 + 2048 + 4 * 4096 + 4096 + 16 + 32);
        assert_eq!(one_of_each.slots(), 10);
        let two = one_of_each.plus(one_of_each);
        assert_eq!(two.bytes(), 2 * one_of_each.bytes());
        assert_eq!(two.asids, 2);
    }
}
