//! The device tree that boots the image as a dom0less domU: the tree QEMU builds for the machine
//! (dumped with `-machine ...,dumpdtb=`), with `/chosen` given Xen's command line (its console on
//! the UART `stdout-path` names) and one `xen,domain` node: the domU's memory, one vCPU, and the
//! image as its kernel module with the guest command line as `bootargs`. dtc converts both ways.
//! Measured: `docs/XEN-BEHAVIOUR.md#arm64-device-tree`.

use std::path::Path;
use std::process::Command;

use super::machine::{Gic, Tools, CPU};

/// The domU's memory in KiB (Xen sets its maximum to the same): 512 MiB, room for the scenario's
/// 200 MiB beside the image and the tree Xen places 128 MiB in.
pub const DOMAIN_MEMORY_KIB: u64 = 512 * 1024;

/// The longest guest command line Xen 4.17 passes on whole: it keeps a module's `bootargs` in a
/// buffer of 1024 bytes with its terminator, cuts a line of exactly 1024 bytes to 1023 and
/// stops (before its console prints anything) on a longer one. Measured:
/// `docs/XEN-BEHAVIOUR.md#arm64-device-tree`.
pub const MAX_BOOTARGS_BYTES: usize = 1023;

/// The domU to describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// Memory, KiB.
    pub memory_kib: u64,
    /// Where the image lies in machine memory.
    pub module_address: u64,
    /// The image's size in bytes.
    pub module_bytes: u64,
    /// The guest command line.
    pub bootargs: String,
    /// Whether Xen emulates a PL011 for the domU (`vpl011`: its output appears on Xen's
    /// console): the seL4 kernel's debug console; the static image writes through `console_io`.
    pub vpl011: bool,
}

fn cells(value: u64) -> String {
    format!("{:#x} {:#x}", value >> 32, value & 0xffff_ffff)
}

/// The value of `stdout-path` in the `chosen` block `chosen`.
fn stdout_path(chosen: &str) -> Option<&str> {
    let line = chosen
        .lines()
        .map(str::trim)
        .find(|line| line.starts_with("stdout-path = \""))?;
    line.strip_prefix("stdout-path = \"")?
        .strip_suffix("\";")
        .map(|path| path.split(':').next().unwrap_or(path))
}

/// `dts` (dtc's source output) with Xen's command line and the domU node added at the end of
/// `/chosen` (after its properties, as dtc requires of properties and subnodes).
pub fn with_domain(dts: &str, domain: &Domain) -> Result<String, String> {
    let open = dts
        .find("\n\tchosen {\n")
        .ok_or("the machine's device tree has no /chosen node")?
        + 1;
    let close = dts[open..]
        .find("\n\t};\n")
        .map(|at| open + at + 1)
        .ok_or("the /chosen node is not closed")?;
    let chosen = &dts[open..close];
    if chosen.lines().skip(1).any(|line| line.ends_with('{')) {
        return Err("/chosen already has subnodes".into());
    }
    let console = stdout_path(chosen).ok_or("/chosen names no stdout-path for Xen's console")?;
    let node = domain_node(domain)?;
    let node = format!(
        "\t\t#address-cells = <0x2>;\n\
         \t\t#size-cells = <0x2>;\n\
         \t\txen,xen-bootargs = \"console=dtuart dtuart={console} loglvl=all guest_loglvl=all\";\n\
         {node}"
    );
    Ok(format!("{}{node}{}", &dts[..close], &dts[close..]))
}

/// The `xen,domain` node that boots `domain`, indented as a child of `/chosen` (whose
/// `#address-cells` and `#size-cells` must be 2).
pub fn domain_node(domain: &Domain) -> Result<String, String> {
    if domain.bootargs.contains(['"', '\\']) {
        return Err(format!(
            "the guest command line cannot hold quotes or backslashes: {}",
            domain.bootargs
        ));
    }
    if domain.bootargs.len() > MAX_BOOTARGS_BYTES {
        return Err(format!(
            "the guest command line is {} bytes; Xen 4.17 passes at most {MAX_BOOTARGS_BYTES} \
             to a dom0less domain whole",
            domain.bootargs.len()
        ));
    }
    Ok(format!(
        "\t\tdomU1 {{\n\
         \t\t\tcompatible = \"xen,domain\";\n\
         \t\t\t#address-cells = <0x2>;\n\
         \t\t\t#size-cells = <0x2>;\n\
         \t\t\tmemory = <{memory}>;\n\
         \t\t\tcpus = <0x1>;\n\
         {vpl011}\
         \t\t\tmodule@{address:x} {{\n\
         \t\t\t\tcompatible = \"multiboot,kernel\", \"multiboot,module\";\n\
         \t\t\t\treg = <{reg_address} {reg_size}>;\n\
         \t\t\t\tbootargs = \"{bootargs}\";\n\
         \t\t\t}};\n\
         \t\t}};\n",
        memory = cells(domain.memory_kib),
        address = domain.module_address,
        reg_address = cells(domain.module_address),
        reg_size = cells(domain.module_bytes),
        bootargs = domain.bootargs,
        vpl011 = if domain.vpl011 { "\t\t\tvpl011;\n" } else { "" },
    ))
}

