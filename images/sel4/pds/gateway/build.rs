//! Links the PD with the protection domains' script (`images/sel4/pd-rt/pd.ld`: at 0x400000,
//! entered at `_start`).

fn main() {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../pd-rt/pd.ld");
    println!("cargo::rerun-if-changed={script}");
    println!("cargo::rustc-link-arg-bins=-T{script}");
}
