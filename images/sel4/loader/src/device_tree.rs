//! What the loader reads from the device tree it is handed in x0 (Linux's arm64 boot protocol,
//! which Xen and QEMU follow for an Image): the RAM banks it may place into, the PL011 it
//! prints on, and the guest command line. The UART is the node `/chosen/stdout-path` names
//! (QEMU's tree) or else the first node compatible with `arm,pl011` or `arm,sbsa-uart` (Xen's
//! dom0less domU tree has no stdout-path; its `vpl011` is an `arm,sbsa-uart` node, a PL011
//! subset). The command line is `/chosen/bootargs`, where Xen 4.17 puts the `bootargs` of a
//! dom0less domain's kernel module (QEMU, those of `-append`). The tree is not passed on: 5.0
//! takes none, so the command line goes into the root task's image (`crate::cmdline`).

use fdt::Fdt;

use crate::plan::Region;

/// RAM banks the loader keeps.
pub const MAX_BANKS: usize = 8;
/// The magic number a flattened device tree starts with (big-endian).
const MAGIC: u32 = 0xd00d_feed;
/// The largest tree the loader reads.
pub const MAX_TREE_BYTES: usize = 1 << 20;
/// `compatible` strings of UARTs with the PL011 registers the loader uses (DR, FR).
const UARTS: [&str; 2] = ["arm,pl011", "arm,sbsa-uart"];

/// Why the device tree is unusable. C-like, nonzero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum TreeError {
    /// No tree at the address, or a malformed one.
    Malformed = 1,
    /// More RAM banks than [`MAX_BANKS`].
    TooManyBanks = 2,
    /// A bank without a size, or one that wraps.
    BadBank = 3,
    /// No RAM at all.
    NoRam = 4,
}

/// What the loader takes from the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform<'a> {
    /// RAM banks.
    pub banks: heapless::Vec<Region, MAX_BANKS>,
    /// The console's register base, if the tree names a PL011.
    pub uart: Option<u64>,
    /// The guest command line: `/chosen/bootargs` up to its terminating zero byte (empty if
    /// there is none), as the tree holds it, neither checked nor cut.
    pub bootargs: &'a [u8],
}

/// The tree's total size from its first eight bytes (magic, size; both big-endian), if they
/// are a tree's header and the size is one the loader reads.
pub fn total_size(header: [u8; 8]) -> Option<usize> {
    let magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let size = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    (magic == MAGIC && (8..=MAX_TREE_BYTES).contains(&size)).then_some(size)
}

fn is_uart(node: &fdt::node::FdtNode<'_, '_>) -> bool {
    node.compatible()
        .is_some_and(|compatible| compatible.all().any(|name| UARTS.contains(&name)))
}

fn first_register(node: &fdt::node::FdtNode<'_, '_>) -> Option<u64> {
    let region = node.reg()?.next()?;
    Some(region.starting_address as u64)
}

/// The UART `/chosen/stdout-path` names, if it is a PL011.
fn stdout_uart(tree: &Fdt<'_>) -> Option<u64> {
    let chosen = tree.find_node("/chosen")?;
    let path = chosen.property("stdout-path")?.as_str()?;
    let node = tree.find_node(path.split(':').next()?)?;
    is_uart(&node).then(|| first_register(&node)).flatten()
}

/// The bytes of `/chosen/bootargs` before its first zero byte.
fn bootargs<'a>(tree: &Fdt<'a>) -> &'a [u8] {
    let value = tree
        .find_node("/chosen")
        .and_then(|chosen| chosen.property("bootargs"))
        .map_or(&[][..], |property| property.value);
    value.split(|&byte| byte == 0).next().unwrap_or_default()
}

