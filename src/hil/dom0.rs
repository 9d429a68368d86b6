//! `ballast hil --dom0 linux`: ballast as a Xen administrator meets it. Debian's Xen 4.17 boots
//! Debian's Linux 6.1 as a PVH dom0 (packages fetched by `scripts/setup-dom0`), whose `/init`
//! starts the real toolstack, `xl create`s the ballast image (the memory-server app, what
//! `ballast image` builds) from `manifests/xen-pvh-domu.cfg`, and drives it with `xl mem-set`,
//! `xl mem-max` and `xl shutdown`, and between the last of those and the shutdown runs the grant
//! rounds: the project's `ballast-granter` grants pages to the domU's driver through
//! `/dev/xen/gntalloc` and checks its answers (`plan::grant_rounds`). The host streams the serial line, decodes the domU's defmt
//! lines (`(dN) ~defmt~ ...` from port 0xe9) against the image ELF, reads the dom0's report,
//! checks every step against the plan, and prints the table of commands.
//!
//! Exit status as for `ballast hil`: 0 PASS, 1 FAIL, 2 bad usage, 3 the image or initramfs could
//! not be built, 77 QEMU, Xen or the dom0's packages are missing.

mod checks;
mod cpio;
mod elf;
mod grant_checks;
mod granter;
mod initramfs;
mod packages;
mod plan;
mod report;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use super::decode::{Line, LogDecoder};
use super::image::{self, App, Arch};
use super::{defmt_table, missing, parse_timeout, qemu, x86_tools, EXIT_SETUP, EXIT_USAGE};
use plan::DomuConfig;
use report::{DomReport, Splicer};

const USAGE: &str =
    "usage: ballast hil --dom0 linux [--domu-config XL.cfg] [--timeout SECONDS] [--xen XEN.gz]";
/// TCG: the dom0 boots in ~12 s and `xl create` takes ~4 s; the steps take seconds each, or
/// their timeouts when the guest does not move.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// The machine's RAM, MiB: dom0's 256 MiB, Xen's own, and room for the domU to grow to 1.5x its
/// `maxmem` (768 MiB with the shipped config); with 1024 MiB Xen runs out of free memory at about
/// 749 MiB and the growth step's populates come back short.
const MACHINE_MIB: u32 = 1536;
/// Xen's command line: a PVH dom0 as in the other x86-64 runs, every guest line printed (the
/// domU's port 0xe9 output is at guest log level debug).
const XEN_CMDLINE: &str =
    "loglvl=all guest_loglvl=all console=com1 dom0=pvh dom0_mem=256M,max:512M";
/// The dom0 kernel's command line: its console on Xen's.
const LINUX_CMDLINE: &str = "console=hvc0 earlyprintk=xen";
/// The domU config the plan runs, relative to the checkout.
const DOMU_CONFIG: &str = "manifests/xen-pvh-domu.cfg";
/// `/init`'s timeouts: a mem-set's wait for its target, the same once a step has timed out (so
/// that a guest that does not move fails fast), the wait for the boot balloon-out, how long `xl
/// console` is read, the wait for `xl shutdown -w`, and a grant round's wait for the domU's
/// answer (and the same once a round has timed out).
const RUN_CONF: &str = "WAIT_MS=30000\nSHORT_WAIT_MS=3000\nBOOT_WAIT_MS=30000\nCONSOLE_S=3\n\
                        SHUTDOWN_S=30\nGRANT_WAIT_S=30\nGRANT_SHORT_WAIT_S=3\n";

#[derive(Debug)]
struct Options {
    timeout: Duration,
    xen_gz: PathBuf,
    domu_config: Option<PathBuf>,
}

