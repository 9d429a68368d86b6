//! The plan: a composition checked against the PD ABI, and every per-component answer the root
//! task and the runtime ask of it.

use ballast_interfaces::hypercall::{HypercallOp, INTERFACE_ID as HYPERCALL_INTERFACE};
use ballast_ipc::{EndpointId, NotificationBits};
use ballast_system::{Component, Composition, Endpoint, Kind, Notification, RamSource, Target};
use ballast_xen::FrameRun;

use crate::cspace::{CSpaceLayout, Slot, IMMEDIATE_REPLY_SLOTS};
use crate::faults::{ClientDied, MAX_CLIENT_BADGE};
use crate::hypercall::{HypercallCap, XenCall};
use crate::objects::{ObjectCounts, POOL_ASIDS};
use crate::vspace::{
    fixed_page_tables, page_round, RegionMapping, SpanCounter, LARGE_PAGE_BYTES, PAGE_BYTES,
    RAM_WINDOW_BYTES, REGION_BASE, REGION_END, STACK_PAGES,
};
use crate::{PlanError, ABI_VERSION};

/// Frames in a large page.
const LARGE_PAGE_FRAMES: u64 = LARGE_PAGE_BYTES / PAGE_BYTES;

/// A composition that fits the PD ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Plan<'c> {
    composition: &'c Composition,
    fingerprint: u64,
    region_stride: u64,
    ram_limit: u64,
}

impl<'c> Plan<'c> {
    /// The plan of `composition`, or why it does not fit.
    pub fn new(composition: &'c Composition) -> Result<Plan<'c>, PlanError> {
        if composition.target != Target::Sel4XenArm64 {
            return Err(PlanError::WrongTarget);
        }
        if composition.components.len() as u64 > POOL_ASIDS {
            return Err(PlanError::TooManyComponents);
        }
        if (composition.endpoints.iter()).any(|endpoint| endpoint.badge > MAX_CLIENT_BADGE) {
            return Err(PlanError::TooManyEndpoints);
        }
        if (composition.notifications.iter())
            .any(|notification| !NotificationBits(notification.bits).assignable())
        {
            return Err(PlanError::NotificationBits);
        }
        let largest = (composition.regions.iter())
            .map(|region| page_round(region.size))
            .max()
            .unwrap_or(0);
        let region_stride = largest + PAGE_BYTES;
        let regions_end = (composition.regions.len() as u64)
            .checked_mul(region_stride)
            .and_then(|bytes| bytes.checked_add(REGION_BASE));
        if regions_end.is_none_or(|end| end > REGION_END) {
            return Err(PlanError::RegionsPastWindow);
        }
        let memory = &composition.memory;
        let ram_limit = match memory.ram_source {
            RamSource::BootMap => memory.ram_ceiling.unwrap_or(0),
            RamSource::Manifest => memory.ram.iter().map(FrameRun::end).max().unwrap_or(0),
        };
        if ram_limit > RAM_WINDOW_BYTES / PAGE_BYTES {
            return Err(PlanError::RamPastWindow);
        }
        let plan = Plan {
            composition,
            fingerprint: fingerprint(composition),
            region_stride,
            ram_limit,
        };
        for component in composition.components {
            plan.cspace(component.id)?;
        }
        Ok(plan)
    }

    /// The composition planned.
    pub const fn composition(&self) -> &'c Composition {
        self.composition
    }

