//! What the memory-server app does once the image has booted: it builds the gateway and the memory
//! server of the composition on the static runtime and, in the place of the manifest's control
//! agent (its capabilities, its badges), starts the server (`reconcile`: the server takes its
//! baseline against Xen's `current_reservation` and reports any drift; on a populate-on-demand
//! boot it first balloons out what Xen does not back), balloons to the boot target if the command
//! line gives one, logs the server's statistics, and then serves until the domain is shut down:
//! it runs the server's timers, and, on a domU under a toolstack, the toolstack agent
//! (`toolstack.rs`: the xenstore `memory/target` watch becomes `set_target`, `control/shutdown`
//! shuts the domain down, a grant offer goes to the backend driver, `driver.rs`), sleeping in
//! between until the next timer or xenstore event.

use core::cell::Cell;
use core::fmt::Write;

use ballast_frame_access::FrameMemory;
use ballast_interfaces::balloon_control::{BalloonControlClient, ReconcileReply, StatsReply};
use ballast_ipc::static_rt;
use ballast_ipc::ComponentId;
use ballast_system::{CommandLine, Kind};
use ballast_xen::backend::RawHypercall;

use crate::composition;
use crate::domain::Domain;
use crate::driver::Driver;
use crate::system::{self, Host, Runtime, Scrubber, SetupError};
use crate::toolstack::Toolstack;

/// The command-line key of the boot target, in MiB of the domain (as `xl mem-set` takes it).
pub const BOOT_TARGET_KEY: &str = "target_mib";
/// 4 KiB pages in a MiB.
pub const PAGES_PER_MIB: u64 = 256;

/// Why the app does not serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum ServeError {
    /// The components could not be built or wired (logged where it happened).
    Setup = 1,
    /// The boot target is not a whole number of MiB that fits in pages.
    BadBootTarget,
    /// The memory server refused or failed a control call at boot.
    ControlRefused,
}

impl From<SetupError> for ServeError {
    fn from(_: SetupError) -> ServeError {
        ServeError::Setup
    }
}

/// The boot target in pages, from the command line's `target_mib=` value if there is one (the
/// seL4 image's control agent reads it too).
pub fn target_pages(command_line: CommandLine<'_>) -> Result<Option<u64>, ServeError> {
    let mib = command_line
        .parse::<u64>(BOOT_TARGET_KEY)
        .map_err(|_| ServeError::BadBootTarget)?;
    mib.map(|mib| {
        mib.checked_mul(PAGES_PER_MIB)
            .ok_or(ServeError::BadBootTarget)
    })
    .transpose()
}

/// Serve the composition over `host` with `clock`, the memory server scrubbing through
/// `memory`, ballooning first to the boot target `command_line` gives ([`BOOT_TARGET_KEY`]) if
/// any; `domain` is the image's side (the xenstore ring, sleeping, plain console lines);
/// `lent_frames` reaches the lending range, where the backend driver maps grants (`None`: the
/// image cannot reach it, and the backend is not played). Returns only when it cannot serve.
pub fn serve<R, I, M, K, D, B>(
    mut host: Host<R, I>,
    memory: M,
    clock: K,
    command_line: CommandLine<'_>,
    mut domain: D,
    lent_frames: Option<B>,
) -> ServeError
where
    R: RawHypercall,
    I: Iterator<Item = (u64, u64)>,
    M: FrameMemory,
    K: static_rt::Clock,
    D: Domain,
    B: FrameMemory,
{
    let target_pages = match target_pages(command_line) {
        Ok(pages) => pages,
        Err(error) => {
            defmt::error!(
                "{=str}={=?}: not a number of MiB",
                BOOT_TARGET_KEY,
                command_line.value(BOOT_TARGET_KEY)
            );
            return error;
        }
    };
    let agent = match control_agent() {
        Ok(agent) => agent,
        Err(error) => return error.into(),
    };
    let mut toolstack = match domain.take_xenstore() {
        None => None,
        Some(link) => match Toolstack::new(link) {
            Ok(toolstack) => Some(toolstack),
            Err(error) => return error.into(),
        },
    };
    host.agent_event_port = toolstack.as_ref().map(Toolstack::event_port);
    let refused = Cell::new(0);
    let scrubber = Scrubber::new(memory, &refused);
    let served = system::run_components("memory_server", host, scrubber, clock, |rt, figures| {
        let mut backend = match lent_frames
            .map(|frames| Driver::new(frames, figures))
            .transpose()
        {
            Ok(backend) => backend.flatten(),
            Err(error) => return error.into(),
        };
        let mut boot = BootAgent {
            rt,
            agent,
            refused: &refused,
        };
        if let Err(error) = boot.start(target_pages) {
            return error;
        }
        boot.rt.run_until_idle(u64::MAX);
        let books = match boot.report("idle") {
            Ok(books) => books,
            Err(error) => return error,
        };
        log_serving(toolstack.is_some());
        say_started(&mut domain, &books);
        let rt = boot.rt;
        loop {
            let now = rt.now_ns();
            rt.run_until_idle(now);
            if let Some(toolstack) = toolstack.as_mut() {
                toolstack.turn(rt, &mut domain, &mut backend);
            }
            domain.wait(rt.next_deadline());
        }
    });
    served.unwrap_or_else(ServeError::from)
}

