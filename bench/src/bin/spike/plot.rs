//! Draws the spike's CSV as bars: per store, each step's rate as a ratio to
//! the store's raw single-operation rate, with the goal (0.5) as a line
//! and each bar's ratio and store calls written on it.

use plotters::prelude::*;

use super::{Error, STEPS};

/// One bar: a step on a store.
struct Bar {
    store: String,
    step: String,
    ratio: f64,
    calls: f64,
}

/// The colour of each step's bars.
fn color(step: &str) -> RGBColor {
    match step {
        "claim" => RGBColor(92, 124, 160),
        "send" => RGBColor(214, 96, 39),
        _ => RGBColor(96, 160, 92),
    }
}

/// Reads `input` (the CSV `spike --csv` writes) and draws `output` (SVG).
pub(crate) fn draw(input: &str, output: &str) -> Result<(), Error> {
    let text = std::fs::read_to_string(input)?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().ok_or("an empty CSV")?.split(',').collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or(format!("no column {name}"))
    };
    let (store, step, ratio, calls) = (
        column("store")?,
        column("step")?,
        column("ratio")?,
        column("calls")?,
    );
    let mut bars = Vec::new();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split(',').collect();
        bars.push(Bar {
            store: fields[store].to_owned(),
            step: fields[step].to_owned(),
            ratio: fields[ratio].parse()?,
            calls: fields[calls].parse()?,
        });
    }
    let mut stores: Vec<String> = Vec::new();
    for bar in &bars {
        if !stores.contains(&bar.store) {
            stores.push(bar.store.clone());
        }
    }
    let top = bars.iter().map(|b| b.ratio).fold(1.0f64, f64::max) * 1.12;
    let width = 40 * STEPS.len() as u32;
    let plot_width = (stores.len() as u32 * (width + 40)).max(400) + 120;

    let root = SVGBackend::new(output, (plot_width, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Spike: each step's rate over its store's raw operation rate (label: ratio, store calls)",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(0.0..stores.len() as f64, 0.0..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(stores.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            let centre = (x - x.floor() - 0.5).abs() < 1e-6;
            match stores.get(i) {
                Some(name) if centre => name.clone(),
                _ => String::new(),
            }
        })
        .y_desc("ratio to the store's limit")
        .draw()?;
    let slot = 0.8 / STEPS.len() as f64;
    for (k, step) in STEPS.iter().enumerate() {
        let series: Vec<(usize, &Bar)> = bars
            .iter()
            .filter(|b| b.step == *step)
            .filter_map(|b| Some((stores.iter().position(|s| *s == b.store)?, b)))
            .collect();
        let left = |i: usize| i as f64 + 0.1 + slot * k as f64;
        chart
            .draw_series(series.iter().map(|(i, bar)| {
                Rectangle::new(
                    [(left(*i), 0.0), (left(*i) + slot * 0.9, bar.ratio)],
                    color(step).filled(),
                )
            }))?
            .label(*step)
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 10, y + 5)], color(step).filled())
            });
        chart.draw_series(series.iter().map(|(i, bar)| {
            Text::new(
                format!("{:.2} ({:.0})", bar.ratio, bar.calls),
                (left(*i), bar.ratio + top * 0.03),
                ("sans-serif", 11),
            )
        }))?;
    }
    chart
        .draw_series(LineSeries::new(
            [(0.0, 0.5), (stores.len() as f64, 0.5)],
            BLACK.stroke_width(1),
        ))?
        .label("goal: 0.5")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 12, y)], BLACK));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    root.present()?;
    println!("written: {output}");
    Ok(())
}
