//! The seL4 loader: an arm64 Image that Xen boots as a dom0less domU (or QEMU virt as a kernel),
//! carrying the seL4 5.0 kernel and the root task. With the MMU off it reads the device tree,
//! checks both ELF files, places the kernel at its physical addresses and the root task's image
//! in the pages after it, writes the guest command line into the root task's command-line area,
//! fills the translation tables, and enters the kernel as 5.0 expects (the library's
//! documentation states the contract). Any failure is printed as a typed error and stops the
//! loader.
#![no_std]
#![no_main]

mod boot;
mod console;
mod cpu;

use core::cell::UnsafeCell;
use core::convert::Infallible;
use core::fmt;

use ballast_sel4_loader::cmdline::{self, AreaError};
use ballast_sel4_loader::device_tree::{self, Platform, TreeError};
use ballast_sel4_loader::elf::{Elf, ElfError};
use ballast_sel4_loader::plan::{Load, Memory, Plan, PlanError, Region};
use ballast_sel4_loader::registers::{self, CpuError};
use ballast_sel4_loader::tables::{TableError, Tables};
use ballast_sel4_plan::cmdline::{CmdlineArea, CmdlineError, CMDLINE_BYTES};

/// Bytes kept page-aligned, so that segments (page-aligned in their files) copy word by word.
#[repr(C, align(4096))]
struct PageAligned<T: ?Sized>(T);

static KERNEL_ELF: &PageAligned<[u8]> = &PageAligned(*include_bytes!(env!("LOADER_KERNEL_ELF")));
static ROOT_TASK_ELF: &PageAligned<[u8]> =
    &PageAligned(*include_bytes!(env!("LOADER_ROOT_TASK_ELF")));

/// The translation tables, in the loader's .bss.
struct TranslationTables(UnsafeCell<Tables>);

// SAFETY: only `boot` touches the tables, once, on the one CPU the loader runs on.
unsafe impl Sync for TranslationTables {}

static TABLES: TranslationTables = TranslationTables(UnsafeCell::new(Tables::new()));

extern "C" {
    static __image_start: u8;
    static __image_end: u8;
}

/// Why the loader stopped.
#[derive(Clone, Copy, Debug)]
enum BootError {
    /// The device tree in x0.
    DeviceTree(TreeError),
    /// The CPU or the exception level.
    Cpu(CpuError),
    /// The kernel's ELF file.
    Kernel(ElfError),
    /// The root task's ELF file.
    RootTask(ElfError),
    /// Placing them.
    Plan(PlanError),
    /// The translation tables.
    Tables(TableError),
    /// The root task's command-line area.
    CmdlineArea(AreaError),
    /// The command line (`/chosen/bootargs`), of this many bytes.
    Cmdline(CmdlineError, usize),
}

impl fmt::Display for BootError {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootError::DeviceTree(error) => write!(out, "the device tree in x0: {error:?}"),
            BootError::Cpu(error) => write!(out, "the CPU: {error:?}"),
            BootError::Kernel(error) => write!(out, "the kernel ELF: {error:?}"),
            BootError::RootTask(error) => write!(out, "the root task ELF: {error:?}"),
            BootError::Plan(error) => {
                write!(out, "placing the kernel and the root task: {error:?}")
            }
            BootError::Tables(error) => write!(out, "the translation tables: {error:?}"),
            BootError::CmdlineArea(error) => {
                write!(out, "the root task's command-line area: {error:?}")
            }
            BootError::Cmdline(error, bytes) => write!(
                out,
                "the command line ({bytes} bytes, at most {CMDLINE_BYTES}): {error:?}"
            ),
        }
    }
}

/// The loader's own extent: code, the carried ELF files, stack and tables.
fn loader_region() -> Region {
    Region {
        start: core::ptr::addr_of!(__image_start) as u64,
        end: core::ptr::addr_of!(__image_end) as u64,
    }
}

/// The device tree at `address` and its extent.
fn device_tree(address: u64) -> Result<(Platform<'static>, Region), BootError> {
    if address == 0 || !address.is_multiple_of(8) {
        return Err(BootError::DeviceTree(TreeError::Malformed));
    }
    // SAFETY: x0 holds the device tree's address (Linux's arm64 boot protocol, which Xen and
    // QEMU follow for an Image): 8-byte aligned RAM, which nothing writes while the loader runs.
    let header = unsafe { (address as *const [u8; 8]).read_volatile() };
    let size =
        device_tree::total_size(header).ok_or(BootError::DeviceTree(TreeError::Malformed))?;
    // SAFETY: as above; the header's magic is right and `size` is the tree's own total size.
    let bytes = unsafe { core::slice::from_raw_parts(address as *const u8, size) };
    let platform = device_tree::read(bytes).map_err(BootError::DeviceTree)?;
    let extent = Region {
        start: address,
        end: address + size as u64,
    };
    Ok((platform, extent))
}

