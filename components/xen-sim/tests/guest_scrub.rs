//! The guest's scrub (`zero_pages`) clears exactly the pages it names, so a later populate of
//! the released pages hands back zeros instead of the guest's old data.

use ballast_xen::{ExtentOrder, Gfn, Hypervisor, MemFlags, ReservationOp};
use ballast_xen_sim::{DomainConfig, HostConfig, XenSim};

#[test]
fn zeroed_pages_come_back_zero_and_others_keep_their_contents() {
    let sim = XenSim::new(HostConfig {
        free_pages: 0,
        ..HostConfig::default()
    });
    let dom = sim.create_domain(DomainConfig::domu(0..1024, 1024));
    for gfn in 0..4 {
        sim.write_page(dom, gfn, 0xdead_0000 + gfn).unwrap();
    }
    sim.zero_pages(dom, 1..3).unwrap();
    let read: Vec<u64> = (0..4).map(|gfn| sim.read_page(dom, gfn).unwrap()).collect();
    assert_eq!(read, [0xdead_0000, 0, 0, 0xdead_0003]);

    // Release the scrubbed pages and take them back: the host pool returns what was released.
    let mut hv = sim.hypervisor(dom);
    let mut frames = [Gfn(1), Gfn(2)];
    assert_eq!(
        hv.reservation(
            ReservationOp::Decrease,
            ExtentOrder::PAGE,
            MemFlags::NONE,
            &mut frames
        )
        .extents,
        2
    );
    assert_eq!(
        hv.reservation(
            ReservationOp::Populate,
            ExtentOrder::PAGE,
            MemFlags::NONE,
            &mut frames
        )
        .extents,
        2
    );
    assert_eq!(sim.read_page(dom, 1), Some(0));
    assert_eq!(sim.read_page(dom, 2), Some(0));
}