/// The administrator's first line: the server is up, and with how much.
fn say_started(domain: &mut impl Domain, (reconciled, stats): &(ReconcileReply, StatsReply)) {
    let mut line: heapless::String<120> = heapless::String::new();
    let _ = write!(
        line,
        "ballast: memory server started: {} MiB held, {} MiB managed",
        reconciled.xen_current / PAGES_PER_MIB,
        stats.total / PAGES_PER_MIB
    );
    domain.say(&line);
}

/// The control agent of the composition and its `BalloonControl` client.
fn control_agent() -> Result<(ComponentId, BalloonControlClient), SetupError> {
    let control = composition::component(Kind::ControlAgent)?;
    let memory = composition::component(Kind::MemoryServer)?;
    let (endpoint, _) = composition::endpoint(control, memory)?;
    Ok((control, BalloonControlClient::new(endpoint)))
}

/// The boot's calls, made through the control agent's capability.
struct BootAgent<'a, 'h, 'r, K: static_rt::Clock> {
    rt: &'a mut Runtime<'h, 'r, K>,
    agent: (ComponentId, BalloonControlClient),
    /// Scrubs the frame access refused (a frame that went back to Xen unscrubbed).
    refused: &'a Cell<u32>,
}

impl<K: static_rt::Clock> BootAgent<'_, '_, '_, K> {
    /// Start the server (its baseline against Xen), then move it to the boot target.
    fn start(&mut self, target_pages: Option<u64>) -> Result<(), ServeError> {
        let _ = self.report("started")?;
        let Some(pages) = target_pages else {
            return Ok(());
        };
        defmt::info!("memory_server at=boot_target pages={=u64}", pages);
        let (control, client) = self.agent;
        let mut sys = self
            .rt
            .external(control)
            .map_err(|_| ServeError::ControlRefused)?;
        client.set_target(&mut sys, pages).map_err(|_| {
            defmt::error!("set_target pages={=u64} refused", pages);
            ServeError::ControlRefused
        })
    }

    /// Reconcile the books with Xen and log them with the statistics, as `what`; returns them.
    fn report(&mut self, what: &str) -> Result<(ReconcileReply, StatsReply), ServeError> {
        let (control, client) = self.agent;
        let mut sys = self
            .rt
            .external(control)
            .map_err(|_| ServeError::ControlRefused)?;
        let answers = client
            .reconcile(&mut sys)
            .and_then(|reconciled| Ok((reconciled, client.stats(&mut sys)?)));
        let Ok((reconciled, stats)) = answers else {
            defmt::error!("memory_server at={=str}: reconcile or stats refused", what);
            return Err(ServeError::ControlRefused);
        };
        log_books(what, (reconciled, stats), Some(self.refused.get()));
        Ok((reconciled, stats))
    }
}

/// The `memory_server` line that tells the host the server is serving, and whether a toolstack
/// agent steers it.
pub fn log_serving(toolstack_agent: bool) {
    let agent = if toolstack_agent { "xenstore" } else { "none" };
    defmt::info!(
        "memory_server at=serving waits_for=event toolstack_agent={=str}",
        agent
    );
}

/// One `memory_server` line for the host: Xen's count, the drift `reconcile` found, the server's
/// books, and the scrubs refused so far if the caller counts them (`None`: a component apart from
/// the server, which cannot see them, leaves the field out; the server logs every refused scrub as
/// a `scrub refused` line, which the host counts).
pub fn log_books(
    what: &str,
    (reconciled, stats): (ReconcileReply, StatsReply),
    scrubs_refused: Option<u32>,
) {
    let policy = u8::from(stats.policy);
    let state = u8::from(stats.state);
    match scrubs_refused {
        Some(refused) => defmt::info!(
            "memory_server at={=str} xen_current={=u64} drift={=u64} books_were_high={=bool} current={=u64} target={=u64} total={=u64} lent={=u64} hypercalls={=u64} state={=u8} policy={=u8} scrubs_refused={=u32}",
            what,
            reconciled.xen_current,
            reconciled.drift,
            reconciled.books_were_high,
            stats.current,
            stats.target,
            stats.total,
            stats.lent,
            stats.hypercalls,
            state,
            policy,
            refused
        ),
        None => defmt::info!(
            "memory_server at={=str} xen_current={=u64} drift={=u64} books_were_high={=bool} current={=u64} target={=u64} total={=u64} lent={=u64} hypercalls={=u64} state={=u8} policy={=u8}",
            what,
            reconciled.xen_current,
            reconciled.drift,
            reconciled.books_were_high,
            stats.current,
            stats.target,
            stats.total,
            stats.lent,
            stats.hypercalls,
            state,
            policy
        ),
    }
}
