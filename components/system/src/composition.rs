//! The composition: a validated manifest as numbered, plain `'static` data. The manifest crate
//! emits it as a const module for a compiled-in image and builds it at run time for a manifest
//! read from disk; either way this is the one form every target wires its components from.

use ballast_ipc::{Badge, EndpointId, LeaseId, NotificationBits, Tables};
use ballast_memory_server_core::Policy;
use ballast_xen::FrameRun;

/// A system image, numbered. Ids index the slices: `components[i].id == i`, and so on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Composition {
    /// The image name.
    pub image: &'static str,
    /// What it runs on.
    pub target: Target,
    /// Components, in name order.
    pub components: &'static [Component],
    /// Endpoints, one per (client, server) pair.
    pub endpoints: &'static [Endpoint],
    /// Notification capabilities, one per (notifier, target) pair, in that order.
    pub notifications: &'static [Notification],
    /// Shared regions, in name order.
    pub regions: &'static [Region],
    /// The same components, endpoints, notifications and regions as the IPC runtimes run them.
    pub ipc: Tables<'static>,
    /// Guest-physical layout.
    pub memory: MemoryLayout,
    /// Xen limits the gateway enforces.
    pub xen: XenLimits,
    /// Memory-server sizing and policy.
    pub server: ServerSizing,
    /// The simulated host (sim images).
    pub sim: Option<SimHost>,
}

/// One component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Component {
    /// Its index in [`Composition::components`].
    pub id: u16,
    /// Its name in the manifest.
    pub name: &'static str,
    /// What it is.
    pub kind: Kind,
    /// Interface ids it serves, ascending.
    pub serves: &'static [u16],
    /// Its quota of lent frames (0: it borrows nothing).
    pub max_lent_frames: u64,
}

/// The capability of one client to call one server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Its index in [`Composition::endpoints`] (the client's `EndpointId`).
    pub id: u16,
    /// The badge the server sees: `id + 1`, unique in the image (0 stays "unbadged").
    pub badge: u32,
    /// The calling component's id.
    pub client: u16,
    /// The serving component's id.
    pub server: u16,
    /// What the client may call there, by interface id ascending.
    pub grants: &'static [Grant],
    /// The granting domains whose grants the client may map (a gateway endpoint holding
    /// `grant_map`; the manifest's `uses.Hypercall.grant_domains`), ascending.
    pub grant_domains: &'static [u16],
}

/// The capability of one component to raise notification bits on another (a signal: it does not
/// wait, and the target learns nothing but the bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Notification {
    /// The notifier's `EndpointId` for it. Notification capabilities are numbered after every
    /// call endpoint of the image (`endpoints.len()` plus the index in
    /// [`Composition::notifications`]), so a component's capabilities in `EndpointId` order are
    /// its call endpoints, then its notifications, and adding one moves no call endpoint.
    pub id: u16,
    /// The notifying component's id.
    pub from: u16,
    /// The notified component's id.
    pub to: u16,
    /// The bits a signal raises on the target (on seL4 the capability's badge): nonzero, within
    /// [`NotificationBits::ASSIGNABLE`], and shared with no other notifier of the same target.
    pub bits: u32,
}

/// The ops of one interface a client may call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Interface id.
    pub interface: u16,
    /// Op ids, ascending.
    pub ops: &'static [u16],
}

/// One shared region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Its index in [`Composition::regions`] (the `LeaseId`).
    pub id: u16,
    /// Its name.
    pub name: &'static str,
    /// Size in bytes.
    pub size: u64,
    /// The component that owns and fills it, and lends it in its calls.
    pub lender: u16,
    /// The components that map it (the lender included), ascending.
    pub sharers: &'static [u16],
    /// The sharers that may write it when it is lent to them, ascending.
    pub writers: &'static [u16],
}

/// The guest-physical layout, in 4 KiB frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryLayout {
    /// Where the populated RAM ranges come from.
    pub ram_source: RamSource,
    /// Populated RAM at boot (when `ram_source` is [`RamSource::Manifest`]).
    pub ram: &'static [FrameRun],
    /// The first frame the boot map's RAM may not reach (when `ram_source` is
    /// [`RamSource::BootMap`]); the image checks it at boot.
    pub ram_ceiling: Option<u64>,
    /// Ranges inside RAM in use by others (the image, firmware tables): never ballooned.
    pub reserved: &'static [Reserved],
    /// Unpopulated address space beyond RAM, reserved for lending to clients.
    pub unpopulated: FrameRun,
    /// Ranges unpopulated at boot, handed to the balloon as already ballooned.
    pub boot_extra: &'static [FrameRun],
    /// Guest-physical space above boot memory the domain may grow into (ballooned, never
    /// populated at start), if any.
    pub growth: Option<FrameRun>,
}

