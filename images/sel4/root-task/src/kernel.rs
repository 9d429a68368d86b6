//! Kernel objects made from untyped memory into the root task's own CNode, and capabilities
//! copied and minted between CNodes. Every failure is logged with the kernel's error and what was
//! being done, and becomes [`RootError::Kernel`].
//!
//! seL4 5.0 facts: `Untyped_Retype(type, size_bits, root, index, depth, offset, count)` with
//! `root` the root task's CNode and depth 0 puts the new capabilities in that CNode at
//! `offset..offset + count`; `size_bits` matters only for CNodes (their radix) and untypeds.
//! The root task's CNode resolves a slot number at depth 64 (the kernel guards it so); a PD's
//! CNode, fresh from retype, has no guard, so its slots are addressed at depth
//! [`CNODE_RADIX_BITS`] through the root task's capability to it.

use ballast_sel4_plan::cspace::{Slot, CNODE_RADIX_BITS};
use ballast_sel4_plan::faults::BADGE_LIMIT;
use ballast_sel4_plan::objects;
use ballast_sel4_plan::vspace::{LARGE_PAGE_BYTES, PAGE_BYTES};
use ballast_sel4_root_task::slots::Slots;
use ballast_sel4_root_task::untyped::{Placement, UntypedPool, LARGE_PAGE_BITS, PAGE_BITS};
use ballast_sel4_root_task::RootError;
use ballast_sel4_sys::{
    init_slot, size_bits, CNode, CPtr, Cap, CapData, CapRights, ObjectType, Sel4Error, Untyped,
    Word,
};

use crate::console::say;

/// Depth at which the root task's CNode resolves a slot number.
const ROOT_DEPTH: u8 = 64;

/// A kind of kernel object the root task creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Object {
    /// A thread control block (2 KiB).
    Tcb,
    /// An endpoint (16 bytes).
    Endpoint,
    /// A notification (32 bytes).
    Notification,
    /// A PD's CNode (radix [`CNODE_RADIX_BITS`], 32-byte slots).
    CNode,
    /// A page global directory: a VSpace root.
    PageGlobalDirectory,
    /// A page upper directory (512 GiB).
    PageUpperDirectory,
    /// A page directory (1 GiB).
    PageDirectory,
    /// A page table (2 MiB).
    PageTable,
    /// A small page (4 KiB).
    SmallPage,
    /// A large page (2 MiB).
    LargePage,
}

impl Object {
    /// The kernel's type, the retype size argument and log2 of the object's bytes.
    const fn retype(self) -> (ObjectType, Word, u8) {
        let (kind, size, bits) = match self {
            Object::Tcb => (ObjectType::Tcb, 0, size_bits::TCB_BITS),
            Object::Endpoint => (ObjectType::Endpoint, 0, size_bits::ENDPOINT_BITS),
            Object::Notification => (ObjectType::Notification, 0, size_bits::NOTIFICATION_BITS),
            Object::CNode => (
                ObjectType::CapTable,
                CNODE_RADIX_BITS as Word,
                CNODE_RADIX_BITS as Word + size_bits::SLOT_BITS,
            ),
            Object::PageGlobalDirectory => {
                (ObjectType::PageGlobalDirectory, 0, size_bits::PGD_BITS)
            }
            Object::PageUpperDirectory => (ObjectType::PageUpperDirectory, 0, size_bits::PUD_BITS),
            Object::PageDirectory => (ObjectType::PageDirectory, 0, size_bits::PAGE_DIR_BITS),
            Object::PageTable => (ObjectType::PageTable, 0, size_bits::PAGE_TABLE_BITS),
            Object::SmallPage => (ObjectType::SmallPage, 0, size_bits::PAGE_BITS),
            Object::LargePage => (ObjectType::LargePage, 0, size_bits::LARGE_PAGE_BITS),
        };
        (kind, size, bits as u8)
    }
}

// The sizes the library and the plan compute with are the kernel tree's.
const _: () = assert!(PAGE_BITS as Word == size_bits::PAGE_BITS);
const _: () = assert!(LARGE_PAGE_BITS as Word == size_bits::LARGE_PAGE_BITS);
const _: () = assert!(PAGE_BYTES == 1 << size_bits::PAGE_BITS);
const _: () = assert!(LARGE_PAGE_BYTES == 1 << size_bits::LARGE_PAGE_BITS);
const _: () = assert!(objects::SLOT_BYTES == 1 << size_bits::SLOT_BITS);
const _: () = assert!(objects::TCB_BYTES == 1 << size_bits::TCB_BITS);
const _: () = assert!(objects::ENDPOINT_BYTES == 1 << size_bits::ENDPOINT_BITS);
const _: () = assert!(objects::NOTIFICATION_BYTES == 1 << size_bits::NOTIFICATION_BITS);
const _: () = assert!(objects::PAGING_STRUCTURE_BYTES == 1 << size_bits::PAGE_TABLE_BITS);
const _: () = assert!(BADGE_LIMIT == 1 << size_bits::BADGE_BITS);

