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
use ballast_xen::Hypervisor;

pub use checks::Checks;
pub use gateway_xen::GatewayXen;

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
}

/// The scenario names `scenario=` accepts.
pub const SCENARIOS: &[&str] = &["balloon", "smoke", "components"];

/// What a scenario runs: a Xen-facts scenario through the gateway, the components phase, or both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Phases {
    /// The Xen-facts scenario to run first, if any.
    pub xen_facts: Option<&'static str>,
    /// Whether the components phase follows.
    pub components: bool,
}

/// The phases of scenario `name`.
pub fn phases(name: &str) -> Result<Phases, ScenarioError> {
    match name {
        "balloon" => Ok(Phases {
            xen_facts: Some("balloon"),
            components: true,
        }),
        "smoke" => Ok(Phases {
            xen_facts: Some("smoke"),
            components: false,
        }),
        "components" => Ok(Phases {
            xen_facts: None,
            components: true,
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
    (layout, platform): (Layout, Platform),
) -> Result<Checks, ScenarioError> {
    let checks = run(name, xen, memory, clock, layout, platform);
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
    layout: Layout,
    platform: Platform,
) -> Result<Checks, ScenarioError> {
    match name {
        "balloon" => Ok(balloon::run(xen, memory, clock, layout, platform)),
        "smoke" => Ok(smoke::run(xen, memory, layout)),
        _ => Err(ScenarioError::Unknown),
    }
}
