//! `--plot FILE.svg`: target, current, ballooned and lent pages over simulated time.

use std::path::Path;

use plotters::prelude::*;

use super::report::{RunReport, Sample};

/// One line of the plot: its name, colour and value per sample.
type Series = (&'static str, RGBColor, fn(&Sample) -> u64);

/// Draw the run's time series into an SVG file.
pub fn write_svg(report: &RunReport, path: &Path) -> Result<(), String> {
    draw(report, path).map_err(|error| format!("{}: cannot draw the plot: {error}", path.display()))
}

fn draw(report: &RunReport, path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let samples = &report.samples;
    let end_s = samples
        .last()
        .map_or(1.0, |s| s.time_ms as f64 / 1000.0)
        .max(1.0);
    let top = samples
        .iter()
        .map(|s| {
            s.target_pages
                .max(s.current_pages)
                .max(s.ballooned_pages)
                .max(s.lent_pages)
        })
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * 1.05;
    let to_mib = |pages: f64| pages * 4096.0 / (1 << 20) as f64;

    let root = SVGBackend::new(path, (960, 540)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "ballast sim: {} ({} policy, seed {})",
                report.scenario, report.policy, report.seed
            ),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..end_s, 0.0..to_mib(top))?;
    chart
        .configure_mesh()
        .x_desc("simulated time (s)")
        .y_desc("MiB")
        .draw()?;

    let series: [Series; 4] = [
        ("target", BLACK, |s| s.target_pages),
        ("current", BLUE, |s| s.current_pages),
        ("ballooned", RED, |s| s.ballooned_pages),
        ("lent", GREEN, |s| s.lent_pages),
    ];
    for (name, color, value) in series {
        let points = samples
            .iter()
            .map(|s| (s.time_ms as f64 / 1000.0, to_mib(value(s) as f64)));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()?;
    root.present()?;
    Ok(())
}
