//! Checks our Xen ABI against Debian's `libxen-dev` headers: a C probe compiled with the system
//! compiler prints the size and every field offset of `struct xen_memory_reservation`, of the
//! shared rings' `struct xenstore_domain_interface` and `struct xencons_interface` and of the
//! xenstore message header `struct xsd_sockmsg`, the sizes of `struct evtchn_send` and
//! `struct sched_shutdown`, the grant-table map and unmap structs, and the value of every constant
//! we define; the test compares each with
//! ours.
//!
//! `MEMOP_EXTENT_SHIFT` is not in the public headers (Xen keeps it in its internal
//! `xen/hypercall.h`); its value is pinned by docs/XEN-BEHAVIOUR.md#continuation (measured) and by
//! the xen-sim tests instead.

use std::collections::BTreeMap;
use std::mem::{offset_of, size_of};
use std::path::Path;
use std::process::Command;

use ballast_xen::abi::{self, EvtchnSend, SchedShutdown, XenMemoryReservation};
use ballast_xen::mem_flags::{
    XENMEMF_EXACT_NODE_REQUEST, XENMEMF_POPULATE_ON_DEMAND, XENMEMF_VNODE,
};
use ballast_xen::ring::console::{self, XenconsInterface};
use ballast_xen::ring::xenstore::{self, XenstoreDomainInterface, XsdSockmsg};
use ballast_xen::MemFlags;

/// One checked entry: a name, the C expression that gives its value, and our value.
type Entry = (&'static str, &'static str, u64);

/// Every entry, one group per interface.
fn ours() -> Vec<Entry> {
    [
        memory_op(),
        events_and_shutdown(),
        hvm_guest(),
        rings(),
        grant_table(),
    ]
    .concat()
}

