//! `ballast hil --arch aarch64`: build the arm64 image with the HIL test app (or with `--app
//! memory-server`, the memory-server app; the build compiles in the composition of
//! `manifests/xen-arm64.toml`) as a flat Image, generate the device tree
//! that boots it as a dom0less domU (QEMU's own tree plus the `xen,domain` node), boot Debian's
//! arm64 Xen 4.17 with it under `qemu-system-aarch64`, stream and decode its defmt log, stop QEMU
//! once the guest's verdict is in (dom0less Xen stays up) and check the numbers it reports, with
//! Xen's own count of the domU read by the host at the test app's holds and once the memory-server
//! app serves (`xen_reading.rs`).
//! `scripts/setup-arm64` installs QEMU and dtc and fetches Xen into `target/xen-arm64/`.

pub mod device_tree;
pub mod machine;
mod sel4;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use ballast::sel4::costs::Costs;

use super::decode::LogDecoder;
use super::image::{self, App, Arch};
use super::verify::Verifier;
use super::xen_reading::XenReadings;
use super::{
    defmt_table, missing, parse_timeout, show_serial_line, summarize, Guest, Timeline,
    AFTER_SERVING, AFTER_VERDICT, DEFAULT_TIMEOUT, EXIT_SETUP, EXIT_USAGE,
};

/// The domain id Xen gives the dom0less domU (the image), whose count the host reads.
const DOMU: u32 = 1;

/// The kernel under the components.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kernel {
    /// None: the static image, every component in one address space on the static runtime.
    Static,
    /// seL4 5.0: each component its own protection domain (`--kernel sel4`).
    Sel4,
}

#[derive(Debug)]
struct Options {
    guest: Guest,
    timeout: Duration,
    xen: Option<PathBuf>,
    kernel: Kernel,
    /// How many programs of the image report a verdict.
    verdicts: usize,
    /// What the summary says of the image first (the seL4 image's sizes).
    notes: Vec<String>,
}

/// Whether `args` ask for an arm64 run (`--arch aarch64`, or `--kernel sel4`, which runs on
/// arm64 only).
pub fn requested(args: &[String]) -> bool {
    args.windows(2).any(|pair| {
        (pair[0] == "--arch" && pair[1] == "aarch64")
            || (pair[0] == "--kernel" && pair[1] == "sel4")
    })
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        guest: Guest::new(),
        timeout: DEFAULT_TIMEOUT,
        xen: None,
        kernel: Kernel::Static,
        verdicts: 1,
        notes: Vec::new(),
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        if options.guest.option(arg, || value().cloned())? {
            continue;
        }
        match arg.as_str() {
            "--arch" => match value()?.as_str() {
                "aarch64" => {}
                other => return Err(format!("--arch {other}: the arm64 run is --arch aarch64")),
            },
            "--kernel" => match value()?.as_str() {
                "sel4" => options.kernel = Kernel::Sel4,
                other => return Err(format!("--kernel {other}: expected sel4")),
            },
            "--timeout" => options.timeout = parse_timeout(value()?)?,
            "--xen" => options.xen = Some(value()?.into()),
            other => return Err(format!("unknown option {other} for --arch aarch64")),
        }
    }
    options.guest.cmdline()?;
    Ok(options)
}