    /// A hash of everything in the composition a PD and the root task must agree on.
    pub const fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The component `id`.
    pub fn component(&self, id: u16) -> Result<&'c Component, PlanError> {
        (self.composition.components.get(usize::from(id))).ok_or(PlanError::NoSuchComponent)
    }

    /// Whether `component` serves an endpoint.
    pub fn serves(&self, component: u16) -> bool {
        self.component(component)
            .is_ok_and(|component| !component.serves.is_empty())
    }

    /// The reply slots `component` needs: every deferred request and the call in hand for the
    /// memory server, the call in hand for another server, none for a component that serves
    /// nothing.
    fn reply_slots(&self, component: &Component) -> u16 {
        if component.serves.is_empty() {
            0
        } else if component.kind == Kind::MemoryServer {
            self.composition.server.pending_depth.saturating_add(1)
        } else {
            IMMEDIATE_REPLY_SLOTS
        }
    }

    /// The CSpace layout of `component`.
    pub fn cspace(&self, component: u16) -> Result<CSpaceLayout, PlanError> {
        let entry = self.component(component)?;
        let endpoints =
            self.endpoints_of(component).count() + self.notifications_of(component).count();
        let hypercalls = self.hypercall_calls(component).count();
        CSpaceLayout::new(
            self.reply_slots(entry),
            u16::try_from(endpoints).map_err(|_| PlanError::CSpaceFull)?,
            u16::try_from(hypercalls).map_err(|_| PlanError::CSpaceFull)?,
        )
    }

    /// The endpoints `client` holds, in `EndpointId` order.
    pub fn endpoints_of(&self, client: u16) -> impl Iterator<Item = &'c Endpoint> + 'c {
        (self.composition.endpoints.iter()).filter(move |endpoint| endpoint.client == client)
    }

    /// Each endpoint `client` holds with the slot its capability sits in (to the server's
    /// endpoint, badged [`crate::faults::endpoint_badge`] of the endpoint's badge).
    pub fn endpoint_caps(
        &self,
        client: u16,
    ) -> Result<impl Iterator<Item = (&'c Endpoint, Slot)> + 'c, PlanError> {
        let layout = self.cspace(client)?;
        let slots = (0..layout.endpoints).filter_map(move |index| layout.endpoint(index));
        Ok(self.endpoints_of(client).zip(slots))
    }

    /// The notification capabilities `from` holds, in `EndpointId` order (after its call
    /// endpoints').
    pub fn notifications_of(&self, from: u16) -> impl Iterator<Item = &'c Notification> + 'c {
        (self.composition.notifications.iter())
            .filter(move |notification| notification.from == from)
    }

    /// Each notification capability `from` holds with the slot it sits in, after its call
    /// endpoints' (to the target's notification, badged with the bits it raises, send only).
    pub fn notification_caps(
        &self,
        from: u16,
    ) -> Result<impl Iterator<Item = (&'c Notification, Slot)> + 'c, PlanError> {
        let layout = self.cspace(from)?;
        let calls = self.endpoints_of(from).count() as u16;
        let slots = (calls..layout.endpoints).filter_map(move |index| layout.endpoint(index));
        Ok(self.notifications_of(from).zip(slots))
    }

    /// The slot of `client`'s capability for `endpoint` (a call endpoint or a notification), if
    /// it holds it.
    pub fn endpoint_slot(&self, client: u16, endpoint: EndpointId) -> Option<Slot> {
        let call = self
            .endpoint_caps(client)
            .ok()?
            .find(|(held, _)| held.id == endpoint.0)
            .map(|(_, slot)| slot);
        call.or_else(|| {
            self.notification_caps(client)
                .ok()?
                .find(|(held, _)| held.id == endpoint.0)
                .map(|(_, slot)| slot)
        })
    }

    /// The Xen calls behind the `Hypercall` ops `component`'s callers are granted, if it is a
    /// gateway (the lend and return notices make none).
    fn hypercall_calls(&self, component: u16) -> impl Iterator<Item = XenCall> + 'c {
        self.hypercall_ops(component).filter_map(XenCall::of)
    }

    /// The `Hypercall` ops `component`'s callers are granted, if it is a gateway.
    fn hypercall_ops(&self, component: u16) -> impl Iterator<Item = HypercallOp> + 'c {
        let composition = self.composition;
        let gateway = (composition.components.get(usize::from(component)))
            .is_some_and(|entry| entry.kind == Kind::HypercallGateway);
        HypercallOp::ALL.into_iter().filter(move |&op| {
            gateway
                && (composition.endpoints.iter())
                    .filter(|endpoint| endpoint.server == component)
                    .flat_map(|endpoint| endpoint.grants)
                    .any(|grant| {
                        grant.interface == HYPERCALL_INTERFACE && grant.ops.contains(&(op as u16))
                    })
        })
    }

    /// The hypercall capabilities `component` holds (none unless it is a gateway), with their
    /// slots.
    pub fn hypercall_caps(
        &self,
        component: u16,
    ) -> Result<impl Iterator<Item = HypercallCap> + 'c, PlanError> {
        let layout = self.cspace(component)?;
        let slots = (0..layout.hypercalls).filter_map(move |index| layout.hypercall(index));
        let caps = self.hypercall_calls(component).zip(slots);
        Ok(caps.map(|(call, slot)| HypercallCap { call, slot }))
    }

    /// The slot of `component`'s capability for `call`, if it holds one.
    pub fn hypercall_slot(&self, component: u16, call: XenCall) -> Option<Slot> {
        self.hypercall_caps(component)
            .ok()?
            .find(|cap| cap.call == call)
            .map(|cap| cap.slot)
    }

    /// Bytes between the starts of two consecutive regions: the largest region in whole pages
    /// and an unmapped guard page.
    pub const fn region_stride(&self) -> u64 {
        self.region_stride
    }

    /// Where region `region` is mapped, in every PD that shares it.
    pub const fn region_address(&self, region: u16) -> u64 {
        REGION_BASE + region as u64 * self.region_stride
    }

    /// The regions `component` maps, in region order, with its rights.
    pub fn region_mappings(&self, component: u16) -> impl Iterator<Item = RegionMapping> + 'c {
        let stride = self.region_stride;
        (self.composition.regions.iter())
            .filter(move |region| region.sharers.contains(&component))
            .map(move |region| {
                let lender = region.lender == component;
                RegionMapping {
                    region: region.id,
                    address: REGION_BASE + u64::from(region.id) * stride,
                    bytes: page_round(region.size),
                    writable: lender || region.writers.contains(&component),
                    lender,
                }
            })
    }

    /// The first frame past the RAM the memory server may manage (the manifest's RAM ceiling,
    /// or the end of its RAM).
    pub const fn ram_limit(&self) -> u64 {
        self.ram_limit
    }

    /// Whether the PD of `component` is told the memory server's RAM: the memory server and the
    /// gateway (which checks the frames the memory server names against it).
    pub fn receives_ram(&self, component: u16) -> bool {
        self.component(component)
            .is_ok_and(|entry| matches!(entry.kind, Kind::MemoryServer | Kind::HypercallGateway))
    }

    /// Whether `runs` may be handed to the memory server: each non-empty, in whole large pages,
    /// below the RAM limit (and inside the manifest's RAM when it lists it), after the one before.
    pub fn check_ram_runs(&self, runs: &[FrameRun]) -> Result<(), PlanError> {
        let memory = &self.composition.memory;
        let mut previous_end = 0;
        for run in runs {
            let placed = run.is_valid()
                && run.start() % LARGE_PAGE_FRAMES == 0
                && run.frames % LARGE_PAGE_FRAMES == 0
                && run.end() <= self.ram_limit
                && run.start() >= previous_end
                && (memory.ram_source == RamSource::BootMap
                    || memory.ram.iter().any(|ram| ram.contains_run(run)));
            if !placed {
                return Err(PlanError::MisplacedRamRun);
            }
            previous_end = run.end();
        }
        Ok(())
    }

    /// The client-died messages the root task sends when `dead` faults: one to each server `dead`
    /// held an endpoint to, naming the badge its calls carried there.
    pub fn client_died(&self, dead: u16) -> impl Iterator<Item = (u16, ClientDied)> + 'c {
        self.endpoints_of(dead).map(|endpoint| {
            let died = ClientDied {
                badge: ballast_ipc::Badge(endpoint.badge),
            };
            (endpoint.server, died)
        })
    }

    /// The kernel objects of `component`'s PD besides its image's frames and page tables and the
    /// memory server's RAM window (sized at boot): CNode, TCB, VSpace, a page upper directory and
    /// directory for the first GiB (and one more upper directory for the memory server's window),
    /// the page tables of stack, IPC buffer, boot-info page and regions, and the frames of stack,
    /// IPC buffer and boot-info page.
    pub fn pd_objects(&self, component: u16) -> Result<ObjectCounts, PlanError> {
        let entry = self.component(component)?;
        let regions = self
            .region_mappings(component)
            .fold(SpanCounter::new(LARGE_PAGE_BYTES), |counter, mapping| {
                counter.add(mapping.address, mapping.bytes)
            });
        let window = u64::from(entry.kind == Kind::MemoryServer);
        Ok(ObjectCounts {
            cnodes: 1,
            tcbs: 1,
            vspaces: 1,
            upper_directories: 1 + window,
            directories: 1,
            page_tables: fixed_page_tables() + regions.spans(),
            frames: STACK_PAGES + 2,
            asids: 1,
            notifications: 1,
            endpoints: u64::from(!entry.serves.is_empty()),
            ..ObjectCounts::default()
        })
    }

    /// Every kernel object the root task creates besides the PDs' images and the memory server's
    /// RAM window: each PD's ([`Plan::pd_objects`]), the regions' frames (created once, for the
    /// lender) and a copy of each for every other sharer, and the root task's fault endpoint.
    pub fn objects(&self) -> Result<ObjectCounts, PlanError> {
        let mut total = ObjectCounts {
            endpoints: 1,
            ..ObjectCounts::default()
        };
        for component in self.composition.components {
            total = total.plus(self.pd_objects(component.id)?);
        }
        for region in self.composition.regions {
            let pages = page_round(region.size) / PAGE_BYTES;
            let sharers = region.sharers.len() as u64;
            total.frames += pages;
            total.frame_copies += pages * sharers.saturating_sub(1);
        }
        Ok(total)
    }
}

