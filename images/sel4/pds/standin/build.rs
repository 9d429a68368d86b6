//! Links the PD with the protection domains' script (`images/sel4/pd-rt/pd.ld`: at 0x400000,
//! entered at `_start`).

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let script = format!("{dir}/../../pd-rt/pd.ld");
    println!("cargo::rerun-if-changed={script}");
    println!("cargo::rustc-link-arg-bins=-T{script}");
}
