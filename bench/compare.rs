//! `--against BINARY`: this build and another one (an earlier commit's harness), run
//! alternately on the same machine, one run of each per round, with the change per figure.
//!
//! On a machine whose speed drifts from minute to minute, two builds measured one after the
//! other differ by the drift as much as by the change. Alternating them round by round puts
//! both under the same drift, and the builds swap places every round, so that neither always
//! runs first (after a pause, or with the page cache as the other left it). Each round's two
//! runs are also compared with each other: the median of those paired changes, and how many
//! rounds this build's figure came out higher, say whether a change of a few percent holds.
//!
//! Each run is a child process (`BINARY … --runs 1 --json FILE`): both builds run their own
//! harness, so a build's figures are its own, whatever the other's harness does.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

use crate::report::median;

/// Which of the two builds a run is of.
#[derive(Clone, Copy)]
enum Build {
    /// The build given with `--against`.
    Base,
    /// This harness's own build.
    This,
}

/// A comparison to run: the two binaries, the arguments of each run, and how many rounds.
pub struct Plan {
    /// The build given with `--against`.
    pub base: PathBuf,
    /// This build (the running harness).
    pub this: PathBuf,
    /// The arguments of every run, before `--runs 1 --json FILE`.
    pub args: Vec<String>,
    /// The PostgreSQL database of every run, passed in the environment
    /// (`ERRAND_BENCH_DATABASE_URL`) so that its password is neither printed nor in the
    /// process list.
    pub database_url: Option<String>,
    /// Rounds: each runs both builds once.
    pub rounds: usize,
}

/// The figures of one run, as the child's JSON report has them.
#[derive(Debug, Deserialize)]
struct RunReport {
    figures: Vec<RunFigure>,
}

#[derive(Debug, Deserialize)]
struct RunFigure {
    workload: String,
    measure: String,
    unit: String,
    values: Vec<f64>,
}

/// One measure of one workload, in both builds, round by round.
#[derive(Debug, Serialize)]
pub struct Row {
    /// `W1`, `W3 http`, …
    pub workload: String,
    /// e.g. `end to end`.
    pub measure: String,
    /// `tasks/s`, `ms`, …
    pub unit: String,
    /// The base build's value in each round.
    pub base: Vec<f64>,
    /// This build's value in each round.
    pub this: Vec<f64>,
    /// This build's median against the base's, in percent.
    pub change_of_medians: f64,
    /// The median over the rounds of this build's value against the base's in the same
    /// round, in percent.
    pub paired_change: f64,
    /// In how many rounds this build's value was the higher.
    pub higher_in: usize,
}

/// Runs the plan; answers the rows in the order the runs report their figures.
pub fn run(plan: &Plan) -> anyhow::Result<Vec<Row>> {
    if plan.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    let mut rounds = Vec::with_capacity(plan.rounds);
    for round in 1..=plan.rounds {
        // The base first in odd rounds, this build first in even ones.
        let order = if round % 2 == 1 {
            [Build::Base, Build::This]
        } else {
            [Build::This, Build::Base]
        };
        let mut base = None;
        let mut this = None;
        for build in order {
            let binary = match build {
                Build::Base => &plan.base,
                Build::This => &plan.this,
            };
            eprintln!(
                "errand-bench: round {round} of {}: {} ({})",
                plan.rounds,
                match build {
                    Build::Base => "base",
                    Build::This => "this build",
                },
                binary.display()
            );
            let figures = run_once(binary, plan, round)?;
            match build {
                Build::Base => base = Some(figures),
                Build::This => this = Some(figures),
            }
        }
        if let (Some(base), Some(this)) = (base, this) {
            rounds.push((base, this));
        }
    }
    Ok(rows(&rounds))
}

