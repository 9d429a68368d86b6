//! Manifest golden tests: every broken manifest under `tests/manifests/broken/` yields exactly the
//! messages in its `.expected` file as `ballast check` loads it (the assembly tried, a `sim` image
//! against the host's capacities and built; rewrite them with
//! `BALLAST_BLESS=1 cargo test -p ballast --test manifest_golden broken_manifests`), every shipped
//! manifest is valid, and the generated ids and badges are unique and do not move when keys are
//! reordered or unrelated values change.

use ballast::composition::SIM;
use ballast_ipc::{EndpointId, NotificationBits};
use ballast_manifest::{check_text, compose, InterfaceSpec, ManifestError, INTERFACES};
use ballast_system::{Capacities, Composition};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

const BROKEN: &str = "tests/manifests/broken";
const DEFAULT_MANIFEST: &str = "manifests/sim.toml";

fn files_with_extension(dir: &str, extension: &str) -> Vec<PathBuf> {
    let entries = fs::read_dir(dir).unwrap_or_else(|error| panic!("{dir}: {error}"));
    let mut paths: Vec<PathBuf> = entries
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|found| found == extension))
        .collect();
    paths.sort();
    paths
}

fn composition_of_text(text: &str) -> Composition {
    match check_text(Path::new(DEFAULT_MANIFEST), text, INTERFACES) {
        Ok(valid) => compose(&valid),
        Err(errors) => panic!("{}", messages(&errors)),
    }
}

fn messages(errors: &[ManifestError]) -> String {
    errors.iter().map(|error| format!("{error}\n")).collect()
}

