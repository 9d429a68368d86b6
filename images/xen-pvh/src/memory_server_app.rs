//! The memory-server app on this image (the default build, what `ballast image` builds): the
//! gateway and the memory server serve from the RAM the boot path found, ballooning first to the
//! command line's `target_mib=` if given. As a domU under a toolstack, the toolstack agent follows
//! the xenstore `memory/target` watch and `control/shutdown` (`domu.rs` finds the rings and
//! sleeps on the xenstore channel); without one (dom0 under QEMU) the vCPU blocks in Xen
//! (`SCHEDOP_block`) when nothing is left to do. The app's backend driver reaches the lending
//! range, where it maps dom0's grants, through the identity map.

use ballast_app_memory_server::composition::COMPOSITION;
use ballast_app_memory_server::serve;
use ballast_app_memory_server::system::Host;

use crate::domu::PvhDomain;
use crate::exit::Verdict;
use crate::Booted;

/// Serve; returns only if the memory server cannot serve.
pub fn run(booted: Booted) -> Verdict {
    let domain = PvhDomain::discover(booted.hypercall, booted.clock);
    // SAFETY: `managed` lies within the free RAM `memory::free_ram` found (`managed_ram` only
    // cuts it); this is the only access to it.
    let Some(ram) = (unsafe { crate::memory::app_ram(booted.managed) }) else {
        return Verdict::Fail;
    };
    let host = Host {
        hypercall: booted.hypercall,
        managed: booted.managed,
        ram_regions: booted.ram_regions(),
        agent_event_port: None,
    };
    // SAFETY: the lending range lies above RAM (the manifest's checks and `managed_ram`'s
    // ceiling keep it there) inside the identity map, and nothing else in the image touches it:
    // the memory server never writes a frame it lends.
    let lent = unsafe { crate::memory::lent_frames(COMPOSITION.memory.unpopulated) };
    let command_line = booted.info.command_line();
    let error = serve::serve(host, ram, booted.clock, command_line, domain, lent);
    defmt::error!("the memory server cannot serve: {}", error);
    Verdict::Fail
}