/// One run of `binary`: its figures, one value each.
fn run_once(binary: &Path, plan: &Plan, round: usize) -> anyhow::Result<Vec<RunFigure>> {
    let json = std::env::temp_dir().join(format!(
        "errand-bench-compare-{}-{round}.json",
        std::process::id()
    ));
    let mut command = Command::new(binary);
    command
        .args(&plan.args)
        .args(["--runs", "1", "--json"])
        .arg(&json);
    if let Some(url) = &plan.database_url {
        command.env("ERRAND_BENCH_DATABASE_URL", url);
    }
    let output = command
        .output()
        .with_context(|| format!("starting {}", binary.display()))?;
    if !output.status.success() {
        let _ = std::fs::remove_file(&json);
        bail!(
            "{} failed ({}):\n{}",
            binary.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    let text = std::fs::read_to_string(&json);
    let _ = std::fs::remove_file(&json);
    let text = text.with_context(|| format!("reading the report of {}", binary.display()))?;
    let report: RunReport = serde_json::from_str(&text)
        .with_context(|| format!("parsing the report of {}", binary.display()))?;
    Ok(report.figures)
}

/// The rows of `rounds` (base, this): the figures both builds reported, in the order of this
/// build's report; a figure one of them did not report in some round is left out.
fn rows(rounds: &[(Vec<RunFigure>, Vec<RunFigure>)]) -> Vec<Row> {
    let Some((_, first)) = rounds.first() else {
        return Vec::new();
    };
    let value = |figures: &[RunFigure], of: &RunFigure| {
        figures
            .iter()
            .find(|f| f.workload == of.workload && f.measure == of.measure)
            .and_then(|f| f.values.first().copied())
    };
    first
        .iter()
        .filter_map(|figure| {
            let pairs = rounds
                .iter()
                .map(|(base, this)| Some((value(base, figure)?, value(this, figure)?)))
                .collect::<Option<Vec<(f64, f64)>>>()?;
            let (base, this): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
            let mut paired: Vec<f64> = pairs.iter().map(|(b, t)| percent(*t, *b)).collect();
            paired.sort_by(f64::total_cmp);
            Some(Row {
                workload: figure.workload.clone(),
                measure: figure.measure.clone(),
                unit: figure.unit.clone(),
                change_of_medians: percent(sorted_median(&this), sorted_median(&base)),
                paired_change: median(&paired),
                higher_in: pairs.iter().filter(|(b, t)| t > b).count(),
                base,
                this,
            })
        })
        .collect()
}

/// `value` against `reference`, in percent (+10 for a tenth more).
fn percent(value: f64, reference: f64) -> f64 {
    (value / reference - 1.0) * 100.0
}

fn sorted_median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    median(&sorted)
}

/// The rows as a text table: each build's median and spread, and the changes.
pub fn table(rows: &[Row], rounds: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<10} {:<30} {:>26} {:>26} {:>9} {:>9} {:>7}  unit",
        "workload", "measure", "base", "this build", "medians", "paired", "higher"
    );
    for row in rows {
        let _ = writeln!(
            out,
            "{:<10} {:<30} {:>26} {:>26} {:>+8.1}% {:>+8.1}% {:>7}  {}",
            row.workload,
            row.measure,
            summary(&row.base),
            summary(&row.this),
            row.change_of_medians,
            row.paired_change,
            format!("{}/{rounds}", row.higher_in),
            row.unit
        );
    }
    out
}

/// A median and its spread: `12,000 (11,500–12,300)`.
fn summary(values: &[f64]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (Some(min), Some(max)) = (sorted.first(), sorted.last()) else {
        return String::new();
    };
    format!(
        "{} ({}–{})",
        crate::report::number(median(&sorted)),
        crate::report::number(*min),
        crate::report::number(*max)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(workload: &str, measure: &str, value: f64) -> RunFigure {
        RunFigure {
            workload: workload.into(),
            measure: measure.into(),
            unit: "tasks/s".into(),
            values: vec![value],
        }
    }

    #[test]
    fn rounds_are_paired_and_summarised() {
        // Three rounds on a drifting machine: both builds slow down together, and this build
        // is a tenth faster in each round.
        let rounds: Vec<(Vec<RunFigure>, Vec<RunFigure>)> = [100.0, 80.0, 60.0]
            .into_iter()
            .map(|speed| {
                (
                    vec![figure("W1", "end to end", speed)],
                    vec![
                        figure("W1", "end to end", speed * 1.1),
                        figure("W1", "only this build", 1.0),
                    ],
                )
            })
            .collect();
        let rows = rows(&rounds);
        assert_eq!(rows.len(), 1, "a figure of one build only is left out");
        let row = &rows[0];
        assert_eq!(row.base, vec![100.0, 80.0, 60.0]);
        assert_eq!(row.higher_in, 3);
        assert!(
            (row.paired_change - 10.0).abs() < 1e-9,
            "{}",
            row.paired_change
        );
        assert!((row.change_of_medians - 10.0).abs() < 1e-9);
        let table = table(&rows, 3);
        assert!(table.contains("88.0 (66.0–110)"), "{table}");
        assert!(table.contains("+10.0%"), "{table}");
        assert!(table.contains("3/3"), "{table}");
    }
}
