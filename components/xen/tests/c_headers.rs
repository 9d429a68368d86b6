//! Checks our Xen ABI against Debian's `libxen-dev` headers: a C probe compiled with the system
//! compiler prints the size and every field offset of `struct xen_memory_reservation` and the value
//! of every constant we define; the test compares each with ours.
//!
//! `MEMOP_EXTENT_SHIFT` is not in the public headers (Xen keeps it in its internal
//! `xen/hypercall.h`); its value is pinned by docs/XEN-BEHAVIOUR.md#continuation (measured) and by
//! the xen-sim tests instead.

use std::collections::BTreeMap;
use std::mem::{offset_of, size_of};
use std::path::Path;
use std::process::Command;

use ballast_xen::abi::{self, XenMemoryReservation};
use ballast_xen::mem_flags::{
    XENMEMF_EXACT_NODE_REQUEST, XENMEMF_POPULATE_ON_DEMAND, XENMEMF_VNODE,
};
use ballast_xen::MemFlags;

/// Each entry: a name, the C expression that gives its value, and our value.
fn ours() -> Vec<(&'static str, &'static str, u64)> {
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

fn probe_source(entries: &[(&str, &str, u64)]) -> String {
    let mut source = String::from(
        "#define __XEN_TOOLS__ 1\n#include <stdint.h>\n#include <stddef.h>\n#include <stdio.h>\n\
         #include <xen/xen.h>\n#include <xen/memory.h>\n#include <xen/sched.h>\n\
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
