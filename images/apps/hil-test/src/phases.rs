//! The two phases a run can have, each on its own static runtime over the composition of the
//! image's manifest:
//!
//! - Xen facts (`balloon`, `smoke`): the scenario stands in for the memory server (its badge,
//!   its frame-list region) and calls the real gateway through the generated `Hypercall` stubs,
//!   the gateway's checks active, owning the RAM the memory server manages and the hole it
//!   populates past the maximum. This phase shows what only direct frame access can: ballooned frames read
//!   as all ones, scrubbing, the short count past the maximum, raw timings.
//! - Components (`balloon`, `components`): the gateway, the memory server, the test client and
//!   the control component, exactly as the manifest wires them; the control component plays the
//!   scenario.
//!
//! At its start and after each phase the run holds still for [`HOLD_NS`] (`hold at=NAME`, then
//! `hold_over at=NAME`): nothing moves Xen's count then, and the host reads that count itself,
//! through Xen's debug keys on the serial console, to check it against the `step` lines. A fixed
//! wait, not a handshake: the guest has no console input here; the host fails a reading that
//! arrives after `hold_over`.

use core::cell::Cell;

use ballast_app_memory_server::composition;
use ballast_app_memory_server::system::{self, Host, RegionMemory, SetupError};
use ballast_frame_access::FrameMemory;
use ballast_image_rt::timed_hypercall::TimedHypercall;
use ballast_interfaces::hypercall::HypercallClient;
use ballast_ipc::static_rt::Clock;
use ballast_ipc::{ComponentId, Handler, LeaseId};
use ballast_memory_server_core::FrameScrubber;
use ballast_system::Kind;
use ballast_xen::backend::{RawHypercall, XenHypercalls};
use ballast_xen::Gfn;

use crate::scenario::{
    self, components, Checks, GatewayXen, Layout, Platform, Readings, RunOptions,
};
use crate::stand_in::StandIn;

/// How long the run holds still at each reading point: ample for the host to see the `hold` line,
/// type Xen's debug key and for Xen to dump the domain (tens of milliseconds under QEMU).
pub const HOLD_NS: u64 = 1_500_000_000;

/// How long the run holds still after a step, where it does (`readings=every_step`): the host
/// types one key and Xen dumps the domains, a few tens of milliseconds under QEMU.
pub(crate) const STEP_HOLD_NS: u64 = 500_000_000;

/// Hold still at `at` for `ns`, announced and ended in the log, for the host to read Xen's count.
pub(crate) fn hold<K: Clock>(at: &str, ns: u64, clock: &K) {
    defmt::info!("hold at={=str} ms={=u64}", at, ns / 1_000_000);
    clock.wait_until(clock.now_ns().saturating_add(ns));
    defmt::info!("hold_over at={=str}", at);
}

/// What an image hands the phases: its hypercall instruction and clock, where the scenario may
/// work, and what its Xen does where the platforms differ.
#[derive(Clone, Copy, Debug)]
pub struct Machine<'k, R, K> {
    /// The hypercall instruction (the gateway's backend; Xen's count is also read through it,
    /// apart from the components, to check them).
    pub hypercall: R,
    /// The clock of the timings and of the runtime's timers.
    pub clock: &'k K,
    /// Where the scenario may work.
    pub layout: Layout,
    /// Where the platform's Xen differs.
    pub platform: Platform,
}

/// Play the phases of a scenario on `machine` after the image's own `checks`, and log the tally;
/// whether every check passed (a phase that could not be set up is logged and fails the run).
/// `memory` is the access to the layout's free frames (the Xen facts' scenario uses it, then the
/// memory server scrubs through it); `ram_regions` are the boot map's RAM regions, byte ranges.
pub fn play<R: RawHypercall + Copy, M: FrameMemory, K: Clock + Copy>(
    machine: Machine<'_, R, K>,
    phases: scenario::Phases,
    memory: M,
    ram_regions: impl Iterator<Item = (u64, u64)>,
    mut checks: Checks,
) -> bool {
    match play_phases(machine, phases, memory, ram_regions, &mut checks) {
        Ok(()) => checks.report(),
        Err((phase, error)) => {
            defmt::error!("phase {=str} not run: {}", phase, error);
            false
        }
    }
}

