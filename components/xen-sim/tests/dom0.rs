//! Domain 0 as real Xen has it: id 0, named by that id or by `DOMID_SELF`, privileged over the
//! other domains, with the extent-order limit Xen 4.17's `max_order()` gives the control and
//! hardware domain (`docs/XEN-BEHAVIOUR.md#max-order`); a domU naming it is refused.

mod common;

use ballast_xen::abi::DOMID_SELF;
use ballast_xen_sim::{
    DomId, DomainConfig, HostConfig, SimError, XenSim, DOM0_MAX_ORDER, XEN_MAX_ORDER,
};
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

#[test]
fn dom0s_limit_is_order_18_even_where_the_host_has_order_19_free() {
    let sim = XenSim::new(HostConfig {
        free_pages: 1 << 20,
        largest_free_order: 20,
        ..HostConfig::default()
    });
    let dom0 = sim
        .create_dom0(DomainConfig::dom0(0..0, 1 << 21))
        .expect("the first dom0");
    assert_eq!((DOM0_MAX_ORDER, XEN_MAX_ORDER), (18, 18));
    assert_eq!(
        call(&sim, dom0, POPULATE, 18, &[0]),
        1,
        "1 GiB in one extent"
    );
    assert_eq!(
        call(&sim, dom0, POPULATE, 19, &[1 << 19]),
        0,
        "past max_order()"
    );
    assert_eq!(
        call(&sim, dom0, DECREASE, 19, &[0]),
        0,
        "decrease checks it too"
    );
    assert_eq!(call(&sim, dom0, DECREASE, 18, &[0]), 1);
    assert_eq!(sim.tot_pages(dom0), Some(0));
}

#[test]
fn the_limit_is_the_callers_and_a_control_domain_gets_18() {
    let (sim, dom0, domu) = host();
    // dom0 may populate a domU with an extent the domU could not ask for itself.
    assert_eq!(
        call_with(&sim, dom0, POPULATE, 0, 12, 0, domu.0, &[0x4000]),
        1
    );
    assert_eq!(sim.tot_pages(domu), Some(0x4000 + 4096));
    assert_eq!(call(&sim, domu, DECREASE, 12, &[0x4000]), 0, "not the domU");
    assert_eq!(call(&sim, domu, DECREASE, 9, &[0x4000]), 1);
    // A domU made a control domain is raised to the control domain's limit.
    sim.set_privileged(domu, true).unwrap();
    assert_eq!(call(&sim, domu, DECREASE, 11, &[0x4800]), 1);
    assert_eq!(sim.tot_pages(domu), Some(0x4000 + 512 + 1024));
}
