//! Draws `docs/benchmarks.svg` from the medians `bench/load.sh` writes:
//! requests per second per middleware, and the time each adds to a request
//! over the bare router (`1/rps - 1/rps(bare)`), end to end.
//!
//! ```sh
//! RESULTS_CSV=docs/benchmarks.csv bench/load.sh
//! cargo run -p tower-otp-bench --bin plot_benchmarks -- docs/benchmarks.csv docs/benchmarks.svg
//! ```
//!
//! The CSV has a header line and rows `mode,median_rps`; `bare` must be one.

use plotters::prelude::*;

/// What the charts call each mode of `bench_server` (short, so
/// seven fit side by side): `pattern` is `OtpLayer` with `.layer` and a path
/// pattern, `jwt` the `jsonwebtoken` middleware, `sessions` tower-sessions,
/// `cookies` tower-cookies.
fn label(mode: &str) -> &str {
    match mode {
        "bare" => "bare",
        "noop" => "no-op",
        "otp" => "OtpLayer",
        "pattern" => "(pattern)",
        "jwt" => "jwt",
        "sessions" => "sessions",
        "cookies" => "cookies",
        other => other,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let input = args.next().unwrap_or_else(|| "docs/benchmarks.csv".into());
    let output = args.next().unwrap_or_else(|| "docs/benchmarks.svg".into());
    let mut rows: Vec<(String, f64)> = Vec::new();
    for line in std::fs::read_to_string(&input)?.lines().skip(1) {
        let Some((mode, rps)) = line.split_once(',') else {
            continue;
        };
        rows.push((mode.trim().to_owned(), rps.trim().parse()?));
    }
    let bare = rows
        .iter()
        .find(|(mode, _)| mode == "bare")
        .map(|(_, rps)| *rps)
        .ok_or("no `bare` row")?;
    let names: Vec<String> = rows.iter().map(|(m, _)| label(m).to_owned()).collect();
    let rps: Vec<f64> = rows.iter().map(|(_, r)| *r).collect();
    let added: Vec<f64> = rps.iter().map(|r| 1e6 / r - 1e6 / bare).collect();

    let root = SVGBackend::new(&output, (1000, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(500);
    bars(
        &left,
        "Requests per second (end to end)",
        "req/s",
        &names,
        &rps,
    )?;
    bars(
        &right,
        "Added per request over the bare router",
        "µs",
        &names,
        &added,
    )?;
    root.present()?;
    println!("written: {output}");
    Ok(())
}

/// One bar chart; `OtpLayer`'s bar stands out.
fn bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    caption: &str,
    unit: &str,
    names: &[String],
    values: &[f64],
) -> Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    let top = values.iter().copied().fold(0.0f64, f64::max) * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d((0..names.len()).into_segmented(), 0.0..top.max(1e-9))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_label_formatter(&|x| match x {
            SegmentValue::CenterOf(i) => names.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_desc(unit)
        .draw()?;
    chart.draw_series(values.iter().enumerate().map(|(i, v)| {
        let color = if names[i] == "OtpLayer" {
            RGBColor(214, 96, 39)
        } else {
            RGBColor(92, 124, 160)
        };
        let mut bar = Rectangle::new(
            [
                (SegmentValue::Exact(i), 0.0),
                (SegmentValue::Exact(i + 1), *v),
            ],
            color.filled(),
        );
        bar.set_margin(0, 0, 10, 10);
        bar
    }))?;
    Ok(())
}