/// Read the tree in `bytes`.
pub fn read(bytes: &[u8]) -> Result<Platform<'_>, TreeError> {
    let tree = Fdt::new(bytes).map_err(|_| TreeError::Malformed)?;
    let mut banks = heapless::Vec::new();
    let memory_nodes = tree.all_nodes().filter(|node| {
        node.name.split('@').next() == Some("memory")
            && node
                .property("device_type")
                .and_then(|property| property.as_str())
                .is_none_or(|kind| kind == "memory")
    });
    for region in memory_nodes.filter_map(|node| node.reg()).flatten() {
        let size = region.size.ok_or(TreeError::BadBank)? as u64;
        let start = region.starting_address as u64;
        let end = start.checked_add(size).ok_or(TreeError::BadBank)?;
        banks
            .push(Region { start, end })
            .map_err(|_| TreeError::TooManyBanks)?;
    }
    if banks.is_empty() {
        return Err(TreeError::NoRam);
    }
    let uart = stdout_uart(&tree).or_else(|| {
        tree.all_nodes()
            .find(is_uart)
            .and_then(|node| first_register(&node))
    });
    Ok(Platform {
        banks,
        uart,
        bootargs: bootargs(&tree),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};

    /// Compile `source` with dtc (which `scripts/setup-arm64` installs).
    fn compile(source: &str) -> Vec<u8> {
        let mut dtc = Command::new("dtc")
            .args(["-q", "-I", "dts", "-O", "dtb"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("dtc is installed (scripts/setup-arm64)");
        dtc.stdin
            .take()
            .expect("piped")
            .write_all(source.as_bytes())
            .expect("dtc reads the source");
        let output = dtc.wait_with_output().expect("dtc runs");
        assert!(output.status.success(), "dtc compiles the test tree");
        output.stdout
    }

    fn tree(chosen: &str, body: &str) -> Vec<u8> {
        compile(&format!(
            "/dts-v1/;\n/ {{\n#address-cells = <2>;\n#size-cells = <2>;\n\
             chosen {{\n{chosen}\n}};\n{body}\n}};\n"
        ))
    }

    const XEN_DOMU_BODY: &str = "memory@40000000 { device_type = \"memory\"; \
        reg = <0x0 0x40000000 0x0 0x10000000>; };\n\
        interrupt-controller@3001000 { compatible = \"arm,gic-400\"; \
        reg = <0x0 0x3001000 0x0 0x1000 0x0 0x3002000 0x0 0x2000>; };\n\
        sbsa-uart@22000000 { compatible = \"arm,sbsa-uart\"; reg = <0x0 0x22000000 0x0 0x1000>; };";

    #[test]
    fn a_xen_domu_tree_gives_its_ram_and_the_vpl011_without_a_stdout_path() {
        let bytes = tree("bootargs = \"seL4\";", XEN_DOMU_BODY);
        let platform = read(&bytes).expect("a domU tree");
        assert_eq!(
            platform.banks.as_slice(),
            &[Region {
                start: 0x4000_0000,
                end: 0x5000_0000
            }]
        );
        assert_eq!(platform.uart, Some(0x2200_0000));
        assert_eq!(platform.bootargs, b"seL4");
    }

    #[test]
    fn bootargs_are_taken_whole_to_their_terminator_or_are_empty() {
        let long = "scenario=isolation ".repeat(100);
        let bytes = tree(&format!("bootargs = \"{long}\";"), XEN_DOMU_BODY);
        assert_eq!(read(&bytes).expect("a domU tree").bootargs, long.as_bytes());
        let none = tree("", XEN_DOMU_BODY);
        assert_eq!(read(&none).expect("a domU tree").bootargs, b"");
        let empty = tree("bootargs = \"\";", XEN_DOMU_BODY);
        assert_eq!(read(&empty).expect("a domU tree").bootargs, b"");
    }

    #[test]
    fn stdout_path_chooses_among_several_uarts_and_its_options_are_ignored() {
        let body = "memory@40000000 { device_type = \"memory\"; reg = <0x0 0x40000000 0x0 0x20000000>; };\n\
            pl011@9000000 { compatible = \"arm,pl011\", \"arm,primecell\"; reg = <0x0 0x9000000 0x0 0x1000>; };\n\
            pl011@9040000 { compatible = \"arm,pl011\", \"arm,primecell\"; reg = <0x0 0x9040000 0x0 0x1000>; };";
        let bytes = tree("stdout-path = \"/pl011@9040000:115200n8\";", body);
        assert_eq!(read(&bytes).expect("a QEMU tree").uart, Some(0x0904_0000));
        let first = tree("", body);
        assert_eq!(read(&first).expect("a QEMU tree").uart, Some(0x0900_0000));
    }

    #[test]
    fn a_tree_without_a_pl011_has_no_console_and_one_without_ram_is_refused() {
        let no_uart = tree(
            "",
            "memory@40000000 { device_type = \"memory\"; reg = <0x0 0x40000000 0x0 0x1000>; };\n\
            serial@1000 { compatible = \"ns16550a\"; reg = <0x0 0x1000 0x0 0x100>; };",
        );
        assert_eq!(read(&no_uart).expect("RAM is enough").uart, None);
        let no_ram = tree("", "sbsa-uart@22000000 { compatible = \"arm,sbsa-uart\"; reg = <0x0 0x22000000 0x0 0x1000>; };");
        assert_eq!(read(&no_ram).unwrap_err(), TreeError::NoRam);
    }

    #[test]
    fn banks_that_wrap_or_too_many_banks_are_refused() {
        let wraps = tree(
            "",
            "memory@0 { device_type = \"memory\"; reg = <0xffffffff 0xfffff000 0x0 0x2000>; };",
        );
        assert_eq!(read(&wraps).unwrap_err(), TreeError::BadBank);
        let many: String = (0..=MAX_BANKS)
            .map(|bank| format!("0x0 {:#x} 0x0 0x1000 ", 0x4000_0000 + bank * 0x10_0000))
            .collect();
        let too_many = tree(
            "",
            &format!("memory@40000000 {{ device_type = \"memory\"; reg = <{many}>; }};"),
        );
        assert_eq!(read(&too_many).unwrap_err(), TreeError::TooManyBanks);
    }

    #[test]
    fn the_header_gives_the_size_only_behind_the_magic() {
        let bytes = tree("", XEN_DOMU_BODY);
        let mut header = [0; 8];
        header.copy_from_slice(&bytes[..8]);
        assert_eq!(total_size(header), Some(bytes.len()));
        assert_eq!(
            read(&bytes[..total_size(header).expect("a tree")]).map(|p| p.uart),
            Ok(Some(0x2200_0000))
        );
        header[0] = 0;
        assert_eq!(total_size(header), None);
        assert_eq!(read(&[0; 64]).unwrap_err(), TreeError::Malformed);
    }
}
