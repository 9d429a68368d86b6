//! What the image reads from the device tree Xen hands a domU (x0 at entry): the RAM banks, the
//! command line (`/chosen/bootargs`, the module's `bootargs` in the dom0less configuration), the
//! tree's own extent (it lies in RAM, the scenario must not touch it) and whether Xen describes
//! itself (`/hypervisor`, compatible `xen,xen`).

use ballast_system::CommandLine;
use fdt::Fdt;

/// RAM banks the image keeps.
pub const MAX_BANKS: usize = 8;
/// Bytes of command line the image keeps.
pub const MAX_CMDLINE: usize = 256;

/// A RAM bank, [start, end) in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub struct Bank {
    /// First byte.
    pub start: u64,
    /// First byte past it.
    pub end: u64,
}

/// Why the device tree is unusable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum DeviceTreeError {
    /// No tree at the address, or a malformed one.
    Malformed = 1,
    /// More RAM banks than [`MAX_BANKS`].
    TooManyBanks,
    /// A bank without a size, or one that wraps.
    BadBank,
    /// A command line longer than [`MAX_CMDLINE`].
    CmdlineTooLong,
}

/// The boot information.
#[derive(Debug)]
pub struct BootInfo {
    /// Where the tree lies, [start, end).
    pub tree: Bank,
    /// RAM.
    pub banks: heapless::Vec<Bank, MAX_BANKS>,
    /// The guest command line.
    pub cmdline: heapless::String<MAX_CMDLINE>,
    /// Whether `/hypervisor` is compatible with `xen,xen`.
    pub xen_node: bool,
}

impl BootInfo {
    /// The command line, for its `key=value` words.
    pub fn command_line(&self) -> CommandLine<'_> {
        CommandLine::new(&self.cmdline)
    }
}

/// Read the device tree at `address`. (The `fdt` crate checks the header; a tree whose
/// structure block is corrupt beyond that can make it panic, which the panic handler reports.)
///
/// # Safety
/// `address` must point at readable memory holding a flattened device tree, which nothing
/// writes while the image runs.
pub unsafe fn read(address: u64) -> Result<BootInfo, DeviceTreeError> {
    // SAFETY: the caller vouches for the memory; `from_ptr` checks the header's magic and reads
    // no more than the header's total size.
    let tree =
        unsafe { Fdt::from_ptr(address as *const u8) }.map_err(|_| DeviceTreeError::Malformed)?;
    let mut banks = heapless::Vec::new();
    let memory_nodes = tree
        .all_nodes()
        .filter(|node| node.name.split('@').next() == Some("memory"));
    for region in memory_nodes.filter_map(|node| node.reg()).flatten() {
        let size = region.size.ok_or(DeviceTreeError::BadBank)? as u64;
        let start = region.starting_address as u64;
        let end = start.checked_add(size).ok_or(DeviceTreeError::BadBank)?;
        banks
            .push(Bank { start, end })
            .map_err(|_| DeviceTreeError::TooManyBanks)?;
    }
    let mut cmdline = heapless::String::new();
    let bootargs = tree
        .find_node("/chosen")
        .and_then(|chosen| chosen.property("bootargs"))
        .and_then(|property| property.as_str());
    if let Some(bootargs) = bootargs {
        cmdline
            .push_str(bootargs)
            .map_err(|_| DeviceTreeError::CmdlineTooLong)?;
    }
    let xen_node = tree
        .find_node("/hypervisor")
        .and_then(|node| node.compatible())
        .is_some_and(|compatible| compatible.all().any(|name| name == "xen,xen"));
    Ok(BootInfo {
        tree: Bank {
            start: address,
            end: address + tree.total_size() as u64,
        },
        banks,
        cmdline,
        xen_node,
    })
}
