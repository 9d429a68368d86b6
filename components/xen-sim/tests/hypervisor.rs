//! `SimHypervisor` as the hypercall gateway uses it: the `ballast_xen::Hypervisor` and
//! `GrantTable` traits, every call issued as DOMID_SELF through the raw entry.

use ballast_xen::{
    Completed, ExtentOrder, Gfn, Hypervisor, MemFlags, ReservationOp, SUPERPAGE_ORDER,
};
use ballast_xen_sim::{DomainConfig, HostConfig, SimHypervisor, XenSim};

fn backend() -> (XenSim, SimHypervisor) {
    let sim = XenSim::new(HostConfig {
        free_pages: 1024,
        ..HostConfig::default()
    });
    let d = sim.create_domain(DomainConfig::domu(0..2048, 2048 + 100));
    (sim.clone(), sim.hypervisor(d))
}

#[test]
fn reservations_report_the_completed_prefix() {
    let (sim, mut xen) = backend();
    let mut frames = [Gfn(0), Gfn(512)];
    let done = xen.reservation(
        ReservationOp::Decrease,
        SUPERPAGE_ORDER,
        MemFlags::NONE,
        &mut frames,
    );
    assert_eq!(done, Completed::all(2));
    assert_eq!(xen.current_reservation(), Ok(1024));
    let mut frames = [Gfn(0), Gfn(512)];
    let done = xen.reservation(
        ReservationOp::Populate,
        SUPERPAGE_ORDER,
        MemFlags::NONE,
        &mut frames,
    );
    assert_eq!(done, Completed::all(2));
    let mut more: Vec<Gfn> = (5000..5200).map(Gfn).collect();
    let done = xen.reservation(
        ReservationOp::Populate,
        ExtentOrder::PAGE,
        MemFlags::NONE,
        &mut more,
    );
    assert_eq!(
        done,
        Completed {
            extents: 100,
            anomaly: None
        }
    );
    assert_eq!(xen.current_reservation(), Ok(2148));
    assert_eq!(xen.maximum_reservation(), Ok(2148));
    assert_eq!(sim.counters(xen.domain()).unwrap().populate_calls, 2);
}

#[test]
fn orders_above_the_domains_limit_complete_nothing() {
    let (_, mut xen) = backend();
    let mut frames = [Gfn(0)];
    let order = ExtentOrder::new(10).unwrap();
    let done = xen.reservation(ReservationOp::Decrease, order, MemFlags::NONE, &mut frames);
    assert_eq!(
        done,
        Completed {
            extents: 0,
            anomaly: None
        }
    );
    assert_eq!(xen.current_reservation(), Ok(2048));
}

#[test]
fn clones_share_the_host_and_the_console_is_recorded() {
    let (sim, xen) = backend();
    let mut other = xen.clone();
    std::thread::spawn(move || other.console_write(b"hello from a thread").unwrap())
        .join()
        .unwrap();
    assert_eq!(
        sim.console_output(xen.domain()).unwrap(),
        b"hello from a thread"
    );
}

#[test]
fn event_sends_and_shutdown_reach_the_domain_as_xen_answers_them() {
    use ballast_xen::abi::ShutdownReason;
    use ballast_xen::XenErrno;
    let (sim, mut xen) = backend();
    let dom0 = sim
        .create_dom0(DomainConfig::dom0(0..16, 16))
        .expect("the first dom0");
    let store = sim
        .bind_event_channel(xen.domain(), dom0)
        .expect("a free port");
    assert_eq!(xen.event_send(store), Ok(()));
    assert_eq!(sim.event_sends(xen.domain(), store), Some(1));
    assert_eq!(xen.event_send(store + 1), Err(XenErrno::EINVAL));
    assert_eq!(sim.event_sends(xen.domain(), store), Some(1));
    assert_eq!(xen.shutdown(ShutdownReason::Reboot), Ok(()));
    assert_eq!(sim.shutdown_reason(xen.domain()), Some(1));
    assert_eq!(sim.shutdown_reason(dom0), None);
}

#[test]
fn grant_batches_map_and_unmap_with_a_status_per_entry() {
    use ballast_xen::grant::{
        GnttabMapGrantRef, GnttabUnmapGrantRef, GrantTable, GNTMAP_HOST_MAP, GNTMAP_READONLY,
        GNTST_GENERAL_ERROR, GNTST_OKAY,
    };
    let (sim, mut xen) = backend();
    let domu = xen.domain();
    let dom0 = sim
        .create_dom0(DomainConfig::dom0(0..16, 16))
        .expect("the first dom0");
    sim.write_page(dom0, 2, 0x600d).expect("populated");
    let grant_ref = sim.grant_access(dom0, 2, domu, true).expect("a ref");
    let entry = |flags| GnttabMapGrantRef {
        host_addr: 2100 << 12,
        flags,
        grant_ref,
        dom: 0,
        ..GnttabMapGrantRef::default()
    };
    let mut batch = [
        entry(GNTMAP_HOST_MAP),
        entry(GNTMAP_HOST_MAP | GNTMAP_READONLY),
    ];
    assert_eq!(xen.map_grants(&mut batch), Ok(()));
    let statuses = batch.map(|entry| entry.status);
    assert_eq!(
        statuses,
        [GNTST_GENERAL_ERROR, GNTST_OKAY],
        "the grant is read-only"
    );
    assert_eq!(sim.read_granted(domu, 2100), Some(0x600d));
    let mut unmap = [GnttabUnmapGrantRef {
        host_addr: 2100 << 12,
        handle: batch[1].handle,
        ..GnttabUnmapGrantRef::default()
    }];
    assert_eq!(xen.unmap_grants(&mut unmap), Ok(()));
    assert_eq!(unmap[0].status, GNTST_OKAY);
    assert_eq!(sim.grant_mappings(domu), 0);
    sim.destroy_domain(domu).expect("destroyed");
    assert_eq!(
        xen.map_grants(&mut batch),
        Err(ballast_xen::XenErrno::ESRCH)
    );
}