/// `error` from the kernel while doing `what`: logged, and the root task's error.
pub fn failed(what: &str, error: Sel4Error) -> RootError {
    say!("{what} failed: {error:?}");
    RootError::Kernel
}

/// The untyped memory and free slots the root task builds from.
#[derive(Debug)]
pub struct Kernel {
    pool: UntypedPool,
    slots: Slots,
    first_untyped: Word,
}

impl Kernel {
    /// Over `pool` (the boot information's untypeds, whose capabilities start at slot
    /// `first_untyped`) and the free `slots`.
    pub const fn new(pool: UntypedPool, slots: Slots, first_untyped: Word) -> Kernel {
        Kernel {
            pool,
            slots,
            first_untyped,
        }
    }

    /// The untyped pool (to find the memory server's RAM).
    pub const fn pool(&self) -> &UntypedPool {
        &self.pool
    }

    /// Free slots left in the root task's CNode.
    pub const fn slots_left(&self) -> u64 {
        self.slots.left()
    }

    fn retype_at(
        &mut self,
        placement: Placement,
        object: Object,
        count: Word,
    ) -> Result<CPtr, RootError> {
        let (kind, size, _) = object.retype();
        let first = self.slots.take(count)?;
        let untyped =
            Cap::<Untyped>::from_cptr(CPtr(self.first_untyped + placement.untyped as Word));
        untyped
            .retype(
                kind as Word,
                size,
                init_slot::INIT_THREAD_CNODE,
                0,
                0,
                first,
                count,
            )
            .map_err(|error| failed("Untyped_Retype", error))?;
        Ok(CPtr(first))
    }

    /// `count` new objects in consecutive slots of the root task's CNode; the first slot.
    pub fn create_many(&mut self, object: Object, count: Word) -> Result<CPtr, RootError> {
        let placement = self.pool.allocate(object.retype().2, count)?;
        self.retype_at(placement, object, count)
    }

    /// One new object.
    pub fn create<T>(&mut self, object: Object) -> Result<Cap<T>, RootError> {
        self.create_many(object, 1).map(Cap::from_cptr)
    }

    /// `count` large pages carved from the untyped with boot-information index `untyped`.
    pub fn large_pages_from(&mut self, untyped: usize, count: Word) -> Result<CPtr, RootError> {
        let placement = self.pool.allocate_in(untyped, LARGE_PAGE_BITS, count)?;
        self.retype_at(placement, Object::LargePage, count)
    }

    /// A copy of the capability in the root task's slot `source` with `rights`, in a new slot.
    pub fn copy<T>(&mut self, source: Cap<T>, rights: CapRights) -> Result<Cap<T>, RootError> {
        let slot = self.slots.take(1)?;
        let root = Cap::<CNode>::from_cptr(init_slot::INIT_THREAD_CNODE);
        root.copy(
            slot,
            ROOT_DEPTH,
            root.cptr(),
            source.cptr().0,
            ROOT_DEPTH,
            rights,
        )
        .map_err(|error| failed("CNode_Copy", error))?;
        Ok(Cap::from_cptr(CPtr(slot)))
    }

    /// A copy of the capability in the root task's slot `source` with `rights` and `data` (a
    /// badge or a CNode guard), in a new slot of the root task's CNode.
    pub fn mint<T>(
        &mut self,
        source: Cap<T>,
        rights: CapRights,
        data: CapData,
    ) -> Result<Cap<T>, RootError> {
        let slot = self.slots.take(1)?;
        let root = Cap::<CNode>::from_cptr(init_slot::INIT_THREAD_CNODE);
        root.mint(
            slot,
            ROOT_DEPTH,
            root.cptr(),
            source.cptr().0,
            ROOT_DEPTH,
            rights,
            data,
        )
        .map_err(|error| failed("CNode_Mint", error))?;
        Ok(Cap::from_cptr(CPtr(slot)))
    }
}

/// Puts into `slot` of the PD CNode `cnode` a copy of the root task's capability `source` with
/// `rights` and `data` (a badge, a guard, or none).
pub fn install<T>(
    cnode: Cap<CNode>,
    slot: Slot,
    source: Cap<T>,
    rights: CapRights,
    data: CapData,
) -> Result<(), RootError> {
    let root = init_slot::INIT_THREAD_CNODE;
    cnode
        .mint(
            slot.cptr(),
            CNODE_RADIX_BITS,
            root,
            source.cptr().0,
            ROOT_DEPTH,
            rights,
            data,
        )
        .map_err(|error| failed("CNode_Mint into a PD", error))
}
