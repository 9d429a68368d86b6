//! `ballast hil --kernel sel4`: the seL4 image (`ballast::sel4::image`: the kernel, the root task
//! and one protection domain per component of `manifests/sel4-xen-arm64.toml`, carried by the
//! Rust loader), in its HIL variant (the memory server's protection domain plays the Xen-facts
//! phase through the gateway's before it serves) or, with `--app memory-server`, the product
//! (the control agent balloons to `--target-mib` and the memory server serves), booted by Debian's arm64 Xen 4.17 as a dom0less
//! domU with a virtual PL011 (the kernel's debug console, which every protection domain logs
//! through) on a GICv2 machine (seL4 5.0 drives GICv2 only). Every protection domain's defmt lines
//! name it, and are decoded against its own ELF; the checks are those of the static arm64 image,
//! and the summary gives the image's sizes from its ELF program headers.

use std::path::Path;
use std::process::ExitCode;

use ballast::sel4::image::{self as sel4_image, Sel4Image, Variant};
use ballast::sel4::sizes;

use super::super::decode::LogDecoder;
use super::super::image::App;
use super::super::{defmt_table, EXIT_SETUP};
use super::{device_tree, machine, watch, Options};

/// The flat Image's file name, beside the image's other artefacts.
const FLAT_IMAGE: &str = "ballast-sel4-xen-arm64.bin";

/// Build the seL4 image with the programs `options` ask for (the HIL variant for the HIL test
/// app, the product for `--app memory-server`), boot it on `xen` under QEMU and check what it
/// reports (the product as the static memory-server app is checked: books at Xen's count, at the
/// boot target, serving).
pub(super) fn run(
    root: &Path,
    xen: &Path,
    tools: &machine::Tools,
    mut options: Options,
) -> ExitCode {
    let variant = match options.guest.app {
        App::HilTest => Variant::HilTest,
        App::MemoryServer => Variant::Product,
    };
    let prepared = sel4_image::build(root, variant).and_then(|image| {
        let work = image
            .loader
            .parent()
            .ok_or("the loader's ELF has no directory")?
            .to_path_buf();
        let flat = work.join(FLAT_IMAGE);
        machine::flatten(&tools.objcopy, &image.loader, &flat)?;
        let dtb = work.join(format!("sel4-{}.dtb", std::process::id()));
        let module_bytes = std::fs::metadata(&flat)
            .map_err(|error| format!("cannot stat {}: {error}", flat.display()))?
            .len();
        let domain = device_tree::Domain {
            memory_kib: sel4_image::DOMAIN_MEMORY_KIB,
            module_address: machine::MODULE_ADDRESS,
            module_bytes,
            bootargs: options.guest.cmdline()?,
            vpl011: true,
        };
        device_tree::generate(tools, &work, &domain, machine::Gic::V2, &dtb)?;
        // In the product nothing reports a verdict: the control agent reports serving.
        let verdicts = match variant {
            Variant::HilTest => (image.domains.iter())
                .filter(|domain| domain.program == "driver")
                .count(),
            Variant::Product => 0,
        };
        let sizes = sizes::report(&image, &flat)?;
        Ok((flat, dtb, tables(&image)?, verdicts, sizes))
    });
    let (flat, dtb, tables, verdicts, sizes) = match prepared {
        Ok(prepared) => prepared,
        Err(message) => {
            eprintln!("ballast hil: {message}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    for line in &sizes {
        println!("ballast hil: {line}");
    }
    println!(
        "ballast hil: {} -machine {} -kernel {} -dtb {} -device loader,file={},addr={:#x}",
        tools.qemu.display(),
        machine::Gic::V2.machine(),
        xen.display(),
        dtb.display(),
        flat.display(),
        machine::MODULE_ADDRESS
    );
    let qemu = match machine::Qemu::start(&tools.qemu, xen, &dtb, &flat, machine::Gic::V2) {
        Ok(qemu) => qemu,
        Err(message) => {
            eprintln!("ballast hil: {message}");
            return ExitCode::from(EXIT_SETUP);
        }
    };
    let decoder = LogDecoder::named(tables.iter().map(|(name, table)| (name.as_str(), table)));
    options.verdicts = verdicts;
    options.notes = sizes;
    let status = watch(qemu, decoder, &options);
    for file in [dtb.with_extension("dts"), dtb] {
        std::fs::remove_file(file).ok();
    }
    status
}

/// The defmt table of each protection domain, by its component's name (the root task and the
/// kernel print plain text).
fn tables(image: &Sel4Image) -> Result<Vec<(String, defmt_decoder::Table)>, String> {
    (image.domains.iter())
        .map(|domain| (domain.component.as_str(), domain.elf.as_path()))
        .map(|(name, elf)| {
            let bytes = std::fs::read(elf)
                .map_err(|error| format!("cannot read {}: {error}", elf.display()))?;
            Ok((name.to_string(), defmt_table(&bytes, elf)?))
        })
        .collect()
}
