//! Domain 0 as real Xen has it: id 0, named by that id or by `DOMID_SELF`, privileged over the
//! other domains, with the hardware domain's extent-order limit; a domU naming it is refused.

mod common;

use ballast_xen::abi::DOMID_SELF;
use ballast_xen_sim::{DomId, DomainConfig, HostConfig, SimError, XenSim, DOM0_MAX_ORDER};
use common::*;

/// A host with a 256 MiB dom0 (maximum 512 MiB) and a 64 MiB domU, 1 GiB free.
fn host() -> (XenSim, DomId, DomId) {
    let sim = XenSim::new(HostConfig {
        free_pages: 1 << 18,
        ..HostConfig::default()
    });
    let dom0 = sim
        .create_dom0(DomainConfig::dom0(0..0x10000, 0x20000))
        .expect("the first dom0");
    let domu = sim.create_domain(DomainConfig::domu(0..0x4000, 0x8000));
    (sim, dom0, domu)
}

#[test]
fn dom0_is_domain_0_and_there_is_only_one() {
    let (sim, dom0, domu) = host();
    assert_eq!(dom0, DomId(0));
    assert_eq!(domu, DomId(1), "domUs still count from 1");
    assert_eq!(
        sim.create_dom0(DomainConfig::dom0(0..16, 16)),
        Err(SimError::Dom0Exists)
    );
    assert_eq!(
        sim.tot_pages(dom0),
        Some(0x10000),
        "the refused one changed nothing"
    );
}

#[test]
fn dom0_names_itself_by_id_0_or_domid_self() {
    let (sim, dom0, _) = host();
    assert_eq!(query(&sim, dom0, 3, 0), 0x10000);
    assert_eq!(query(&sim, dom0, 3, DOMID_SELF), 0x10000);
    assert_eq!(query(&sim, dom0, 4, 0), 0x20000);
    assert_eq!(call_with(&sim, dom0, DECREASE, 0, 9, 0, 0, &[0x800]), 1);
    assert_eq!(query(&sim, dom0, 3, DOMID_SELF), 0x10000 - 512);
    assert_eq!(
        call_with(&sim, dom0, POPULATE, 0, 9, 0, DOMID_SELF, &[0x800]),
        1
    );
    assert_eq!(sim.tot_pages(dom0), Some(0x10000));
}

#[test]
fn dom0_takes_extents_past_a_domus_limit() {
    let (sim, dom0, domu) = host();
    // One extent of order 16 (256 MiB) up to the maximum, and back.
    assert_eq!(call(&sim, dom0, POPULATE, 16, &[0x10000]), 1);
    assert_eq!(sim.tot_pages(dom0), Some(0x20000));
    assert_eq!(call(&sim, dom0, DECREASE, 16, &[0x10000]), 1);
    let beyond = u32::from(DOM0_MAX_ORDER) + 1;
    assert_eq!(call(&sim, dom0, POPULATE, beyond, &[0]), 0, "past the cap");
    assert_eq!(
        call(&sim, domu, POPULATE, 10, &[0x4000]),
        0,
        "a domU stops at 9"
    );
    assert_eq!(sim.tot_pages(domu), Some(0x4000));
}

#[test]
fn dom0_acts_on_a_domu_and_a_domu_may_not_name_dom0() {
    let (sim, dom0, domu) = host();
    assert_eq!(query(&sim, dom0, 3, domu.0), 0x4000);
    assert_eq!(call_with(&sim, dom0, DECREASE, 0, 0, 0, domu.0, &[7]), 1);
    assert_eq!(sim.tot_pages(domu), Some(0x4000 - 1));
    assert_eq!(query(&sim, domu, 3, 0), -1, "-EPERM");
    assert_eq!(call_with(&sim, domu, DECREASE, 0, 0, 0, 0, &[5]), 0);
    assert_eq!(sim.tot_pages(dom0), Some(0x10000));
}