/// The phases of [`play`]; the phase that could not be set up, and why.
fn play_phases<R: RawHypercall + Copy, M: FrameMemory, K: Clock + Copy>(
    machine: Machine<'_, R, K>,
    phases: scenario::Phases,
    mut memory: M,
    ram_regions: impl Iterator<Item = (u64, u64)>,
    checks: &mut Checks,
) -> Result<(), (&'static str, SetupError)> {
    let Machine {
        hypercall,
        clock,
        layout,
        platform,
    } = machine;
    defmt::info!(
        "layout free_first={=u64:#x} free_frames={=u64} hole_first={=u64:#x} hole_frames={=u64}",
        layout.free.start(),
        layout.free.frames,
        layout.hole.start(),
        layout.hole.frames
    );
    hold("start", HOLD_NS, clock);
    if let Some(name) = phases.xen_facts {
        let options = RunOptions {
            order: phases.order,
            readings: phases.readings,
        };
        let places = (layout, platform, options);
        let phase = xen_facts(name, hypercall, places, &mut memory, clock);
        checks.absorb(&phase.map_err(|error| ("xen_facts", error))?);
        hold("xen_facts", HOLD_NS, clock);
    }
    if phases.components {
        let refused = Cell::new(0);
        let (scrub_ns, hypercall_ns) = (Cell::new(0), Cell::new(0));
        let hold_after_step = || hold("step", STEP_HOLD_NS, clock);
        let timing = components::Timing {
            order: phases.order,
            rounds: phases.timed_rounds,
            scrub_ns: &scrub_ns,
            hypercall_ns: &hypercall_ns,
            after_step: match phases.readings {
                Readings::AtPhases => None,
                Readings::EveryStep => Some(&hold_after_step),
            },
        };
        let scrubber = TimedScrubber {
            inner: system::Scrubber::new(memory, &refused),
            clock,
            spent: &scrub_ns,
        };
        let phase = components(hypercall, (layout, scrubber), ram_regions, (clock, timing));
        checks.absorb(&phase.map_err(|error| ("components", error))?);
        checks.context = "components";
        checks.expect_eq("scrubs_refused", u64::from(refused.get()), 0);
        hold("components", HOLD_NS, clock);
    }
    Ok(())
}

/// Run Xen-facts scenario `name` through the gateway, the scenario standing in for the memory
/// server.
fn xen_facts<R: RawHypercall, M: FrameMemory, K: Clock + Copy>(
    name: &str,
    hypercall: R,
    (layout, platform, options): (Layout, Platform, RunOptions),
    ram: &mut M,
    clock: &K,
) -> Result<Checks, SetupError> {
    let memory = composition::component(Kind::MemoryServer)?;
    let gateway_id = composition::component(Kind::HypercallGateway)?;
    let (endpoint, _) = composition::endpoint(memory, gateway_id)?;
    let frame_list: LeaseId = composition::region(memory, gateway_id)?;
    let mut bitmap = [0u64; system::GATEWAY_STORAGE_WORDS];
    let owned = [layout.free, layout.hole];
    let mut gateway = system::gateway(hypercall, (&owned, &[layout.free]), &mut bitmap)?;
    let stand_in = StandIn::new(memory);
    let mut region_memory = RegionMemory::new();
    let checks = {
        let handlers: [(ComponentId, &mut dyn Handler); 1] = [(gateway_id, &mut gateway)];
        let tables = stand_in.tables();
        let mut rt = system::runtime(tables, *clock, handlers, &mut region_memory)?;
        let mut sys = rt.external(memory).map_err(|_| SetupError::Wiring)?;
        let endpoint = HypercallClient::new(endpoint);
        let max_order = composition::COMPOSITION.xen.max_extent_order;
        let mut xen = GatewayXen::new(&mut sys, endpoint, frame_list, max_order);
        scenario::through_gateway(name, &mut xen, ram, clock, (layout, platform, options))
    };
    system::log_gateway("xen_facts", &gateway);
    checks.map_err(|error| {
        defmt::error!("scenario {=str}: {}", name, error);
        SetupError::Wiring
    })
}

/// Run the components phase: every component of the manifest, the control one playing; the
/// memory server scrubs through `scrubber`, and the gateway's hypercalls add their time to the
/// timing's counter.
fn components<R: RawHypercall + Copy, S: FrameScrubber, K: Clock + Copy>(
    hypercall: R,
    (layout, scrubber): (Layout, S),
    ram_regions: impl Iterator<Item = (u64, u64)>,
    (clock, timing): (&K, components::Timing<'_>),
) -> Result<Checks, SetupError> {
    let memory = composition::component(Kind::MemoryServer)?;
    let control = composition::component(Kind::ControlAgent)?;
    // The scenario's borrower: the driver client that maps no grants (a backend is not played).
    let client = (composition::COMPOSITION.all_of(Kind::DriverClient))
        .find(|found| {
            let mapper = ballast_system::gateway::grant_mapper_badge;
            mapper(&composition::COMPOSITION, found.id).is_none()
        })
        .map(|found| ComponentId(found.id))
        .ok_or(ballast_system::AssemblyError::MissingComponent)?;
    let cast = components::Cast {
        control: (control, composition::endpoint(control, memory)?.0),
        client: (
            client,
            composition::endpoint(client, memory)?.0,
            composition::region(client, memory)?,
        ),
    };
    let host = Host {
        hypercall: TimedHypercall::new(hypercall, *clock, timing.hypercall_ns),
        managed: layout.free,
        ram_regions,
        agent_event_port: None,
    };
    system::run_components("components", host, scrubber, *clock, |rt, _| {
        let mut direct = XenHypercalls::new(hypercall);
        components::run(rt, &mut direct, cast, timing)
    })
}

/// The memory server's scrubber, with the time it spends added to a counter.
struct TimedScrubber<'c, S, K> {
    inner: S,
    clock: &'c K,
    spent: &'c Cell<u64>,
}

impl<S: FrameScrubber, K: Clock> FrameScrubber for TimedScrubber<'_, S, K> {
    fn scrub(&mut self, first: Gfn, frames: u64) {
        let start = self.clock.now_ns();
        self.inner.scrub(first, frames);
        let took = self.clock.now_ns().saturating_sub(start);
        self.spent.set(self.spent.get().saturating_add(took));
    }
}
