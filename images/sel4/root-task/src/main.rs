//! The root task: the first and only thread seL4 5.0 starts. It reads the boot information and
//! the guest command line the loader left in its image, builds one protection domain per
//! component of `manifests/sel4-xen-arm64.toml` exactly as `ballast-sel4-plan` lays them out (the
//! library's documentation states what the kernel hands it), each told the command line in its
//! boot-info page, starts them, and then serves their faults. Any failure is printed and stops
//! the root task before a PD runs.
#![no_std]
#![no_main]

mod cmdline;
mod console;
mod faults;
mod kernel;
mod pd;
mod scratch;
mod space;
mod system;

use ballast_sel4_plan::Plan;
use ballast_sel4_root_task::image::{PdImage, Segment};
use ballast_sel4_root_task::slots::Slots;
use ballast_sel4_root_task::untyped::{Untyped, UntypedPool};
use ballast_sel4_root_task::RootError;
use ballast_sel4_sys::{init_slot, BootInfo, Cap, Tcb};
use ballast_system::Composition;

use crate::console::say;
use crate::kernel::Kernel;

mod composition {
    include!(concat!(env!("OUT_DIR"), "/composition.rs"));
}

mod images {
    use super::{PdImage, Segment};
    include!(concat!(env!("OUT_DIR"), "/pd_images.rs"));
}

/// The composition the root task builds.
const COMPOSITION: Composition = composition::COMPOSITION;
/// Its components.
pub const COMPONENTS: usize = COMPOSITION.components.len();

// The entry point: x0 holds the boot information's address. The root task's stack is its own
// (the linker script reserves it), since the kernel sets no stack pointer.
core::arch::global_asm!(
    ".section .text.start, \"ax\"",
    ".global _start",
    "_start:",
    "    adrp x9, __stack_top",
    "    add x9, x9, :lo12:__stack_top",
    "    mov sp, x9",
    "    b {main}",
    main = sym main,
);

/// Builds the system and serves faults.
extern "C" fn main(boot_info: usize) -> ! {
    // SAFETY: the kernel passes the address of the boot information frame in x0 (see the
    // library's documentation); it is mapped read-only in this VSpace for the root task's life,
    // and the kernel never writes it after the root task starts.
    let boot_info = unsafe { BootInfo::from_address(boot_info) };
    say!("started; building the PDs of {}", COMPOSITION.image);
    match build(boot_info) {
        Ok(never) => match never {},
        Err(error) => stop(error),
    }
}

fn build(boot_info: &BootInfo) -> Result<core::convert::Infallible, RootError> {
    let plan = Plan::new(&COMPOSITION).map_err(|error| {
        say!("the plan refused the composition: {error}");
        RootError::Plan
    })?;
    let area = cmdline::read().map_err(|error| {
        say!("the loader's command-line area: {error}");
        RootError::Cmdline
    })?;
    let cmdline = area.text().map_err(|error| {
        say!("the loader's command line: {error}");
        RootError::Cmdline
    })?;
    say!("command line: {cmdline}");
    let untypeds = boot_info
        .untyped_descriptors()
        .iter()
        .enumerate()
        .map(|(index, descriptor)| Untyped {
            index,
            paddr: descriptor.paddr,
            size_bits: descriptor.size_bits,
            is_device: descriptor.is_device != 0,
        });
    let empty = boot_info.empty;
    let mut kernel = Kernel::new(
        UntypedPool::new(untypeds)?,
        Slots::new(empty.start, empty.end),
        boot_info.untyped.start,
    );
    let needed = plan.objects().map_err(|_| RootError::Plan)?;
    say!(
        "{} KiB of untyped memory, {} free slots",
        kernel.pool().free_bytes() / 1024,
        kernel.slots_left()
    );
    say!(
        "the plan's objects but images and RAM window: {} KiB, {} slots",
        needed.bytes() / 1024,
        needed.slots()
    );
    if needed.bytes() > kernel.pool().free_bytes() {
        return Err(RootError::OutOfMemory);
    }
    if needed.slots() > kernel.slots_left() {
        return Err(RootError::OutOfSlots);
    }
    let system = system::build(&mut kernel, plan, &images::PD_IMAGES, cmdline)?;
    faults::serve(&system)
}

/// Prints why the root task stopped, and stops it.
fn stop(error: RootError) -> ! {
    say!("stopped: {error}");
    let _ = Cap::<Tcb>::from_cptr(init_slot::INIT_THREAD_TCB).suspend();
    loop {
        ballast_sel4_sys::ipc::yield_now();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    say!("panic: {info}");
    let _ = Cap::<Tcb>::from_cptr(init_slot::INIT_THREAD_TCB).suspend();
    loop {
        ballast_sel4_sys::ipc::yield_now();
    }
}
