//! `errand ls`: `GET /v1/tasks` as a table, newest first, and the counts a banner shows.

use clap::Args;
use serde_json::Value;

use super::client::{Call, Client, Remote};
use errand::model::State;

use super::wire::{Counts, Task, TaskPage, clip, percent_text, when};

/// The widest a title gets in the table.
const TITLE_WIDTH: usize = 40;

/// Flags of `errand ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only the tasks of this end user.
    #[arg(long)]
    owner: Option<String>,
    /// Only tasks in these states (repeat the flag, or separate them with commas).
    #[arg(long, value_delimiter = ',', value_parser = state_parser())]
    state: Vec<State>,
    /// Only tasks of this queue.
    #[arg(long)]
    queue: Option<String>,
    /// Only tasks of this kind, e.g. `content.delete`.
    #[arg(long)]
    name: Option<String>,
    /// The most tasks on one page [the server's default].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    limit: Option<u32>,
    /// Start at this page, as the previous one named it.
    #[arg(long)]
    cursor: Option<String>,
    /// Every page, not just the first.
    #[arg(long)]
    all: bool,
    /// Print `{"tasks", "next_cursor", "counts"}` as the API answers it (with `--all`, the
    /// tasks of every page in one list).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: Remote,
}

impl LsArgs {
    /// The query of one page.
    fn query(&self, cursor: Option<&str>) -> Vec<(&'static str, String)> {
        let states: Vec<&str> = self.state.iter().map(|state| state.as_str()).collect();
        let filters = [
            ("owner", self.owner.clone()),
            ("state", (!states.is_empty()).then(|| states.join(","))),
            ("queue", self.queue.clone()),
            ("name", self.name.clone()),
            ("limit", self.limit.map(|limit| limit.to_string())),
            ("cursor", cursor.map(str::to_owned)),
        ];
        filters
            .into_iter()
            .filter_map(|(key, value)| Some((key, value?)))
            .collect()
    }
}

/// Lists the tasks.
pub async fn run(args: LsArgs) -> anyhow::Result<()> {
    let client = args.remote.connect()?;
    let listing = fetch(&client, &args).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&listing)?);
        return Ok(());
    }
    let page: TaskPage = serde_json::from_value(listing)
        .map_err(|err| anyhow::anyhow!("unexpected answer from errand: {err}"))?;
    print!("{}", table(&page.tasks));
    println!("{}", counts_line(&page.counts));
    if let Some(cursor) = page.next_cursor {
        println!("more: errand ls --cursor {cursor} (or --all)");
    }
    Ok(())
}

/// The first page as sent; with `--all`, the last page holding the tasks of every page.
async fn fetch(client: &Client, args: &LsArgs) -> anyhow::Result<Value> {
    let mut tasks = Vec::new();
    let mut cursor = args.cursor.clone();
    loop {
        let answer = client
            .call(Call {
                path: &["tasks"],
                query: args.query(cursor.as_deref()),
                ..Call::default()
            })
            .await?;
        let mut page = answer.body;
        if let Some(Value::Array(more)) = page.get_mut("tasks").map(Value::take) {
            tasks.extend(more);
        }
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if !args.all || cursor.is_none() {
            page["tasks"] = Value::Array(tasks);
            return Ok(page);
        }
    }
}

/// The tasks as aligned columns, one line each; `no tasks` for none.
fn table(tasks: &[Task]) -> String {
    if tasks.is_empty() {
        return "no tasks\n".to_owned();
    }
    let header = [
        "ID", "STATE", "QUEUE", "NAME", "TITLE", "PROGRESS", "CREATED",
    ];
    let rows: Vec<[String; 7]> = tasks.iter().map(row).collect();
    let mut widths = header.map(|title| title.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for cells in std::iter::once(header.map(str::to_owned)).chain(rows) {
        let line: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// One task's cells.
fn row(task: &Task) -> [String; 7] {
    [
        task.id.clone(),
        task.status(),
        task.queue.clone(),
        task.name.clone(),
        clip(task.title.as_deref().unwrap_or("-"), TITLE_WIDTH),
        percent_text(&task.progress).unwrap_or_else(|| "-".into()),
        task.created_at.as_deref().map(when).unwrap_or_default(),
    ]
}

/// `2 queued, 1 running, 0 waiting, 1 failed (not dismissed)`.
fn counts_line(counts: &Counts) -> String {
    format!(
        "{} queued, {} running, {} waiting, {} failed (not dismissed)",
        counts.queued, counts.running, counts.waiting, counts.failed_undismissed
    )
}

/// `--state`: one of the states' names, with clap's suggestions for a misspelt one.
fn state_parser() -> impl clap::builder::TypedValueParser<Value = State> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(State::ALL.map(State::as_str))
        .try_map(|name: String| name.parse::<State>())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Line {
        #[command(flatten)]
        args: LsArgs,
    }

    fn parse(line: &[&str]) -> Result<LsArgs, clap::Error> {
        Line::try_parse_from(std::iter::once("ls").chain(line.iter().copied())).map(|l| l.args)
    }

    #[test]
    fn states_repeat_or_come_comma_separated_into_one_parameter() {
        let args = parse(&[
            "--state",
            "queued,running",
            "--state",
            "failed",
            "--owner",
            "alice",
            "--limit",
            "5",
        ])
        .unwrap();
        assert_eq!(
            args.query(Some("c2")),
            vec![
                ("owner", "alice".to_owned()),
                ("state", "queued,running,failed".to_owned()),
                ("limit", "5".to_owned()),
                ("cursor", "c2".to_owned()),
            ]
        );
        assert!(parse(&[]).unwrap().query(None).is_empty());
        let err = parse(&["--state", "runing"]).unwrap_err().to_string();
        assert!(err.contains("running"), "suggests the right name: {err}");
    }

    #[test]
    fn the_table_aligns_its_columns() {
        let tasks: Vec<Task> = serde_json::from_value(serde_json::json!([
            {"id": "0190-a", "name": "content.delete", "queue": "content", "state": "running",
             "title": "Deleting 300 items from /news", "progress": {"percent": 42.5},
             "created_at": "2025-11-27T13:57:01Z"},
            {"id": "0190-b", "name": "publish", "queue": "default", "state": "failed",
             "dismissed": true, "created_at": "2025-11-27T13:50:00Z"}
        ]))
        .unwrap();
        let expected = "\
ID      STATE               QUEUE    NAME            TITLE                          PROGRESS  CREATED
0190-a  running             content  content.delete  Deleting 300 items from /news  42%       2025-11-27 13:57:01
0190-b  failed (dismissed)  default  publish         -                              -         2025-11-27 13:50:00
";
        assert_eq!(table(&tasks), expected);
        assert_eq!(table(&[]), "no tasks\n");
    }
}
