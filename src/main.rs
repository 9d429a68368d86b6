//! The `ballast` command line: simulator, benchmarks, hardware-in-the-loop and manifest checks.

fn main() {
    println!("ballast");
}
