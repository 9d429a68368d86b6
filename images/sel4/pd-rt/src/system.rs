//! The components of `manifests/sel4-xen-arm64.toml` as the PDs run them: the composition
//! (compiled in by the build script), the badge conventions of the plan as the runtime takes
//! them, the hypercall gateway and the memory server built by the one assembly,
//! `ballast_system`, exactly as the static images build theirs, and the loops that serve them on
//! the seL4 runtime (`ballast_ipc::sel4_rt`). Every capacity comes from the composition.

use ballast_frame_access::FrameMemory;
use ballast_hypercall::Gateway;
use ballast_ipc::sel4_rt::{Sel4Abi, Sel4Client, Sel4Server, Served};
use ballast_ipc::{ComponentId, Handler, Tables};
use ballast_memory_server::{ClientBinding, MemoryServer};
use ballast_memory_server_core::FrameScrubber;
use ballast_sel4_plan::boot_info::BOOT_RAM_RUNS;
use ballast_sel4_plan::cspace::IMMEDIATE_REPLY_SLOTS;
use ballast_sel4_plan::{CLIENT_DIED_LABEL, ENDPOINT_BADGE_BIT, ROOT_TASK_BADGE};
use ballast_system::memory::{ServerParts, ServerRam};
use ballast_system::{AssemblyError, Capacities, Composition, ManifestPermissions};
use ballast_xen::backend::XenHypercalls;
use ballast_xen::{FrameRun, Gfn};

use crate::entry::{die, Pd};
use crate::hypercall::CapHypercall;
use crate::once::TakeOnce;
use crate::window_ram::WindowRam;
use crate::Sel4Pd;

mod generated {
    include!(concat!(env!("OUT_DIR"), "/composition.rs"));
}

/// The composition every PD and the root task are built from.
pub const COMPOSITION: Composition = generated::COMPOSITION;
/// What the PDs' tables are sized for.
pub const CAPACITY: Capacities = Capacities::of(&COMPOSITION);
/// The IPC tables the runtime runs from.
pub const TABLES: Tables<'static> = COMPOSITION.ipc;
/// The plan's badge conventions, as the runtime reads badges.
pub const ABI: Sel4Abi = Sel4Abi {
    endpoint_badge_bit: ENDPOINT_BADGE_BIT,
    root_task_badge: ROOT_TASK_BADGE,
    client_died_label: CLIENT_DIED_LABEL,
};
/// The reply slots of a server that answers every call at once (the gateway, a stand-in): the
/// call in hand.
pub const IMMEDIATE_REPLIES: usize = IMMEDIATE_REPLY_SLOTS as usize;
/// The gateway's reply slots: the call in hand.
pub const GATEWAY_REPLIES: usize = IMMEDIATE_REPLIES;
/// The memory server's reply slots: the call in hand and every request it may defer (the plan
/// gives as many; [`server`] checks).
pub const MEMORY_REPLIES: usize = CAPACITY.pending + 1;

/// The gateway over the PD's hypercall capabilities.
pub type PdGateway = Gateway<
    &'static mut [u64],
    XenHypercalls<CapHypercall>,
    { CAPACITY.gateway_callers },
    { CAPACITY.gateway_ranges },
    { CAPACITY.gateway_frames },
>;

/// The memory server scrubbing through the RAM window, its bitmaps in storage of lifetime `'a`.
pub type PdMemoryServer<'a> = MemoryServer<
    &'a mut [u64],
    WindowScrubber,
    ManifestPermissions,
    { CAPACITY.lent_runs },
    { CAPACITY.clients },
    { CAPACITY.pending },
>;

/// The memory server's bitmaps.
static STORAGE: TakeOnce<[u64; CAPACITY.bitmap_words]> = TakeOnce::new([0; CAPACITY.bitmap_words]);
/// The gateway's page state: one bit per frame the memory server may own.
static GATEWAY_STORAGE: TakeOnce<[u64; CAPACITY.gateway_bitmap_words]> =
    TakeOnce::new([0; CAPACITY.gateway_bitmap_words]);
