//! The hardware-in-the-loop scenarios: what the HIL test app plays once the image has booted.
//! The Xen-facts scenarios (`balloon`, `smoke`) run on a [`Hypervisor`] (the gateway, reached
//! over IPC: [`GatewayXen`]) and reach guest memory only through [`FrameMemory`]; the components
//! phase ([`components`]) plays the control and test-client components against the memory server,
//! its policy rounds ([`rounds`]) shared with the seL4 control PD.
//! None holds unsafe code or knows the boot path.
//!
//! Every line a scenario logs is meant for `ballast hil`, which parses the `key=value` pairs and
//! checks the numbers again on the host.

mod balloon;
mod checks;
pub mod components;
mod gateway_xen;
mod ledger;
pub mod rounds;
mod smoke;

use ballast_frame_access::{FrameMemory, FrameRun};
use ballast_ipc::static_rt::Clock;
use ballast_system::CommandLine;
use ballast_xen::Hypervisor;

pub use checks::Checks;
pub use gateway_xen::GatewayXen;
pub use rounds::PolicyOrder;

/// Where a scenario may work.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// The RAM the memory server manages (the image does not use it; 2 MiB aligned): the
    /// Xen-facts scenarios work in it in the server's place.
    pub free: FrameRun,
    /// Guest-physical space that is neither RAM nor reserved, 2 MiB aligned, that Xen lets the
    /// domain populate: populating it grows the domain.
    pub hole: FrameRun,
}

/// What reading a ballooned frame does on the platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum BalloonedFrame {
    /// It reads as all ones (x86-64 PVH: Xen emulates the missing RAM).
    ReadsAllOnes,
    /// The read aborts with this exception class in its syndrome (arm64: 0x25, a data abort at
    /// the same exception level, injected by Xen).
    ReadAborts {
        /// ESR_EL1.EC.
        syndrome_class: u64,
    },
    /// The read is not tried: it would end the reader. Under seL4 the data abort Xen injects
    /// reaches the kernel as the protection domain's fault, which the root task takes as its
    /// death. The scenario logs each frame it did not probe (`probed=false`), and the host says
    /// so in its summary.
    NotProbed,
}

/// Where the platforms' Xen differ, as the Xen-facts scenario checks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub struct Platform {
    /// What reading a ballooned frame does.
    pub ballooned_frame: BalloonedFrame,
    /// Frames the domain gives back before the rounds, so that it runs below its maximum (a
    /// dom0less domU boots at its maximum); 0 when it already does.
    pub headroom_frames: u64,
}

/// Why no scenario ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum ScenarioError {
    /// The command line named a scenario that does not exist.
    Unknown = 1,
    /// `first=` names no policy (`2M` or `4K`).
    UnknownPolicy = 2,
    /// `timed_rounds=` is not a count of rounds (at most [`MAX_TIMED_ROUNDS`]).
    BadRoundCount = 3,
    /// `readings=` is neither `phases` nor `every_step`.
    UnknownReadings = 4,
}

/// The most timed rounds of each policy a run may ask for (`timed_rounds=`).
pub const MAX_TIMED_ROUNDS: u32 = 16;

/// The scenario names `scenario=` accepts.
pub const SCENARIOS: &[&str] = &["balloon", "smoke", "components"];

/// What a scenario runs: a Xen-facts scenario through the gateway, the components phase, or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phases {
    /// The Xen-facts scenario to run first, if any.
    pub xen_facts: Option<&'static str>,
    /// Whether the components phase follows.
    pub components: bool,
    /// Which policy goes first in the Xen-facts timings and the components' timed rounds
    /// (`first=2M`, the default, or `first=4K`).
    pub order: PolicyOrder,
    /// How many timed 128 MiB rounds of each policy the components phase plays first, through
    /// the product path (`timed_rounds=`; none by default).
    pub timed_rounds: u32,
    /// Where the run holds still for the host to read Xen's count (`readings=`).
    pub readings: Readings,
}