#[test]
fn broken_manifests_give_their_golden_messages() {
    let bless = std::env::var_os("BALLAST_BLESS").is_some();
    let broken = files_with_extension(BROKEN, "toml");
    assert!(broken.len() >= 12, "only {} broken manifests", broken.len());
    let mut mismatches = Vec::new();
    for path in &broken {
        let actual = match ballast::composition::load(path) {
            Ok(_) => format!("{} unexpectedly passed\n", path.display()),
            Err(errors) => messages(&errors),
        };
        let expected_path = path.with_extension("expected");
        if bless {
            fs::write(&expected_path, &actual).expect("write the golden file");
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if actual != expected {
            mismatches.push(format!(
                "{}:\n--- expected\n{expected}--- actual\n{actual}",
                path.display()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn every_broken_manifest_has_a_golden_file_and_the_reverse() {
    let stems = |extension| -> BTreeSet<PathBuf> {
        let paths = files_with_extension(BROKEN, extension).into_iter();
        paths.map(|path| path.with_extension("")).collect()
    };
    assert_eq!(stems("toml"), stems("expected"));
}

#[test]
fn every_shipped_manifest_is_valid() {
    let shipped = files_with_extension("manifests", "toml");
    assert!(shipped.len() >= 2, "manifests/: {shipped:?}");
    for path in shipped {
        if let Err(errors) = ballast::composition::load(&path) {
            panic!("{}", messages(&errors));
        }
    }
}

#[test]
fn the_generated_tables_are_those_of_the_default_manifest() {
    let valid = ballast_manifest::load(DEFAULT_MANIFEST).expect("the default manifest is valid");
    assert_eq!(compose(&valid), SIM);
}

#[test]
fn ids_are_positions_and_badges_are_unique_and_nonzero() {
    for path in files_with_extension("manifests", "toml") {
        let composition = compose(&ballast_manifest::load(&path).expect("valid"));
        for (index, component) in composition.components.iter().enumerate() {
            assert_eq!(usize::from(component.id), index);
        }
        for (index, region) in composition.regions.iter().enumerate() {
            assert_eq!(usize::from(region.id), index);
        }
        let mut badges = BTreeSet::new();
        for (index, endpoint) in composition.endpoints.iter().enumerate() {
            assert_eq!(usize::from(endpoint.id), index);
            assert_ne!(endpoint.badge, 0, "badge 0 means unbadged");
            assert!(
                badges.insert(endpoint.badge),
                "badge {} twice",
                endpoint.badge
            );
        }
        let pairs: BTreeSet<(u16, u16)> = (composition.endpoints.iter())
            .map(|endpoint| (endpoint.client, endpoint.server))
            .collect();
        assert_eq!(
            pairs.len(),
            composition.endpoints.len(),
            "one endpoint per pair"
        );
        for (index, notification) in composition.notifications.iter().enumerate() {
            let after_the_calls = composition.endpoints.len() + index;
            assert_eq!(usize::from(notification.id), after_the_calls);
        }
        ballast_ipc::CheckedTables::from_tables(&composition.ipc)
            .unwrap_or_else(|error| panic!("{}: {error:?}", path.display()));
    }
}

#[test]
fn the_sel4_image_s_control_signals_go_to_the_test_client() {
    let sel4 = compose(&ballast_manifest::load("manifests/sel4-xen-arm64.toml").expect("valid"));
    let id = |name: &str| sel4.component(name).expect(name).id;
    let (control, testclient) = (id("control"), id("testclient"));
    let go = sel4.notify_capability(control, testclient);
    let first_after_the_calls = EndpointId(u16::try_from(sel4.endpoints.len()).expect("few"));
    assert_eq!(go, Some((first_after_the_calls, NotificationBits(1))));
    let to_testclient: Vec<u16> = sel4.notifications_to(testclient).map(|n| n.from).collect();
    assert_eq!(to_testclient, [control], "the test client's only notifier");
    assert_eq!(sel4.notifications.len(), 1);
}

/// The default manifest with its `[table]` sections in reverse order.
fn sections_reversed(text: &str) -> String {
    let mut sections: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with('[') || sections.is_empty() {
            sections.push(String::new());
        }
        let current = sections.last_mut().expect("a section");
        current.push_str(line);
        current.push('\n');
    }
    let preamble = sections.remove(0);
    sections.reverse();
    preamble + &sections.concat()
}

#[test]
fn reordering_tables_and_keys_changes_no_id_or_badge() {
    let text = fs::read_to_string(DEFAULT_MANIFEST).expect("read the default manifest");
    let original = composition_of_text(&text);
    let reversed = sections_reversed(&text);
    assert_ne!(reversed, text);
    assert_eq!(composition_of_text(&reversed), original);
    let table: toml::Table = text.parse().expect("TOML");
    let sorted = toml::to_string(&table).expect("serialise");
    assert_eq!(composition_of_text(&sorted), original);
}

#[test]
fn unrelated_values_do_not_move_badges() {
    let text = fs::read_to_string(DEFAULT_MANIFEST).expect("read the default manifest");
    let mut table: toml::Table = text.parse().expect("TOML");
    let blkback = table["components"]["blkback"]
        .as_table()
        .cloned()
        .expect("blkback");
    let mut changed = blkback;
    changed.insert("max_lent_frames".into(), toml::Value::Integer(0x100));
    table["components"]
        .as_table_mut()
        .expect("components")
        .insert("blkback".into(), changed.into());
    table["regions"]["frame_list"]
        .as_table_mut()
        .expect("region")
        .insert("size".into(), 8192.into());
    let before = composition_of_text(&text);
    let after = composition_of_text(&toml::to_string(&table).expect("serialise"));
    assert_ne!(before, after);
    assert_eq!(before.endpoints, after.endpoints);
    assert_eq!(before.components.len(), after.components.len());
    for (old, new) in before.components.iter().zip(after.components.iter()) {
        assert_eq!((old.id, &old.name), (new.id, &new.name));
    }
}

#[test]
fn the_tables_grant_exactly_the_listed_ops() {
    let sim = SIM;
    let id = |name: &str| sim.component(name).expect(name).id;
    let interface = |name: &str| {
        let found = INTERFACES.iter().find(|interface| interface.name == name);
        found.expect(name)
    };
    let (balloon, control) = (interface("Balloon"), interface("BalloonControl"));
    let op = |interface: &InterfaceSpec, name: &str| interface.op(name).expect(name).id;
    let badge = |client: &str, server: &str| {
        let found = (sim.endpoints.iter())
            .find(|endpoint| endpoint.client == id(client) && endpoint.server == id(server));
        found.expect("endpoint").badge
    };
    let memory = id("memory");
    let blkback = badge("blkback", "memory");
    let toolstack = badge("toolstack", "memory");
    assert!(sim.allows(
        memory,
        blkback,
        balloon.id,
        op(balloon, "alloc_unpopulated")
    ));
    assert!(sim.allows(memory, blkback, balloon.id, op(balloon, "free_unpopulated")));
    assert!(!sim.allows(memory, blkback, control.id, op(control, "set_target")));
    assert!(sim.allows(memory, toolstack, control.id, op(control, "set_target")));
    assert!(!sim.allows(
        memory,
        toolstack,
        balloon.id,
        op(balloon, "alloc_unpopulated")
    ));
    assert!(!sim.allows(
        id("gateway"),
        blkback,
        balloon.id,
        op(balloon, "alloc_unpopulated")
    ));
    assert!(!sim.allows(memory, 0, balloon.id, op(balloon, "alloc_unpopulated")));
}

#[test]
fn regions_name_their_lender_and_writers() {
    let sim = SIM;
    let names = |ids: &[u16]| -> Vec<String> {
        let names = ids
            .iter()
            .map(|&id| sim.components[usize::from(id)].name.to_string());
        names.collect()
    };
    let region = |name: &str| {
        sim.regions
            .iter()
            .find(|entry| entry.name == name)
            .expect(name)
    };
    let frame_list = region("frame_list");
    assert_eq!(names(&[frame_list.lender]), ["memory"]);
    assert_eq!(names(frame_list.writers), ["gateway"]);
    let runs = region("blkback_runs");
    assert_eq!(names(&[runs.lender]), ["blkback"]);
    assert_eq!(names(runs.sharers), ["blkback", "memory"]);
    assert_eq!(names(runs.writers), ["memory"]);
}

#[test]
fn ballast_check_prints_the_golden_messages_and_a_summary() {
    let run = |file: &str| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_ballast"))
            .args(["check", file])
            .output()
            .expect("run ballast check");
        let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("UTF-8");
        (
            output.status.code(),
            text(output.stdout),
            text(output.stderr),
        )
    };
    let (code, stdout, _) = run(DEFAULT_MANIFEST);
    assert_eq!(code, Some(0));
    assert_eq!(
        stdout,
        "manifests/sim.toml: ok: image ballast-sim (sim): 5 components, 4 endpoints, 3 regions\n"
    );
    let (code, stdout, _) = run("manifests/sel4-xen-arm64.toml");
    assert_eq!(code, Some(0));
    assert_eq!(
        stdout,
        "manifests/sel4-xen-arm64.toml: ok: image ballast-sel4-xen-arm64 (sel4-xen-arm64): 5 components, 5 endpoints, 4 regions\n  notify control -> testclient: bits 0x1, endpoint 5 of control\n"
    );
    let broken = "tests/manifests/broken/unknown-op.toml";
    let (code, _, stderr) = run(broken);
    assert_eq!(code, Some(1));
    let expected =
        fs::read_to_string(Path::new(broken).with_extension("expected")).expect("golden");
    assert_eq!(stderr, format!("{expected}{broken}: 1 error(s)\n"));
}

#[test]
fn the_pvh_memory_server_owns_its_free_ram_and_the_growth_range_and_its_frame_access_covers_them() {
    use ballast_system::FrameRun;
    let pvh = ballast::composition::load(Path::new("manifests/xen-pvh.toml")).expect("valid");
    let growth = pvh.memory.growth.expect("the PVH image has a growth range");
    assert_eq!((growth.start(), growth.end()), (0x11_0000, 0x13_0000));
    let lending = pvh.memory.unpopulated;
    assert!(!growth.overlaps(&lending) && growth.start() >= lending.end());
    // Free RAM as the image finds it in a 512 MiB domU: from the image's end to the map's end.
    let free = FrameRun::span(0x400, 0x2_0000);
    let runs = ballast_system::gateway::memory_server_runs::<8>(pvh, &[free]).expect("fits");
    assert_eq!(
        runs.as_slice(),
        [FrameRun::span(0x500, 0x2_0000), growth],
        "the image's reserved frames are cut away; the growth range is owned whole"
    );
}

#[test]
fn the_summary_s_spare_blocks_come_from_the_manifest_and_size_its_storage() {
    let text = fs::read_to_string(DEFAULT_MANIFEST).expect("the default manifest");
    let default = composition_of_text(&text);
    let fewer = composition_of_text(&text.replacen(
        "[memory_server]\n",
        "[memory_server]\nmixed_chunk_blocks = 8\n",
        1,
    ));
    assert_eq!(default.server.mixed_chunk_blocks, 64);
    assert_eq!(fewer.server.mixed_chunk_blocks, 8);
    let ram = |composition: &Composition| ballast_system::memory::ServerRam {
        ram: composition.memory.ram,
        reserved: &[],
    };
    let config = ballast_system::memory::config(&fewer, ram(&fewer), None).expect("a config");
    assert_eq!(config.mixed_chunk_blocks, 8);
    // The default manifest's 4 GiB take the chunk summary: 56 blocks fewer, 9 words each.
    let words = |composition: &Composition| Capacities::of(composition).bitmap_words;
    assert_eq!(words(&default) - words(&fewer), 56 * 9);
}

#[test]
fn the_fuzz_manifest_s_memory_server_runs_the_chunk_summary() {
    let composition =
        ballast::composition::read(Path::new("fuzz/manifests/fuzz.toml")).expect("valid");
    let parts = ballast::system::build(composition, None, 0).expect("it builds");
    // A pool at all means the summary: its 4 spare blocks of 72 bytes and the pinned ones.
    let pool = parts.memory.core().pool_bytes();
    assert!(pool >= 4 * 72, "pool of {pool} bytes: the direct bitmap");
}