/// Where a server copies a read-only lease.
static SCRATCH: TakeOnce<[u8; CAPACITY.region_bytes]> = TakeOnce::new([0; CAPACITY.region_bytes]);

/// The RAM runs of the boot-info page.
fn ram_runs(pd: &Pd) -> heapless::Vec<FrameRun, BOOT_RAM_RUNS> {
    pd.boot.ram_runs().collect()
}

/// The gateway of the composition, its memory-server caller owning the RAM the boot-info page
/// names (and, with feature `hil-test`, the hole the Xen-facts phase populates past the maximum),
/// calling Xen through the PD's hypercall capabilities.
pub fn gateway(pd: &Pd) -> Result<PdGateway, AssemblyError> {
    let hypercall = CapHypercall::new(pd.plan, pd.component);
    let owned: heapless::Vec<FrameRun, { BOOT_RAM_RUNS + 1 }> =
        (pd.boot.ram_runs()).chain(test_hole(hypercall)).collect();
    let populated = ram_runs(pd);
    let bitmap = GATEWAY_STORAGE.take().ok_or(AssemblyError::Capacity)?;
    ballast_system::gateway::gateway(
        &COMPOSITION,
        XenHypercalls::new(hypercall),
        (&owned, &populated),
        bitmap.as_mut_slice(),
    )
}

/// The hole the Xen-facts phase populates past the maximum, for the domain's maximum as Xen
/// answers it through `hypercall`.
#[cfg(feature = "hil-test")]
fn test_hole(hypercall: CapHypercall) -> Option<FrameRun> {
    use ballast_xen::Hypervisor;
    let maximum = XenHypercalls::new(hypercall).maximum_reservation().ok()?;
    crate::xen_facts::hole(maximum)
}

/// Without feature `hil-test` the gateway lets the memory server name no hole.
#[cfg(not(feature = "hil-test"))]
fn test_hole(_hypercall: CapHypercall) -> Option<FrameRun> {
    None
}

/// Scrubs through the RAM window; a frame outside it is not written, and the attempt is logged
/// and counted (the server's frames all lie inside it, so any count means a frame went back to
/// Xen unscrubbed).
#[derive(Debug)]
pub struct WindowScrubber {
    ram: WindowRam,
    refused: u32,
}

impl WindowScrubber {
    /// Scrubs refused so far.
    pub fn refused(&self) -> u32 {
        self.refused
    }
}

impl FrameScrubber for WindowScrubber {
    fn scrub(&mut self, first: Gfn, frames: u64) {
        if let Err(error) = self.ram.fill(FrameRun::new(first, frames), 0) {
            self.refused = self.refused.saturating_add(1);
            defmt::error!(
                "scrub refused first={=u64:#x} frames={=u64}: {}",
                first.0,
                frames,
                error
            );
        }
    }
}

/// What the memory server is built from: its RAM (the runs, and the window over them), its
/// bitmaps, client accounts and permissions.
#[derive(Debug)]
pub struct MemoryParts {
    ram: heapless::Vec<FrameRun, BOOT_RAM_RUNS>,
    window: Option<WindowRam>,
    storage: Option<&'static mut [u64; CAPACITY.bitmap_words]>,
    accounts: heapless::Vec<ClientBinding, { CAPACITY.clients }>,
    permissions: ManifestPermissions,
}

impl MemoryParts {
    /// The parts of the memory server of `pd` (the memory server's PD); refused the second time
    /// (the bitmaps and the window are made once).
    pub fn of(pd: &Pd) -> Result<MemoryParts, AssemblyError> {
        let storage = STORAGE.take().ok_or(AssemblyError::Capacity)?;
        let ram = ram_runs(pd);
        // SAFETY: the root task mapped exactly these runs into the RAM window for this PD; this
        // is the only window made in it (the bitmaps, taken just above, are handed out once), and
        // it is reached only through these parts and then the server's scrubber.
        let window = unsafe { WindowRam::new(ram.iter().copied()) };
        Ok(MemoryParts {
            ram,
            window: Some(window),
            storage: Some(storage),
            accounts: ballast_system::memory::client_accounts(&COMPOSITION)?,
            permissions: ManifestPermissions::new(&COMPOSITION, pd.component),
        })
    }

