//! The report's charts as SVG, drawn with charts-rs: each with a title, a sub-title naming
//! its units, axes with labels, and a legend.

use charts_rs::{BarChart, HeatmapChart, HorizontalBarChart, LineChart, SankeyChart, Series};

const WIDTH: f32 = 880.0;
const HEIGHT: f32 = 400.0;

/// A chart's SVG, or a note where it could not be drawn (never a panic).
fn svg(result: Result<String, charts_rs::CanvasError>, title: &str) -> String {
    result.unwrap_or_else(|e| {
        format!("<p class=\"note\">{title}: this chart could not be drawn ({e}).</p>")
    })
}

/// Series colours: charts-rs's nine, then eleven more, so that up to twenty series (the
/// actions by kind, held-out ones apart, are up to seventeen) never share a colour.
const PALETTE: [&str; 20] = [
    "#5470c6", "#91cc75", "#fac858", "#ee6666", "#73c0de", "#3ba272", "#fc8452", "#9a60b4",
    "#ea7ccc", "#2f4554", "#c23531", "#61a0a8", "#d48265", "#749f83", "#ca8622", "#6e7074",
    "#8b4513", "#1e3a8a", "#b5a642", "#000000",
];

fn palette() -> Vec<charts_rs::Color> {
    PALETTE.iter().map(|c| (*c).into()).collect()
}

fn series(list: Vec<(String, Vec<f32>)>) -> Vec<Series> {
    list.into_iter()
        .map(|(name, data)| Series::new(name, data))
        .collect()
}

/// Vertical bars: one group per category, one bar per series. charts-rs draws a bar from the
/// bottom of its axis, not from 0: give it no negative value.
pub fn bars(
    title: &str,
    units: &str,
    categories: Vec<String>,
    list: Vec<(String, Vec<f32>)>,
) -> String {
    let layout = Layout::grouped(list.len() > 1);
    bar_chart(title, units, categories, list, layout)
}

/// [`bars`] with a legend even for one series (whose name the chart says nowhere else).
pub fn bars_named(
    title: &str,
    units: &str,
    categories: Vec<String>,
    list: Vec<(String, Vec<f32>)>,
) -> String {
    bar_chart(title, units, categories, list, Layout::grouped(true))
}

/// One bar per category, the series stacked in it as percentages of a whole (0 to 100),
/// with a legend. A share of 0 is left out (no empty segment, no label on top of another).
pub fn stacked_percent_bars(
    title: &str,
    units: &str,
    categories: Vec<String>,
    mut list: Vec<(String, Vec<f32>)>,
) -> String {
    for (_, values) in &mut list {
        for v in values.iter_mut().filter(|v| **v == 0.0) {
            *v = charts_rs::NIL_VALUE;
        }
    }
    let layout = Layout {
        legend: true,
        stacked: true,
    };
    bar_chart(title, units, categories, list, layout)
}

struct Layout {
    legend: bool,
    stacked: bool,
}

impl Layout {
    /// Series side by side.
    const fn grouped(legend: bool) -> Layout {
        Layout {
            legend,
            stacked: false,
        }
    }
}

fn bar_chart(
    title: &str,
    units: &str,
    categories: Vec<String>,
    list: Vec<(String, Vec<f32>)>,
    layout: Layout,
) -> String {
    let mut c = BarChart::new(series(list), categories);
    c.series_colors = palette();
    c.legend_show = Some(layout.legend);
    if layout.stacked {
        for s in &mut c.series_list {
            s.stack = Some("all".into());
        }
        if let Some(y) = c.y_axis_configs.first_mut() {
            (y.axis_min, y.axis_max) = (Some(0.0), Some(100.0));
        }
    }
    c.title_text = title.to_owned();
    c.sub_title_text = units.to_owned();
    c.width = WIDTH;
    c.height = HEIGHT;
    c.legend_margin = Some(charts_rs::Box {
        top: 45.0,
        ..Default::default()
    });
    for s in &mut c.series_list {
        s.label_show = true;
    }
    svg(c.svg(), title)
}

