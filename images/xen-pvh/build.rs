//! Links the image with its own linker script (which pulls in defmt's), and brings in the
//! composition of `manifests/xen-pvh.toml` that `ballast hil` generated (ids, badges, grants,
//! limits, sizing) from the file `BALLAST_PVH_COMPOSITION` names.

const COMPOSITION_VAR: &str = "BALLAST_PVH_COMPOSITION";

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    println!("cargo:rustc-link-arg-bins=-T{dir}/linker.ld");
    println!("cargo:rerun-if-changed=linker.ld");
    println!("cargo:rerun-if-env-changed={COMPOSITION_VAR}");
    let Some(generated) = std::env::var_os(COMPOSITION_VAR) else {
        panic!(
            "{COMPOSITION_VAR} is not set: the image's composition tables are generated from \
             manifests/xen-pvh.toml by `ballast hil` (run `cargo run -- hil` from the repository root)"
        );
    };
    println!("cargo:rerun-if-changed={}", generated.to_string_lossy());
    let out = std::path::Path::new(&std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("composition.rs");
    if let Err(error) = std::fs::copy(&generated, &out) {
        panic!(
            "cannot copy the composition {} to {}: {error}",
            generated.to_string_lossy(),
            out.display()
        );
    }
}