/// Write `load` to physical memory.
///
/// # Safety
/// `load` must come from a [`Plan`]: its destination lies in RAM, clear of the loader and the
/// device tree.
unsafe fn write(load: &Load<'_>) {
    let length = load.bytes.len() + load.zero_bytes as usize;
    // SAFETY: the plan checked that [destination, destination + length) is RAM nothing else
    // uses (not the loader's code, carried files, stack or tables, not the device tree); the
    // MMU is off, so the address is the physical one.
    let destination =
        unsafe { core::slice::from_raw_parts_mut(load.destination as *mut u8, length) };
    let (copied, zeroed) = destination.split_at_mut(load.bytes.len());
    copied.copy_from_slice(load.bytes);
    zeroed.fill(0);
}

/// Zero `region`.
///
/// # Safety
/// `region` must be the plan's root-task region.
unsafe fn zero(region: Region) {
    // SAFETY: the plan checked the region as for `write`.
    let bytes = unsafe {
        core::slice::from_raw_parts_mut(region.start as *mut u8, region.bytes() as usize)
    };
    bytes.fill(0);
}

fn boot(tree_address: u64, started: u64) -> Result<Infallible, BootError> {
    let (platform, tree) = device_tree(tree_address)?;
    if let Some(uart) = platform.uart {
        console::use_uart(uart);
    }
    let loader = loader_region();
    println!(
        "seL4 loader: at {started} us; image {:#x}..{:#x}, device tree {:#x}..{:#x}",
        loader.start, loader.end, tree.start, tree.end
    );
    registers::check_exception_level(cpu::current_el()).map_err(BootError::Cpu)?;
    let tcr = registers::tcr(cpu::memory_model_features()).map_err(BootError::Cpu)?;
    let kernel = Elf::parse(&KERNEL_ELF.0).map_err(BootError::Kernel)?;
    let root_task = Elf::parse(&ROOT_TASK_ELF.0).map_err(BootError::RootTask)?;
    let memory = Memory {
        ram: platform.banks.as_slice(),
        reserved: &[loader, tree],
    };
    let plan = Plan::new(kernel, root_task, &memory).map_err(BootError::Plan)?;
    let bootargs = platform.bootargs;
    println!(
        "seL4 loader: command line ({} bytes) \"{}\"",
        bootargs.len(),
        bootargs.escape_ascii()
    );
    let area_segment = cmdline::find(&root_task).map_err(BootError::CmdlineArea)?;
    let area = CmdlineArea::holding(bootargs)
        .map_err(|error| BootError::Cmdline(error, bootargs.len()))?;
    println!(
        "seL4 loader: kernel {:#x}..{:#x}, entry {:#x}",
        plan.kernel.start,
        plan.kernel.end,
        plan.kernel_entry()
    );
    println!(
        "seL4 loader: root task {:#x}..{:#x} at virtual {:#x}, entry {:#x}",
        plan.user.start,
        plan.user.end,
        plan.user_virtual.start,
        plan.entry_arguments().user_entry
    );
    for load in plan.kernel_loads() {
        // SAFETY: the load comes from the plan.
        unsafe { write(&load) };
    }
    // SAFETY: the plan's root-task region.
    unsafe { zero(plan.user) };
    for load in plan.user_loads() {
        // SAFETY: the load comes from the plan.
        unsafe { write(&load) };
    }
    // SAFETY: the load lies in the root task's command-line segment, which the plan placed.
    unsafe { write(&plan.cmdline_load(&area_segment, &area)) };
    let tables = TABLES.0.get();
    let tables_address = tables as u64;
    // SAFETY: the one access to the tables, before translation uses them.
    let roots = unsafe { &mut *tables }
        .fill(tables_address, loader, plan.kernel)
        .map_err(BootError::Tables)?;
    for written in [
        plan.kernel,
        plan.user,
        Region {
            start: tables_address,
            end: tables_address + core::mem::size_of::<Tables>() as u64,
        },
    ] {
        cpu::invalidate_data_cache(written);
    }
    println!(
        "seL4 loader: entering the kernel at {} us",
        cpu::counter_microseconds()
    );
    // SAFETY: the kernel and the root task are in place, the tables map the loader to itself
    // and the kernel window onto the kernel, and the caches hold nothing stale for them.
    unsafe { cpu::enter(roots, tcr, plan.kernel_entry(), plan.entry_arguments()) }
}

/// Called by the entry (`boot.rs`) with the device tree's address from x0.
#[no_mangle]
extern "C" fn loader_main(tree_address: u64) -> ! {
    let started = cpu::counter_microseconds();
    let Err(error) = boot(tree_address, started);
    console::fail(format_args!("cannot boot: {error}"))
}