/// Horizontal bars, for long category names.
pub fn horizontal_bars(
    title: &str,
    units: &str,
    categories: Vec<String>,
    list: Vec<(String, Vec<f32>)>,
) -> String {
    let rows = categories.len().max(1) as f32;
    let single = list.len() == 1;
    let mut c = HorizontalBarChart::new(series(list), categories);
    c.series_colors = palette();
    c.legend_show = Some(!single);
    c.title_text = title.to_owned();
    c.sub_title_text = units.to_owned();
    c.width = WIDTH;
    c.height = (120.0 + rows * 34.0).max(220.0);
    // Below the title and sub-title, and room on the right for the longest bar's label.
    c.legend_margin = Some(charts_rs::Box {
        top: 45.0,
        ..Default::default()
    });
    c.margin.right = 30.0;
    for s in &mut c.series_list {
        s.label_show = true;
    }
    svg(c.svg(), title)
}

/// Lines over time.
pub fn lines(title: &str, units: &str, x: Vec<String>, list: Vec<(String, Vec<f32>)>) -> String {
    let mut c = LineChart::new(series(list), x);
    c.series_colors = palette();
    c.title_text = title.to_owned();
    c.sub_title_text = units.to_owned();
    c.width = WIDTH;
    c.height = HEIGHT;
    c.x_axis_name_rotate = -45.0;
    c.x_axis_height = 70.0;
    c.margin.left = 40.0;
    c.legend_margin = Some(charts_rs::Box {
        top: 45.0,
        ..Default::default()
    });
    svg(c.svg(), title)
}

/// The flow between stages: nodes "from ..." on the left, "to ..." on the right, a link per
/// (from, to) pair with its count.
pub fn flow(title: &str, links: Vec<(String, String, f32)>) -> String {
    let mut names: Vec<String> = Vec::new();
    for (from, to, _) in &links {
        for n in [from, to] {
            if !names.contains(n) {
                names.push(n.clone());
            }
        }
    }
    let nodes = names.iter().map(|n| n.as_str().into()).collect();
    let links = links
        .iter()
        .map(|(f, t, v)| (f.as_str(), t.as_str(), *v).into())
        .collect();
    let mut c = SankeyChart::new(nodes, links);
    c.title_text = title.to_owned();
    c.sub_title_text = "transitions in the input, by stage before (left) and after (right)".into();
    c.width = WIDTH;
    c.height = 460.0;
    svg(c.svg(), title)
}

/// A grid of values: rows `y`, columns `x`, `data` as (row, column, value).
pub fn grid(
    title: &str,
    units: &str,
    x: Vec<String>,
    y: Vec<String>,
    data: Vec<(usize, usize, f32)>,
) -> String {
    let columns = x.len();
    let rows = y.len().max(1) as f32;
    let cells = data
        .into_iter()
        .map(|(row, column, v)| (row * columns + column, v))
        .collect();
    let mut c = HeatmapChart::new(cells, x, y);
    c.title_text = title.to_owned();
    c.sub_title_text = units.to_owned();
    c.width = WIDTH;
    c.height = (140.0 + rows * 30.0).max(260.0);
    svg(c.svg(), title)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Twenty series, twenty colours: a legend tells every series apart.
    #[test]
    fn twenty_series_get_twenty_colours() {
        let list = (0..20)
            .map(|i| (format!("series {i}"), vec![i as f32, 1.0]))
            .collect();
        let svg = lines("t", "u", vec!["a".into(), "b".into()], list).to_lowercase();
        for colour in PALETTE {
            assert!(
                svg.contains(&colour.to_lowercase()),
                "{colour} is not drawn"
            );
        }
        let distinct: std::collections::BTreeSet<&str> = PALETTE.into_iter().collect();
        assert_eq!(distinct.len(), PALETTE.len());
    }
}
