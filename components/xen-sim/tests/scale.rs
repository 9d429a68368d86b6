//! A 1 TiB guest (2^28 frames): order-9 operations across all of it must cost per extent, and the
//! simulator must stay small. No timing is asserted; the footprint is.

mod common;

use ballast_xen_sim::{DomainConfig, HostConfig, XenSim, CHUNK_FRAMES};
use common::*;

const TIB_FRAMES: u64 = 1 << 28;

#[test]
fn a_one_tebibyte_guest_balloons_in_superpages() {
    let sim = XenSim::new(HostConfig {
        free_pages: 1 << 20,
        ..HostConfig::default()
    });
    let d = sim.create_domain(DomainConfig::domu(0..TIB_FRAMES, TIB_FRAMES));
    assert_eq!(sim.tot_pages(d), Some(TIB_FRAMES));
    assert_eq!(
        sim.counters(d).unwrap().superpages_intact,
        TIB_FRAMES / CHUNK_FRAMES
    );

    // Balloon out every 8th 2 MiB chunk of the whole terabyte, 512 extents a call.
    let chunks: Vec<u64> = (0..TIB_FRAMES / CHUNK_FRAMES)
        .step_by(8)
        .map(|c| c * CHUNK_FRAMES)
        .collect();
    for batch in chunks.chunks(512) {
        assert_eq!(call(&sim, d, DECREASE, 9, batch), batch.len() as i64);
    }
    let out = chunks.len() as u64 * CHUNK_FRAMES;
    assert_eq!(sim.tot_pages(d), Some(TIB_FRAMES - out));
    assert_eq!(sim.host_free_pages(), (1 << 20) + out);
    assert_eq!(
        sim.populated_count(d, 0..TIB_FRAMES),
        Some(TIB_FRAMES - out)
    );

    // Shatter a few thousand chunks with 4 KiB holes, and write contents into some pages.
    for chunk in (1..TIB_FRAMES / CHUNK_FRAMES).step_by(97) {
        let gfn = chunk * CHUNK_FRAMES + 5;
        if sim.is_populated(d, gfn).unwrap() {
            sim.write_page(d, gfn + 1, chunk).unwrap();
            assert_eq!(call(&sim, d, DECREASE, 0, &[gfn]), 1);
        }
    }

    // Populate the ballooned chunks back.
    for batch in chunks.chunks(512) {
        assert_eq!(call(&sim, d, POPULATE, 9, batch), batch.len() as i64);
    }
    assert_eq!(sim.superpage_intact(d, 0), Some(true));
    // Each ballooned chunk came back on another free block (the one freed last first), so the
    // machine-frame map holds a run per chunk: 2^16 of them at 64 bytes, besides the P2M.
    let footprint = sim.footprint_bytes();
    assert!(
        footprint < 12 << 20,
        "1 TiB guest simulated in {footprint} bytes"
    );
    println!("1 TiB guest: simulator footprint {footprint} bytes");
}
