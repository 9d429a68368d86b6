//! Brings in the composition of the image's manifest (ids, badges, grants, limits, sizing) that
//! `ballast hil` generated, from the file `BALLAST_GUEST_COMPOSITION` names.

const COMPOSITION_VAR: &str = "BALLAST_GUEST_COMPOSITION";

fn main() {
    println!("cargo:rerun-if-env-changed={COMPOSITION_VAR}");
    let Some(generated) = std::env::var_os(COMPOSITION_VAR) else {
        panic!(
            "{COMPOSITION_VAR} is not set: an image's composition tables are generated from its \
             manifest by `ballast hil` (run `cargo run -- hil [--arch aarch64]` from the \
             repository root)"
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
