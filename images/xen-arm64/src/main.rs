//! The ballast arm64 image: boots on Xen as a dom0less domU, logs through defmt to the Xen
//! console, reads its RAM and command line from the device tree Xen built for it, turns on its
//! MMU with an identity map of that RAM, hosts the components of `manifests/xen-arm64.toml` (the
//! hypercall gateway over ballast's aarch64 Xen backend, the memory server, a test client and a
//! control component) on the static IPC runtime, plays the scenario the command line names
//! (`scenario=balloon`, the default) exactly as the x86-64 PVH image does, and reports PASS or
//! FAIL.
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

use core::arch::asm;

use ballast_guest::scenario::{self, BalloonedFrame, Checks, Platform};
use ballast_guest::{phases, system};
use ballast_xen::backend::aarch64::Arm64Hypercall;
use ballast_xen::backend::XenHypercalls;
use ballast_xen::Hypervisor;

use crate::device_tree::Bank;
use crate::exit::Verdict;

const PAGE_BYTES: u64 = 4096;
/// The scenario `scenario=` accepts besides the shared ones: it reads an address the MMU does
/// not map, to show a fault reported on the console and ending the run.
const FAULT_SCENARIO: &str = "fault";
/// What arm64 Xen does where the platforms differ: reading a ballooned gfn raises a data abort
/// at the same exception level (ESR_EL1.EC 0x25: Xen's stage 2 has nothing there and injects
/// one), and a dom0less domU boots at its maximum, so the scenario first gives back 8 MiB.
/// Measured: `docs/XEN-BEHAVIOUR.md#ballooned-read-arm64`, `#dom0less-domu`.
const PLATFORM: Platform = Platform {
    ballooned_frame: BalloonedFrame::ReadAborts {
        syndrome_class: 0x25,
    },
    headroom_frames: (8 << 20) / PAGE_BYTES,
};

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
    let verdict = run(device_tree, hypercall);
    match verdict {
        Verdict::Pass => defmt::info!("RESULT PASS"),
        Verdict::Fail => defmt::error!("RESULT FAIL"),
    }
    exit::finish(verdict)
}

fn run(device_tree: u64, hypercall: Arm64Hypercall) -> Verdict {
    // SAFETY: Xen passed the tree's address in x0; it lies in RAM the identity map covers, and
    // nothing writes it.
    let info = match unsafe { device_tree::read(device_tree) } {
        Ok(info) => info,
        Err(error) => {
            defmt::error!("device tree at {=u64:#x} unusable: {}", device_tree, error);
            return Verdict::Fail;
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
    let planned = match memory::plan(&info.banks, &taken) {
        Ok(layout) => layout,
        Err(error) => {
            defmt::error!("no room for the scenario: {}", error);
            return Verdict::Fail;
        }
    };
    let layout = match system::fit_layout(planned, info.banks.iter().map(|bank| bank.end)) {
        Ok(layout) => layout,
        Err(error) => {
            defmt::error!("the boot layout does not fit the manifest: {}", error);
            return Verdict::Fail;
        }
    };
    let Some(clock) = clock::GenericTimer::new() else {
        defmt::error!("CNTFRQ_EL0 reads 0: no counter frequency");
        return Verdict::Fail;
    };
    defmt::info!("clock source=cntvct_el0 hz={=u64}", clock.hz());
    let name = info.cmdline_value("scenario").unwrap_or("balloon");
    defmt::info!("scenario name={=str}", name);
    if name == FAULT_SCENARIO {
        defmt::info!("reading unmapped address={=u64:#x}", mmu::UNMAPPED);
        // SAFETY: the read faults (the address is outside every table entry), and the vector
        // table ends the run; nothing is read or written.
        let word = unsafe { (mmu::UNMAPPED as *const u64).read_volatile() };
        defmt::error!("unmapped address read as {=u64:#x}", word);
        return Verdict::Fail;
    }
    let Ok(phases) = scenario::phases(name) else {
        defmt::error!(
            "scenario {=str}: unknown; known: {=[?]} and {=str}",
            name,
            scenario::SCENARIOS,
            FAULT_SCENARIO
        );
        return Verdict::Fail;
    };
    let mut checks = Checks::default();
    checks.context = "boot";
    let ram_frames: u64 = info
        .banks
        .iter()
        .map(|bank| (bank.end - bank.start) / PAGE_BYTES)
        .sum();
    let current = XenHypercalls::new(hypercall)
        .current_reservation()
        .unwrap_or(0);
    defmt::info!(
        "boot device_tree_ram_frames={=u64} current_reservation={=u64}",
        ram_frames,
        current
    );
    checks.expect_eq("device_tree_ram_is_the_reservation", ram_frames, current);
    let ram_regions = info.banks.iter().map(|bank| (bank.start, bank.end));
    let machine = phases::Machine {
        hypercall,
        clock: &clock,
        layout,
        platform: PLATFORM,
    };
    // SAFETY: `layout.free` is the free RAM `plan` chose, cut by `fit_layout` to the part the
    // manifest lets the components manage; this is the only access to it.
    let ram = unsafe { memory::scenario_ram(layout.free) };
    if phases::play(machine, phases, ram, ram_regions, checks) {
        Verdict::Pass
    } else {
        Verdict::Fail
    }
}
