//! The report: every figure of every run, summarised as the median and the spread (min–max)
//! of the runs, printed as a table and written as JSON.
//!
//! A workload records one value per measure and run; the report groups them by workload and
//! measure, in the order they were first recorded. Nothing here judges a figure against a
//! target: the harness measures, BENCHMARKS.md compares.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde::Serialize;

/// One measure of one workload, with its value in each run.
#[derive(Debug, Serialize)]
pub struct Figure {
    /// `W1`, `W3 http`, `depth`, …
    pub workload: String,
    /// What was measured, e.g. `end to end`.
    pub measure: String,
    /// `tasks/s`, `ms`, `MB`, …
    pub unit: String,
    /// One value per run, in the order of the runs.
    pub values: Vec<f64>,
    /// The median of `values`.
    pub median: f64,
    /// The smallest of `values`.
    pub min: f64,
    /// The largest of `values`.
    pub max: f64,
}

/// A setting the figures were taken under.
#[derive(Debug, Serialize)]
pub struct Setting {
    /// e.g. `sqlite synchronous`.
    pub name: String,
    /// e.g. `NORMAL`.
    pub value: String,
}

/// A workload the harness does not measure.
#[derive(Debug, Serialize)]
pub struct Omission {
    /// e.g. `push latency`.
    pub workload: String,
    /// Why it is not measured.
    pub why: String,
}

/// What the harness measured, under which settings, and what it left out.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// The settings that decide the figures: store, durability, machine, load.
    pub settings: Vec<Setting>,
    /// The figures, in the order they were first recorded.
    pub figures: Vec<Figure>,
    /// Workloads not measured, and why.
    pub not_measured: Vec<Omission>,
}

impl Report {
    /// Notes a setting (shown above the table).
    pub fn setting(&mut self, name: &str, value: impl Into<String>) {
        self.settings.push(Setting {
            name: name.to_owned(),
            value: value.into(),
        });
    }

    /// Records one run's `value` of `measure` in `workload`.
    pub fn record(&mut self, workload: &str, measure: &str, unit: &str, value: f64) {
        let position = self
            .figures
            .iter()
            .position(|figure| figure.workload == workload && figure.measure == measure);
        let figure = match position {
            Some(index) => &mut self.figures[index],
            None => {
                self.figures.push(Figure {
                    workload: workload.to_owned(),
                    measure: measure.to_owned(),
                    unit: unit.to_owned(),
                    values: Vec::new(),
                    median: 0.0,
                    min: 0.0,
                    max: 0.0,
                });
                let last = self.figures.len() - 1;
                &mut self.figures[last]
            }
        };
        figure.values.push(value);
        let mut sorted = figure.values.clone();
        sorted.sort_by(f64::total_cmp);
        figure.median = median(&sorted);
        figure.min = sorted[0];
        figure.max = sorted[sorted.len() - 1];
    }

    /// Notes a workload the harness does not measure, and why.
    pub fn not_measured(&mut self, workload: &str, why: &str) {
        self.not_measured.push(Omission {
            workload: workload.to_owned(),
            why: why.to_owned(),
        });
    }

    /// The report as a text table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        for Setting { name, value } in &self.settings {
            let _ = writeln!(out, "{name:<26} {value}");
        }
        let _ = writeln!(
            out,
            "\n{:<10} {:<40} {:>12} {:>23}  {:<10} runs",
            "workload", "measure", "median", "spread (min–max)", "unit"
        );
        for figure in &self.figures {
            let spread = format!("{}–{}", number(figure.min), number(figure.max));
            let _ = writeln!(
                out,
                "{:<10} {:<40} {:>12} {:>23}  {:<10} {}",
                figure.workload,
                figure.measure,
                number(figure.median),
                spread,
                figure.unit,
                figure.values.len()
            );
        }
        for Omission { workload, why } in &self.not_measured {
            let _ = writeln!(out, "{workload:<10} not measured: {why}");
        }
        out
    }

    /// Writes the report as JSON to `path`.
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let json = serde_json::to_string_pretty(self).context("serialising the report")?;
        std::fs::write(path, json + "\n")
            .with_context(|| format!("writing the JSON report to {}", path.display()))
    }
}

/// The median of sorted values (the mean of the two middle ones for an even count).
pub fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The `p`th percentile (0–100) of sorted values, by the nearest rank.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// A count with its thousands separated: `1,000,000`.
pub fn count(n: usize) -> String {
    number(n as f64)
}

/// A figure for the table: thousands separated above 100, three significant digits below.
pub fn number(value: f64) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    if value.abs() >= 100.0 {
        let digits = format!("{:.0}", value.abs());
        let mut grouped = String::new();
        for (index, digit) in digits.chars().enumerate() {
            if index > 0 && (digits.len() - index) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(digit);
        }
        if value < 0.0 {
            grouped.insert(0, '-');
        }
        grouped
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_percentiles_and_numbers() {
        assert_eq!(median(&[1.0, 2.0, 9.0]), 2.0);
        assert_eq!(median(&[1.0, 2.0, 4.0, 9.0]), 3.0);
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&hundred, 50.0), 50.0);
        assert_eq!(percentile(&hundred, 99.0), 99.0);
        assert_eq!(percentile(&hundred, 100.0), 100.0);
        assert_eq!(number(4233.4), "4,233");
        assert_eq!(number(1_000_000.0), "1,000,000");
        assert_eq!(number(0.123), "0.12");
    }

    #[test]
    fn runs_of_one_measure_are_grouped() {
        let mut report = Report::default();
        for value in [3.0, 1.0, 2.0] {
            report.record("W1", "end to end", "tasks/s", value);
        }
        report.record("W1", "enqueue", "tasks/s", 5.0);
        assert_eq!(report.figures.len(), 2);
        let figure = &report.figures[0];
        assert_eq!((figure.median, figure.min, figure.max), (2.0, 1.0, 3.0));
    }
}
