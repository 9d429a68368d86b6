//! Generates one module per `idl/*.idol` file into OUT_DIR with ballast-idl-gen.

use std::path::Path;
use std::{env, fs, process};

fn main() {
    let idl = std::path::PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    )
    .join("../../idl");
    println!("cargo:rerun-if-changed={}", idl.display());
    let interfaces = match ballast_idl_gen::load_dir(&idl) {
        Ok(interfaces) => interfaces,
        Err(error) => {
            eprintln!("error: {error}");
            process::exit(1);
        }
    };
    let out = env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    for iface in &interfaces {
        println!("cargo:rerun-if-changed={}", iface.source.display());
        let file = Path::new(&out).join(format!("{}.rs", ballast_idl_gen::module_name(iface)));
        let code = ballast_idl_gen::generate(iface);
        if let Err(error) = fs::write(&file, code) {
            eprintln!("error: cannot write {}: {error}", file.display());
            process::exit(1);
        }
    }
}
