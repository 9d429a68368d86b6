//! The manifest file format: what a system-image TOML may say, parsed strictly (unknown keys are
//! errors). The plain sections (Xen limits, memory layout, server sizing, simulated host) are
//! carried unchanged into the composition tables, so they hold `Cow<'static, _>` where they hold
//! text or lists: owned when parsed, borrowed when generated as const data.

use serde::Deserialize;
use std::borrow::Cow;
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
    pub memory: MemoryLayout,
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

/// Where an image runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// The host simulator (xen-sim).
    Sim,
    /// A bare-metal x86-64 PVH guest of real Xen.
    XenPvh,
    /// A bare-metal arm64 guest of real Xen.
    XenArm64,
}

impl Target {
    /// The spelling manifests use.
    pub const fn as_str(self) -> &'static str {
        match self {
            Target::Sim => "sim",
            Target::XenPvh => "xen-pvh",
            Target::XenArm64 => "xen-arm64",
        }
    }
}

/// `[xen]`: what the gateway lets through to the hypervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct XenLimits {
    /// Largest extent order the gateway accepts (9 = 2 MiB, the domU default of Xen).
    pub max_extent_order: u8,
    /// Most frame-list entries (one gfn per extent) a single `memory_op` call may carry.
    pub max_frames_per_call: u32,
}

/// `[memory]`: the guest-physical layout, in gfn ranges `[start, end)`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryLayout {
    /// Where the populated RAM ranges come from.
    #[serde(default)]
    pub ram_source: RamSource,
    /// Populated RAM at boot (when `ram_source = "manifest"`).
    #[serde(default)]
    pub ram: Cow<'static, [GfnRange]>,
    /// The first gfn the boot memory map's RAM may not reach (when `ram_source = "boot-map"`);
    /// the image checks it at boot.
    #[serde(default)]
    pub ram_ceiling: Option<u64>,
    /// Ranges inside RAM that are in use by others (the image itself, page tables): never the
    /// server's to balloon.
    #[serde(default)]
    pub reserved: Cow<'static, [NamedRange]>,
    /// Unpopulated address space beyond RAM, reserved for lending to clients.
    pub unpopulated: GfnRange,
    /// Ranges unpopulated at boot that are handed to the balloon as already ballooned.
    #[serde(default)]
    pub boot_extra: Cow<'static, [GfnRange]>,
}

/// Where an image learns its RAM ranges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RamSource {
    /// From `memory.ram` in the manifest.
    #[default]
    Manifest,
    /// From the memory map the hypervisor hands over at boot (E820 / device tree).
    BootMap,
}

/// A gfn range `[start, end)`.
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
    pub name: Cow<'static, str>,
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

/// `[memory_server]`: static sizing and policy of the memory server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSizing {
    /// Most clients the server tracks at once.
    pub max_clients: u16,
    /// Most separate gfn runs one client may hold on loan.
    pub max_lent_runs_per_client: u16,
    /// Most deferred client requests waiting at once.
    pub pending_depth: u16,
    /// How long a deferred request may wait before it is answered with a timeout, in ms.
    pub pending_timeout_ms: u32,
    /// Frame-list entries per hypercall batch.
    pub batch_size: u32,
    /// Which algorithm balloons.
    pub policy: Policy,
    /// First retry delay after a failed batch, in seconds (the seed's `schedule_delay`: 1).
    #[serde(default = "default_schedule_delay_s")]
    pub schedule_delay_s: u32,
    /// Ceiling of the doubling retry delay, in seconds (the seed's `max_schedule_delay`: 32).
    #[serde(default = "default_max_schedule_delay_s")]
    pub max_schedule_delay_s: u32,
    /// Retries before giving up on a target; 0 = never give up (the seed's `max_retry_count`).
    #[serde(default)]
    pub max_retry_count: u32,
}

const fn default_schedule_delay_s() -> u32 {
    1
}

const fn default_max_schedule_delay_s() -> u32 {
    32
}

/// The ballooning algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Policy {
    /// Superpage extents with 4 KiB fallback, exact partial-success recovery.
    Ballast,
    /// The seed's algorithm: order-0 extents, lowmem-first, for side-by-side benchmarks.
    Seed,
}

/// `[sim]`: the simulated host of a sim image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimHost {
    /// Free pages in the simulated host's pool.
    pub host_free_pages: u64,
    /// The domain's maximum reservation (`max_pages`).
    pub domain_max_pages: u64,
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
}

/// What a component is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// The only holder of the hypervisor backend.
    HypercallGateway,
    /// The balloon.
    MemoryServer,
    /// A driver borrowing unpopulated frames (block or network backend, framebuffer).
    DriverClient,
    /// Sets the balloon target (a toolstack agent).
    ControlAgent,
}

impl Kind {
    /// The spelling manifests use.
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::HypercallGateway => "hypercall-gateway",
            Kind::MemoryServer => "memory-server",
            Kind::DriverClient => "driver-client",
            Kind::ControlAgent => "control-agent",
        }
    }
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
