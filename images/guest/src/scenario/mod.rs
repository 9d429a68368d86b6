//! The hardware-in-the-loop scenarios: what the image does once it has booted. The Xen-facts
//! scenarios (`balloon`, `smoke`) run on a [`Hypervisor`] (the gateway, reached over IPC:
//! [`GatewayXen`]) and reach guest memory only through [`FrameMemory`]; the components phase
//! ([`components`]) plays the control and test-client components against the memory server. None
//! holds unsafe code or knows the boot path.
//!
//! Every line a scenario logs is meant for `ballast hil`, which parses the `key=value` pairs and
//! checks the numbers again on the host.

mod balloon;
mod checks;
pub mod components;
mod gateway_xen;
mod ledger;
mod smoke;

use ballast_xen::{Gfn, Hypervisor};

pub use checks::Checks;
pub use gateway_xen::GatewayXen;

/// A contiguous run of guest frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub struct FrameRange {
    /// The first frame.
    pub first: u64,
    /// How many frames.
    pub frames: u64,
}

impl FrameRange {
    /// Frame `index` of the range (`index` is below `frames` for a frame of the range).
    pub fn frame(&self, index: u64) -> Gfn {
        Gfn(self.first.wrapping_add(index))
    }

    /// The sub-range of `frames` frames starting `offset` frames in, if it fits.
    pub fn slice(&self, offset: u64, frames: u64) -> Option<FrameRange> {
        let end = offset.checked_add(frames)?;
        (end <= self.frames).then_some(FrameRange {
            first: self.first + offset,
            frames,
        })
    }

    /// Whether `gfn` lies in the range.
    pub fn contains(&self, gfn: Gfn) -> bool {
        gfn.0 >= self.first && gfn.0 - self.first < self.frames
    }

    /// Whether every frame of `inner` lies in the range (an empty `inner` anywhere does).
    pub fn contains_range(&self, inner: FrameRange) -> bool {
        let (Some(end), Some(inner_end)) = (
            self.first.checked_add(self.frames),
            inner.first.checked_add(inner.frames),
        ) else {
            return false;
        };
        inner.frames == 0 || (inner.first >= self.first && inner_end <= end)
    }
}

/// Why a frame could not be reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum FrameError {
    /// The frame is not in the RAM the scenario was given.
    NotScenarioRam = 1,
    /// The word index is past the end of a page.
    WordOutOfPage,
}

/// Words of 8 bytes in a 4 KiB page.
pub const WORDS_PER_PAGE: usize = 512;

/// What reading a word of guest memory found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, defmt::Format)]
pub enum Read {
    /// The word.
    Word(u64),
    /// The read raised a synchronous abort with this syndrome (arm64 ESR_EL1): Xen does not back
    /// the frame.
    Aborted(u64),
}

/// Access to the contents of the guest frames a scenario may use.
pub trait FrameMemory {
    /// Write `word` to every 8-byte word of `range` (a scrub when `word` is 0).
    fn fill(&mut self, range: FrameRange, word: u64) -> Result<(), FrameError>;
    /// Read word `index` of frame `gfn`, which may be ballooned.
    fn read(&self, gfn: Gfn, index: usize) -> Result<Read, FrameError>;
    /// Whether every word of frame `gfn` (which must be backed) equals `word`.
    fn holds_only(&self, gfn: Gfn, word: u64) -> Result<bool, FrameError>;
}

/// A monotonic clock.
pub trait Clock {
    /// Nanoseconds since an arbitrary origin.
    fn now_ns(&self) -> u64;
}

/// Where a scenario may work.
#[derive(Clone, Copy, Debug, defmt::Format)]
pub struct Layout {
    /// Populated RAM the image does not use, 2 MiB aligned.
    pub free: FrameRange,
    /// Guest-physical space that is neither RAM nor reserved, 2 MiB aligned, that Xen lets the
    /// domain populate: populating it grows the domain.
    pub hole: FrameRange,
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