fn run(command: &mut Command, what: &str) -> Result<Vec<u8>, String> {
    let output = command
        .output()
        .map_err(|error| format!("cannot run {what}: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "{what} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(output.stdout)
}

/// Dump QEMU's tree for the machine with `gic` into `work`, add `domain` and write the result to
/// `out`.
pub fn generate(
    tools: &Tools,
    work: &Path,
    domain: &Domain,
    gic: Gic,
    out: &Path,
) -> Result<(), String> {
    let machine_dtb = work.join(format!("virt-{}.dtb", std::process::id()));
    let mut dump = Command::new(&tools.qemu);
    dump.arg("-machine")
        .arg(format!(
            "{},dumpdtb={}",
            gic.machine(),
            machine_dtb.display()
        ))
        .args(["-cpu", CPU, "-smp", "1", "-m", "1024", "-nographic"]);
    let dumped = run(&mut dump, "qemu-system-aarch64 dumpdtb");
    let dts = dumped.and_then(|_| {
        run(
            Command::new(&tools.dtc)
                .args(["-q", "-I", "dtb", "-O", "dts"])
                .arg(&machine_dtb),
            "dtc -O dts",
        )
    });
    std::fs::remove_file(&machine_dtb).ok();
    let dts = String::from_utf8(dts?).map_err(|_| "dtc wrote a non-UTF-8 tree")?;
    let source = out.with_extension("dts");
    std::fs::write(&source, with_domain(&dts, domain)?)
        .map_err(|error| format!("cannot write {}: {error}", source.display()))?;
    run(
        Command::new(&tools.dtc)
            .args(["-q", "-I", "dts", "-O", "dtb", "-o"])
            .arg(out)
            .arg(&source),
        "dtc -O dtb",
    )
    .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MACHINE_DTS: &str = "/dts-v1/;\n\n/ {\n\tcompatible = \"linux,dummy-virt\";\n\n\tchosen {\n\t\tstdout-path = \"/pl011@9000000\";\n\t\trng-seed = <0x1 0x2>;\n\t};\n\n\tpl011@9000000 {\n\t\treg = <0x0 0x9000000 0x0 0x1000>;\n\t};\n};\n";

    fn domain() -> Domain {
        Domain {
            memory_kib: 0x8_0000,
            module_address: 0x4040_0000,
            module_bytes: 0xbcb8,
            bootargs: "scenario=balloon".into(),
            vpl011: false,
        }
    }

    #[test]
    fn the_domain_goes_at_the_end_of_chosen_with_xens_console_on_stdout_path() {
        let dts = with_domain(MACHINE_DTS, &domain()).expect("the tree takes the domain");
        let chosen_at = dts.find("\tchosen {").expect("chosen is kept");
        let domain_at = dts.find("\t\tdomU1 {").expect("the domain is added");
        let seed_at = dts.find("rng-seed").expect("chosen's properties are kept");
        let uart_at = dts.find("\tpl011@9000000 {").expect("the UART is kept");
        assert!(chosen_at < seed_at && seed_at < domain_at && domain_at < uart_at);
        assert!(dts.contains("dtuart=/pl011@9000000 "));
        assert!(dts.contains("memory = <0x0 0x80000>;"));
        assert!(dts.contains("module@40400000 {"));
        assert!(dts.contains("reg = <0x0 0x40400000 0x0 0xbcb8>;"));
        assert!(dts.contains("bootargs = \"scenario=balloon\";"));
        assert!(!dts.contains("vpl011"));
    }

    #[test]
    fn a_domain_with_a_virtual_pl011_says_so_in_its_node() {
        let node = domain_node(&Domain {
            vpl011: true,
            ..domain()
        })
        .expect("the node is written");
        let cpus_at = node.find("cpus = <0x1>;").expect("one vCPU");
        let uart_at = node.find("\t\t\tvpl011;\n").expect("vpl011 is asked for");
        let module_at = node.find("module@").expect("the module follows");
        assert!(cpus_at < uart_at && uart_at < module_at);
    }

    #[test]
    fn trees_without_chosen_or_console_and_unquotable_command_lines_are_refused() {
        let no_chosen = MACHINE_DTS.replace("chosen", "aliases");
        assert!(with_domain(&no_chosen, &domain()).is_err());
        let no_console = MACHINE_DTS.replace("stdout-path", "bootargs");
        assert!(with_domain(&no_console, &domain()).is_err());
        let quoted = Domain {
            bootargs: "scenario=\"x\"".into(),
            ..domain()
        };
        assert!(with_domain(MACHINE_DTS, &quoted).is_err());
        let longest = Domain {
            bootargs: "x".repeat(MAX_BOOTARGS_BYTES),
            ..domain()
        };
        assert!(with_domain(MACHINE_DTS, &longest).is_ok());
        let cut_by_xen = Domain {
            bootargs: "x".repeat(MAX_BOOTARGS_BYTES + 1),
            ..domain()
        };
        let refused = with_domain(MACHINE_DTS, &cut_by_xen).expect_err("Xen would cut it");
        assert!(refused.contains("1024 bytes"), "{refused}");
    }
}