/// FNV-1a over the numbers of `composition` the PDs and the root task must agree on.
fn fingerprint(composition: &Composition) -> u64 {
    let mut hash = Fnv::new();
    hash.word(u64::from(ABI_VERSION));
    hash.bytes(composition.image.as_bytes());
    hash.word(composition.components.len() as u64);
    for component in composition.components {
        hash.word(u64::from(component.id));
        hash.bytes(component.name.as_bytes());
        hash.word(component.kind as u64);
        hash.word(component.serves.len() as u64);
    }
    for endpoint in composition.endpoints {
        for value in [endpoint.id, endpoint.client, endpoint.server] {
            hash.word(u64::from(value));
        }
        hash.word(u64::from(endpoint.badge));
        for grant in endpoint.grants {
            hash.word(u64::from(grant.interface));
            grant.ops.iter().for_each(|&op| hash.word(u64::from(op)));
        }
    }
    for notification in composition.notifications {
        for value in [notification.id, notification.from, notification.to] {
            hash.word(u64::from(value));
        }
        hash.word(u64::from(notification.bits));
    }
    for region in composition.regions {
        hash.word(u64::from(region.id));
        hash.word(region.size);
        hash.word(u64::from(region.lender));
        region
            .sharers
            .iter()
            .for_each(|&id| hash.word(u64::from(id)));
        region
            .writers
            .iter()
            .for_each(|&id| hash.word(u64::from(id)));
    }
    hash.word(u64::from(composition.server.pending_depth));
    hash.word(composition.memory.unpopulated.start());
    hash.word(composition.memory.unpopulated.frames);
    hash.finish()
}

