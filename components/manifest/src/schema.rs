//! The manifest file format: what a system-image TOML may say, parsed strictly (unknown keys are
//! errors). The plain sections (Xen limits, server sizing, simulated host) parse straight into the
//! composition's own types; the rest is kept as written until `compose` numbers it.

use serde::Deserialize;

pub use ballast_system::{Kind, RamSource, ServerSizing, SimHost, Target, XenLimits};
use std::collections::BTreeMap;

/// A whole manifest, as written. Tables are keyed by name; ids are generated from the sorted
/// names, so the order of tables and keys in the file never matters.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// What the image is called and what it runs on.
    pub image: ImageSection,
    /// Limits of the hypervisor interface.
    pub xen: XenLimits,
    /// The guest-physical memory layout.
    pub memory: MemorySection,
    /// Sizing and policy of the memory server.
    pub memory_server: ServerSizing,
    /// The simulated host (sim images only).
    #[serde(default)]
    pub sim: Option<SimHost>,
    /// The components, by name.
    pub components: BTreeMap<String, ComponentSection>,
    /// Shared regions for leases, by name.
    #[serde(default)]
    pub regions: BTreeMap<String, RegionSection>,
}

impl ManifestFile {
    /// The names of the components of `kind`, sorted.
    pub fn components_of(&self, kind: Kind) -> Vec<&str> {
        let of_kind = self
            .components
            .iter()
            .filter(|(_, component)| component.kind == kind);
        of_kind.map(|(name, _)| name.as_str()).collect()
    }

    /// The component of `kind`, if there is exactly one.
    pub fn only(&self, kind: Kind) -> Option<&str> {
        match self.components_of(kind).as_slice() {
            [name] => Some(name),
            _ => None,
        }
    }
}

/// `[image]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageSection {
    /// The image's name.
    pub name: String,
    /// What it runs on.
    pub target: Target,
}

/// `[memory]`: the guest-physical layout, in gfn ranges `[start, end)`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemorySection {
    /// Where the populated RAM ranges come from.
    #[serde(default)]
    pub ram_source: RamSource,
    /// Populated RAM at boot (when `ram_source = "manifest"`).
    #[serde(default)]
    pub ram: Vec<GfnRange>,
    /// The first gfn the boot memory map's RAM may not reach (when `ram_source = "boot-map"`);
    /// the image checks it at boot.
    #[serde(default)]
    pub ram_ceiling: Option<u64>,
    /// Ranges inside RAM that are in use by others (the image itself, page tables): never the
    /// server's to balloon.
    #[serde(default)]
    pub reserved: Vec<NamedRange>,
    /// Unpopulated address space beyond RAM, reserved for lending to clients.
    pub unpopulated: GfnRange,
    /// Ranges unpopulated at boot that are handed to the balloon as already ballooned.
    #[serde(default)]
    pub boot_extra: Vec<GfnRange>,
    /// Guest-physical space above boot memory (every RAM and boot-extra range, or the RAM
    /// ceiling) that the domain may grow into once the toolstack raises its maximum: ballooned,
    /// never populated at start, populated last and given back first. Separate from the lending
    /// range.
    #[serde(default)]
    pub growth: Option<GfnRange>,
}

/// A gfn range `[start, end)` as the manifest's TOML writes it: the file format, parsed as written
/// (it may be empty or inverted; the memory check reports that). Everything past the manifest uses
/// [`ballast_xen::FrameRun`], the one run type; composition converts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GfnRange {
    /// First gfn.
    pub start: u64,
    /// First gfn past the range.
    pub end: u64,
}

impl GfnRange {
    /// Number of frames (zero for an empty or inverted range).
    pub const fn frames(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }

    /// Whether the two ranges share a frame.
    pub const fn overlaps(&self, other: &GfnRange) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// Whether `other` lies wholly inside this range.
    pub const fn contains(&self, other: &GfnRange) -> bool {
        self.start <= other.start && other.end <= self.end
    }
}

/// A reserved range with a name saying what lives there.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedRange {
    /// What occupies it.
    pub name: String,
    /// First gfn.
    pub start: u64,
    /// First gfn past the range.
    pub end: u64,
}

impl NamedRange {
    /// The bare range.
    pub const fn range(&self) -> GfnRange {
        GfnRange {
            start: self.start,
            end: self.end,
        }
    }
}

/// `[components.NAME]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentSection {
    /// What the component is.
    pub kind: Kind,
    /// IDL interfaces this component serves.
    #[serde(default)]
    pub serves: Vec<String>,
    /// IDL interfaces this component calls, by interface name.
    #[serde(default)]
    pub uses: BTreeMap<String, UseSection>,
    /// Quota: most frames this component may hold on loan from the memory server.
    #[serde(default)]
    pub max_lent_frames: Option<u64>,
    /// Components this one may signal, by name, with the notification bits (a mask) a signal
    /// raises there: `notifies = { testclient = 0x1 }`.
    #[serde(default)]
    pub notifies: BTreeMap<String, u32>,
}

/// `[components.NAME.uses.INTERFACE]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UseSection {
    /// The component serving it; may be left out when exactly one component serves it.
    #[serde(default)]
    pub server: Option<String>,
    /// The ops this component may call.
    pub ops: Vec<String>,
    /// `Hypercall` only, with `grant_map`: the granting domains whose grants this component may
    /// map (`grant_domains = [0]`: dom0's). The gateway refuses a map from any other.
    #[serde(default)]
    pub grant_domains: Option<Vec<u16>>,
}

/// `[regions.NAME]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionSection {
    /// Size in bytes.
    pub size: u64,
    /// The components that map it.
    pub shared_by: Vec<String>,
}
