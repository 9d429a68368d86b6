//! `ballast hil`: build the PVH image with the HIL test app (its build script compiles in the
//! composition of `manifests/xen-pvh.toml`), boot it as dom0 on real Xen 4.17 under QEMU, stream
//! its decoded defmt log with the host's time since QEMU started, and check the numbers it
//! reports; at the test app's holds (its start, after each phase) and once the memory-server app
//! serves, the host reads Xen's own count
//! of the domain through Xen's debug key `q` and checks it against the guest's steps
//! (`xen_reading.rs`). `--arch aarch64` runs the arm64 image as a dom0less domU instead (`arm64.rs`);
//! `--dom0 linux` runs the memory-server image as a domU under a Linux dom0 with Xen's toolstack,
//! driven by `xl` (`dom0.rs`).
//! `--app memory-server` boots the memory-server app (what `ballast image` builds) instead: it
//! passes once the server reports serving with its books matching Xen's count (and the boot
//! target, `--target-mib`), and QEMU is then stopped.
//!
//! Exit status: 0 PASS; 1 FAIL (the guest failed, the numbers do not add up, or QEMU timed out);
//! 2 bad usage; 3 the image or Xen could not be prepared; 77 QEMU or the Xen image is missing
//! (tests skip on 77 and nothing else).

mod arm64;
mod decode;
pub mod decode_command;
mod dom0;
pub mod image;
mod qemu;
mod timings;
mod verify;
mod xen_reading;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use decode::{Line, LogDecoder};
use image::App;
use verify::Verifier;

/// Exit status when QEMU or Xen is not installed.
pub const EXIT_MISSING_TOOLS: u8 = 77;
pub(crate) const EXIT_USAGE: u8 = 2;
const EXIT_SETUP: u8 = 3;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// How long the log may keep coming after the test app's verdict before QEMU is stopped.
const AFTER_VERDICT: Duration = Duration::from_millis(500);
/// How long the memory-server app is watched serving (its vCPU blocked in Xen) before QEMU is
/// stopped: a fault or a stop in that time fails the run.
const AFTER_SERVING: Duration = Duration::from_secs(5);

/// The app the guest runs, and what its command line says.
#[derive(Debug)]
struct Guest {
    app: App,
    /// The test app's scenario (`scenario=`; `balloon` by default).
    scenario: Option<String>,
    /// The memory-server app's boot target (`target_mib=`).
    target_mib: Option<u64>,
    /// Which policy the test app runs first (`first=2M` or `first=4K`).
    first: Option<String>,
    /// The test app's timed product-path rounds of each policy (`timed_rounds=`).
    timed_rounds: Option<u32>,
    /// Whether the test app holds for the host's reading after every step (`readings=every_step`).
    every_step: bool,
}

impl Guest {
    fn new() -> Guest {
        Guest {
            app: App::HilTest,
            scenario: None,
            target_mib: None,
            first: None,
            timed_rounds: None,
            every_step: false,
        }
    }