/// Run `ballast hil --arch aarch64` with `args` (after the subcommand).
pub fn run(args: &[String]) -> ExitCode {
    let options = match parse_options(args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("ballast hil: {message}\nusage: ballast hil --arch aarch64 [--kernel sel4] [--app hil-test|memory-server] [--scenario balloon|smoke|components|fault] [--first 2M|4K] [--timed-rounds N] [--readings phases|every-step] [--target-mib MIB] [--timings RUNS] [--timeout SECONDS] [--xen XEN]");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let Some(root) = &crate::checkout_root("ballast hil") else {
        return ExitCode::from(EXIT_SETUP);
    };
    let work = root.join(machine::WORK_DIR);
    let xen = options
        .xen
        .clone()
        .unwrap_or_else(|| work.join(machine::XEN));
    let tools = match machine::Tools::find(&xen) {
        Ok(tools) => tools,
        Err(what) => return missing(&format!("{what} (run scripts/setup-arm64)")),
    };
    if options.kernel == Kernel::Sel4 {
        return sel4::run(root, &xen, &tools, options);
    }
    let build_dir = root.join(options.guest.app.build_dir(Arch::Aarch64));
    let prepared = image::build(root, Arch::Aarch64, options.guest.app).and_then(|elf| {
        let image = build_dir.join(machine::FLAT_IMAGE);
        machine::flatten(&tools.objcopy, &elf, &image)?;
        // One tree per run: runs at the same time (the tests) boot different command lines.
        let dtb = build_dir.join(format!("xen-arm64-{}.dtb", std::process::id()));
        let image_bytes = std::fs::metadata(&image)
            .map_err(|error| format!("cannot stat {}: {error}", image.display()))?
            .len();
        let domain = device_tree::Domain {
            memory_kib: device_tree::DOMAIN_MEMORY_KIB,
            module_address: machine::MODULE_ADDRESS,
            module_bytes: image_bytes,
            bootargs: options.guest.cmdline()?,
            vpl011: false,
        };
        device_tree::generate(&tools, &build_dir, &domain, machine::Gic::V3, &dtb)?;
        let elf_bytes = std::fs::read(&elf)
            .map_err(|error| format!("cannot read {}: {error}", elf.display()))?;
        Ok((image, dtb, defmt_table(&elf_bytes, &elf)?))
    });
    let (image, dtb, table) = match prepared {
        Ok(prepared) => prepared,
        Err(message) => {
            eprintln!("ballast hil: {message}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    println!(
        "ballast hil: {} -kernel {} -dtb {} -device loader,file={},addr={:#x}",
        tools.qemu.display(),
        xen.display(),
        dtb.display(),
        image.display(),
        machine::MODULE_ADDRESS
    );
    let qemu = match machine::Qemu::start(&tools.qemu, &xen, &dtb, &image, machine::Gic::V3) {
        Ok(qemu) => qemu,
        Err(message) => {
            eprintln!("ballast hil: {message}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    let status = watch(qemu, LogDecoder::new(&table), &options);
    for file in [dtb.with_extension("dts"), dtb] {
        std::fs::remove_file(file).ok();
    }
    status
}

/// Decode the serial line until the guest's verdict (and a moment more) or the timeout.
fn watch(mut qemu: machine::Qemu, mut decoder: LogDecoder<'_>, options: &Options) -> ExitCode {
    let mut deadline = qemu.started + options.timeout;
    let mut verifier = Verifier::expecting_verdicts(options.verdicts);
    if options.kernel == Kernel::Static {
        // The test app, the dom0less domU d1, holds still at its start and after each phase, the
        // memory-server app once it serves: the host reads Xen's count of d1 itself then.
        verifier.xen_readings = Some(XenReadings::new(DOMU));
    } else if options.guest.app == App::HilTest && Costs::measured_under(&options.guest.cmdline()) {
        verifier.sel4_costs = Some(Costs::default());
    }
    let mut timeline = Timeline::default();
    let mut verdict_seen = false;
    loop {
        let wait = deadline.saturating_duration_since(Instant::now());
        let serial = match qemu.lines.recv_timeout(wait) {
            Ok(serial) => serial,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
        };
        let at = serial.at.duration_since(qemu.started);
        let passed = show_serial_line(&mut decoder, &mut verifier, &serial.text, at.as_secs_f64());
        let keys = verifier.take_keys();
        if !keys.is_empty() {
            if let Err(message) = qemu.type_keys(&keys) {
                verifier.problems.push(message);
            }
        }
        timeline.saw(at, &verifier, passed);
        if (verifier.result.is_some() || verifier.serving) && !verdict_seen {
            verdict_seen = true;
            let after = if verifier.serving {
                AFTER_SERVING
            } else {
                AFTER_VERDICT
            };
            deadline = deadline.min(Instant::now() + after);
        }
    }
    let started = qemu.started;
    let exited_by_itself = qemu.stop();
    if options.guest.app == App::MemoryServer {
        let problems = verifier
            .finish_serving(options.guest.target_pages())
            .to_vec();
        return summarize(&verifier, &problems, &timeline, &options.notes);
    }
    let mut problems = verifier.finish().to_vec();
    if !verdict_seen {
        problems.push(format!(
            "no verdict from the guest within {:?}; QEMU {} after {:.1}s",
            options.timeout,
            if exited_by_itself {
                "exited"
            } else {
                "was stopped"
            },
            started.elapsed().as_secs_f64()
        ));
    }
    summarize(&verifier, &problems, &timeline, &options.notes)
}