/// Whether `args` ask for the dom0 run.
pub fn requested(args: &[String]) -> bool {
    args.iter().any(|arg| arg == "--dom0")
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        timeout: DEFAULT_TIMEOUT,
        xen_gz: qemu::XEN_GZ.into(),
        domu_config: None,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--dom0" => match value()?.as_str() {
                "linux" => {}
                other => return Err(format!("--dom0 {other}: expected linux")),
            },
            "--arch" => match value()?.as_str() {
                "x86_64" => {}
                other => return Err(format!("--arch {other}: the dom0 run is x86_64 only")),
            },
            "--timeout" => options.timeout = parse_timeout(value()?)?,
            "--xen" => options.xen_gz = value()?.into(),
            "--domu-config" => options.domu_config = Some(value()?.into()),
            other => return Err(format!("unknown option {other} for --dom0")),
        }
    }
    Ok(options)
}

/// Everything the run boots, built.
#[derive(Debug)]
struct Prepared {
    xen: PathBuf,
    kernel: PathBuf,
    initrd: PathBuf,
    domu_elf: PathBuf,
    config: DomuConfig,
    plan: Vec<plan::Step>,
    grant_rounds: Vec<plan::GrantRound>,
}

/// Run `ballast hil --dom0 linux` with `args` (after the subcommand).
pub fn run(args: &[String]) -> ExitCode {
    let options = match parse_options(args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("ballast hil: {message}\n{USAGE}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let qemu_path = match x86_tools(&options.xen_gz) {
        Ok(qemu_path) => qemu_path,
        Err(status) => return status,
    };
    let Some(root) = &crate::checkout_root("ballast hil") else {
        return ExitCode::from(EXIT_SETUP);
    };
    let packages = match packages::find_or_fetch(root) {
        Ok(packages) => packages,
        Err(message) => {
            return missing(&format!(
                "{message} (run {} as root)",
                packages::SETUP_SCRIPT
            ))
        }
    };
    let prepared = prepare(root, &packages, &options);
    let (prepared, elf) = match prepared.and_then(|prepared| {
        let elf = std::fs::read(&prepared.domu_elf)
            .map_err(|error| format!("cannot read {}: {error}", prepared.domu_elf.display()))?;
        Ok((prepared, elf))
    }) {
        Ok(prepared) => prepared,
        Err(message) => {
            eprintln!("ballast hil: {message}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    let table = match defmt_table(&elf, &prepared.domu_elf) {
        Ok(table) => table,
        Err(message) => {
            eprintln!("ballast hil: {message}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    boot_and_check(&qemu_path, &prepared, &table, &options)
}

/// Build the domU image, the plan and the initramfs, and unpack Xen.
fn prepare(
    root: &Path,
    packages: &packages::Packages,
    options: &Options,
) -> Result<Prepared, String> {
    let work = root.join(packages::CACHE_DIR);
    let domu_elf = image::build(root, Arch::X86_64, App::MemoryServer)?;
    let config_path = (options.domu_config.clone()).unwrap_or_else(|| root.join(DOMU_CONFIG));
    let text = std::fs::read_to_string(&config_path)
        .map_err(|error| format!("cannot read {}: {error}", config_path.display()))?;
    let config = DomuConfig::derive(&text, &config_path.display().to_string())?;
    let plan = plan::steps(&config);
    let grant_rounds = plan::grant_rounds();
    let granter = granter::build(root)?;
    let run_conf = format!(
        "DOMAIN={}\nCONFIG={}\n{RUN_CONF}",
        config.name,
        plan::DOMU_CONFIG
    );
    let initrd = work.join("initrd.gz");
    let built = initramfs::build(
        packages,
        &initramfs::Contents {
            domu_elf: &domu_elf,
            domu_config: &config,
            steps: &plan,
            granter: &granter,
            grant_rounds: &grant_rounds,
            run_conf,
        },
        &initrd,
    )?;
    println!(
        "ballast hil: dom0 {} with {} ({} packages); initramfs {} ({} bytes unpacked; libraries {})",
        packages.kernel.display(),
        packages.modules_dir.display(),
        packages.debs.len(),
        built.path.display(),
        built.unpacked_bytes,
        built.libraries.join(" ")
    );
    println!(
        "ballast hil: domU {} from {} (memory {} MiB, maxmem {} MiB)",
        domu_elf.display(),
        config_path.display(),
        config.memory_mib,
        config.maxmem_mib
    );
    let xen = work.join("xen-4.17");
    qemu::unpack_xen(&options.xen_gz, &xen)?;
    Ok(Prepared {
        xen,
        kernel: packages.kernel.clone(),
        initrd,
        domu_elf,
        config,
        plan,
        grant_rounds,
    })
}

/// When the host saw the run's milestones, since QEMU started.
#[derive(Debug, Default)]
struct Milestones {
    seen: Vec<(String, Duration)>,
}

impl Milestones {
    fn saw(&mut self, name: &str, at: Duration) {
        if !self.seen.iter().any(|(seen, _)| seen == name) {
            self.seen.push((name.to_string(), at));
        }
    }
}

/// What the host makes of the serial line.
struct Watch<'t> {
    decoder: LogDecoder<'t>,
    /// The domU's PV console as xenconsoled logged it, from the domain's start: its own stream
    /// of any defmt lines the guest writes there (`xl console ballast | ballast decode ELF`).
    console_decoder: LogDecoder<'t>,
    splicer: Splicer,
    report: DomReport,
    milestones: Milestones,
    guest_messages: usize,
    problems: Vec<String>,
}

impl Watch<'_> {
    /// Show a line of the domU's PV console decoded, if it carries defmt (plain lines are
    /// already shown as they are).
    fn console_line(&mut self, text: &str, stamp: f64) {
        match self.console_decoder.line(text) {
            Line::Text(_) => {}
            Line::Garbled(text) => println!("[{stamp:8.3}s] ????  | PV console: {text}"),
            Line::Messages(messages) => {
                for message in messages {
                    println!("[{stamp:8.3}s] domU  | PV console: {}", message.text);
                    self.report.take_guest_message(&message.text);
                }
            }
        }
    }

    /// Print and take one logical serial line that arrived `at`.
    fn line(&mut self, text: &str, at: Duration) {
        let stamp = at.as_secs_f64();
        if let Some(event) = report::event(text) {
            println!(
                "[{stamp:8.3}s] dom0  | {}",
                &text[text.find(report::PREFIX).unwrap_or(0)..]
            );
            if let report::Event::Quoted { source, text } = &event {
                if source == "console-log" {
                    self.console_line(text, stamp);
                }
            }
            if let report::Event::Record(body) = &event {
                let mut words = body.split_whitespace();
                let name = match (words.next(), words.next()) {
                    (Some("phase"), Some("init")) => Some("dom0 /init started"),
                    (Some("phase"), Some("toolstack")) => Some("toolstack up"),
                    (Some("created"), _) => Some("xl create returned"),
                    (Some("pod"), _) => Some("PoD counters after boot"),
                    (Some("step"), _) => Some("first step done"),
                    (Some("grant"), _) => Some("first grant round done"),
                    (Some("shutdown"), _) => Some("xl shutdown returned"),
                    (Some("done"), _) => Some("dom0 /init done"),
                    _ => None,
                };
                if let Some(name) = name {
                    self.milestones.saw(name, at);
                }
            }
            self.report.take(event);
            return;
        }
        match self.decoder.line(text) {
            Line::Text(text) => {
                if text.starts_with("(XEN)") {
                    self.milestones.saw("Xen", at);
                }
                if text.contains("Linux version") {
                    self.milestones.saw("Linux", at);
                }
                if text.starts_with("(d") {
                    self.milestones.saw("domU's first line", at);
                }
                if text.starts_with("(d") && text.contains("panic") {
                    self.problems.push(format!("the domU panicked: {text}"));
                }
                println!("[{stamp:8.3}s] xen   | {text}");
            }
            Line::Garbled(text) => {
                println!("[{stamp:8.3}s] ????  | {text}");
                self.problems
                    .push(format!("undecodable defmt line: {text}"));
            }
            Line::Messages(messages) => {
                for message in messages {
                    self.milestones.saw("domU's first defmt message", at);
                    self.guest_messages += 1;
                    println!("[{stamp:8.3}s] domU  | {}", message.text);
                    if message.text.starts_with("panic") {
                        self.problems
                            .push(format!("the domU panicked: {}", message.text));
                    }
                }
            }
        }
    }
}

fn boot_and_check(
    qemu_path: &Path,
    prepared: &Prepared,
    table: &defmt_decoder::Table,
    options: &Options,
) -> ExitCode {
    println!(
        "ballast hil: {} -kernel {} -initrd '{} {LINUX_CMDLINE},{}' -append '{XEN_CMDLINE}'",
        qemu_path.display(),
        prepared.xen.display(),
        prepared.kernel.display(),
        prepared.initrd.display(),
    );
    let modules = [
        (prepared.kernel.as_path(), LINUX_CMDLINE),
        (prepared.initrd.as_path(), ""),
    ];
    let qemu = match qemu::Qemu::start_modules(
        qemu_path,
        &prepared.xen,
        XEN_CMDLINE,
        &modules,
        MACHINE_MIB,
    ) {
        Ok(qemu) => qemu,
        Err(message) => {
            eprintln!("ballast hil: {message}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    let deadline = qemu.started + options.timeout;
    let mut watch = Watch {
        decoder: LogDecoder::new(table),
        console_decoder: LogDecoder::new(table),
        splicer: Splicer::default(),
        report: DomReport::default(),
        milestones: Milestones::default(),
        guest_messages: 0,
        problems: Vec::new(),
    };
    loop {
        let wait = deadline.saturating_duration_since(Instant::now());
        let serial = match qemu.lines.recv_timeout(wait) {
            Ok(serial) => serial,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
        };
        let at = serial.at.duration_since(qemu.started);
        for line in watch.splicer.line(&serial.text) {
            watch.line(&line, at);
        }
    }
    let started = qemu.started;
    let status = qemu.wait(deadline);
    let mut problems = checks::problems(&prepared.plan, prepared.config.memory_mib, &watch.report);
    problems.extend(grant_checks::problems(
        &prepared.grant_rounds,
        &watch.report,
    ));
    problems.append(&mut watch.problems);
    match status {
        Some(qemu::QEMU_PASS_STATUS) => {}
        Some(code) => problems.push(format!(
            "QEMU exited with status {code}, not {} (the dom0's /init ends it so)",
            qemu::QEMU_PASS_STATUS
        )),
        None => problems.push(format!(
            "QEMU did not finish within {:?}; killed after {:.1}s",
            options.timeout,
            started.elapsed().as_secs_f64()
        )),
    }
    if watch.guest_messages == 0 {
        problems.push("no defmt message from the domU was decoded".into());
    }
    summarize(&watch, &problems)
}

fn summarize(watch: &Watch<'_>, problems: &[String]) -> ExitCode {
    println!("\n---- ballast hil --dom0 linux summary ----");
    for line in checks::table(&watch.report) {
        println!("  {line}");
    }
    for line in grant_checks::table(&watch.report) {
        println!("  {line}");
    }
    println!(
        "  domU PV console: {} lines in `xl console` after boot, {} in xenconsoled's log; domU \
         defmt messages decoded: {}",
        watch.report.console.len(),
        watch.report.console_log.len(),
        watch.guest_messages
    );
    for line in &watch.report.data {
        println!("  xenstore data/ after the floor step: {line}");
    }
    for line in &watch.report.grant_data {
        println!("  xenstore data/ballast/ after grant round 1: {line}");
    }
    for (name, at) in &watch.milestones.seen {
        println!("  {:>8.3} s  {name}", at.as_secs_f64());
    }
    if problems.is_empty() {
        println!("ballast hil: PASS");
        ExitCode::SUCCESS
    } else {
        for problem in problems {
            println!("  problem: {problem}");
        }
        println!("ballast hil: FAIL");
        ExitCode::FAILURE
    }
}
