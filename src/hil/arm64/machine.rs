//! The arm64 machine: the tools it needs, building and flattening the image, and running
//! `qemu-system-aarch64` (virt with EL2 for Xen, GICv3 or GICv2, one Cortex-A57) with Xen as the kernel,
//! the generated device tree and the image placed where the tree's module node says.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Instant;

use crate::hil::qemu::{find_on_path, serial_lines, type_on_serial, SerialLine};

/// Where the run keeps its files (and `scripts/setup-arm64` its Xen), from the repository root.
pub const WORK_DIR: &str = "target/xen-arm64";
/// Debian's arm64 Xen 4.17 (package xen-hypervisor-4.17-arm64), in [`WORK_DIR`].
pub const XEN: &str = "xen-4.17-arm64";
/// The image's crate, from the repository root.
pub const IMAGE_DIR: &str = "images/xen-arm64";
/// Where QEMU places the flat image in machine memory for Xen to find as the domU's kernel.
pub const MODULE_ADDRESS: u64 = 0x4040_0000;
/// The flat Image's file name in [`WORK_DIR`].
pub const FLAT_IMAGE: &str = "ballast-xen-arm64.bin";
const QEMU: &str = "qemu-system-aarch64";
/// The image's Rust target.
pub const TARGET: &str = "aarch64-unknown-none";
/// Machine memory: Xen, its heap, and the domU.
const MACHINE_MEMORY_MIB: &str = "1024";
/// The interrupt controller of the machine (Xen gives the domU a virtual one of the same
/// version).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gic {
    /// GICv2: what seL4 5.0 drives (its GICv3 driver reads reserved distributor space and hangs).
    V2,
    /// GICv3: the static arm64 image's machine.
    V3,
}

impl Gic {
    /// QEMU's `-machine` value for the machine with this GIC, also used to dump the device tree
    /// QEMU builds for it.
    pub fn machine(self) -> &'static str {
        match self {
            Gic::V2 => "virt,virtualization=on,gic-version=2",
            Gic::V3 => "virt,virtualization=on,gic-version=3",
        }
    }
}
/// The CPU.
pub const CPU: &str = "cortex-a57";

/// The host programs the run needs.
#[derive(Debug)]
pub struct Tools {
    /// qemu-system-aarch64.
    pub qemu: PathBuf,
    /// The device-tree compiler.
    pub dtc: PathBuf,
    /// llvm-objcopy, or the copy rustc ships as rust-objcopy.
    pub objcopy: PathBuf,
}

fn rustc_sysroot() -> Option<PathBuf> {
    let output = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
}

/// llvm-objcopy, or the copy rustc ships as rust-objcopy under `sysroot`.
fn objcopy_under(sysroot: &Path) -> Option<PathBuf> {
    find_on_path("llvm-objcopy").or_else(|| {
        let rustlib = std::fs::read_dir(sysroot.join("lib/rustlib")).ok()?;
        rustlib
            .filter_map(Result::ok)
            .map(|host| host.path().join("bin/rust-objcopy"))
            .find(|candidate| candidate.is_file())
    })
}

/// llvm-objcopy, or the copy rustc ships as rust-objcopy; the error names what is missing.
pub fn find_objcopy() -> Result<PathBuf, String> {
    let sysroot = rustc_sysroot().ok_or("rustc --print sysroot failed")?;
    objcopy_under(&sysroot).ok_or_else(|| "neither llvm-objcopy nor rust-objcopy".into())
}

impl Tools {
    /// Find every tool and check that `xen` and the Rust target are installed; the error names
    /// what is missing.
    pub fn find(xen: &Path) -> Result<Tools, String> {
        let qemu = find_on_path(QEMU).ok_or(format!("{QEMU} is not on the PATH"))?;
        let dtc = find_on_path("dtc").ok_or("dtc is not on the PATH")?;
        let sysroot = rustc_sysroot().ok_or("rustc --print sysroot failed")?;
        if !sysroot.join("lib/rustlib").join(TARGET).is_dir() {
            return Err(format!("the Rust target {TARGET} is not installed"));
        }
        let objcopy = objcopy_under(&sysroot).ok_or("neither llvm-objcopy nor rust-objcopy")?;
        if !xen.is_file() {
            return Err(format!("the arm64 Xen image {} is missing", xen.display()));
        }
        Ok(Tools { qemu, dtc, objcopy })
    }
}

/// Write the loadable bytes of `elf` as a flat image to `out` (through a private name, renamed
/// into place).
pub fn flatten(objcopy: &Path, elf: &Path, out: &Path) -> Result<(), String> {
    let mut partial = out.as_os_str().to_owned();
    partial.push(format!(".partial-{}", std::process::id()));
    let status = Command::new(objcopy)
        .args(["-O", "binary"])
        .arg(elf)
        .arg(&partial)
        .status()
        .map_err(|error| format!("cannot run {}: {error}", objcopy.display()))?;
    if !status.success() {
        return Err(format!("{} -O binary failed ({status})", objcopy.display()));
    }
    std::fs::rename(&partial, out)
        .map_err(|error| format!("cannot move the flat image into place: {error}"))
}

/// A running QEMU.
#[derive(Debug)]
pub struct Qemu {
    child: Child,
    /// The serial line's input (Xen's console input: debug keys reach Xen through it).
    serial_input: Option<ChildStdin>,
    /// When QEMU was started.
    pub started: Instant,
    /// The serial lines as they arrive; closes when QEMU closes its output.
    pub lines: Receiver<SerialLine>,
}

impl Qemu {
    /// Boot `xen` on the machine with `gic`, with the device tree `dtb` and the flat `image` at
    /// [`MODULE_ADDRESS`].
    pub fn start(
        qemu: &Path,
        xen: &Path,
        dtb: &Path,
        image: &Path,
        gic: Gic,
    ) -> Result<Qemu, String> {
        let image = image.to_str().ok_or("the image path is not UTF-8")?;
        if image.contains(',') {
            return Err(format!(
                "QEMU's loader cannot take a path with a comma: {image}"
            ));
        }
        let mut child = Command::new(qemu)
            .args(["-machine", gic.machine(), "-cpu", CPU, "-smp", "1"])
            .args(["-m", MACHINE_MEMORY_MIB])
            .args([
                "-nographic",
                "-no-reboot",
                "-monitor",
                "none",
                "-serial",
                "stdio",
            ])
            .arg("-dtb")
            .arg(dtb)
            .arg("-kernel")
            .arg(xen)
            .args([
                "-device",
                &format!("loader,file={image},addr={MODULE_ADDRESS:#x}"),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|error| format!("cannot start {}: {error}", qemu.display()))?;
        let started = Instant::now();
        let lines = serial_lines(&mut child)?;
        Ok(Qemu {
            serial_input: child.stdin.take(),
            child,
            started,
            lines,
        })
    }

    /// Type `keys` on the serial line (what Xen's console input receives).
    pub fn type_keys(&mut self, keys: &[u8]) -> Result<(), String> {
        type_on_serial(self.serial_input.as_mut(), keys)
    }

    /// Stop QEMU (dom0less Xen never halts the machine); whether it had exited by itself.
    pub fn stop(mut self) -> bool {
        if let Ok(Some(_)) = self.child.try_wait() {
            return true;
        }
        self.child.kill().ok();
        self.child.wait().ok();
        false
    }
}