/// The 64-bit FNV-1a hash.
struct Fnv(u64);

impl Fnv {
    const fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn bytes(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        self.word(bytes.len() as u64);
    }

    fn word(&mut self, word: u64) {
        for byte in word.to_le_bytes() {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    const fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use std::string::String;
    use std::vec::Vec;

    use ballast_ipc::Badge;
    use ballast_system::{MemoryLayout, Region};
    use ballast_xen::abi::{XENMEM_DECREASE_RESERVATION, XENMEM_INCREASE_RESERVATION};
    use ballast_xen::Gfn;
    use zerocopy::{FromBytes, FromZeros, IntoBytes};

    use super::*;
    use crate::boot_info::{BootInfoError, PdBootInfo, BOOT_RAM_RUNS};
    use crate::cmdline::CMDLINE_BYTES;
    use crate::cspace::{ENDPOINT, FIRST_REPLY};

    const MANIFEST: &str = include_str!("../../../manifests/sel4-xen-arm64.toml");

    /// The composition of `text`, a manifest (it must be valid).
    fn compose(text: &str) -> &'static Composition {
        let path = std::path::Path::new("sel4-xen-arm64.toml");
        match ballast_manifest::check_text(path, text, ballast_manifest::INTERFACES) {
            Ok(manifest) => {
                std::boxed::Box::leak(std::boxed::Box::new(ballast_manifest::compose(&manifest)))
            }
            Err(errors) => panic!("{errors:#?}"),
        }
    }

    /// The shipped manifest with `from` replaced by `to` (which must occur).
    fn edited(from: &str, to: &str) -> String {
        assert!(MANIFEST.contains(from), "{from}");
        MANIFEST.replace(from, to)
    }

    fn plan() -> Plan<'static> {
        Plan::new(compose(MANIFEST)).expect("the seL4 manifest fits the PD ABI")
    }