/// The HVM/PVH guest interfaces of `ballast_xen::hvm`.
fn hvm_guest() -> Vec<Entry> {
    use ballast_xen::hvm::{self, shared_info, SchedPoll, XenAddToPhysmap, XenHvmParam};
    vec![
        (
            "sizeof_xen_hvm_param",
            "sizeof(struct xen_hvm_param)",
            size_of::<XenHvmParam>() as u64,
        ),
        (
            "hvm_param.index",
            "offsetof(struct xen_hvm_param, index)",
            offset_of!(XenHvmParam, index) as u64,
        ),
        (
            "hvm_param.value",
            "offsetof(struct xen_hvm_param, value)",
            offset_of!(XenHvmParam, value) as u64,
        ),
        (
            "sizeof_xen_add_to_physmap",
            "sizeof(struct xen_add_to_physmap)",
            size_of::<XenAddToPhysmap>() as u64,
        ),
        (
            "add_to_physmap.space",
            "offsetof(struct xen_add_to_physmap, space)",
            offset_of!(XenAddToPhysmap, space) as u64,
        ),
        (
            "add_to_physmap.idx",
            "offsetof(struct xen_add_to_physmap, idx)",
            offset_of!(XenAddToPhysmap, idx) as u64,
        ),
        (
            "add_to_physmap.gpfn",
            "offsetof(struct xen_add_to_physmap, gpfn)",
            offset_of!(XenAddToPhysmap, gpfn) as u64,
        ),
        (
            "sizeof_sched_poll",
            "sizeof(struct sched_poll)",
            size_of::<SchedPoll>() as u64,
        ),
        (
            "sched_poll.nr_ports",
            "offsetof(struct sched_poll, nr_ports)",
            offset_of!(SchedPoll, nr_ports) as u64,
        ),
        (
            "sched_poll.timeout",
            "offsetof(struct sched_poll, timeout)",
            offset_of!(SchedPoll, timeout) as u64,
        ),
        (
            "sizeof_vcpu_info",
            "sizeof(struct vcpu_info)",
            shared_info::VCPU_INFO_BYTES as u64,
        ),
        (
            "vcpu_info.evtchn_upcall_pending",
            "offsetof(struct vcpu_info, evtchn_upcall_pending)",
            shared_info::UPCALL_PENDING as u64,
        ),
        (
            "vcpu_info.evtchn_pending_sel",
            "offsetof(struct vcpu_info, evtchn_pending_sel)",
            shared_info::PENDING_SEL as u64,
        ),
        (
            "vcpu_info.time",
            "offsetof(struct vcpu_info, time)",
            shared_info::TIME as u64,
        ),
        (
            "time.version",
            "offsetof(struct vcpu_time_info, version)",
            shared_info::TIME_VERSION as u64,
        ),
        (
            "time.tsc_timestamp",
            "offsetof(struct vcpu_time_info, tsc_timestamp)",
            shared_info::TIME_TSC_TIMESTAMP as u64,
        ),
        (
            "time.system_time",
            "offsetof(struct vcpu_time_info, system_time)",
            shared_info::TIME_SYSTEM_TIME as u64,
        ),
        (
            "time.tsc_to_system_mul",
            "offsetof(struct vcpu_time_info, tsc_to_system_mul)",
            shared_info::TIME_TSC_TO_SYSTEM_MUL as u64,
        ),
        (
            "time.tsc_shift",
            "offsetof(struct vcpu_time_info, tsc_shift)",
            shared_info::TIME_TSC_SHIFT as u64,
        ),
        (
            "shared_info.evtchn_pending",
            "offsetof(struct shared_info, evtchn_pending)",
            shared_info::EVTCHN_PENDING as u64,
        ),
        (
            "shared_info.evtchn_mask",
            "offsetof(struct shared_info, evtchn_mask)",
            shared_info::EVTCHN_MASK as u64,
        ),
        (
            "__HYPERVISOR_hvm_op",
            "__HYPERVISOR_hvm_op",
            hvm::HYPERVISOR_HVM_OP.into(),
        ),
        (
            "HVMOP_get_param",
            "HVMOP_get_param",
            hvm::HVMOP_GET_PARAM.into(),
        ),
        (
            "HVM_PARAM_STORE_PFN",
            "HVM_PARAM_STORE_PFN",
            hvm::HVM_PARAM_STORE_PFN.into(),
        ),
        (
            "HVM_PARAM_STORE_EVTCHN",
            "HVM_PARAM_STORE_EVTCHN",
            hvm::HVM_PARAM_STORE_EVTCHN.into(),
        ),
        (
            "HVM_PARAM_CONSOLE_PFN",
            "HVM_PARAM_CONSOLE_PFN",
            hvm::HVM_PARAM_CONSOLE_PFN.into(),
        ),
        (
            "HVM_PARAM_CONSOLE_EVTCHN",
            "HVM_PARAM_CONSOLE_EVTCHN",
            hvm::HVM_PARAM_CONSOLE_EVTCHN.into(),
        ),
        (
            "XENMEM_add_to_physmap",
            "XENMEM_add_to_physmap",
            hvm::XENMEM_ADD_TO_PHYSMAP.into(),
        ),
        (
            "XENMAPSPACE_shared_info",
            "XENMAPSPACE_shared_info",
            hvm::XENMAPSPACE_SHARED_INFO.into(),
        ),
        ("SCHEDOP_poll", "SCHEDOP_poll", hvm::SCHEDOP_POLL.into()),
    ]
}

