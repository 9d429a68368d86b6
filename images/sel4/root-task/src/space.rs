//! A VSpace as the root task fills it: pages and large pages mapped at the plan's addresses, the
//! paging structures above them created the first time an address needs them.
//!
//! seL4 5.0 aarch64 facts: four levels of 512 entries over 48-bit addresses (page global
//! directory, upper directory per 512 GiB, directory per GiB, table per 2 MiB); each structure
//! is mapped into the VSpace by naming its page global directory and an address inside the range
//! it will cover; a large page takes a directory entry, a small page a table entry. The VSpace
//! root needs an ASID (`ASIDPool_Assign`) before anything maps into it.

use ballast_sel4_root_task::RootError;
use ballast_sel4_sys::{
    init_slot, AsidPool, Cap, CapRights, LargePage, PageDirectory, PageGlobalDirectory, PageTable,
    PageUpperDirectory, SmallPage, VmAttributes,
};
use heapless::Vec;

use crate::kernel::{failed, Kernel, Object};

/// Paging structures one VSpace may need below its root.
const MAX_STRUCTURES: usize = 64;

/// A paging structure below the root: what it is and the address bits that select it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    /// A page upper directory (512 GiB).
    Upper,
    /// A page directory (1 GiB).
    Directory,
    /// A page table (2 MiB).
    Table,
}

impl Level {
    /// log2 of the bytes one structure of this level covers.
    const fn shift(self) -> u32 {
        match self {
            Level::Upper => 39,
            Level::Directory => 30,
            Level::Table => 21,
        }
    }
}

/// One VSpace and the paging structures the root task made in it.
#[derive(Debug)]
pub struct AddressSpace {
    root: Cap<PageGlobalDirectory>,
    made: Vec<(Level, u64), MAX_STRUCTURES>,
}

/// Mapping rights: read-write or read-only.
const fn rights(writable: bool) -> CapRights {
    if writable {
        CapRights::READ_WRITE
    } else {
        CapRights::READ
    }
}

/// Cacheable normal memory, executable or not.
const fn attributes(executable: bool) -> VmAttributes {
    if executable {
        VmAttributes::DEFAULT
    } else {
        VmAttributes::DEFAULT.union(VmAttributes::EXECUTE_NEVER)
    }
}

impl AddressSpace {
    /// A new VSpace with an ASID from the root task's pool.
    pub fn create(kernel: &mut Kernel) -> Result<AddressSpace, RootError> {
        let root: Cap<PageGlobalDirectory> = kernel.create(Object::PageGlobalDirectory)?;
        Cap::<AsidPool>::from_cptr(init_slot::INIT_THREAD_ASID_POOL)
            .assign(root)
            .map_err(|error| failed("ASIDPool_Assign", error))?;
        Ok(AddressSpace {
            root,
            made: Vec::new(),
        })
    }

    /// The root task's own VSpace, for addresses where the kernel made no structure (above its
    /// image's 512 GiB).
    pub fn root_task() -> AddressSpace {
        AddressSpace {
            root: Cap::from_cptr(init_slot::INIT_THREAD_VSPACE),
            made: Vec::new(),
        }
    }

    /// The VSpace root.
    pub const fn root(&self) -> Cap<PageGlobalDirectory> {
        self.root
    }

    /// Makes every structure down to `level` that `address` needs.
    fn prepare(
        &mut self,
        kernel: &mut Kernel,
        address: u64,
        lowest: Level,
    ) -> Result<(), RootError> {
        for level in [Level::Upper, Level::Directory, Level::Table] {
            let key = (level, address >> level.shift());
            if !self.made.contains(&key) {
                let base = key.1 << level.shift();
                let root = self.root;
                let mapped =
                    match level {
                        Level::Upper => kernel
                            .create::<PageUpperDirectory>(Object::PageUpperDirectory)?
                            .map(root, base, VmAttributes::DEFAULT),
                        Level::Directory => kernel
                            .create::<PageDirectory>(Object::PageDirectory)?
                            .map(root, base, VmAttributes::DEFAULT),
                        Level::Table => kernel.create::<PageTable>(Object::PageTable)?.map(
                            root,
                            base,
                            VmAttributes::DEFAULT,
                        ),
                    };
                mapped.map_err(|error| failed("mapping a paging structure", error))?;
                self.made.push(key).map_err(|_| RootError::TooManyTables)?;
            }
            if level == lowest {
                break;
            }
        }
        Ok(())
    }

    /// Maps the small page `frame` at `address`.
    pub fn map_page(
        &mut self,
        kernel: &mut Kernel,
        frame: Cap<SmallPage>,
        address: u64,
        writable: bool,
        executable: bool,
    ) -> Result<(), RootError> {
        self.prepare(kernel, address, Level::Table)?;
        frame
            .map(self.root, address, rights(writable), attributes(executable))
            .map_err(|error| failed("Page_Map", error))
    }

    /// Makes the page directory that large pages at `address` go into.
    pub fn prepare_large(&mut self, kernel: &mut Kernel, address: u64) -> Result<(), RootError> {
        self.prepare(kernel, address, Level::Directory)
    }

    /// Maps the large page `frame` at `address`, read-write, not executable.
    pub fn map_large(
        &mut self,
        kernel: &mut Kernel,
        frame: Cap<LargePage>,
        address: u64,
    ) -> Result<(), RootError> {
        self.prepare_large(kernel, address)?;
        frame
            .map(self.root, address, rights(true), attributes(false))
            .map_err(|error| failed("Page_Map (large)", error))
    }
}