    fn id(plan: &Plan<'_>, name: &str) -> u16 {
        plan.composition().component(name).expect(name).id
    }

    #[test]
    fn every_component_gets_its_reply_slots_then_one_slot_per_endpoint_it_holds() {
        let plan = plan();
        let memory = id(&plan, "memory");
        let depth = plan.composition().server.pending_depth;
        let layout = plan.cspace(memory).expect("memory");
        assert_eq!(layout.reply_slots, depth + 1);
        let gateway = id(&plan, "gateway");
        let (to_gateway, _) = plan
            .composition()
            .capability(memory, gateway)
            .expect("link");
        assert_eq!(
            plan.endpoint_slot(memory, to_gateway),
            Some(Slot(FIRST_REPLY.0 + depth + 1))
        );
        for client in ["control", "testclient"] {
            let client = id(&plan, client);
            let layout = plan.cspace(client).expect("client");
            let held = plan.endpoints_of(client).count() + plan.notifications_of(client).count();
            assert_eq!((layout.reply_slots, layout.endpoints), (0, held as u16));
            let (endpoint, _) = plan.composition().capability(client, memory).expect("link");
            assert_eq!(plan.endpoint_slot(client, endpoint), Some(FIRST_REPLY));
            assert_eq!(plan.endpoint_slot(client, to_gateway), None);
            assert!(!plan.serves(client));
        }
        let gateway_layout = plan.cspace(gateway).expect("gateway");
        assert_eq!(gateway_layout.reply_slots, IMMEDIATE_REPLY_SLOTS);
        assert_eq!(gateway_layout.endpoints, 0);
        assert!(plan.serves(gateway) && plan.serves(memory));
        assert!(FIRST_REPLY > ENDPOINT);
    }

    #[test]
    fn a_notification_capability_follows_its_holders_call_endpoints() {
        let plan = plan();
        let (control, testclient) = (id(&plan, "control"), id(&plan, "testclient"));
        let notification = plan
            .composition()
            .notification(control, testclient)
            .expect("go");
        let layout = plan.cspace(control).expect("control");
        assert_eq!(
            layout.endpoints, 2,
            "its call to the memory server, its notification"
        );
        let held: Vec<(u16, Slot)> = plan
            .notification_caps(control)
            .expect("control")
            .map(|(held, slot)| (held.id, slot))
            .collect();
        assert_eq!(held, [(notification.id, Slot(FIRST_REPLY.0 + 1))]);
        let by_id = plan.endpoint_slot(control, EndpointId(notification.id));
        assert_eq!(by_id, Some(Slot(FIRST_REPLY.0 + 1)));
        assert_eq!(
            plan.endpoint_slot(testclient, EndpointId(notification.id)),
            None
        );
        assert_eq!(
            plan.notification_caps(testclient)
                .expect("testclient")
                .count(),
            0
        );
    }

    #[test]
    fn notification_bits_reaching_the_endpoint_bit_or_none_are_refused() {
        let shipped = compose(MANIFEST);
        for bits in [1 << 27, 0] {
            let wide = std::boxed::Box::leak(
                std::vec![ballast_system::Notification {
                    bits,
                    ..shipped.notifications[0]
                }]
                .into_boxed_slice(),
            );
            let composition = std::boxed::Box::leak(std::boxed::Box::new(Composition {
                notifications: wide,
                ..*shipped
            }));
            assert_eq!(Plan::new(composition), Err(PlanError::NotificationBits));
        }
    }

