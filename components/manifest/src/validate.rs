//! Semantic validation: every check a parsed manifest must pass, run in a fixed order so that the
//! list of errors is the same on every run. A manifest that passes is a [`Manifest`], with every
//! name it uses resolved to IDL ids.

use super::catalog::InterfaceSpec;
use super::error::{ManifestError, Problem};
use super::schema::ManifestFile;
use super::{check_components, check_memory, check_notifications, check_regions, check_sizing};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A manifest that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// The file it came from.
    pub file: PathBuf,
    /// What it says.
    pub spec: ManifestFile,
    /// Who calls whom through which interface, with which ops (resolved to ids), sorted by client,
    /// server and interface id.
    pub links: Vec<Link>,
    /// The interface ids each component serves, by component name.
    pub serves: BTreeMap<String, Vec<u16>>,
    /// The lender (owner) of each region, by region name.
    pub lenders: BTreeMap<String, String>,
}

/// One resolved `uses` entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Link {
    /// The calling component.
    pub client: String,
    /// The serving component.
    pub server: String,
    /// The interface id.
    pub interface: u16,
    /// The interface name, as the manifest spells it.
    pub interface_name: String,
    /// The op ids the client may call, ascending.
    pub ops: Vec<u16>,
    /// The capabilities those ops need (IDL names), sorted.
    pub capabilities: Vec<String>,
    /// Whether one of those ops lets the server write the caller's lease.
    pub lease_writable: bool,
    /// The granting domains the client may map grants from (`Hypercall` with `grant_map` only),
    /// ascending.
    pub grant_domains: Vec<u16>,
}

/// Collects the errors of one manifest.
#[derive(Debug)]
pub struct Report<'a> {
    file: &'a Path,
    errors: Vec<ManifestError>,
}

impl Report<'_> {
    /// Records `problem` at `key`.
    pub fn push(&mut self, key: impl Into<String>, problem: Problem) {
        self.errors.push(ManifestError {
            file: self.file.to_path_buf(),
            key: key.into(),
            problem,
        });
    }
}

/// Runs every check on `spec`; `catalog` is the IDL the manifest's names are resolved against.
pub fn validate(
    file: &Path,
    spec: ManifestFile,
    catalog: &[InterfaceSpec],
) -> Result<Manifest, Vec<ManifestError>> {
    let mut report = Report {
        file,
        errors: Vec::new(),
    };
    let (links, serves) = check_components::check(&spec, catalog, &mut report);
    // Checks that follow the links only run on complete links, so that one misspelt name is
    // reported once rather than again as every consequence of its missing link.
    let links_complete = report.errors.is_empty();
    check_notifications::check(&spec, &mut report);
    check_memory::check(&spec, &mut report);
    check_sizing::check(&spec, links_complete.then_some(&links[..]), &mut report);
    let lenders = check_regions::check(&spec, links_complete.then_some(&links[..]), &mut report);
    if report.errors.is_empty() {
        Ok(Manifest {
            file: file.to_path_buf(),
            spec,
            links,
            serves,
            lenders,
        })
    } else {
        Err(report.errors)
    }
}

/// Reports every name `names` lists more than once, at `key[index]`.
pub fn report_duplicates<'a>(
    names: impl Iterator<Item = &'a String>,
    key: &str,
    report: &mut Report<'_>,
) {
    let mut seen = Vec::new();
    for (index, name) in names.enumerate() {
        if seen.contains(&name) {
            report.push(
                format!("{key}[{index}]"),
                Problem::Duplicate { name: name.clone() },
            );
        } else {
            seen.push(name);
        }
    }
}
