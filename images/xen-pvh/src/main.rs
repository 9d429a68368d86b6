//! The ballast PVH image: boots on Xen as a PVH domain (dom0 under QEMU for `ballast hil`, or a
//! domU), logs through defmt to the Xen console, finds its RAM, and runs its app over the
//! components of `manifests/xen-pvh.toml` (the hypercall gateway over ballast's Xen backend, the
//! memory server) on the static IPC runtime: the memory-server app (`ballast image`), or with
//! feature `hil-test` the HIL test app (`ballast hil`), which plays the scenario the command line
//! names and reports PASS or FAIL.
#![no_std]
#![no_main]

mod boot;
mod clock;
mod console;
#[cfg(not(feature = "hil-test"))]
mod domu;
mod exit;
mod hypercall;
mod logger;
mod memory;
mod memory_map;
mod page_tables;
mod start_info;
#[cfg(not(feature = "hil-test"))]
mod xen_events;

#[cfg(feature = "hil-test")]
mod hil_test_app;
#[cfg(not(feature = "hil-test"))]
mod memory_server_app;

use ballast_app_memory_server::system;
use ballast_frame_access::FrameRun;
use ballast_xen::backend::x86_64::X86Hypercall;

#[cfg(feature = "hil-test")]
use crate::hil_test_app as app;
#[cfg(not(feature = "hil-test"))]
use crate::memory_server_app as app;

use crate::exit::Verdict;
use crate::start_info::StartInfo;

/// What the boot path hands the app.
struct Booted {
    /// The hypercall page.
    hypercall: X86Hypercall,
    /// Xen's start info: the command line and the memory map.
    info: StartInfo,
    /// The RAM the memory server manages: the free RAM, less the manifest's reserved ranges.
    managed: FrameRun,
    /// The TSC.
    clock: clock::Tsc,
}

impl Booted {
    /// The memory map's RAM regions, byte ranges.
    fn ram_regions(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.info
            .regions
            .iter()
            .filter(|region| region.is_ram())
            .map(|region| (region.start, region.end))
    }
}

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
    let verdict = match boot(start_info_paddr, hypercall) {
        Some(booted) => app::run(booted),
        None => Verdict::Fail,
    };
    match verdict {
        Verdict::Pass => defmt::info!("RESULT PASS"),
        Verdict::Fail => defmt::error!("RESULT FAIL"),
    }
    exit::finish(verdict)
}

/// Read what Xen left at boot, find the RAM the memory server manages and the clock; `None`
/// (logged) if something is missing.
fn boot(start_info_paddr: u64, hypercall: X86Hypercall) -> Option<Booted> {
    let mut info = match memory::read_start_info(start_info_paddr) {
        Ok(info) => info,
        Err(error) => {
            defmt::error!(
                "start_info at {=u64:#x} unusable: {}",
                start_info_paddr,
                error
            );
            return None;
        }
    };
    defmt::info!(
        "start_info paddr={=u64:#x} magic={=u32:#x} version={=u32} cmdline={=str}",
        start_info_paddr,
        info.raw.magic,
        info.raw.version,
        info.cmdline.as_str()
    );
    if info.command_line().value("log") == Some("port_e9") {
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
                return None;
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
    let free = match memory::free_ram(&info) {
        Ok(free) => free,
        Err(error) => {
            defmt::error!("no free RAM: {}", error);
            return None;
        }
    };
    let ram_ends = info
        .regions
        .iter()
        .filter(|region| region.is_ram())
        .map(|region| region.end);
    let managed = match system::managed_ram(free, ram_ends) {
        Ok(managed) => managed,
        Err(error) => {
            defmt::error!("the boot layout does not fit the manifest: {}", error);
            return None;
        }
    };
    let Some(clock) = clock::Tsc::from_xen() else {
        defmt::error!("Xen reports no TSC frequency");
        return None;
    };
    defmt::info!(
        "clock source=xen_cpuid_time_leaf tsc_khz={=u64}",
        clock.khz()
    );
    Some(Booted {
        hypercall,
        info,
        managed,
        clock,
    })
}