    #[test]
    fn only_the_gateway_holds_hypercall_capabilities_and_exactly_for_the_granted_ops() {
        let plan = plan();
        let gateway = id(&plan, "gateway");
        let badges: Vec<u64> = plan
            .hypercall_caps(gateway)
            .expect("gateway")
            .map(|cap| cap.badge())
            .collect();
        let memory_op = |sub_op: u64| (12 << 32) | sub_op;
        assert_eq!(
            badges,
            [memory_op(3), memory_op(4), memory_op(1), memory_op(6)],
            "current, maximum, decrease, populate: no increase, no console"
        );
        let layout = plan.cspace(gateway).expect("gateway");
        let slots: Vec<Slot> = plan
            .hypercall_caps(gateway)
            .expect("gateway")
            .map(|cap| cap.slot)
            .collect();
        assert_eq!(
            slots,
            (0..4)
                .filter_map(|index| layout.hypercall(index))
                .collect::<Vec<_>>()
        );
        let decrease = XenCall::memory_op(XENMEM_DECREASE_RESERVATION);
        assert_eq!(plan.hypercall_slot(gateway, decrease), layout.hypercall(2));
        let increase = XenCall::memory_op(XENMEM_INCREASE_RESERVATION);
        assert_eq!(plan.hypercall_slot(gateway, increase), None);
        for other in ["memory", "testclient", "control"] {
            let other = id(&plan, other);
            assert_eq!(plan.hypercall_caps(other).expect("component").count(), 0);
            assert_eq!(plan.cspace(other).expect("component").hypercalls, 0);
        }
    }

    #[test]
    fn a_narrower_grant_gives_the_gateway_fewer_capabilities() {
        let narrow = edited(
            "uses.Hypercall.ops = [\"decrease_reservation\", \"populate_physmap\", \"current_reservation\", \"maximum_reservation\"]",
            "uses.Hypercall.ops = [\"decrease_reservation\", \"populate_physmap\"]",
        );
        let plan = Plan::new(compose(&narrow)).expect("fits");
        let gateway = id(&plan, "gateway");
        let calls: Vec<XenCall> = plan
            .hypercall_caps(gateway)
            .expect("gateway")
            .map(|cap| cap.call)
            .collect();
        assert_eq!(
            calls,
            [
                XenCall::memory_op(XENMEM_DECREASE_RESERVATION),
                XenCall::POPULATE_PHYSMAP
            ]
        );
        assert_ne!(plan.fingerprint(), self::plan().fingerprint());
    }

    #[test]
    fn regions_sit_at_one_address_in_every_sharer_with_the_granted_rights() {
        let plan = plan();
        let composition = plan.composition();
        for region in composition.regions {
            for &sharer in region.sharers {
                let mapping = plan
                    .region_mappings(sharer)
                    .find(|mapping| mapping.region == region.id)
                    .expect("a sharer maps the region");
                assert_eq!(mapping.address, plan.region_address(region.id));
                assert_eq!(mapping.lender, sharer == region.lender);
                let writable = sharer == region.lender || region.writers.contains(&sharer);
                assert_eq!(mapping.writable, writable);
                assert!(mapping.bytes >= region.size && mapping.bytes % PAGE_BYTES == 0);
            }
        }
        let control = id(&plan, "control");
        assert_eq!(plan.region_mappings(control).count(), 0);
        let frame_list = composition
            .region(id(&plan, "memory"), id(&plan, "gateway"))
            .expect("frame list");
        let gateway_view = plan
            .region_mappings(id(&plan, "gateway"))
            .find(|mapping| mapping.region == frame_list.id)
            .expect("mapped");
        assert!(
            gateway_view.writable,
            "Xen writes frames back through the gateway's lease"
        );
        let mut ends: Vec<(u64, u64)> = (0..composition.regions.len() as u16)
            .map(|region| {
                (
                    plan.region_address(region),
                    plan.region_address(region) + plan.region_stride(),
                )
            })
            .collect();
        ends.sort_unstable();
        assert!(ends.windows(2).all(|pair| pair[0].1 <= pair[1].0));
        assert!(ends.last().expect("regions").1 <= REGION_END);
    }

