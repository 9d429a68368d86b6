//! Checks of `[memory]`: ranges are non-empty, below the guest-physical limit, disjoint and (where
//! the balloon manages them in largest extents) aligned; reserved ranges lie in RAM; the lending
//! range stays clear of RAM; the growth range lies above boot memory and clear of the lending
//! range.

use super::check_sizing::MAX_EXTENT_ORDER;
use super::error::Problem;
use super::schema::{GfnRange, ManifestFile, RamSource};
use super::validate::Report;
use ballast_xen::GFN_LIMIT;

/// Checks the memory layout.
pub fn check(spec: &ManifestFile, report: &mut Report<'_>) {
    let memory = &spec.memory;
    check_ram_source(spec, report);
    let keyed = |name: &str, ranges: &[GfnRange]| -> Vec<(String, GfnRange)> {
        let indexed = ranges.iter().enumerate();
        indexed
            .map(|(index, range)| (format!("memory.{name}[{index}]"), *range))
            .collect()
    };
    let ram = keyed("ram", &memory.ram);
    let extra = keyed("boot_extra", &memory.boot_extra);
    let unpopulated = ("memory.unpopulated".to_string(), memory.unpopulated);
    let growth: Vec<(String, GfnRange)> = (memory.growth.iter())
        .map(|range| ("memory.growth".to_string(), *range))
        .collect();
    let reserved: Vec<(String, GfnRange)> = (memory.reserved.iter().enumerate())
        .map(|(index, named)| (format!("memory.reserved[{index}]"), named.range()))
        .collect();

    let all = ram
        .iter()
        .chain(&extra)
        .chain(&growth)
        .chain([&unpopulated])
        .chain(&reserved);
    for (key, range) in all {
        if range.start >= range.end {
            let (start, end) = (range.start, range.end);
            report.push(key.clone(), Problem::EmptyRange { start, end });
        } else if range.end > GFN_LIMIT {
            let end = range.end;
            report.push(key.clone(), Problem::PastGuestPhysical { end });
        }
    }
    if let Some(end) = memory.ram_ceiling.filter(|&end| end > GFN_LIMIT) {
        report.push("memory.ram_ceiling", Problem::PastGuestPhysical { end });
    }
    if spec.xen.max_extent_order <= MAX_EXTENT_ORDER {
        let frames = 1u64 << spec.xen.max_extent_order;
        for (key, range) in extra.iter().chain(&growth).chain([&unpopulated]) {
            if !range.start.is_multiple_of(frames) || !range.end.is_multiple_of(frames) {
                let (start, end) = (range.start, range.end);
                report.push(key.clone(), Problem::Unaligned { start, end, frames });
            }
        }
    }
    let ram_like = match memory.ram_source {
        RamSource::Manifest => ram.clone(),
        RamSource::BootMap => (memory.ram_ceiling.iter())
            .map(|&end| ("memory.ram_ceiling".to_string(), GfnRange { start: 0, end }))
            .collect(),
    };
    for (ram_key, ram_range) in &ram_like {
        if ram_range.overlaps(&unpopulated.1) {
            let ram = ram_key.clone();
            report.push(
                unpopulated.0.clone(),
                Problem::UnpopulatedOverlapsRam { ram },
            );
        }
    }
    for (extra_key, extra_range) in &extra {
        if extra_range.start < extra_range.end && extra_range.overlaps(&unpopulated.1) {
            let other = extra_key.clone();
            report.push(unpopulated.0.clone(), Problem::Overlap { other });
        }
    }
    check_growth(
        &growth,
        &ram_like.iter().chain(&extra).collect::<Vec<_>>(),
        report,
    );
    for (growth_key, growth_range) in &growth {
        if growth_range.start < growth_range.end && growth_range.overlaps(&unpopulated.1) {
            let other = unpopulated.0.clone();
            report.push(growth_key.clone(), Problem::Overlap { other });
        }
    }
    report_overlaps(&ram.iter().chain(&extra).collect::<Vec<_>>(), report);
    report_overlaps(&reserved.iter().collect::<Vec<_>>(), report);
    for (key, range) in &reserved {
        let inside = ram_like.iter().any(|(_, ram)| ram.contains(range));
        if range.start < range.end && !ram_like.is_empty() && !inside {
            report.push(key.clone(), Problem::OutsideRam);
        }
    }
}

/// The growth range starts at or above the end of every boot range (RAM or its ceiling, boot
/// extra): the balloon populates it last and releases it first because it lies on top.
fn check_growth(
    growth: &[(String, GfnRange)],
    boot: &[&(String, GfnRange)],
    report: &mut Report<'_>,
) {
    let top = (boot.iter())
        .filter(|(_, range)| range.start < range.end)
        .max_by_key(|(_, range)| range.end);
    for (key, range) in growth {
        if let Some((boot_key, boot_range)) = top.filter(|(_, top)| range.start < top.end) {
            let (start, boot_end) = (range.start, boot_range.end);
            let boot = boot_key.clone();
            report.push(
                key.clone(),
                Problem::GrowthBelowBootMemory {
                    start,
                    boot_end,
                    boot,
                },
            );
        }
    }
}