/// A reserved range and what lives there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reserved {
    /// What occupies it.
    pub name: &'static str,
    /// The frames.
    pub run: FrameRun,
}

/// Where an image runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum Target {
    /// The host simulator (xen-sim).
    Sim,
    /// A bare-metal x86-64 PVH guest of real Xen.
    XenPvh,
    /// A bare-metal arm64 guest of real Xen.
    XenArm64,
    /// seL4 protection domains in an arm64 guest of real Xen: each component its own PD.
    Sel4XenArm64,
}

impl Target {
    /// Whether the target's frame access reaches guest-physical space above RAM at run time,
    /// where a growth range lies: the host's and the PVH image's (its identity map covers 8 GiB)
    /// do; the arm64 image maps RAM bank 0's window only, and seL4's root task maps the memory
    /// server only the RAM the boot-info page names.
    pub const fn reaches_growth(self) -> bool {
        matches!(self, Target::Sim | Target::XenPvh)
    }

    /// The spelling manifests use.
    pub const fn as_str(self) -> &'static str {
        match self {
            Target::Sim => "sim",
            Target::XenPvh => "xen-pvh",
            Target::XenArm64 => "xen-arm64",
            Target::Sel4XenArm64 => "sel4-xen-arm64",
        }
    }
}

/// What a component is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
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

/// Where an image learns its RAM ranges.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum RamSource {
    /// From `memory.ram` in the manifest.
    #[default]
    Manifest,
    /// From the memory map handed over at boot (E820 / device tree; on seL4 the untyped memory
    /// the kernel gives the root task).
    BootMap,
}

/// `[xen]`: what the gateway lets through to the hypervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct XenLimits {
    /// Largest extent order the gateway accepts (9 = 2 MiB, the domU default of Xen).
    pub max_extent_order: u8,
    /// Most frame-list entries (one gfn per extent) a single `memory_op` call may carry.
    pub max_frames_per_call: u32,
}

/// `[memory_server]`: static sizing and policy of the memory server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
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
    #[cfg_attr(
        feature = "serde",
        serde(deserialize_with = "crate::composition::policy_named")
    )]
    pub policy: Policy,
    /// First retry delay after a failed batch, in seconds (the seed's `schedule_delay`: 1).
    #[cfg_attr(feature = "serde", serde(default = "default_schedule_delay_s"))]
    pub schedule_delay_s: u32,
    /// Ceiling of the doubling retry delay, in seconds (the seed's `max_schedule_delay`: 32).
    #[cfg_attr(feature = "serde", serde(default = "default_max_schedule_delay_s"))]
    pub max_schedule_delay_s: u32,
    /// Retries before giving up on a target; 0 = never give up (the seed's `max_retry_count`).
    #[cfg_attr(feature = "serde", serde(default))]
    pub max_retry_count: u32,
    /// Spare blocks of the chunk summary's pool (72 bytes each): how many 2 MiB chunks the
    /// batches may leave partly populated at once, beyond the chunks the layout pins. Past them
    /// the worker waits (`pool_waits`) instead of ballooning further. Default 64.
    #[cfg_attr(feature = "serde", serde(default = "default_mixed_chunk_blocks"))]
    pub mixed_chunk_blocks: u32,
}

#[cfg(feature = "serde")]
const fn default_mixed_chunk_blocks() -> u32 {
    // The core's default, 64, fits.
    ballast_memory_server_core::DEFAULT_MIXED_CHUNK_BLOCKS as u32
}

#[cfg(feature = "serde")]
const fn default_schedule_delay_s() -> u32 {
    1
}

#[cfg(feature = "serde")]
const fn default_max_schedule_delay_s() -> u32 {
    32
}