    #[test]
    fn a_dead_component_is_reported_to_every_server_it_called_with_its_badge_there() {
        let plan = plan();
        let (memory, gateway) = (id(&plan, "memory"), id(&plan, "gateway"));
        let (testclient, standin) = (id(&plan, "testclient"), id(&plan, "standin"));
        let badge_at = |server| {
            let (_, badge) = (plan.composition().capability(testclient, server)).expect("link");
            ClientDied { badge }
        };
        let reports: Vec<(u16, ClientDied)> = plan.client_died(testclient).collect();
        assert_eq!(
            reports,
            [(memory, badge_at(memory)), (standin, badge_at(standin))]
        );
        let (_, badge) = plan
            .composition()
            .capability(memory, gateway)
            .expect("link");
        let reports: Vec<(u16, ClientDied)> = plan.client_died(memory).collect();
        assert_eq!(reports, [(gateway, ClientDied { badge })]);
        assert_eq!(plan.client_died(gateway).count(), 0);
        for endpoint in plan.composition().endpoints {
            let minted = crate::faults::endpoint_badge(Badge(endpoint.badge));
            assert_ne!(minted, crate::ROOT_TASK_BADGE);
            assert_ne!(endpoint.badge, 0);
        }
    }

    #[test]
    fn the_boot_info_page_round_trips_and_names_its_component_and_plan() {
        let plan = plan();
        let memory = id(&plan, "memory");
        let ram = [
            FrameRun::span(0x40200, 0x48000),
            FrameRun::span(0x48400, 0x50000),
        ];
        let page = PdBootInfo::new(&plan, memory, &ram, "").expect("memory");
        let bytes = page.as_bytes();
        assert!(bytes.len() <= PAGE_BYTES as usize);
        let read = PdBootInfo::read_from_bytes(bytes).expect("same layout");
        assert_eq!(read.check(&plan, memory), Ok(()));
        assert_eq!(read.ram_runs().collect::<Vec<_>>(), ram);
        assert_eq!(read.lending(), plan.composition().memory.unpopulated);
        assert_eq!(
            read.check(&plan, id(&plan, "gateway")),
            Err(BootInfoError::OtherComponent)
        );
        let other =
            Plan::new(compose(&edited("pending_depth = 8", "pending_depth = 9"))).expect("fits");
        assert_eq!(
            read.check(&other, memory),
            Err(BootInfoError::OtherComposition)
        );
        let zeroed = PdBootInfo::new_zeroed();
        assert_eq!(zeroed.check(&plan, memory), Err(BootInfoError::BadMagic));

        let gateway = PdBootInfo::new(&plan, id(&plan, "gateway"), &ram, "").expect("gateway");
        assert_eq!(
            gateway.ram_runs().count(),
            2,
            "the gateway checks frames against them"
        );
        let control = PdBootInfo::new(&plan, id(&plan, "control"), &ram, "").expect("control");
        assert_eq!(control.ram_runs().count(), 0);
        assert_eq!(
            PdBootInfo::new(&plan, plan.composition().components.len() as u16, &ram, ""),
            Err(PlanError::NoSuchComponent)
        );
    }

    #[test]
    fn every_boot_info_page_carries_the_command_line_checked_when_read() {
        let plan = plan();
        let line = "scenario=isolation target_mib=64";
        for component in plan.composition().components {
            let page = PdBootInfo::new(&plan, component.id, &[], line).expect("fits");
            let read = PdBootInfo::read_from_bytes(page.as_bytes()).expect("same layout");
            assert_eq!(read.check(&plan, component.id), Ok(()));
            assert_eq!(read.cmdline(), Ok(line));
        }
        let control = id(&plan, "control");
        let full = "a".repeat(CMDLINE_BYTES);
        let page = PdBootInfo::new(&plan, control, &[], &full).expect("exactly the capacity");
        assert_eq!(page.cmdline(), Ok(full.as_str()));
        assert_eq!(
            PdBootInfo::new(&plan, control, &[], &"a".repeat(CMDLINE_BYTES + 1)),
            Err(PlanError::CmdlineTooLong)
        );
        let mut past = page;
        past.cmdline_length = CMDLINE_BYTES as u32 + 1;
        assert_eq!(past.check(&plan, control), Err(BootInfoError::BadCmdline));
        let mut latin1 = PdBootInfo::new(&plan, control, &[], "name=cafe").expect("fits");
        latin1.cmdline[8] = 0xe9;
        assert_eq!(latin1.cmdline(), Err(BootInfoError::BadCmdline));
        assert_eq!(latin1.check(&plan, control), Err(BootInfoError::BadCmdline));
    }

