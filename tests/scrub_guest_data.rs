//! No page holding the guest's data reaches Xen unscrubbed, on the whole default system: the
//! guest's RAM is filled with tagged words before the memory server starts, the toolstack takes the
//! guest down to 1 GiB, back to 4 GiB and down again (the second time through chunks the server
//! populated itself, which it gives back unscrubbed), while a driver borrows and gives back. Then
//! a spy domain takes every free page of the host and reads it: xen-sim keeps a freed page's
//! contents, as Xen does, so a page the server gave back unscrubbed would still carry the tag. A
//! witness domain gives back one tagged page unscrubbed first, so the spy is shown to see one.

use ballast::composition::SIM;
use ballast::system::{self, ExternalCap, SystemMap};
use ballast_interfaces::balloon_control::{self, StatsReply};
use ballast_interfaces::runs;
use ballast_interfaces::{balloon, runs::WireRun};
use ballast_ipc::deterministic::{CallId, DeterministicRuntime};
use ballast_ipc::{CheckedTables, LeaseDescriptor};
use ballast_system::Composition;
use ballast_xen::{ExtentOrder, Gfn, Hypervisor, MemFlags, ReservationOp};
use ballast_xen_sim::{DomainConfig, XenSim};

const STEP_LIMIT: u64 = 10_000_000;
/// The high bits of every word the guest writes.
const GUEST_TAG: u64 = 0x6775_6573_7400_0000;
/// The high bits of the witness domain's word.
const WITNESS_TAG: u64 = 0x7769_746e_6500_0000;
const TAG_MASK: u64 = 0xffff_ffff_ff00_0000;
const GIB_PAGES: u64 = 1 << 18;

struct System {
    runtime: DeterministicRuntime,
    map: SystemMap,
}

impl System {
    fn new(seed: u64) -> System {
        let composition: &'static Composition = &SIM;
        let parts = system::build(composition, None, seed).unwrap();
        let ipc = CheckedTables::from_tables(&composition.ipc).unwrap();
        let (handlers, map) = parts.into_deterministic();
        let runtime = DeterministicRuntime::new(ipc, handlers, seed).unwrap();
        System { runtime, map }
    }

    fn call(
        &mut self,
        from: &ExternalCap,
        message: &[u8],
        lease: Option<LeaseDescriptor>,
    ) -> CallId {
        let call = self
            .runtime
            .submit_call(from.component, from.endpoint, message, lease)
            .unwrap();
        let report = self.runtime.run_until_idle(STEP_LIMIT).unwrap();
        assert!(report.idle, "the system did not settle");
        call
    }

    fn stats(&mut self) -> StatsReply {
        let control = self.map.control.clone();
        let call = self.call(&control, &balloon_control::encode_stats(), None);
        let reply = self.runtime.take_reply(call).unwrap().unwrap();
        balloon_control::decode_stats(&reply).unwrap()
    }

    /// Set the target and wait until Xen's count reaches it.
    fn reach(&mut self, pages: u64) {
        let control = self.map.control.clone();
        let call = self.call(&control, &balloon_control::encode_set_target(pages), None);
        let reply = self.runtime.take_reply(call).unwrap().unwrap();
        balloon_control::decode_set_target(&reply).unwrap();
        assert_eq!(self.stats().current, pages);
    }

    fn lease(client: &ExternalCap) -> Option<LeaseDescriptor> {
        let (region, size) = client.region.unwrap();
        Some(LeaseDescriptor {
            region: region.0,
            writable: 1,
            offset: 0,
            len: size,
            reserved: 0,
        })
    }

