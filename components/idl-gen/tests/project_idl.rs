//! The project's own `idl/` directory loads, with the interfaces and ops the components rely on.

use std::path::Path;

use ballast_idl_gen::{load_dir, LeaseMode};

#[test]
fn project_interfaces_load_with_their_ids_and_capabilities() {
    let interfaces = load_dir(Path::new("../../idl")).expect("idl/ is valid");
    let names: Vec<&str> = interfaces.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["Balloon", "BalloonControl", "Echo", "Hypercall"]);

    let balloon = &interfaces[0];
    assert_eq!(balloon.id, 1);
    let alloc = balloon
        .ops
        .iter()
        .find(|op| op.name == "alloc_unpopulated")
        .unwrap();
    assert_eq!((alloc.id, alloc.capability.as_str()), (1, "balloon.alloc"));
    assert_eq!(
        alloc.lease.as_ref().map(|l| l.access),
        Some(LeaseMode::ReadWrite)
    );
    assert_eq!(
        balloon.server_died_variant().map(|v| v.name.as_str()),
        Some("ServerRestarted")
    );

    let hypercall = &interfaces[3];
    let ops: Vec<(&str, u16, &str)> = hypercall
        .ops
        .iter()
        .map(|op| (op.name.as_str(), op.id, op.capability.as_str()))
        .collect();
    assert_eq!(
        ops,
        [
            ("current_reservation", 2, "xen.current_reservation"),
            ("maximum_reservation", 3, "xen.maximum_reservation"),
            ("increase_reservation", 4, "xen.increase_reservation"),
            ("decrease_reservation", 5, "xen.decrease_reservation"),
            ("populate_physmap", 6, "xen.populate_physmap"),
            ("event_send", 7, "xen.event_send"),
            ("shutdown", 8, "xen.shutdown"),
            ("grant_map", 9, "xen.grant_map"),
            ("grant_unmap", 10, "xen.grant_unmap"),
            ("lend_notice", 11, "xen.lend_notice"),
            ("return_notice", 12, "xen.return_notice"),
        ],
        "one op per Xen operation, each its own capability"
    );
    let decrease = &hypercall.ops[3];
    let arg_names: Vec<&str> = decrease.args.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(arg_names, ["mem_flags", "domid", "extent_order"]);
}
