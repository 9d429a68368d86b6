//! `ballast decode IMAGE-ELF`: what an administrator pipes a ballast console into
//! (`xl console ballast | ballast decode ELF`, or a saved log): every `~defmt~` line is decoded
//! against the image's defmt table and printed as text; every other line (the image's plain
//! lines, Xen's, the toolstack's) is printed as it came. Lines that carry the marker but do not
//! decode are printed with a `garbled:` prefix, so nothing is lost silently.

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::ExitCode;

use super::decode::{Line, LogDecoder};
use super::{defmt_table, EXIT_USAGE};

const USAGE: &str = "usage: ballast decode IMAGE-ELF   (reads the console on stdin)";

/// Run `ballast decode` with `args`.
pub fn run(args: &[String]) -> ExitCode {
    let [elf] = args else {
        eprintln!("{USAGE}");
        return ExitCode::from(EXIT_USAGE);
    };
    let path = Path::new(elf);
    let table = match std::fs::read(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))
        .and_then(|bytes| defmt_table(&bytes, path))
    {
        Ok(table) => table,
        Err(message) => {
            eprintln!("ballast decode: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let mut decoder = LogDecoder::new(&table);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else {
            break;
        };
        let line = line.trim_end_matches('\r');
        let written = match decoder.line(line) {
            Line::Text(text) => writeln!(out, "{text}"),
            Line::Messages(messages) => messages
                .iter()
                .try_for_each(|message| writeln!(out, "{}", message.text)),
            Line::Garbled(text) => writeln!(out, "garbled: {text}"),
        };
        if written.is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
}