/// `struct xenstore_domain_interface`, `struct xsd_sockmsg`, `struct xencons_interface` and the
/// xenstore constants.
fn rings() -> Vec<Entry> {
    type X = XenstoreDomainInterface;
    type M = XsdSockmsg;
    type C = XenconsInterface;
    let offsets = [
        (
            "xs_req",
            "offsetof(struct xenstore_domain_interface, req)",
            offset_of!(X, req),
        ),
        (
            "xs_rsp",
            "offsetof(struct xenstore_domain_interface, rsp)",
            offset_of!(X, rsp),
        ),
        (
            "xs_req_cons",
            "offsetof(struct xenstore_domain_interface, req_cons)",
            offset_of!(X, req_cons),
        ),
        (
            "xs_req_prod",
            "offsetof(struct xenstore_domain_interface, req_prod)",
            offset_of!(X, req_prod),
        ),
        (
            "xs_rsp_cons",
            "offsetof(struct xenstore_domain_interface, rsp_cons)",
            offset_of!(X, rsp_cons),
        ),
        (
            "xs_rsp_prod",
            "offsetof(struct xenstore_domain_interface, rsp_prod)",
            offset_of!(X, rsp_prod),
        ),
        (
            "xs_server_features",
            "offsetof(struct xenstore_domain_interface, server_features)",
            offset_of!(X, server_features),
        ),
        (
            "xs_connection",
            "offsetof(struct xenstore_domain_interface, connection)",
            offset_of!(X, connection),
        ),
        (
            "xs_error",
            "offsetof(struct xenstore_domain_interface, error)",
            offset_of!(X, error),
        ),
        (
            "sizeof_xenstore_domain_interface",
            "sizeof(struct xenstore_domain_interface)",
            size_of::<X>(),
        ),
        (
            "msg_type",
            "offsetof(struct xsd_sockmsg, type)",
            offset_of!(M, kind),
        ),
        (
            "msg_req_id",
            "offsetof(struct xsd_sockmsg, req_id)",
            offset_of!(M, req_id),
        ),
        (
            "msg_tx_id",
            "offsetof(struct xsd_sockmsg, tx_id)",
            offset_of!(M, tx_id),
        ),
        (
            "msg_len",
            "offsetof(struct xsd_sockmsg, len)",
            offset_of!(M, len),
        ),
        (
            "sizeof_xsd_sockmsg",
            "sizeof(struct xsd_sockmsg)",
            size_of::<M>(),
        ),
        (
            "cons_in",
            "offsetof(struct xencons_interface, in)",
            offset_of!(C, r#in),
        ),
        (
            "cons_out",
            "offsetof(struct xencons_interface, out)",
            offset_of!(C, out),
        ),
        (
            "cons_in_cons",
            "offsetof(struct xencons_interface, in_cons)",
            offset_of!(C, in_cons),
        ),
        (
            "cons_in_prod",
            "offsetof(struct xencons_interface, in_prod)",
            offset_of!(C, in_prod),
        ),
        (
            "cons_out_cons",
            "offsetof(struct xencons_interface, out_cons)",
            offset_of!(C, out_cons),
        ),
        (
            "cons_out_prod",
            "offsetof(struct xencons_interface, out_prod)",
            offset_of!(C, out_prod),
        ),
        (
            "sizeof_xencons_interface",
            "sizeof(struct xencons_interface)",
            size_of::<C>(),
        ),
        (
            "sizeof_xencons_in",
            "sizeof(((struct xencons_interface *)0)->in)",
            console::XENCONS_IN_SIZE as usize,
        ),
        (
            "sizeof_xencons_out",
            "sizeof(((struct xencons_interface *)0)->out)",
            console::XENCONS_OUT_SIZE as usize,
        ),
    ];
    let constants = [
        ("XENSTORE_RING_SIZE", xenstore::XENSTORE_RING_SIZE),
        ("XENSTORE_PAYLOAD_MAX", xenstore::XENSTORE_PAYLOAD_MAX),
        ("XS_DIRECTORY", xenstore::XS_DIRECTORY),
        ("XS_READ", xenstore::XS_READ),
        ("XS_WATCH", xenstore::XS_WATCH),
        ("XS_UNWATCH", xenstore::XS_UNWATCH),
        ("XS_WRITE", xenstore::XS_WRITE),
        ("XS_RM", xenstore::XS_RM),
        ("XS_WATCH_EVENT", xenstore::XS_WATCH_EVENT),
        ("XS_ERROR", xenstore::XS_ERROR),
        (
            "XENSTORE_SERVER_FEATURE_ERROR",
            xenstore::XENSTORE_SERVER_FEATURE_ERROR,
        ),
        ("XENSTORE_CONNECTED", xenstore::XENSTORE_CONNECTED),
        ("XENSTORE_ERROR_NONE", xenstore::XENSTORE_ERROR_NONE),
    ];
    offsets
        .into_iter()
        .map(|(name, expression, ours)| (name, expression, ours as u64))
        .chain(
            constants
                .into_iter()
                .map(|(name, ours)| (name, name, u64::from(ours))),
        )
        .collect()
}

/// `memory_op`'s reservation interface and the calls the images make beside it.
fn memory_op() -> Vec<Entry> {
    type R = XenMemoryReservation;
    vec![
        (
            "sizeof",
            "sizeof(struct xen_memory_reservation)",
            size_of::<R>() as u64,
        ),
        (
            "extent_start",
            "offsetof(struct xen_memory_reservation, extent_start)",
            offset_of!(R, extent_start) as u64,
        ),
        (
            "nr_extents",
            "offsetof(struct xen_memory_reservation, nr_extents)",
            offset_of!(R, nr_extents) as u64,
        ),
        (
            "extent_order",
            "offsetof(struct xen_memory_reservation, extent_order)",
            offset_of!(R, extent_order) as u64,
        ),
        (
            "mem_flags",
            "offsetof(struct xen_memory_reservation, mem_flags)",
            offset_of!(R, mem_flags) as u64,
        ),
        (
            "domid",
            "offsetof(struct xen_memory_reservation, domid)",
            offset_of!(R, domid) as u64,
        ),
        (
            "sizeof_extent_start",
            "sizeof(((struct xen_memory_reservation *)0)->extent_start)",
            8,
        ),
        (
            "sizeof_nr_extents",
            "sizeof(xen_ulong_t)",
            size_of::<u64>() as u64,
        ),
        ("sizeof_domid", "sizeof(domid_t)", size_of::<u16>() as u64),
        (
            "sizeof_xen_pfn_t",
            "sizeof(xen_pfn_t)",
            size_of::<ballast_xen::Gfn>() as u64,
        ),
        (
            "XENMEM_increase_reservation",
            "XENMEM_increase_reservation",
            abi::XENMEM_INCREASE_RESERVATION.into(),
        ),
        (
            "XENMEM_decrease_reservation",
            "XENMEM_decrease_reservation",
            abi::XENMEM_DECREASE_RESERVATION.into(),
        ),
        (
            "XENMEM_maximum_ram_page",
            "XENMEM_maximum_ram_page",
            abi::XENMEM_MAXIMUM_RAM_PAGE.into(),
        ),
        (
            "XENMEM_current_reservation",
            "XENMEM_current_reservation",
            abi::XENMEM_CURRENT_RESERVATION.into(),
        ),
        (
            "XENMEM_maximum_reservation",
            "XENMEM_maximum_reservation",
            abi::XENMEM_MAXIMUM_RESERVATION.into(),
        ),
        (
            "XENMEM_populate_physmap",
            "XENMEM_populate_physmap",
            abi::XENMEM_POPULATE_PHYSMAP.into(),
        ),
        ("DOMID_SELF", "DOMID_SELF", abi::DOMID_SELF.into()),
        ("DOMID_IO", "DOMID_IO", abi::DOMID_IO.into()),
        ("DOMID_XEN", "DOMID_XEN", abi::DOMID_XEN.into()),
        (
            "XENMEMF_address_bits(32)",
            "XENMEMF_address_bits(32)",
            MemFlags::NONE.address_bits(32).raw().into(),
        ),
        (
            "XENMEMF_node(3)",
            "XENMEMF_node(3)",
            MemFlags::NONE.node(3).raw().into(),
        ),
        (
            "XENMEMF_populate_on_demand",
            "XENMEMF_populate_on_demand",
            XENMEMF_POPULATE_ON_DEMAND.into(),
        ),
        (
            "XENMEMF_exact_node_request",
            "XENMEMF_exact_node_request",
            XENMEMF_EXACT_NODE_REQUEST.into(),
        ),
        (
            "XENMEMF_exact_node(2)",
            "XENMEMF_exact_node(2)",
            MemFlags::NONE.node(2).exact_node().raw().into(),
        ),
        ("XENMEMF_vnode", "XENMEMF_vnode", XENMEMF_VNODE.into()),
        (
            "__HYPERVISOR_memory_op",
            "__HYPERVISOR_memory_op",
            abi::HYPERVISOR_MEMORY_OP.into(),
        ),
        (
            "__HYPERVISOR_console_io",
            "__HYPERVISOR_console_io",
            abi::HYPERVISOR_CONSOLE_IO.into(),
        ),
        (
            "__HYPERVISOR_sched_op",
            "__HYPERVISOR_sched_op",
            abi::HYPERVISOR_SCHED_OP.into(),
        ),
        (
            "CONSOLEIO_write",
            "CONSOLEIO_write",
            abi::CONSOLEIO_WRITE.into(),
        ),
        ("SCHEDOP_block", "SCHEDOP_block", abi::SCHEDOP_BLOCK.into()),
        (
            "SCHEDOP_shutdown",
            "SCHEDOP_shutdown",
            abi::SCHEDOP_SHUTDOWN.into(),
        ),
        (
            "SHUTDOWN_poweroff",
            "SHUTDOWN_poweroff",
            abi::SHUTDOWN_POWEROFF.into(),
        ),
    ]
}

/// Event-channel sends and shutdown, as the gateway's `event_send` and `shutdown` make them.
fn events_and_shutdown() -> Vec<Entry> {
    vec![
        (
            "SHUTDOWN_reboot",
            "SHUTDOWN_reboot",
            abi::SHUTDOWN_REBOOT.into(),
        ),
        (
            "SHUTDOWN_suspend",
            "SHUTDOWN_suspend",
            abi::SHUTDOWN_SUSPEND.into(),
        ),
        (
            "SHUTDOWN_crash",
            "SHUTDOWN_crash",
            abi::SHUTDOWN_CRASH.into(),
        ),
        (
            "__HYPERVISOR_event_channel_op",
            "__HYPERVISOR_event_channel_op",
            abi::HYPERVISOR_EVENT_CHANNEL_OP.into(),
        ),
        ("EVTCHNOP_send", "EVTCHNOP_send", abi::EVTCHNOP_SEND.into()),
        (
            "sizeof_evtchn_send",
            "sizeof(struct evtchn_send)",
            size_of::<EvtchnSend>() as u64,
        ),
        (
            "sizeof_sched_shutdown",
            "sizeof(struct sched_shutdown)",
            size_of::<SchedShutdown>() as u64,
        ),
    ]
}

/// Grant mapping, as the gateway's `grant_map` and `grant_unmap` make it. Statuses are negative:
/// both sides print them as their 64-bit two's complement.
fn grant_table() -> Vec<Entry> {
    use ballast_xen::grant::{self as g, GnttabMapGrantRef as Map, GnttabUnmapGrantRef as Unmap};
    let status = |value: i16| i64::from(value) as u64;
    vec![
        (
            "__HYPERVISOR_grant_table_op",
            "__HYPERVISOR_grant_table_op",
            g::HYPERVISOR_GRANT_TABLE_OP.into(),
        ),
        (
            "GNTTABOP_map_grant_ref",
            "GNTTABOP_map_grant_ref",
            g::GNTTABOP_MAP_GRANT_REF.into(),
        ),
        (
            "GNTTABOP_unmap_grant_ref",
            "GNTTABOP_unmap_grant_ref",
            g::GNTTABOP_UNMAP_GRANT_REF.into(),
        ),
        (
            "GNTMAP_device_map",
            "GNTMAP_device_map",
            g::GNTMAP_DEVICE_MAP.into(),
        ),
        (
            "GNTMAP_host_map",
            "GNTMAP_host_map",
            g::GNTMAP_HOST_MAP.into(),
        ),
        (
            "GNTMAP_readonly",
            "GNTMAP_readonly",
            g::GNTMAP_READONLY.into(),
        ),
        ("GNTST_okay", "(long long)GNTST_okay", status(g::GNTST_OKAY)),
        (
            "GNTST_general_error",
            "(long long)GNTST_general_error",
            status(g::GNTST_GENERAL_ERROR),
        ),
        (
            "GNTST_bad_domain",
            "(long long)GNTST_bad_domain",
            status(g::GNTST_BAD_DOMAIN),
        ),
        (
            "GNTST_bad_gntref",
            "(long long)GNTST_bad_gntref",
            status(g::GNTST_BAD_GNTREF),
        ),
        (
            "GNTST_bad_handle",
            "(long long)GNTST_bad_handle",
            status(g::GNTST_BAD_HANDLE),
        ),
        (
            "GNTST_bad_virt_addr",
            "(long long)GNTST_bad_virt_addr",
            status(g::GNTST_BAD_VIRT_ADDR),
        ),
        (
            "GNTST_permission_denied",
            "(long long)GNTST_permission_denied",
            status(g::GNTST_PERMISSION_DENIED),
        ),
        (
            "GNTST_eagain",
            "(long long)GNTST_eagain",
            status(g::GNTST_EAGAIN),
        ),
        (
            "GNTST_no_space",
            "(long long)GNTST_no_space",
            status(g::GNTST_NO_SPACE),
        ),
        (
            "sizeof_grant_ref_t",
            "sizeof(grant_ref_t)",
            size_of::<g::GrantRef>() as u64,
        ),
        (
            "sizeof_grant_handle_t",
            "sizeof(grant_handle_t)",
            size_of::<g::GrantHandle>() as u64,
        ),
        (
            "sizeof_gnttab_map_grant_ref",
            "sizeof(struct gnttab_map_grant_ref)",
            size_of::<Map>() as u64,
        ),
        (
            "map_grant_ref.host_addr",
            "offsetof(struct gnttab_map_grant_ref, host_addr)",
            offset_of!(Map, host_addr) as u64,
        ),
        (
            "map_grant_ref.flags",
            "offsetof(struct gnttab_map_grant_ref, flags)",
            offset_of!(Map, flags) as u64,
        ),
        (
            "map_grant_ref.ref",
            "offsetof(struct gnttab_map_grant_ref, ref)",
            offset_of!(Map, grant_ref) as u64,
        ),
        (
            "map_grant_ref.dom",
            "offsetof(struct gnttab_map_grant_ref, dom)",
            offset_of!(Map, dom) as u64,
        ),
        (
            "map_grant_ref.status",
            "offsetof(struct gnttab_map_grant_ref, status)",
            offset_of!(Map, status) as u64,
        ),
        (
            "map_grant_ref.handle",
            "offsetof(struct gnttab_map_grant_ref, handle)",
            offset_of!(Map, handle) as u64,
        ),
        (
            "map_grant_ref.dev_bus_addr",
            "offsetof(struct gnttab_map_grant_ref, dev_bus_addr)",
            offset_of!(Map, dev_bus_addr) as u64,
        ),
        (
            "sizeof_gnttab_unmap_grant_ref",
            "sizeof(struct gnttab_unmap_grant_ref)",
            size_of::<Unmap>() as u64,
        ),
        (
            "unmap_grant_ref.host_addr",
            "offsetof(struct gnttab_unmap_grant_ref, host_addr)",
            offset_of!(Unmap, host_addr) as u64,
        ),
        (
            "unmap_grant_ref.dev_bus_addr",
            "offsetof(struct gnttab_unmap_grant_ref, dev_bus_addr)",
            offset_of!(Unmap, dev_bus_addr) as u64,
        ),
        (
            "unmap_grant_ref.handle",
            "offsetof(struct gnttab_unmap_grant_ref, handle)",
            offset_of!(Unmap, handle) as u64,
        ),
        (
            "unmap_grant_ref.status",
            "offsetof(struct gnttab_unmap_grant_ref, status)",
            offset_of!(Unmap, status) as u64,
        ),
    ]
}

fn probe_source(entries: &[Entry]) -> String {
    let mut source = String::from(
        "#define __XEN_TOOLS__ 1\n#include <stdint.h>\n#include <stddef.h>\n#include <stdio.h>\n\
         #include <xen/xen.h>\n#include <xen/memory.h>\n#include <xen/sched.h>\n\
         #include <xen/event_channel.h>\n#include <xen/hvm/params.h>\n#include <xen/hvm/hvm_op.h>\n\
         #include <xen/io/xs_wire.h>\n#include <xen/io/console.h>\n#include <xen/grant_table.h>\n\
         int main(void) {\n",
    );
    for (name, expression, _) in entries {
        source.push_str(&format!(
            "    printf(\"%s %llu\\n\", \"{name}\", (unsigned long long)({expression}));\n"
        ));
    }
    source.push_str("    return 0;\n}\n");
    source
}

fn run_c_probe(source: &str) -> BTreeMap<String, u64> {
    assert!(
        Path::new("/usr/include/xen/memory.h").exists(),
        "Debian's Xen headers are missing: `apt-get install -y libxen-dev` (the README's test \
         command and .ci/run do this)"
    );
    let dir = std::env::temp_dir().join(format!("ballast-c-headers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (c_file, binary) = (dir.join("probe.c"), dir.join("probe"));
    std::fs::write(&c_file, source).unwrap();
    let compile = Command::new("cc")
        .arg("-Wall")
        .arg("-o")
        .arg(&binary)
        .arg(&c_file)
        .output()
        .unwrap();
    assert!(
        compile.status.success(),
        "the C probe does not compile:\n{}",
        String::from_utf8_lossy(&compile.stderr)
    );
    let run = Command::new(&binary).output().unwrap();
    assert!(run.status.success());
    std::fs::remove_dir_all(&dir).unwrap();
    String::from_utf8(run.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let (name, value) = line.rsplit_once(' ').unwrap();
            (name.to_string(), value.parse().unwrap())
        })
        .collect()
}

#[test]
fn layouts_and_constants_match_debian_libxen_dev() {
    let entries = ours();
    let c = run_c_probe(&probe_source(&entries));
    let mismatches: Vec<String> = entries
        .iter()
        .filter(|(name, _, ours)| c.get(*name) != Some(ours))
        .map(|(name, _, ours)| format!("{name}: ours {ours}, C headers {:?}", c.get(*name)))
        .collect();
    assert!(
        mismatches.is_empty(),
        "ABI mismatches against /usr/include/xen:\n{}",
        mismatches.join("\n")
    );
    assert_eq!(c.len(), entries.len(), "every entry was printed once");
}