    /// A driver borrows `count` frames and gives them back.
    fn borrow_and_give_back(&mut self, name: &str, count: u64) {
        let client = self
            .map
            .clients
            .iter()
            .find(|c| c.name == name)
            .cloned()
            .unwrap();
        let call = self.call(
            &client,
            &balloon::encode_alloc_unpopulated(count, u64::MAX),
            System::lease(&client),
        );
        let reply = self.runtime.take_reply(call).unwrap().unwrap();
        let body = balloon::decode_alloc_unpopulated(&reply).unwrap();
        let region = self.runtime.region(client.region.unwrap().0).unwrap();
        let given: Vec<WireRun> = runs::read(region, body.runs as usize).unwrap().to_vec();
        let region = self.runtime.region(client.region.unwrap().0).unwrap();
        runs::write(region, given.iter().copied()).unwrap();
        let call = self.call(
            &client,
            &balloon::encode_free_unpopulated(given.len() as u32),
            System::lease(&client),
        );
        let reply = self.runtime.take_reply(call).unwrap().unwrap();
        assert_eq!(balloon::decode_free_unpopulated(&reply), Ok(()));
    }
}

/// A domain of its own gives back one page tagged `WITNESS_TAG` without scrubbing it.
fn witness_gives_back_a_tagged_page(xen: &XenSim) {
    let witness = xen.create_domain(DomainConfig::domu(0..1, 1));
    xen.write_page(witness, 0, WITNESS_TAG).unwrap();
    let mut frames = [Gfn(0)];
    let done = xen.hypervisor(witness).reservation(
        ReservationOp::Decrease,
        ExtentOrder::PAGE,
        MemFlags::NONE,
        &mut frames,
    );
    assert_eq!(done.extents, 1);
}

/// A spy domain populates every free page of the host and reads each: the pages carrying the
/// guest's tag and the witness's.
fn spy_on_free_memory(xen: &XenSim) -> (u64, u64) {
    let free = xen.host_free_pages();
    let spy = xen.create_domain(DomainConfig::domu(0..1, free + 1));
    let mut hypervisor = xen.hypervisor(spy);
    let (mut guest, mut witness) = (0, 0);
    for batch_start in (1..=free).step_by(4096) {
        let end = (batch_start + 4096).min(free + 1);
        let mut frames: Vec<Gfn> = (batch_start..end).map(Gfn).collect();
        let done = hypervisor.reservation(
            ReservationOp::Populate,
            ExtentOrder::PAGE,
            MemFlags::NONE,
            &mut frames,
        );
        assert_eq!(done.extents, frames.len(), "the spy takes every free page");
        for gfn in batch_start..end {
            match xen.read_page(spy, gfn).unwrap() & TAG_MASK {
                GUEST_TAG => guest += 1,
                WITNESS_TAG => witness += 1,
                _ => {}
            }
        }
    }
    assert_eq!(xen.host_free_pages(), 0);
    (guest, witness)
}

#[test]
fn no_page_holding_the_guests_data_goes_back_unscrubbed() {
    let mut system = System::new(7);
    let (xen, dom) = (system.map.xen.clone(), system.map.dom);
    let ram = 0..4 * GIB_PAGES;
    for gfn in ram.clone() {
        if xen.is_populated(dom, gfn) == Some(true) {
            xen.write_page(dom, gfn, GUEST_TAG | gfn).unwrap();
        }
    }
    witness_gives_back_a_tagged_page(&xen);

    system.reach(GIB_PAGES);
    system.borrow_and_give_back("blkback", 300);
    system.reach(4 * GIB_PAGES);
    system.borrow_and_give_back("netback", 64);
    system.reach(GIB_PAGES);

    assert_eq!(
        spy_on_free_memory(&xen),
        (0, 1),
        "free memory holds the witness's page and none of the guest's"
    );
    let stats = system.stats();
    assert_eq!(
        (stats.scrubbed, stats.scrub_skipped),
        (3 * GIB_PAGES, 3 * GIB_PAGES),
        "the boot RAM scrubbed the first time down, the chunks the server repopulated not"
    );
    let still_tagged = ram
        .filter(|&gfn| xen.read_page(dom, gfn).unwrap_or(0) & TAG_MASK == GUEST_TAG)
        .count() as u64;
    assert_eq!(
        still_tagged, GIB_PAGES,
        "the guest's data stays in the guest"
    );
}