    #[test]
    fn ram_runs_must_be_whole_large_pages_below_the_ceiling_in_order() {
        let plan = plan();
        let memory = id(&plan, "memory");
        let misplaced = [
            [FrameRun::span(0x40100, 0x40300)],
            [FrameRun::span(0x40200, 0x40300)],
            [FrameRun::span(0x40200, 0x40200)],
            [FrameRun::span(
                plan.ram_limit() - 0x200,
                plan.ram_limit() + 0x200,
            )],
        ];
        for ram in misplaced {
            assert_eq!(
                PdBootInfo::new(&plan, memory, &ram, ""),
                Err(PlanError::MisplacedRamRun),
                "{ram:?}"
            );
        }
        let backwards = [
            FrameRun::span(0x48000, 0x48200),
            FrameRun::span(0x40000, 0x40200),
        ];
        assert_eq!(
            plan.check_ram_runs(&backwards),
            Err(PlanError::MisplacedRamRun)
        );
        let many: Vec<FrameRun> = (0..=BOOT_RAM_RUNS as u64)
            .map(|index| FrameRun::new(Gfn(0x40000 + index * 0x400), 0x200))
            .collect();
        assert_eq!(plan.check_ram_runs(&many), Ok(()));
        assert_eq!(
            PdBootInfo::new(&plan, memory, &many, ""),
            Err(PlanError::TooManyRamRuns)
        );
    }

    #[test]
    fn compositions_that_do_not_fit_get_a_typed_refusal() {
        let arm64 = include_str!("../../../manifests/xen-arm64.toml");
        assert_eq!(Plan::new(compose(arm64)), Err(PlanError::WrongTarget));
        let deep = edited("pending_depth = 8", "pending_depth = 250");
        assert_eq!(Plan::new(compose(&deep)), Err(PlanError::CSpaceFull));
        // Compositions this large are refused by the manifest check first (the image's memory
        // budget), so they are built from the shipped one here: the plan refuses them on its own.
        let shipped = compose(MANIFEST);
        let regions = (shipped.regions.iter())
            .map(|region| Region {
                size: 0x2000_0000,
                ..*region
            })
            .collect::<Vec<_>>();
        let huge = Composition {
            regions: Vec::leak(regions),
            ..*shipped
        };
        assert_eq!(Plan::new(&huge), Err(PlanError::RegionsPastWindow));
        let vast = Composition {
            memory: MemoryLayout {
                ram_ceiling: Some(0x1000_0000),
                unpopulated: FrameRun::new(Gfn(0x1000_0000), 0x1_0000),
                ..shipped.memory
            },
            ..*shipped
        };
        assert_eq!(Plan::new(&vast), Err(PlanError::RamPastWindow));
    }

    #[test]
    fn the_objects_count_every_pd_region_and_the_fault_endpoint() {
        let plan = plan();
        let composition = plan.composition();
        let pds = composition.components.len() as u64;
        let servers = composition
            .components
            .iter()
            .filter(|component| !component.serves.is_empty())
            .count() as u64;
        let objects = plan.objects().expect("fits");
        assert_eq!(
            (objects.cnodes, objects.tcbs, objects.vspaces, objects.asids),
            (pds, pds, pds, pds)
        );
        assert_eq!(
            objects.upper_directories,
            pds + 1,
            "the memory server's RAM window"
        );
        assert_eq!(objects.directories, pds);
        assert_eq!(objects.endpoints, servers + 1);
        assert_eq!(objects.notifications, pds);
        let region_pages: u64 = composition
            .regions
            .iter()
            .map(|region| page_round(region.size) / PAGE_BYTES)
            .sum();
        assert_eq!(objects.frames, pds * (STACK_PAGES + 2) + region_pages);
        let copies: u64 = composition
            .regions
            .iter()
            .map(|region| page_round(region.size) / PAGE_BYTES * (region.sharers.len() as u64 - 1))
            .sum();
        assert_eq!(objects.frame_copies, copies);
        let sharing = composition
            .components
            .iter()
            .filter(|component| plan.region_mappings(component.id).count() > 0)
            .count() as u64;
        assert_eq!(
            objects.page_tables,
            pds * fixed_page_tables() + sharing,
            "both regions share one 2 MiB span"
        );
        assert!(objects.bytes() < 2 << 20, "{} bytes", objects.bytes());
    }
}