    /// The RAM runs the boot-info page names.
    pub fn ram(&self) -> &[FrameRun] {
        &self.ram
    }

    /// The RAM window, until the memory server is built (it then scrubs through it): for a phase
    /// the PD plays before it serves.
    pub fn window(&mut self) -> Option<&mut WindowRam> {
        self.window.as_mut()
    }
}

/// The memory server of the composition over the RAM the boot-info page names (all of it its
/// own: the kernel, the root task and the PDs lie outside those runs, and the server's
/// reconciliation with Xen counts them), scrubbing through the RAM window. Refused if the parts
/// built one already.
pub fn memory_server(parts: &mut MemoryParts) -> Result<PdMemoryServer<'_>, AssemblyError> {
    let (Some(storage), Some(window)) = (parts.storage.take(), parts.window.take()) else {
        return Err(AssemblyError::Capacity);
    };
    let ram = ServerRam {
        ram: &parts.ram,
        reserved: &[],
    };
    let config = ballast_system::memory::config(&COMPOSITION, ram, None)?;
    let scrubber = WindowScrubber {
        ram: window,
        refused: 0,
    };
    let parts = ServerParts {
        storage: storage.as_mut_slice(),
        accounts: parts.accounts.clone(),
        permissions: parts.permissions,
    };
    ballast_system::memory::memory_server(&COMPOSITION, &config, parts, scrubber)
}

/// A server PD's runtime with `REPLIES` reply slots.
pub type PdServer<const REPLIES: usize> = Sel4Server<'static, 'static, Sel4Pd, REPLIES>;

/// The seL4 runtime of `pd`'s component, a server with `REPLIES` reply slots, not serving yet;
/// a PD whose plan or runtime refuses logs why and dies.
pub fn server<const REPLIES: usize>(pd: &Pd) -> PdServer<REPLIES> {
    let slots = pd
        .plan
        .cspace(pd.component)
        .map(|layout| layout.reply_slots);
    let (Some(kernel), Ok(slots), Some(scratch)) = (Sel4Pd::new(pd), slots, SCRATCH.take()) else {
        defmt::error!("pd={=str} has no CSpace in the plan", pd.name);
        die()
    };
    if usize::from(slots) != REPLIES {
        defmt::error!(
            "pd={=str} plan gives {=u16} reply slots, the PD has {=usize}",
            pd.name,
            slots,
            REPLIES
        );
        die()
    }
    let me = ComponentId(pd.component);
    match Sel4Server::<_, REPLIES>::new(kernel, ABI, TABLES, me, scratch) {
        Ok(runtime) => runtime,
        Err(error) => {
            defmt::error!(
                "pd={=str} runtime refused error={=u16}",
                pd.name,
                error as u16
            );
            die()
        }
    }
}

/// Serve `handler` on `runtime` (`pd`'s, from [`server`]) for ever, logging each client death
/// the root task reports with the calls answered late so far (through saved reply capabilities).
pub fn serve<const REPLIES: usize>(
    pd: &Pd,
    runtime: &mut PdServer<REPLIES>,
    handler: &mut dyn Handler,
) -> ! {
    defmt::info!("pd={=str} serving reply_slots={=usize}", pd.name, REPLIES);
    loop {
        if let Served::ClientDied(badge) = runtime.run_once(handler) {
            defmt::info!(
                "pd={=str} client_died badge={=u32} answered_late={=u64}",
                pd.name,
                badge.0,
                runtime.answered_late()
            );
        }
    }
}

/// The seL4 runtime of a PD that serves nothing (a driver, a control agent).
pub fn client(pd: &Pd) -> Sel4Client<'static, Sel4Pd> {
    let Some(kernel) = Sel4Pd::new(pd) else {
        defmt::error!("pd={=str} has no CSpace in the plan", pd.name);
        die()
    };
    match Sel4Client::new(kernel, TABLES, ComponentId(pd.component)) {
        Ok(client) => client,
        Err(error) => {
            defmt::error!(
                "pd={=str} runtime refused error={=u16}",
                pd.name,
                error as u16
            );
            die()
        }
    }
}