/// `ram` or `ram_ceiling`, whichever `ram_source` asks for, and not the other.
fn check_ram_source(spec: &ManifestFile, report: &mut Report<'_>) {
    let memory = &spec.memory;
    match memory.ram_source {
        RamSource::Manifest => {
            let source = "manifest";
            if memory.ram.is_empty() {
                report.push("memory.ram", Problem::RequiredByRamSource { source });
            }
            if memory.ram_ceiling.is_some() {
                report.push(
                    "memory.ram_ceiling",
                    Problem::ForbiddenByRamSource { source },
                );
            }
        }
        RamSource::BootMap => {
            let source = "boot-map";
            if !memory.ram.is_empty() {
                report.push("memory.ram", Problem::ForbiddenByRamSource { source });
            }
            if memory.ram_ceiling.is_none() {
                report.push(
                    "memory.ram_ceiling",
                    Problem::RequiredByRamSource { source },
                );
            }
        }
    }
}

/// Reports each overlapping pair of well-formed ranges once, at the later key.
fn report_overlaps(ranges: &[&(String, GfnRange)], report: &mut Report<'_>) {
    let well_formed: Vec<_> = (ranges.iter())
        .filter(|(_, range)| range.start < range.end)
        .collect();
    for (later_index, later) in well_formed.iter().enumerate() {
        for earlier in &well_formed[..later_index] {
            if later.1.overlaps(&earlier.1) {
                report.push(
                    later.0.clone(),
                    Problem::Overlap {
                        other: earlier.0.clone(),
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{check_text, INTERFACES};
    use std::path::Path;

    /// The errors of the default manifest with its `[memory]` table replaced by `memory`.
    fn memory_errors(memory: &str) -> Vec<String> {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../manifests/xen-pvh.toml"
        ))
        .expect("xen-pvh manifest");
        let start = text.find("[memory]").expect("[memory]");
        let end = start
            + text[start..]
                .find("\n[memory_server]")
                .expect("[memory_server]");
        let text = format!("{}{memory}{}", &text[..start], &text[end..]);
        match check_text(Path::new("m.toml"), &text, INTERFACES) {
            Ok(_) => Vec::new(),
            Err(errors) => errors
                .iter()
                .map(|error| format!("{}: {}", error.key, error.problem))
                .collect(),
        }
    }

    #[test]
    fn the_boot_map_ceiling_stands_for_ram() {
        let clear = "[memory]\nram_source = \"boot-map\"\nram_ceiling = 0x1000\nunpopulated = { start = 0x1000, end = 0x5000 }\n";
        assert_eq!(memory_errors(clear), Vec::<String>::new());
        let overlapping = clear.replace("ram_ceiling = 0x1000", "ram_ceiling = 0x1001");
        assert_eq!(
            memory_errors(&overlapping),
            ["memory.unpopulated: the lending range overlaps RAM (`memory.ram_ceiling`)"]
        );
    }

    #[test]
    fn no_frame_lies_past_the_guest_physical_limit() {
        let past = "[memory]\nram_source = \"boot-map\"\nram_ceiling = 0x10000000001\nunpopulated = { start = 0x10000000200, end = 0x10000010200 }\n";
        let limit =
            "past the last frame a guest can map (0xffffffffff: 52-bit guest-physical addresses)";
        assert_eq!(
            memory_errors(past),
            [
                format!("memory.unpopulated: range ends at 0x10000010200, {limit}"),
                format!("memory.ram_ceiling: range ends at 0x10000000001, {limit}"),
            ]
        );
        let below = "[memory]\nram_source = \"boot-map\"\nram_ceiling = 0xffffff0000\nunpopulated = { start = 0xffffff0000, end = 0x10000000000 }\n";
        // Below the limit the ranges pass; only the image's memory budget refuses that much RAM.
        let errors = memory_errors(below);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("memory: a `xen-pvh` image would hold"));
    }

    #[test]
    fn extra_memory_must_clear_the_lending_range() {
        let memory = "[memory]\nram = [{ start = 0, end = 0x1000 }]\nboot_extra = [{ start = 0x1000, end = 0x1400 }]\nunpopulated = { start = 0x1200, end = 0x5200 }\n";
        assert_eq!(
            memory_errors(memory),
            ["memory.unpopulated: overlaps `memory.boot_extra[0]`"]
        );
    }
}
