//! Building the image, preparing Xen, and running QEMU: the exact machine the image expects
//! (`-cpu qemu64,+svm,+npt` for HAP, q35 with an AMD IOMMU for a PVH dom0, `isa-debug-exit` for
//! the verdict), with the serial line streamed back line by line and keys typed on it (Xen's debug keys).
//! Measured: `docs/XEN-BEHAVIOUR.md#pvh-dom0-machine`, `#dom0-maximum`.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-x86_64";
/// Debian's Xen 4.17 hypervisor (package xen-hypervisor-4.17-amd64).
pub const XEN_GZ: &str = "/boot/xen-4.17-amd64.gz";
/// Xen's command line: a PVH dom0 with a maximum, so that populating past it gives a short count.
pub const XEN_CMDLINE: &str = "console=com1 dom0=pvh dom0_mem=256M,max:512M";
/// Added to Xen's command line when the guest logs through port 0xe9, which Xen prints at guest
/// log level debug.
pub const XEN_CMDLINE_GUEST_DEBUG: &str = "guest_loglvl=all";
/// QEMU exits with this status when the image writes 0x10 (PASS) to `isa-debug-exit`.
pub const QEMU_PASS_STATUS: i32 = 33;

/// Find `program` on the PATH.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Decompress the gzip'd Xen image to `out` (QEMU's multiboot loader wants the plain ELF). The
/// file is written under a private name and renamed into place, so that a QEMU started by another
/// `ballast hil` at the same time never reads a half-written Xen.
pub fn unpack_xen(xen_gz: &Path, out: &Path) -> Result<(), String> {
    let mut partial = out.as_os_str().to_owned();
    partial.push(format!(".partial-{}", std::process::id()));
    let partial = PathBuf::from(partial);
    let file = std::fs::File::create(&partial)
        .map_err(|error| format!("cannot create {}: {error}", partial.display()))?;
    let status = Command::new("gzip")
        .arg("-dc")
        .arg(xen_gz)
        .stdout(file)
        .status()
        .map_err(|error| format!("cannot run gzip: {error}"))?;
    if !status.success() {
        std::fs::remove_file(&partial).ok();
        return Err(format!("gzip -dc {} failed ({status})", xen_gz.display()));
    }
    std::fs::rename(&partial, out)
        .map_err(|error| format!("cannot move {} into place: {error}", partial.display()))
}

/// A serial line from QEMU, stamped with its arrival.
#[derive(Debug)]
pub struct SerialLine {
    /// When the host read it.
    pub at: Instant,
    /// The text, lossily decoded, without the line ending.
    pub text: String,
}

/// The RAM of the machine a dom0 image boots on, MiB.
pub const MACHINE_MIB: u32 = 1024;

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
    /// Boot `xen` (command line `xen_cmdline`) with `image` as the PVH dom0 whose command line is
    /// `guest_cmdline`.
    pub fn start(
        qemu: &Path,
        xen: &Path,
        xen_cmdline: &str,
        image: &Path,
        guest_cmdline: &str,
    ) -> Result<Qemu, String> {
        let modules = [(image, guest_cmdline)];
        Qemu::start_modules(qemu, xen, xen_cmdline, &modules, MACHINE_MIB)
    }

    /// Boot `xen` (command line `xen_cmdline`) with multiboot `modules`, each a file and its
    /// command line: the first is dom0's kernel, a second its initrd; the machine has
    /// `machine_mib` of RAM.
    pub fn start_modules(
        qemu: &Path,
        xen: &Path,
        xen_cmdline: &str,
        modules: &[(&Path, &str)],
        machine_mib: u32,
    ) -> Result<Qemu, String> {
        let mut initrd = Vec::new();
        for (module, cmdline) in modules {
            let module = module.to_str().ok_or("a module path is not UTF-8")?;
            if module.contains(',') || cmdline.contains(',') {
                return Err(format!(
                    "QEMU's -initrd cannot take a comma in a module or its command line: \
                     {module} {cmdline}"
                ));
            }
            initrd.push(format!("{module} {cmdline}"));
        }
        let mut child = Command::new(qemu)
            .args([
                "-nographic",
                "-m",
                &machine_mib.to_string(),
                "-cpu",
                "qemu64,+svm,+npt",
                "-machine",
                "q35",
            ])
            .args([
                "-device",
                "amd-iommu",
                "-device",
                "isa-debug-exit,iobase=0xf4,iosize=4",
            ])
            .args(["-monitor", "none", "-no-reboot", "-net", "none"])
            .arg("-kernel")
            .arg(xen)
            .args(["-initrd", &initrd.join(","), "-append", xen_cmdline])
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

    /// Wait for QEMU to exit by `deadline`, killing it otherwise; its exit status, if it exited.
    pub fn wait(mut self, deadline: Instant) -> Option<i32> {
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if Instant::now() >= deadline {
                self.child.kill().ok();
                self.child.wait().ok();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Type `keys` on a QEMU's serial line, its stdin `input`.
pub fn type_on_serial(input: Option<&mut ChildStdin>, keys: &[u8]) -> Result<(), String> {
    let input = input.ok_or("QEMU's serial input is closed")?;
    input
        .write_all(keys)
        .and_then(|()| input.flush())
        .map_err(|error| format!("cannot type on QEMU's serial line: {error}"))
}

/// The lines QEMU writes to its stdout (the serial line) and stderr, each stamped when it
/// arrives, read by one thread per stream until the stream ends or the receiver is dropped.
pub fn serial_lines(child: &mut Child) -> Result<Receiver<SerialLine>, String> {
    let (sender, lines) = mpsc::channel();
    let stdout = child.stdout.take().ok_or("QEMU's stdout is missing")?;
    let stderr = child.stderr.take().ok_or("QEMU's stderr is missing")?;
    for stream in [Box::new(stdout) as Box<dyn Read + Send>, Box::new(stderr)] {
        let sender = sender.clone();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stream);
            let mut bytes = Vec::new();
            while reader
                .read_until(b'\n', &mut bytes)
                .is_ok_and(|read| read > 0)
            {
                let text = String::from_utf8_lossy(&bytes)
                    .trim_end_matches(['\r', '\n'])
                    .to_string();
                let line = SerialLine {
                    at: Instant::now(),
                    text,
                };
                if sender.send(line).is_err() {
                    return;
                }
                bytes.clear();
            }
        });
    }
    Ok(lines)
}
