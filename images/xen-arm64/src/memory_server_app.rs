//! The memory-server app on this image (the default build, what `ballast image` builds): the
//! gateway and the memory server serve from the RAM the boot path found, ballooning first to the
//! command line's `target_mib=` if given. A dom0less domU has no toolstack (no xenstore ring):
//! between timers the vCPU spins on the clock, and with none set it blocks in Xen
//! (`SCHEDOP_block`) until an event arrives.

use ballast_app_memory_server::domain::{Domain, XenstoreLink};
use ballast_app_memory_server::serve;
use ballast_app_memory_server::system::Host;
use ballast_image_rt::shared_page::MappedPage;
use ballast_ipc::static_rt::Clock;
use ballast_xen::backend::aarch64::Arm64Hypercall;
use ballast_xen::backend::XenHypercalls;

use crate::clock::GenericTimer;
use crate::exit::Verdict;
use crate::Booted;

/// A dom0less domU: no toolstack to talk to.
struct Dom0less {
    xen: XenHypercalls<Arm64Hypercall>,
    clock: GenericTimer,
}

impl Domain for Dom0less {
    type Page = MappedPage;

    fn take_xenstore(&mut self) -> Option<XenstoreLink<MappedPage>> {
        None
    }

    fn wait(&mut self, deadline_ns: Option<u64>) {
        match deadline_ns {
            Some(deadline) => self.clock.wait_until(deadline),
            None => {
                self.xen.block();
            }
        }
    }

    fn say(&mut self, line: &str) {
        crate::logger::write_line(line);
    }
}

/// Serve; returns only if the memory server cannot serve.
pub fn run(booted: Booted) -> Verdict {
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
    let domain = Dom0less {
        xen: XenHypercalls::new(booted.hypercall),
        clock: booted.clock,
    };
    let command_line = booted.info.command_line();
    // No backend: a dom0less domU has no toolstack to relay grant offers, and the stage-1 map
    // does not reach the lending range.
    let no_backend = None::<crate::memory::AppRam>;
    let error = serve::serve(host, ram, booted.clock, command_line, domain, no_backend);
    defmt::error!("the memory server cannot serve: {}", error);
    Verdict::Fail
}
