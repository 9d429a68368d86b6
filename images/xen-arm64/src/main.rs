//! The ballast arm64 image: boots on Xen as a dom0less domU, logs through defmt to the Xen
//! console, reads its RAM and command line from the device tree Xen built for it, turns on its
//! MMU with an identity map of that RAM, and runs its app over the components of
//! `manifests/xen-arm64.toml` (the hypercall gateway over ballast's aarch64 Xen backend, the
//! memory server) on the static IPC runtime, exactly as the x86-64 PVH image does: the
//! memory-server app (`ballast image`), or with feature `hil-test` the HIL test app (`ballast
//! hil`), which plays the scenario the command line names and reports PASS or FAIL.
#![no_std]
#![no_main]

mod boot;
mod clock;
mod console;
mod device_tree;
mod exit;
mod logger;
mod memory;
mod mmu;
mod vectors;

#[cfg(feature = "hil-test")]
mod hil_test_app;
#[cfg(not(feature = "hil-test"))]
mod memory_server_app;

use core::arch::asm;

use ballast_app_memory_server::system;
use ballast_frame_access::FrameRun;
use ballast_xen::backend::aarch64::Arm64Hypercall;

#[cfg(feature = "hil-test")]
use crate::hil_test_app as app;
#[cfg(not(feature = "hil-test"))]
use crate::memory_server_app as app;

use crate::device_tree::{Bank, BootInfo};
use crate::exit::Verdict;

/// What the boot path hands the app.
struct Booted {
    /// The `hvc` hypercall.
    hypercall: Arm64Hypercall,
    /// The device tree's RAM banks, command line and extent.
    info: BootInfo,
    /// The RAM the memory server manages: the free RAM, less the manifest's reserved ranges.
    managed: FrameRun,
    /// The generic timer.
    clock: clock::GenericTimer,
}

impl Booted {
    /// The device tree's RAM banks, byte ranges.
    fn ram_regions(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.info.banks.iter().map(|bank| (bank.start, bank.end))
    }
}

/// Called by the boot path with the guest-physical address of the device tree.
#[no_mangle]
extern "C" fn rust_main(device_tree: u64) -> ! {
    // SAFETY: Xen booted this image as a domain (the Image header is only meaningful to Xen's
    // loader here), and the image maps memory 1:1.
    let hypercall = unsafe { Arm64Hypercall::new() };
    logger::init(console::Console::new(hypercall));
    let level: u64;
    // SAFETY: reads a system register; no memory is touched.
    unsafe { asm!("mrs {}, CurrentEL", out(reg) level, options(nomem, nostack)) };
    defmt::info!(
        "ballast-xen-arm64 booted el={=u64} device_tree={=u64:#x} stack_bytes={=usize}",
        level >> 2,
        device_tree,
        boot::STACK_BYTES
    );
    let verdict = match boot(device_tree, hypercall) {
        Some(booted) => app::run(booted),
        None => Verdict::Fail,
    };
    match verdict {
        Verdict::Pass => defmt::info!("RESULT PASS"),
        Verdict::Fail => defmt::error!("RESULT FAIL"),
    }
    exit::finish(verdict)
}

/// Read the device tree, turn on the MMU, find the RAM the memory server manages and the clock;
/// `None` (logged) if something is missing.
fn boot(device_tree: u64, hypercall: Arm64Hypercall) -> Option<Booted> {
    // SAFETY: Xen passed the tree's address in x0; it lies in RAM the identity map covers, and
    // nothing writes it.
    let info = match unsafe { device_tree::read(device_tree) } {
        Ok(info) => info,
        Err(error) => {
            defmt::error!("device tree at {=u64:#x} unusable: {}", device_tree, error);
            return None;
        }
    };
    defmt::info!(
        "device_tree start={=u64:#x} end={=u64:#x} xen_node={=bool} cmdline={=str}",
        info.tree.start,
        info.tree.end,
        info.xen_node,
        info.cmdline.as_str()
    );
    for bank in &info.banks {
        defmt::info!("memory start={=u64:#x} end={=u64:#x}", bank.start, bank.end);
    }
    let pa_range = mmu::enable(&info.banks);
    defmt::info!(
        "mmu on identity_map ram=normal_write_back elsewhere=device pa_range={=u64}",
        pa_range
    );
    let image = memory::image_bounds();
    defmt::info!(
        "image start={=u64:#x} end={=u64:#x}",
        image.start,
        image.end
    );
    let taken: [Bank; 2] = [image, info.tree];
    let free = match memory::free_ram(&info.banks, &taken) {
        Ok(free) => free,
        Err(error) => {
            defmt::error!("no free RAM: {}", error);
            return None;
        }
    };
    let managed = match system::managed_ram(free, info.banks.iter().map(|bank| bank.end)) {
        Ok(managed) => managed,
        Err(error) => {
            defmt::error!("the boot layout does not fit the manifest: {}", error);
            return None;
        }
    };
    let Some(clock) = clock::GenericTimer::new() else {
        defmt::error!("CNTFRQ_EL0 reads 0: no counter frequency");
        return None;
    };
    defmt::info!("clock source=cntvct_el0 hz={=u64}", clock.hz());
    Some(Booted {
        hypercall,
        info,
        managed,
        clock,
    })
}
