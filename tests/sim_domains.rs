//! Which domain the simulated guest is: domain 0 where the manifest's `[sim]` says `dom0` (the
//! x86-64 HIL guest, a PVH dom0 under `ballast hil`), a domU otherwise, each with the
//! extent-order limit Xen 4.17 gives it (`docs/XEN-BEHAVIOUR.md#max-order`).

use std::path::Path;

use ballast::composition::{self, SIM};
use ballast::system;
use ballast_xen::abi::{DOMID_SELF, XENMEM_CURRENT_RESERVATION};
use ballast_xen_sim::{DomId, MemoryOpArg, DOM0_MAX_ORDER, DOMU_MAX_ORDER};

#[test]
fn the_x86_hil_guest_is_domain_0_and_names_itself_by_id_0() {
    let composition = composition::load(Path::new("manifests/sim-hil-x86.toml")).unwrap();
    let map = system::build(composition, None, 1).unwrap().map;
    assert_eq!(map.dom, DomId(0));
    let current = |domid| {
        map.xen.memory_op(
            map.dom,
            u64::from(XENMEM_CURRENT_RESERVATION),
            MemoryOpArg::Domid(domid),
        )
    };
    assert_eq!(current(0), 0x10000, "dom0_mem=256M");
    assert_eq!(current(DOMID_SELF), 0x10000);
    assert_eq!(map.xen.extent_order_limit(map.dom), Some(DOM0_MAX_ORDER));
}

#[test]
fn the_default_guest_is_a_domu_with_a_domus_limit() {
    let map = system::build(&SIM, None, 1).unwrap().map;
    assert_eq!(map.dom, DomId(1));
    assert_eq!(map.xen.extent_order_limit(map.dom), Some(DOMU_MAX_ORDER));
}