    /// Take `arg` if it is a guest option, its value from `value`; whether it was one.
    fn option(
        &mut self,
        arg: &str,
        value: impl FnOnce() -> Result<String, String>,
    ) -> Result<bool, String> {
        match arg {
            "--app" => self.app = App::parse(&value()?)?,
            "--scenario" => self.scenario = Some(value()?),
            "--target-mib" => {
                let mib = value()?;
                let mib = mib
                    .parse()
                    .map_err(|_| format!("--target-mib {mib}: expected MiB"))?;
                self.target_mib = Some(mib);
            }
            "--first" => match value()?.as_str() {
                policy @ ("2M" | "4K") => self.first = Some(policy.into()),
                other => return Err(format!("--first {other}: expected 2M or 4K")),
            },
            "--readings" => match value()?.as_str() {
                "phases" => self.every_step = false,
                "every-step" => self.every_step = true,
                other => return Err(format!("--readings {other}: expected phases or every-step")),
            },
            "--timed-rounds" => {
                let rounds = value()?;
                let rounds = rounds
                    .parse()
                    .map_err(|_| format!("--timed-rounds {rounds}: expected a count"))?;
                self.timed_rounds = Some(rounds);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The guest's command line: `scenario=` (and `first=`, `timed_rounds=` if given) for the
    /// test app, `target_mib=` (if given) for the memory-server app.
    fn cmdline(&self) -> Result<String, String> {
        let test_options = self.scenario.is_some() || self.first.is_some() || self.every_step;
        match (self.app, self.target_mib) {
            (App::HilTest, None) => {
                let mut line =
                    format!("scenario={}", self.scenario.as_deref().unwrap_or("balloon"));
                if let Some(first) = &self.first {
                    line.push_str(&format!(" first={first}"));
                }
                if let Some(rounds) = self.timed_rounds {
                    line.push_str(&format!(" timed_rounds={rounds}"));
                }
                if self.every_step {
                    line.push_str(" readings=every_step");
                }
                Ok(line)
            }
            (App::MemoryServer, target) if !test_options && self.timed_rounds.is_none() => {
                Ok(target
                    .map(|mib| format!("target_mib={mib}"))
                    .unwrap_or_default())
            }
            (App::HilTest, Some(_)) => Err("--target-mib is for --app memory-server".into()),
            (App::MemoryServer, _) => Err(
                "--scenario, --first, --timed-rounds and --readings are for --app hil-test".into(),
            ),
        }
    }

    /// The boot target in pages, if the memory-server app was given one.
    fn target_pages(&self) -> Option<u64> {
        self.target_mib.map(|mib| mib * 256)
    }
}

#[derive(Debug)]
struct Options {
    guest: Guest,
    timeout: Duration,
    xen_gz: PathBuf,
    /// Make the guest log through port 0xe9 (as a domU on a non-debug Xen must) instead of
    /// `console_io`.
    debug_port: bool,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        guest: Guest::new(),
        timeout: DEFAULT_TIMEOUT,
        xen_gz: qemu::XEN_GZ.into(),
        debug_port: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        if options.guest.option(arg, || value().cloned())? {
            continue;
        }
        match arg.as_str() {
            "--arch" => match value()?.as_str() {
                "x86_64" => {}
                other => return Err(format!("--arch {other}: expected x86_64 or aarch64")),
            },
            "--timeout" => options.timeout = parse_timeout(value()?)?,
            "--xen" => options.xen_gz = value()?.into(),
            "--log-channel" => match value()?.as_str() {
                "console_io" => options.debug_port = false,
                "port_e9" => options.debug_port = true,
                other => {
                    return Err(format!(
                        "--log-channel {other}: expected console_io or port_e9"
                    ))
                }
            },
            other => return Err(format!("unknown option {other}")),
        }
    }
    options.guest.cmdline()?;
    Ok(options)
}

/// Run `ballast hil` with `args` (after the subcommand).
pub fn run(args: &[String]) -> ExitCode {
    if timings::requested(args) {
        return timings::run(args);
    }
    if dom0::requested(args) {
        return dom0::run(args);
    }
    if arm64::requested(args) {
        return arm64::run(args);
    }
    let options = match parse_options(args) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("ballast hil: {message}\nusage: ballast hil [--arch x86_64|aarch64] [--app hil-test|memory-server] [--scenario balloon|smoke|components] [--first 2M|4K] [--timed-rounds N] [--readings phases|every-step] [--target-mib MIB] [--timings RUNS] [--log-channel console_io|port_e9] [--timeout SECONDS] [--xen XEN.gz]");
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
    let work = root.join(image::Arch::X86_64.work_dir());
    let prepared = image::build(root, image::Arch::X86_64, options.guest.app).and_then(|image| {
        let xen = work.join("xen-4.17");
        qemu::unpack_xen(&options.xen_gz, &xen)?;
        let elf = std::fs::read(&image)
            .map_err(|error| format!("cannot read {}: {error}", image.display()))?;
        Ok((image, xen, elf))
    });
    let (image, xen, elf) = match prepared {
        Ok(prepared) => prepared,
        Err(message) => {
            eprintln!("ballast hil: {message}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    let table = match defmt_table(&elf, &image) {
        Ok(table) => table,
        Err(message) => {
            eprintln!("ballast hil: {message}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    boot_and_check(&qemu_path, &xen, &image, &table, &options)
}

/// The defmt table of the image ELF `elf` (read from `path`), which decodes its log.
pub(crate) fn defmt_table(elf: &[u8], path: &Path) -> Result<defmt_decoder::Table, String> {
    match defmt_decoder::Table::parse(elf) {
        Ok(Some(table)) => Ok(table),
        Ok(None) => Err(format!("{} has no defmt table", path.display())),
        Err(error) => Err(format!(
            "cannot read the defmt table of {}: {error}",
            path.display()
        )),
    }
}

/// QEMU for x86-64 on the PATH and Debian's Xen image at `xen_gz`, or the exit status that says
/// which is missing (every x86-64 run needs both).
pub(crate) fn x86_tools(xen_gz: &Path) -> Result<PathBuf, ExitCode> {
    let Some(qemu_path) = qemu::find_on_path(qemu::QEMU) else {
        return Err(missing(&format!(
            "{} is not on the PATH (Debian: apt-get install qemu-system-x86, or run scripts/setup)",
            qemu::QEMU
        )));
    };
    if !xen_gz.is_file() {
        return Err(missing(&format!(
            "the Xen image {} is missing (Debian: apt-get install xen-hypervisor-4.17-amd64, or \
             run scripts/setup)",
            xen_gz.display()
        )));
    }
    Ok(qemu_path)
}

/// The value of `--timeout`, in whole seconds.
pub(crate) fn parse_timeout(seconds: &str) -> Result<Duration, String> {
    seconds
        .parse()
        .map(Duration::from_secs)
        .map_err(|_| format!("--timeout {seconds}: expected seconds"))
}

fn missing(what: &str) -> ExitCode {
    eprintln!("\n**************** ballast hil: CANNOT RUN ****************");
    eprintln!("** {what}");
    eprintln!("** exiting with status {EXIT_MISSING_TOOLS}: real Xen was NOT tested");
    eprintln!("*********************************************************\n");
    ExitCode::from(EXIT_MISSING_TOOLS)
}

fn boot_and_check(
    qemu_path: &Path,
    xen: &Path,
    image: &Path,
    table: &defmt_decoder::Table,
    options: &Options,
) -> ExitCode {
    let mut cmdline = options.guest.cmdline().unwrap_or_default();
    let mut xen_cmdline = qemu::XEN_CMDLINE.to_string();
    if options.debug_port {
        cmdline.push_str(" log=port_e9");
        xen_cmdline = format!("{xen_cmdline} {}", qemu::XEN_CMDLINE_GUEST_DEBUG);
    }
    println!(
        "ballast hil: {} -kernel {} -initrd '{} {cmdline}' -append '{xen_cmdline}'",
        qemu_path.display(),
        xen.display(),
        image.display(),
    );
    let mut qemu = match qemu::Qemu::start(qemu_path, xen, &xen_cmdline, image, &cmdline) {
        Ok(qemu) => qemu,
        Err(message) => {
            eprintln!("ballast hil: {message}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    let mut deadline = qemu.started + options.timeout;
    let mut decoder = LogDecoder::new(table);
    let mut verifier = Verifier::default();
    // The test app holds still at its start and after each phase, the memory-server app once it
    // serves: the host reads Xen's count of dom0 (the guest) itself then.
    verifier.xen_readings = Some(xen_reading::XenReadings::new(0));
    let mut timeline = Timeline::default();
    let mut stopping = false;
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
        // The memory server never ends the run: stop QEMU once it serves.
        if verifier.serving && !stopping {
            stopping = true;
            deadline = deadline.min(Instant::now() + AFTER_SERVING);
        }
    }
    let started = qemu.started;
    let status = qemu.wait(deadline);
    if options.guest.app == App::MemoryServer {
        let problems = verifier
            .finish_serving(options.guest.target_pages())
            .to_vec();
        return summarize(&verifier, &problems, &timeline, &[]);
    }
    let mut problems = verifier.finish().to_vec();
    match status {
        Some(qemu::QEMU_PASS_STATUS) => {}
        Some(code) => problems.push(format!(
            "QEMU exited with status {code}, not {} (PASS)",
            qemu::QEMU_PASS_STATUS
        )),
        None => problems.push(format!(
            "QEMU did not finish within {:?}; killed after {:.1}s",
            options.timeout,
            started.elapsed().as_secs_f64()
        )),
    }
    summarize(&verifier, &problems, &timeline, &[])
}

/// When the host saw, since QEMU started, the guest's first reservation step (the test app's first
/// balloon operation, after its start hold), the memory-server app setting its boot target (its
/// first balloon operation follows at once), and the verdict (or the memory-server app serving).
#[derive(Debug, Default)]
struct Timeline {
    first_step: Option<Duration>,
    boot_target: Option<Duration>,
    passed: Option<Duration>,
}

impl Timeline {
    /// A serial line arrived `at`; `verifier` has taken it, and the guest had `passed` with it.
    fn saw(&mut self, at: Duration, verifier: &Verifier, passed: bool) {
        if self.first_step.is_none() && verifier.steps() > 0 {
            self.first_step = Some(at);
        }
        if self.boot_target.is_none() && verifier.boot_target_set {
            self.boot_target = Some(at);
        }
        if self.passed.is_none() && passed {
            self.passed = Some(at);
        }
    }
}

/// Print one serial line with its time since QEMU started, and feed the guest's messages to the
/// verifier. Returns whether the guest has passed (the test app) or serves (the memory-server app).
fn show_serial_line(
    decoder: &mut LogDecoder<'_>,
    verifier: &mut Verifier,
    text: &str,
    stamp: f64,
) -> bool {
    match decoder.line(text) {
        Line::Text(text) => {
            println!("[{stamp:8.3}s] xen   | {text}");
            if let Some(reading) = verifier.xen_console(&text) {
                println!("[{stamp:8.3}s] host  | {reading}");
            }
        }
        Line::Garbled(text) => {
            println!("[{stamp:8.3}s] ????  | {text}");
            verifier
                .problems
                .push(format!("undecodable defmt line: {text}"));
        }
        Line::Messages(messages) => {
            for message in messages {
                match &message.source {
                    Some(source) => println!("[{stamp:8.3}s] {source:<5} | {}", message.text),
                    None => println!("[{stamp:8.3}s] guest | {}", message.text),
                }
                verifier.message(&message.text);
            }
        }
    }
    verifier.result == Some(true) || verifier.serving
}

/// Print the summary (`notes` first: what the host knows of the image) and the verdict.
fn summarize(
    verifier: &Verifier,
    problems: &[String],
    timeline: &Timeline,
    notes: &[String],
) -> ExitCode {
    println!("\n---- ballast hil summary ----");
    for line in notes.iter().chain(&verifier.highlights) {
        println!("  {line}");
    }
    if verifier.unprobed_reads > 0 {
        println!(
            "  NOT PROBED: what reading a ballooned frame does ({} frames logged probed=false: on \
             this platform the read would end the reader); that fact is checked on the static \
             images only",
            verifier.unprobed_reads
        );
    }
    println!(
        "  reservation steps checked on the host: {}",
        verifier.steps()
    );
    if let Some(at) = timeline.first_step {
        println!(
            "  time from QEMU start to the first reservation step: {:.3} s",
            at.as_secs_f64()
        );
    }
    if let Some(at) = timeline.boot_target {
        println!(
            "  time from QEMU start to the memory server's first balloon operation (its boot target set): {:.3} s",
            at.as_secs_f64()
        );
    }
    if let Some(at) = timeline.passed {
        println!(
            "  time from QEMU start to PASS (or serving): {:.3} s",
            at.as_secs_f64()
        );
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
