//! `arcade-bench plot`: reads `load --json` lines (one run per line) and draws players served
//! against the server's tick p99 (left axis) and the slowest clients' snapshot rate (p1, as a
//! percentage of the tick rate, right axis), one series per codec, with the targets (4 ms,
//! 95 %) as dashed lines. Text is drawn with DejaVu Sans (Debian's fonts-dejavu-core).

use std::collections::BTreeMap;
use std::path::PathBuf;

use plotters::prelude::*;
use plotters::style::FontStyle;

#[derive(clap::Args)]
pub struct PlotArgs {
    /// A file of `load --json` lines.
    #[arg(long)]
    input: PathBuf,
    /// The PNG written.
    #[arg(long, default_value = "bench/load.png")]
    output: PathBuf,
    /// The TrueType font for the text.
    #[arg(
        long,
        default_value = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    )]
    font: PathBuf,
}

/// One run: players, tick p99 (ms), snapshot rate p1 (% of the tick rate).
struct Point {
    players: f64,
    tick_p99: f64,
    rate_p1: f64,
}

pub fn run(args: &PlotArgs) -> Result<(), String> {
    let text = std::fs::read_to_string(&args.input)
        .map_err(|e| format!("reading {}: {e}", args.input.display()))?;
    let mut series: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for line in text.lines().filter(|l| l.trim_start().starts_with('{')) {
        let run: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("a line is not JSON: {e}"))?;
        let server = &run["server"];
        let tick_p99 = server["tickP99MsLast1024"]
            .as_f64()
            .or_else(|| server["tickP99MsBucket"].as_f64())
            .unwrap_or(0.0);
        let point = Point {
            players: run["players"].as_f64().unwrap_or(0.0),
            tick_p99,
            rate_p1: 100.0 * run["snapshotRateP1OfTickRate"].as_f64().unwrap_or(0.0),
        };
        let name = run["codec"].as_str().unwrap_or("?").to_owned();
        series.entry(name).or_default().push(point);
    }
    if series.is_empty() {
        return Err("no runs in the input".into());
    }
    for points in series.values_mut() {
        points.sort_by(|a, b| a.players.total_cmp(&b.players));
    }
    let font = std::fs::read(&args.font)
        .map_err(|e| format!("reading the font {}: {e}", args.font.display()))?;
    let font: &'static [u8] = Box::leak(font.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, font)
        .map_err(|_| "the font does not load".to_string())?;
    draw(&series, &args.output).map_err(|e| format!("drawing: {e}"))?;
    println!("wrote {}", args.output.display());
    Ok(())
}

fn draw(
    series: &BTreeMap<String, Vec<Point>>,
    output: &std::path::Path,
) -> Result<(), Box<dyn std::error::Error>> {
    let all = || series.values().flatten();
    let max_players = all().map(|p| p.players).fold(0.0, f64::max) * 1.08;
    let max_tick = all().map(|p| p.tick_p99).fold(4.0, f64::max) * 1.2;
    let root = BitMapBackend::new(output, (1000, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "arcade: players served vs tick p99 and snapshot rate",
            ("sans-serif", 24),
        )
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .right_y_label_area_size(60)
        .build_cartesian_2d(0.0..max_players, 0.0..max_tick)?
        .set_secondary_coord(0.0..max_players, 0.0..105.0);
    chart
        .configure_mesh()
        .x_desc("players (Pong 1v1, 60 Hz, a state every tick)")
        .y_desc("server tick p99 (ms)")
        .label_style(("sans-serif", 15))
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc("slowest 1% of clients: states/s, % of tick rate")
        .label_style(("sans-serif", 15))
        .draw()?;
    let palette = [BLUE, RED, GREEN, MAGENTA];
    // Targets: tick p99 under 4 ms, snapshot rate at least 95 %.
    chart.draw_series(DashedLineSeries::new(
        [(0.0, 4.0), (max_players, 4.0)],
        6,
        4,
        BLACK.mix(0.5).stroke_width(1),
    ))?;
    chart.draw_secondary_series(DashedLineSeries::new(
        [(0.0, 95.0), (max_players, 95.0)],
        2,
        4,
        BLACK.mix(0.5).stroke_width(1),
    ))?;
    for (index, (codec, points)) in series.iter().enumerate() {
        let color = palette[index % palette.len()];
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (p.players, p.tick_p99)),
                color.stroke_width(2),
            ))?
            .label(format!("{codec}: tick p99 (ms, left)"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
        chart.draw_series(
            points
                .iter()
                .map(|p| Circle::new((p.players, p.tick_p99), 4, color.filled())),
        )?;
        chart
            .draw_secondary_series(LineSeries::new(
                points.iter().map(|p| (p.players, p.rate_p1)),
                color.mix(0.6).stroke_width(2),
            ))?
            .label(format!("{codec}: snapshot rate p1 (%, right)"))
            .legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 20, y)], color.mix(0.6).stroke_width(2))
            });
        chart.draw_secondary_series(
            points
                .iter()
                .map(|p| TriangleMarker::new((p.players, p.rate_p1), 5, color.mix(0.6).filled())),
        )?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    root.present()?;
    Ok(())
}
