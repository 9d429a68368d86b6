//! The ballast PVH image: boots on Xen as a PVH domain (dom0 under QEMU for `ballast hil`, or a
//! domU), logs through defmt to the Xen console, runs the scenario the command line names
//! (`scenario=balloon`, the default) on ballast's Xen backend, and reports PASS or FAIL.
#![no_std]
#![no_main]

mod boot;
mod clock;
mod console;
mod exit;
mod hypercall;
mod logger;
mod memory;
mod memory_map;
mod page_tables;
mod scenario;
mod start_info;

use ballast_xen::backend::x86_64::X86Hypercall;
use ballast_xen::backend::XenHypercalls;

use crate::exit::Verdict;

/// Called by the boot path in 64-bit mode with the physical address of `hvm_start_info`.
#[no_mangle]
extern "C" fn rust_main(start_info_paddr: u64) -> ! {
    let Ok(hypercall) = hypercall::install() else {
        exit::finish(Verdict::Fail);
    };
    logger::init(console::Console::new(hypercall));
    defmt::info!(
        "ballast-xen-pvh booted stack_bytes={=usize}",
        boot::STACK_BYTES
    );
    let verdict = run(start_info_paddr, hypercall);
    match verdict {
        Verdict::Pass => defmt::info!("RESULT PASS"),
        Verdict::Fail => defmt::error!("RESULT FAIL"),
    }
    exit::finish(verdict)
}

fn run(start_info_paddr: u64, hypercall: X86Hypercall) -> Verdict {
    let mut xen = XenHypercalls::new(hypercall);
    let mut info = match memory::read_start_info(start_info_paddr) {
        Ok(info) => info,
        Err(error) => {
            defmt::error!(
                "start_info at {=u64:#x} unusable: {}",
                start_info_paddr,
                error
            );
            return Verdict::Fail;
        }
    };
    defmt::info!(
        "start_info paddr={=u64:#x} magic={=u32:#x} version={=u32} cmdline={=str}",
        start_info_paddr,
        info.raw.magic,
        info.raw.version,
        info.cmdline.as_str()
    );
    if info.cmdline_value("log") == Some("port_e9") {
        logger::switch_to_debug_port();
    }
    let channel = if logger::uses_debug_port() {
        "port_e9"
    } else {
        "console_io"
    };
    defmt::info!("console channel={=str}", channel);
    if !info.has_memory_map() {
        match memory_map::from_xen(&hypercall) {
            Ok(regions) => info.regions = regions,
            Err((error, detail)) => {
                defmt::error!("XENMEM_memory_map failed: {} ({=i64})", error, detail);
                return Verdict::Fail;
            }
        }
    }
    let source = if info.has_memory_map() {
        "start_info"
    } else {
        "xenmem_memory_map"
    };
    defmt::info!(
        "memmap source={=str} regions={=usize}",
        source,
        info.regions.len()
    );
    let (image_start, image_end) = memory::image_bounds();
    defmt::info!(
        "image start={=u64:#x} end={=u64:#x} boot_data_end={=u64:#x}",
        image_start,
        image_end,
        info.boot_data_end
    );
    for region in &info.regions {
        defmt::info!(
            "memmap start={=u64:#x} end={=u64:#x} type={=u32}",
            region.start,
            region.end,
            region.kind
        );
    }
    let layout = match memory::plan(&info) {
        Ok(layout) => layout,
        Err(error) => {
            defmt::error!("no room for the scenario: {}", error);
            return Verdict::Fail;
        }
    };
    defmt::info!(
        "layout free_first={=u64:#x} free_frames={=u64} hole_first={=u64:#x} hole_frames={=u64}",
        layout.free.first,
        layout.free.frames,
        layout.hole.first,
        layout.hole.frames
    );
    let Some(clock) = clock::Tsc::from_xen() else {
        defmt::error!("Xen reports no TSC frequency");
        return Verdict::Fail;
    };
    defmt::info!(
        "clock source=xen_cpuid_time_leaf tsc_khz={=u64}",
        clock.khz()
    );
    let name = info.cmdline_value("scenario").unwrap_or("balloon");
    defmt::info!("scenario name={=str}", name);
    let mut ram = memory::ScenarioRam::new(&layout);
    match scenario::run(name, &mut xen, &mut ram, &clock, layout) {
        Ok(checks) => {
            defmt::info!(
                "checks passed={=u32} failed={=u32}",
                checks.passed(),
                checks.failed()
            );
            if checks.all_passed() {
                Verdict::Pass
            } else {
                Verdict::Fail
            }
        }
        Err(error) => {
            defmt::error!(
                "scenario {=str}: {}; known: {=[?]}",
                name,
                error,
                scenario::SCENARIOS
            );
            Verdict::Fail
        }
    }
}
