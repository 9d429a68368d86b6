//! What can be wrong with a manifest: every error names the file, the dotted key at fault and the
//! fix, so that `ballast check`, the build script and the golden tests all print the same words.

use ballast_ipc::NotificationBits;
use std::fmt;
use std::path::PathBuf;

use ballast_xen::GFN_LIMIT;

/// One problem in one manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestError {
    /// The manifest file.
    pub file: PathBuf,
    /// The key at fault, as a dotted path (`components.blkback.uses.Balloon.ops[1]`).
    pub key: String,
    /// What is wrong.
    pub problem: Problem,
}

/// What is wrong, with the facts needed to say how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The file could not be read.
    Unreadable { reason: String },
    /// The text is not TOML.
    Syntax { line: usize, message: String },
    /// A key the schema does not know.
    UnknownKey { message: String },
    /// A key the schema requires is missing.
    MissingKey { name: String },
    /// A value outside its set of names.
    UnknownValue { message: String },
    /// A value of the wrong type.
    BadValue { message: String },
    /// A component name that no `[components.NAME]` table declares.
    UnknownComponent { name: String, known: String },
    /// An interface name the IDL does not declare.
    UnknownInterface { name: String, known: String },
    /// An op the interface does not have.
    UnknownOp {
        interface: String,
        op: String,
        known: String,
    },
    /// A component uses an interface no component serves.
    NobodyServes { interface: String },
    /// Several components serve the interface and the use does not say which.
    AmbiguousServer { interface: String, servers: String },
    /// The named server does not serve the interface.
    NotServedBy {
        interface: String,
        server: String,
        servers: String,
    },
    /// Not exactly one component of a kind that must be unique.
    NotExactlyOne { kind: &'static str, found: String },
    /// A name listed twice.
    Duplicate { name: String },
    /// A range with `start >= end`.
    EmptyRange { start: u64, end: u64 },
    /// A range whose ends are not multiples of the largest extent.
    Unaligned { start: u64, end: u64, frames: u64 },
    /// Two ranges share frames.
    Overlap { other: String },
    /// A reserved range that is not inside RAM.
    OutsideRam,
    /// The lending range overlaps populated RAM.
    UnpopulatedOverlapsRam { ram: String },
    /// The growth range starts below the end of boot memory (the range at key `boot`).
    GrowthBelowBootMemory {
        start: u64,
        boot_end: u64,
        boot: String,
    },
    /// A growth range for a target whose frame access cannot reach space above RAM.
    GrowthUnreachable { target: &'static str },
    /// A key that `memory.ram_source` requires is missing.
    RequiredByRamSource { source: &'static str },
    /// A key that `memory.ram_source` forbids is present.
    ForbiddenByRamSource { source: &'static str },
    /// `xen.max_extent_order` above what the page model supports.
    MaxOrderTooLarge { order: u8 },
    /// A quota larger than the lending range.
    QuotaOverCapacity { quota: u64, capacity: u64 },
    /// A component that may borrow frames has no quota.
    QuotaMissing { capacity: u64 },
    /// A quota on a component that may not borrow frames.
    QuotaWithoutBorrowing,
    /// A sizing value that must be at least 1.
    Zero,
    /// A batch longer than one hypercall may carry.
    BatchOverCallLimit { batch: u32, limit: u32 },
    /// More clients of the memory server than it is sized for.
    TooManyClients { clients: usize, max: u16 },
    /// The first retry delay exceeds its ceiling.
    DelayOverCeiling { delay: u32, ceiling: u32 },
    /// A region shared with the memory server that cannot hold one batch's frame list.
    RegionTooSmall { size: u64, needed: u64 },
    /// A region too large for a lease's 32-bit offsets.
    RegionTooLarge { size: u64 },
    /// A region shared by fewer than two components.
    RegionNotShared,
    /// A region whose sharers do not include exactly one that calls all the others.
    RegionWithoutLender { found: String },
    /// Components that call each other in a ring (a deadlock waiting to happen).
    CallCycle { cycle: String },
    /// The memory server does not use the gateway.
    ServerWithoutGateway { gateway: String },
    /// A component other than the memory server is given a lend or return notice: the gateway
    /// learns from them which frames a driver may map grants into.
    NoticeNotFromMemoryServer { op: String },
    /// A component holds `grant_map` but `grant_domains` names no granting domain.
    GrantMapWithoutDomains,
    /// `grant_domains` on a use that does not hold `grant_map`.
    DomainsWithoutGrantMap,
    /// A granting domain that is `DOMID_SELF` or another id Xen reserves.
    ReservedDomain { domid: u16 },
    /// A component maps grants but the memory server does not send the lend and return notices.
    GrantsWithoutNotices { mapper: String },
    /// The grant mappers could hold more lent runs than the gateway's loan table records.
    MapperRunsOverGateway {
        mappers: usize,
        runs: usize,
        capacity: usize,
    },
    /// `[sim]` is missing from a sim image.
    SimHostMissing,
    /// `[sim]` in an image that does not run in the simulator.
    SimHostForbidden,
    /// The simulated domain starts above its own maximum.
    DomainOverMaximum { ram: u64, max_pages: u64 },
    /// A sim image whose RAM comes from a boot map (the simulator has none).
    BootMapInSim,
    /// A component notifies itself.
    NotifiesItself,
    /// A notification to a component whose handler acts on no notification bit.
    NotifiedNeverWaits { target: String, kind: &'static str },
    /// A notification that raises no bit.
    NoNotificationBits,
    /// A notification raising bits the runtimes keep for themselves.
    ReservedNotificationBits { bits: u32, reserved: u32 },
    /// Two notifiers raise the same bit on one target.
    NotificationBitsShared {
        target: String,
        other: String,
        bits: u32,
    },
    /// A range reaching past the last frame a guest can map.
    PastGuestPhysical { end: u64 },
    /// No region carries the memory server's frame list to the gateway.
    NoFrameListRegion {
        server: String,
        gateway: String,
        bytes: u64,
    },
    /// A layout with more regions than the memory server's region table holds.
    TooManyRegions { max: usize },
    /// A batch longer than one frame list.
    BatchOverFrameList { batch: u32, max: usize },
    /// More of a table than the simulator was compiled with.
    OverHostCapacity {
        what: &'static str,
        needed: usize,
        held: usize,
    },
    /// More manifest-sized memory than an image target holds (page-bitmap storage and region
    /// memory, in the space the image is linked with).
    OverImageBudget {
        target: &'static str,
        bitmap_bytes: usize,
        region_bytes: usize,
        budget: usize,
        space: &'static str,
    },
    /// The assembly refused a manifest that passed every check.
    Unassembled { reason: String },
}

impl Problem {
    /// How to fix it, in one line.
    pub fn fix(&self) -> String {
        match self {
            Problem::Unreadable { .. } => "check the path and its permissions".into(),
            Problem::Syntax { .. } => "correct the TOML syntax on that line".into(),
            Problem::UnknownKey { .. } => "remove the key, or rename it to one listed".into(),
            Problem::MissingKey { name } => format!("add `{name}`"),
            Problem::UnknownValue { .. } => "use one of the values listed".into(),
            Problem::BadValue { .. } => "give a value of the expected type".into(),
            Problem::UnknownComponent { known, .. } => {
                format!("name a declared component: {known}")
            }
            Problem::UnknownInterface { known, .. } => {
                format!("name an interface from idl/: {known}")
            }
            Problem::UnknownOp { known, .. } => format!("use one of its ops: {known}"),
            Problem::NobodyServes { interface } => {
                format!("add `{interface}` to the `serves` list of the component that serves it")
            }
            Problem::AmbiguousServer { servers, .. } => {
                format!("add `server = \"...\"` naming one of: {servers}")
            }
            Problem::NotServedBy { servers, .. } => format!("set `server` to one of: {servers}"),
            Problem::NotExactlyOne { kind, .. } => {
                format!("declare exactly one component with `kind = \"{kind}\"`")
            }
            Problem::Duplicate { .. } => "list each name once".into(),
            Problem::EmptyRange { .. } => "make `end` greater than `start`".into(),
            Problem::Unaligned { frames, .. } => {
                format!("move `start` and `end` to multiples of {frames:#x} frames")
            }
            Problem::Overlap { .. } => "make the ranges disjoint".into(),
            Problem::OutsideRam => {
                "move it inside one `memory.ram` range (or below `memory.ram_ceiling`)".into()
            }
            Problem::UnpopulatedOverlapsRam { .. } => {
                "move `memory.unpopulated` past the end of RAM".into()
            }
            Problem::GrowthBelowBootMemory { boot_end, .. } => format!(
                "move `memory.growth` to start at or above {boot_end:#x}: growth is address space \
                 the domain did not boot with"
            ),
            Problem::GrowthUnreachable { .. } => {
                "remove `memory.growth`: only the sim and xen-pvh targets map space above RAM".into()
            }
            Problem::RequiredByRamSource { .. } => "add it".into(),
            Problem::ForbiddenByRamSource { .. } => "remove it".into(),
            Problem::MaxOrderTooLarge { .. } => "use an order of at most 18 (9 for a domU)".into(),
            Problem::QuotaOverCapacity { capacity, .. } => {
                format!("lower it to at most {capacity}, or grow `memory.unpopulated`")
            }
            Problem::QuotaMissing { capacity } => {
                format!("add `max_lent_frames = N` with N at most {capacity}")
            }
            Problem::QuotaWithoutBorrowing => {
                "remove it, or grant the component an op needing `balloon.alloc`".into()
            }
            Problem::Zero => "give a value of at least 1".into(),
            Problem::BatchOverCallLimit { limit, .. } => {
                format!("lower it to at most {limit} (`xen.max_frames_per_call`)")
            }
            Problem::TooManyClients { clients, .. } => {
                format!("raise it to at least {clients}, or remove clients")
            }
            Problem::DelayOverCeiling { ceiling, .. } => {
                format!("lower it to at most {ceiling} (`max_schedule_delay_s`)")
            }
            Problem::RegionTooSmall { needed, .. } => format!("grow it to at least {needed} bytes"),
            Problem::RegionTooLarge { .. } => format!("shrink it to at most {} bytes", u32::MAX),
            Problem::RegionNotShared => "list at least two components in `shared_by`".into(),
            Problem::RegionWithoutLender { .. } => {
                "share it between one lender and components the lender calls".into()
            }
            Problem::CallCycle { .. } => "remove one `uses` entry of the ring".into(),
            Problem::ServerWithoutGateway { gateway } => {
                format!("add a `uses` entry for an interface `{gateway}` serves")
            }
            Problem::NoticeNotFromMemoryServer { op } => {
                format!("remove `{op}`: only the memory server, which lends the frames, tells the gateway of loans")
            }
            Problem::GrantMapWithoutDomains => {
                "add `grant_domains = [DOMID, ...]` beside the ops: the domains whose grants it maps (0: dom0)".into()
            }
            Problem::DomainsWithoutGrantMap => {
                "remove it, or grant the component `grant_map` on the gateway".into()
            }
            Problem::ReservedDomain { .. } => {
                "name the granting domain's id (below 0x7ff0; 0 is dom0)".into()
            }
            Problem::MapperRunsOverGateway {
                mappers, capacity, ..
            } => format!(
                "lower it to at most {}, or give fewer components `grant_map`",
                capacity.checked_div(*mappers).unwrap_or(*capacity)
            ),
            Problem::GrantsWithoutNotices { .. } => {
                "add \"lend_notice\" and \"return_notice\": the gateway maps grants only into frames the memory server says it lent".into()
            }
            Problem::SimHostMissing => {
                "add `[sim]` with `host_free_pages` and `domain_max_pages`".into()
            }
            Problem::SimHostForbidden => "remove `[sim]`, or set `image.target = \"sim\"`".into(),
            Problem::DomainOverMaximum { ram, .. } => {
                format!("raise `domain_max_pages` to at least {ram}")
            }
            Problem::BootMapInSim => "list the RAM in `memory.ram` for a sim image".into(),
            Problem::NotifiesItself => {
                "remove the entry (a component wakes itself with its timer)".into()
            }
            Problem::NotifiedNeverWaits { .. } => {
                "notify a `driver-client` or `control-agent`, which waits on its notification"
                    .into()
            }
            Problem::NoNotificationBits | Problem::ReservedNotificationBits { .. } => format!(
                "give a mask within {:#x} (bits 0 to 26), e.g. 0x1 for bit 0",
                NotificationBits::ASSIGNABLE.0
            ),
            Problem::NotificationBitsShared { target, .. } => {
                format!("give each component that notifies `{target}` bits of its own")
            }
            Problem::PastGuestPhysical { .. } => {
                format!("keep every frame below {GFN_LIMIT:#x}")
            }
            Problem::NoFrameListRegion {
                server,
                gateway,
                bytes,
            } => format!(
                "add a region of at least {bytes} bytes with `shared_by = [\"{server}\", \"{gateway}\"]`"
            ),
            Problem::TooManyRegions { .. } => "merge or drop RAM or boot-extra ranges".into(),
            Problem::BatchOverFrameList { max, .. } => format!("lower it to at most {max}"),
            Problem::OverHostCapacity { held, .. } => format!(
                "lower it to at most {held}, or add the manifest to build.rs's HOST_MANIFESTS so \
                 the simulator is compiled for it"
            ),
            Problem::OverImageBudget { budget, .. } => format!(
                "shrink the RAM the memory server manages (RAM or its ceiling, boot-extra, lending \
                 and growth ranges) or the regions until both take at most {budget} bytes"
            ),
            Problem::Unassembled { .. } => {
                "`ballast check` should have named the key at fault: report this manifest".into()
            }
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Unreadable { reason } => write!(f, "cannot read the manifest: {reason}"),
            Problem::Syntax { message, .. } => write!(f, "not TOML: {message}"),
            Problem::UnknownKey { message }
            | Problem::UnknownValue { message }
            | Problem::BadValue { message } => f.write_str(message),
            Problem::MissingKey { name } => write!(f, "missing key `{name}`"),
            Problem::UnknownComponent { name, .. } => write!(f, "no component is called `{name}`"),
            Problem::UnknownInterface { name, .. } => write!(f, "no interface is called `{name}`"),
            Problem::UnknownOp { interface, op, .. } => {
                write!(f, "interface `{interface}` has no op `{op}`")
            }
            Problem::NobodyServes { interface } => {
                write!(f, "no component serves interface `{interface}`")
            }
            Problem::AmbiguousServer { interface, servers } => {
                write!(f, "interface `{interface}` is served by several components ({servers})")
            }
            Problem::NotServedBy { interface, server, .. } => {
                write!(f, "component `{server}` does not serve interface `{interface}`")
            }
            Problem::NotExactlyOne { kind, found } => {
                write!(f, "an image needs exactly one `{kind}`, found: {found}")
            }
            Problem::Duplicate { name } => write!(f, "`{name}` is listed twice"),
            Problem::EmptyRange { start, end } => {
                write!(f, "empty range: start {start:#x} is not below end {end:#x}")
            }
            Problem::Unaligned { start, end, frames } => write!(
                f,
                "range {start:#x}..{end:#x} is not aligned to the largest extent ({frames:#x} frames)"
            ),
            Problem::Overlap { other } => write!(f, "overlaps `{other}`"),
            Problem::OutsideRam => f.write_str("reserved range is not inside RAM"),
            Problem::UnpopulatedOverlapsRam { ram } => {
                write!(f, "the lending range overlaps RAM (`{ram}`)")
            }
            Problem::GrowthUnreachable { target } => write!(
                f,
                "target `{target}` cannot map a growth range at run time, so the memory server \
                 could not scrub grown frames (the arm64 image maps RAM bank 0 only; seL4's root \
                 task maps the memory server only the RAM the boot-info page names)"
            ),
            Problem::GrowthBelowBootMemory {
                start,
                boot_end,
                boot,
            } => write!(
                f,
                "the growth range starts at {start:#x}, below the end of boot memory at \
                 {boot_end:#x} (`{boot}`)"
            ),
            Problem::RequiredByRamSource { source } => {
                write!(f, "required with `memory.ram_source = \"{source}\"`")
            }
            Problem::ForbiddenByRamSource { source } => {
                write!(f, "not allowed with `memory.ram_source = \"{source}\"`")
            }
            Problem::MaxOrderTooLarge { order } => {
                write!(f, "extent order {order} is above the supported maximum of 18")
            }
            Problem::QuotaOverCapacity { quota, capacity } => write!(
                f,
                "quota of {quota} frames exceeds the lending capacity of {capacity} frames"
            ),
            Problem::QuotaMissing { .. } => {
                f.write_str("a component that may borrow frames needs a quota")
            }
            Problem::QuotaWithoutBorrowing => {
                f.write_str("a quota on a component that may not borrow frames")
            }
            Problem::Zero => f.write_str("must not be 0"),
            Problem::BatchOverCallLimit { batch, limit } => write!(
                f,
                "a batch of {batch} entries exceeds the {limit} one hypercall may carry"
            ),
            Problem::TooManyClients { clients, max } => write!(
                f,
                "{clients} components use the memory server, which is sized for {max}"
            ),
            Problem::DelayOverCeiling { delay, ceiling } => {
                write!(f, "first retry delay {delay} s is above its ceiling {ceiling} s")
            }
            Problem::RegionTooSmall { size, needed } => write!(
                f,
                "region of {size} bytes cannot hold one batch's frame list ({needed} bytes)"
            ),
            Problem::RegionTooLarge { size } => {
                write!(f, "region of {size} bytes is beyond the reach of a lease's 32-bit offsets")
            }
            Problem::RegionNotShared => f.write_str("a region must be shared by two components"),
            Problem::RegionWithoutLender { found } => write!(
                f,
                "needs exactly one lender, a sharer that calls all the others; found: {found}"
            ),
            Problem::CallCycle { cycle } => write!(f, "call cycle: {cycle}"),
            Problem::ServerWithoutGateway { gateway } => {
                write!(f, "the memory server does not call the gateway `{gateway}`")
            }
            Problem::NoticeNotFromMemoryServer { op } => {
                write!(f, "`{op}` is the memory server's op alone")
            }
            Problem::GrantMapWithoutDomains => {
                f.write_str("`grant_map` without a domain whose grants it may map")
            }
            Problem::DomainsWithoutGrantMap => {
                f.write_str("`grant_domains` without the `grant_map` op")
            }
            Problem::ReservedDomain { domid } => {
                write!(f, "domain {domid:#x} is an id Xen reserves, not a granting domain")
            }
            Problem::MapperRunsOverGateway {
                mappers,
                runs,
                capacity,
            } => write!(
                f,
                "{mappers} grant mappers of {runs} lent runs each could hold more runs than the \
                 gateway records ({capacity})"
            ),
            Problem::GrantsWithoutNotices { mapper } => write!(
                f,
                "`{mapper}` maps grants, but the memory server does not tell the gateway what it lends"
            ),
            Problem::SimHostMissing => f.write_str("a sim image needs a simulated host"),
            Problem::SimHostForbidden => f.write_str("only a sim image has a simulated host"),
            Problem::DomainOverMaximum { ram, max_pages } => write!(
                f,
                "the domain starts with {ram} RAM frames, above its maximum of {max_pages}"
            ),
            Problem::BootMapInSim => f.write_str("the simulator has no boot memory map"),
            Problem::NotifiesItself => f.write_str("a component cannot notify itself"),
            Problem::NotifiedNeverWaits { target, kind } => write!(
                f,
                "`{target}` is a `{kind}`, whose handler acts on no bit another component raises: the signal would be lost"
            ),
            Problem::NoNotificationBits => f.write_str("a notification must raise at least one bit"),
            Problem::ReservedNotificationBits { bits, reserved } => write!(
                f,
                "mask {bits:#x} has reserved bits ({reserved:#x}): bit 27 marks seL4 endpoint badges, seL4 5.0 mints badges of 28 bits, bit 31 is the runtime's timer"
            ),
            Problem::NotificationBitsShared {
                target,
                other,
                bits,
            } => write!(
                f,
                "`{other}` raises bits {bits:#x} on `{target}` too: the target could not tell the two apart"
            ),
            Problem::PastGuestPhysical { end } => write!(
                f,
                "range ends at {end:#x}, past the last frame a guest can map ({:#x}: 52-bit \
                 guest-physical addresses)",
                GFN_LIMIT - 1
            ),
            Problem::NoFrameListRegion {
                server, gateway, ..
            } => write!(
                f,
                "no region is shared by `{server}` and `{gateway}`: the memory server's frame \
                 lists cannot reach the gateway"
            ),
            Problem::TooManyRegions { max } => write!(
                f,
                "the memory server's region table holds {max} regions (RAM, boot-extra, growth \
                 and lending ranges; reserved ranges are not regions); this layout needs more"
            ),
            Problem::BatchOverFrameList { batch, max } => write!(
                f,
                "a batch of {batch} entries exceeds the {max} one frame list holds (a 4 KiB page \
                 of gfns)"
            ),
            Problem::OverHostCapacity { what, needed, held } => write!(
                f,
                "needs {needed} {what}; the simulator is compiled for at most {held}"
            ),
            Problem::OverImageBudget {
                target,
                bitmap_bytes,
                region_bytes,
                budget,
                space,
            } => write!(
                f,
                "a `{target}` image would hold {bitmap_bytes} bytes of page model (the memory \
                 server's bitmaps and reserved runs, and on a Xen image the gateway's page state) \
                 and {region_bytes} bytes of region memory in {space}: {budget} bytes"
            ),
            Problem::Unassembled { reason } => write!(f, "the assembly refuses it: {reason}"),
        }
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "error: {}: {}: {}\n  fix: {}",
            self.file.display(),
            self.key,
            self.problem,
            self.problem.fix()
        )
    }
}

impl std::error::Error for ManifestError {}
