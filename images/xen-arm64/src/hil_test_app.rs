//! The HIL test app on this image (feature `hil-test`, what `ballast hil --arch aarch64` builds):
//! finds the unbacked range above RAM the Xen-facts scenario populates past the maximum, checks
//! that the device tree's RAM is Xen's reservation, and plays the scenario the command line names
//! (`scenario=balloon`, the default) with what arm64 Xen does where the platforms differ; or
//! `scenario=fault`, which reads an unmapped address to show a fault reported and ending the run.

use ballast_app_hil_test::phases;
use ballast_app_hil_test::scenario::{self, BalloonedFrame, Checks, Layout, Platform};
use ballast_frame_access::FrameRun;
use ballast_xen::backend::XenHypercalls;
use ballast_xen::{Gfn, Hypervisor};

use crate::device_tree::Bank;
use crate::exit::Verdict;
use crate::memory::{PAGE_BYTES, SUPERPAGE_BYTES};
use crate::mmu::{self, MAPPED_RAM_END};
use crate::Booted;

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
/// Unbacked space the Xen-facts scenario wants above RAM, for populating past the maximum.
const HOLE_BYTES: u64 = 256 << 20;

/// Play the scenario; whether every check passed.
pub fn run(booted: Booted) -> Verdict {
    let Some(hole) = hole(&booted.info.banks) else {
        defmt::error!("no mapped range of {=u64} bytes above RAM", HOLE_BYTES);
        return Verdict::Fail;
    };
    let name = booted
        .info
        .command_line()
        .value("scenario")
        .unwrap_or("balloon");
    defmt::info!("scenario name={=str}", name);
    if name == FAULT_SCENARIO {
        defmt::info!("reading unmapped address={=u64:#x}", mmu::UNMAPPED);
        // SAFETY: the read faults (the address is outside every table entry), and the vector
        // table ends the run; nothing is read or written.
        let word = unsafe { (mmu::UNMAPPED as *const u64).read_volatile() };
        defmt::error!("unmapped address read as {=u64:#x}", word);
        return Verdict::Fail;
    }
    let line = booted.info.command_line();
    let phases = match scenario::phases(name).and_then(|phases| phases.with_options(line)) {
        Ok(phases) => phases,
        Err(error) => {
            defmt::error!(
                "scenario {=str}: {}; known: {=[?]} and {=str}",
                name,
                error,
                scenario::SCENARIOS,
                FAULT_SCENARIO
            );
            return Verdict::Fail;
        }
    };
    let mut checks = Checks::default();
    checks.context = "boot";
    let ram_frames: u64 = (booted.info.banks.iter())
        .map(|bank| (bank.end - bank.start) / PAGE_BYTES)
        .sum();
    let current = XenHypercalls::new(booted.hypercall)
        .current_reservation()
        .unwrap_or(0);
    defmt::info!(
        "boot device_tree_ram_frames={=u64} current_reservation={=u64}",
        ram_frames,
        current
    );
    checks.expect_eq("device_tree_ram_is_the_reservation", ram_frames, current);
    let machine = phases::Machine {
        hypercall: booted.hypercall,
        clock: &booted.clock,
        layout: Layout {
            free: booted.managed,
            hole,
        },
        platform: PLATFORM,
    };
    // SAFETY: `managed` lies within the free RAM `memory::free_ram` found (`managed_ram` only
    // cuts it); this is the only access to it.
    let Some(ram) = (unsafe { crate::memory::app_ram(booted.managed) }) else {
        return Verdict::Fail;
    };
    if phases::play(machine, phases, ram, booted.ram_regions(), checks) {
        Verdict::Pass
    } else {
        Verdict::Fail
    }
}

/// The range of [`HOLE_BYTES`] just above RAM (2 MiB aligned), if the MMU maps it and no bank
/// overlaps it.
fn hole(banks: &[Bank]) -> Option<FrameRun> {
    let ram_end = banks.iter().map(|bank| bank.end).max().unwrap_or(0);
    let start = ram_end.div_ceil(SUPERPAGE_BYTES) * SUPERPAGE_BYTES;
    let overlaps_ram = banks
        .iter()
        .any(|bank| bank.start < start + HOLE_BYTES && start < bank.end);
    (start + HOLE_BYTES <= MAPPED_RAM_END && !overlaps_ram).then_some(FrameRun::new(
        Gfn(start / PAGE_BYTES),
        HOLE_BYTES / PAGE_BYTES,
    ))
}
