//! The seL4 kernel build step: seL4 5.0 fetched through cargo, given the platform `armvirt` and
//! ballast's patches in `target/sel4/source`, and built into `target/sel4/kernel/kernel.elf`, an
//! aarch64 kernel linked at seL4's kernel base and loaded at the platform's physBase; built
//! again, the tree is kept and nothing is remade.

use std::path::Path;

const CHECKOUT: &str = env!("CARGO_MANIFEST_DIR");

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(bytes[at..at + 2].try_into().unwrap())
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
}

#[test]
fn the_kernel_builds_from_the_patched_sel4_5_0_tree() {
    let build = ballast::sel4::build_kernel(Path::new(CHECKOUT)).unwrap();
    assert_eq!(build.source, Path::new(CHECKOUT).join("target/sel4/source"));
    assert_eq!(
        build.kernel_elf,
        Path::new(CHECKOUT).join("target/sel4/kernel/kernel.elf")
    );

    let elf = std::fs::read(&build.kernel_elf).unwrap();
    assert_eq!(&elf[..5], b"\x7fELF\x02", "a 64-bit ELF");
    assert_eq!(u16_at(&elf, 18), 183, "e_machine: AArch64");
    assert_eq!(
        u64_at(&elf, 24),
        0xffff_ff80_0000_0000,
        "e_entry: seL4's kernelBase"
    );
    let program_headers = u64_at(&elf, 32) as usize;
    let first_load_paddr = u64_at(&elf, program_headers + 24);
    assert_eq!(
        first_load_paddr, 0x4020_0000,
        "loaded at armvirt's physBase"
    );

    let interface = std::fs::read_to_string(
        build
            .source
            .join("libsel4/sel4_arch_include/aarch64/interfaces/sel4arch.xml"),
    )
    .unwrap();
    assert!(interface.contains(r#"<interface name="seL4_XenHypercall">"#));
    let slots = std::fs::read_to_string(build.source.join("libsel4/include/sel4/bootinfo_types.h"))
        .unwrap();
    assert!(slots.contains("seL4_CapXenHypercall        = 12,"));
    assert!(build
        .source
        .join("include/plat/armvirt/autoconf.h")
        .is_file());

    let made = std::fs::metadata(build.source.join("Makefile"))
        .unwrap()
        .modified()
        .unwrap();
    let built = std::fs::metadata(&build.kernel_elf).unwrap().len();
    let again = ballast::sel4::build_kernel(Path::new(CHECKOUT)).unwrap();
    assert_eq!(again, build);
    let kept = std::fs::metadata(again.source.join("Makefile"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(kept, made, "the patched tree is kept");
    assert_eq!(std::fs::metadata(&again.kernel_elf).unwrap().len(), built);
}
