//! The PVH image's side of the memory-server app's `Domain`: what Xen's toolstack set up for a
//! domU (the xenstore and PV console rings, found through `xen_events`), the PV console attached
//! to the logger, and the image's sleep: `SCHEDOP_poll` on the xenstore channel until the next
//! timer. Without a toolstack (dom0 under QEMU) there is nothing to poll: the image spins to a
//! timer, or blocks in Xen when none is set.

use ballast_app_memory_server::domain::{Domain, XenstoreLink};
use ballast_image_rt::shared_page::MappedPage;
use ballast_ipc::static_rt::Clock;
use ballast_xen::backend::x86_64::X86Hypercall;
use ballast_xen::backend::XenHypercalls;
use ballast_xen::ring::ConsoleRing;

use crate::clock::Tsc;
use crate::console::PvConsole;
use crate::xen_events::{self, RingParams, SharedInfo};

/// A domU's services, or a dom0's lack of them.
pub struct PvhDomain {
    hypercall: X86Hypercall,
    clock: Tsc,
    /// The shared info page and the xenstore channel, when there is a toolstack to poll.
    events: Option<(SharedInfo, u32)>,
    xenstore: Option<XenstoreLink<MappedPage>>,
}

/// The ring page at `ring`'s gfn.
fn ring_page(ring: RingParams) -> Option<MappedPage> {
    let address = ring.address()?;
    // SAFETY: the toolstack's ring pages lie outside the RAM map (checked by `address`: inside
    // the identity map, nonzero), no Rust reference points there, and each ring is mapped once:
    // `PvhDomain::discover` runs once and hands each page to its one user.
    Some(unsafe { MappedPage::new(address) })
}

impl PvhDomain {
    /// Find the domain's rings; attach the PV console to the logger; map the shared info page
    /// when there is a xenstore ring to wait on.
    pub fn discover(hypercall: X86Hypercall, clock: Tsc) -> PvhDomain {
        let rings = xen_events::rings(&hypercall);
        defmt::info!("xen rings store={} console={}", rings.store, rings.console);
        if let Some(console) = rings.console {
            if let Some(page) = ring_page(console) {
                crate::logger::attach_pv_console(PvConsole {
                    ring: ConsoleRing::new(page),
                    port: console.port,
                });
            }
        }
        let mut domain = PvhDomain {
            hypercall,
            clock,
            events: None,
            xenstore: None,
        };
        let Some(store) = rings.store else {
            return domain;
        };
        let Some(page) = ring_page(store) else {
            defmt::error!("the xenstore ring lies outside the identity map: {}", store);
            return domain;
        };
        match SharedInfo::map(&hypercall) {
            Ok(shared) => {
                domain.events = Some((shared, store.port));
                domain.xenstore = Some(XenstoreLink {
                    page,
                    port: store.port,
                });
            }
            Err(error) => defmt::error!("shared info not mapped: errno {=i32}", error.0),
        }
        domain
    }
}

impl Domain for PvhDomain {
    type Page = MappedPage;

    fn take_xenstore(&mut self) -> Option<XenstoreLink<MappedPage>> {
        self.xenstore.take()
    }

    fn wait(&mut self, deadline_ns: Option<u64>) {
        let Some((shared, port)) = self.events.as_ref() else {
            match deadline_ns {
                Some(deadline) => self.clock.wait_until(deadline),
                None => {
                    XenHypercalls::new(self.hypercall).block();
                }
            }
            return;
        };
        let xen_deadline = match deadline_ns {
            None => None,
            Some(deadline) => {
                let now = self.clock.now_ns();
                if deadline <= now {
                    shared.take_pending(*port);
                    return;
                }
                Some(shared.system_time_ns().saturating_add(deadline - now))
            }
        };
        xen_events::poll(&self.hypercall, shared, *port, xen_deadline);
    }

    fn say(&mut self, line: &str) {
        crate::logger::write_line(line);
    }
}