/// The policy as manifests spell it: `"ballast"` or `"seed"`.
#[cfg(feature = "serde")]
fn policy_named<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Policy, D::Error> {
    struct Named;
    impl serde::de::Visitor<'_> for Named {
        type Value = Policy;
        fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("\"ballast\" or \"seed\"")
        }
        fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Policy, E> {
            Policy::named(name).ok_or_else(|| E::unknown_variant(name, &Policy::NAMES))
        }
    }
    deserializer.deserialize_str(Named)
}

/// `[sim]`: the simulated host of a sim image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(deny_unknown_fields))]
pub struct SimHost {
    /// Free pages in the simulated host's pool.
    pub host_free_pages: u64,
    /// The domain's maximum reservation (`max_pages`).
    pub domain_max_pages: u64,
    /// The domain is domain 0, the control and hardware domain (as the x86 PVH image is under
    /// `ballast hil`), not a domU; absent: a domU.
    #[cfg_attr(feature = "serde", serde(default))]
    pub dom0: bool,
}

impl Composition {
    /// The component called `name`.
    pub fn component(&self, name: &str) -> Option<&'static Component> {
        self.components
            .iter()
            .find(|component| component.name == name)
    }

    /// The first component of `kind`, in id order.
    pub fn first_of(&self, kind: Kind) -> Option<&'static Component> {
        self.components
            .iter()
            .find(|component| component.kind == kind)
    }

    /// The components of `kind`, in id order.
    pub fn all_of(&self, kind: Kind) -> impl Iterator<Item = &'static Component> {
        self.components
            .iter()
            .filter(move |component| component.kind == kind)
    }

    /// The endpoint `client` calls `server` through.
    pub fn endpoint(&self, client: u16, server: u16) -> Option<&'static Endpoint> {
        self.endpoints
            .iter()
            .find(|endpoint| endpoint.client == client && endpoint.server == server)
    }

    /// The endpoint whose calls carry `badge`.
    pub fn endpoint_by_badge(&self, badge: u32) -> Option<&'static Endpoint> {
        self.endpoints
            .iter()
            .find(|endpoint| endpoint.badge == badge)
    }

    /// The notification capability `from` holds to `to`.
    pub fn notification(&self, from: u16, to: u16) -> Option<&'static Notification> {
        (self.notifications.iter())
            .find(|notification| notification.from == from && notification.to == to)
    }

    /// The notification capabilities that signal `to`: what the target's notification word may
    /// hold, and from whom.
    pub fn notifications_to(&self, to: u16) -> impl Iterator<Item = &'static Notification> {
        (self.notifications.iter()).filter(move |notification| notification.to == to)
    }

    /// The notification capability of `from` to `to` in the runtimes' types: the endpoint id the
    /// notifier signals through, and the bits the target sees.
    pub fn notify_capability(&self, from: u16, to: u16) -> Option<(EndpointId, NotificationBits)> {
        self.notification(from, to).map(|notification| {
            (
                EndpointId(notification.id),
                NotificationBits(notification.bits),
            )
        })
    }

    /// The region `lender` lends to `borrower` in its calls.
    pub fn region(&self, lender: u16, borrower: u16) -> Option<&'static Region> {
        self.regions
            .iter()
            .find(|region| region.lender == lender && region.sharers.contains(&borrower))
    }

    /// Whether a call carrying `badge` may invoke `op` of `interface` on `server`.
    pub fn allows(&self, server: u16, badge: u32, interface: u16, op: u16) -> bool {
        self.endpoint_by_badge(badge).is_some_and(|endpoint| {
            endpoint.server == server
                && (endpoint.grants.iter())
                    .any(|grant| grant.interface == interface && grant.ops.contains(&op))
        })
    }

    /// The endpoint of `client` to `server` in the runtimes' types: its id and badge.
    pub fn capability(&self, client: u16, server: u16) -> Option<(EndpointId, Badge)> {
        self.endpoint(client, server)
            .map(|endpoint| (EndpointId(endpoint.id), Badge(endpoint.badge)))
    }

    /// The region `lender` lends to `borrower`, as a lease id and its size in bytes.
    pub fn lease(&self, lender: u16, borrower: u16) -> Option<(LeaseId, u32)> {
        self.region(lender, borrower).map(|region| {
            let size = u32::try_from(region.size).unwrap_or(u32::MAX);
            (LeaseId(region.id), size)
        })
    }
}