/// Where the run holds still for the host to read Xen's count itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum Readings {
    /// At the start and after each phase (`readings=phases`, the default).
    AtPhases,
    /// After every `step` line too (`readings=every_step`): no lie can net out between two
    /// readings, at half a second per step.
    EveryStep,
}

/// What the Xen-facts scenarios take from the command line besides their name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunOptions {
    /// Which policy goes first in the timings.
    pub order: PolicyOrder,
    /// Where the run holds still for the host's readings.
    pub readings: Readings,
}

impl From<PolicyOrder> for RunOptions {
    fn from(order: PolicyOrder) -> RunOptions {
        RunOptions {
            order,
            readings: Readings::AtPhases,
        }
    }
}

impl Phases {
    /// These phases with the policy order and timed rounds `line` asks for.
    pub fn with_options(self, line: CommandLine<'_>) -> Result<Phases, ScenarioError> {
        let order = match line.value("first") {
            None | Some("2M") => PolicyOrder::BallastFirst,
            Some("4K") => PolicyOrder::SeedFirst,
            Some(_) => return Err(ScenarioError::UnknownPolicy),
        };
        let timed_rounds = match line.parse::<u32>("timed_rounds") {
            Ok(rounds) if rounds.unwrap_or(0) <= MAX_TIMED_ROUNDS => rounds.unwrap_or(0),
            _ => return Err(ScenarioError::BadRoundCount),
        };
        let readings = match line.value("readings") {
            None | Some("phases") => Readings::AtPhases,
            Some("every_step") => Readings::EveryStep,
            Some(_) => return Err(ScenarioError::UnknownReadings),
        };
        Ok(Phases {
            order,
            timed_rounds,
            readings,
            ..self
        })
    }
}

/// The phases of scenario `name`.
pub fn phases(name: &str) -> Result<Phases, ScenarioError> {
    match name {
        "balloon" => Ok(Phases {
            xen_facts: Some("balloon"),
            components: true,
            order: PolicyOrder::BallastFirst,
            timed_rounds: 0,
            readings: Readings::AtPhases,
        }),
        "smoke" => Ok(Phases {
            xen_facts: Some("smoke"),
            components: false,
            order: PolicyOrder::BallastFirst,
            timed_rounds: 0,
            readings: Readings::AtPhases,
        }),
        "components" => Ok(Phases {
            xen_facts: None,
            components: true,
            order: PolicyOrder::BallastFirst,
            timed_rounds: 0,
            readings: Readings::AtPhases,
        }),
        _ => Err(ScenarioError::Unknown),
    }
}

/// Run Xen-facts scenario `name` through the gateway as `xen` reaches it (standing in for the
/// memory server), then check that the gateway refuses what a compromised memory server might ask
/// (a frame outside its ranges, another domain, an order above the limit, a list with a frame it
/// does not own), each with its typed error and Xen's count unchanged; the checks. The failures of the gateway's calls are logged.
pub fn through_gateway<M: FrameMemory, C: Clock>(
    name: &str,
    xen: &mut GatewayXen<'_>,
    memory: &mut M,
    clock: &C,
    (layout, platform, options): (Layout, Platform, impl Into<RunOptions>),
) -> Result<Checks, ScenarioError> {
    let checks = run(name, xen, memory, clock, (layout, platform, options.into()));
    if xen.failures > 0 {
        defmt::error!("gateway calls failed: {=u32}", xen.failures);
    }
    checks.map(|mut checks| {
        gateway_xen::refuse_compromised(xen, &mut checks, layout);
        checks
    })
}

/// Run scenario `name`; returns the checks it made.
pub fn run<H: Hypervisor, M: FrameMemory, C: Clock>(
    name: &str,
    xen: &mut H,
    memory: &mut M,
    clock: &C,
    (layout, platform, options): (Layout, Platform, RunOptions),
) -> Result<Checks, ScenarioError> {
    match name {
        "balloon" => Ok(balloon::run(
            xen,
            memory,
            clock,
            (layout, platform),
            options,
        )),
        "smoke" => Ok(smoke::run(xen, memory, layout)),
        _ => Err(ScenarioError::Unknown),
    }
}
