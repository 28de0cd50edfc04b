//! What push latency is measured between: the moment the engine publishes a task's
//! `succeeded` event, and the moment that event arrives at a client of `GET /v1/events`.
//!
//! - [`Publications`] follows the engine's own event stream (`Engine::subscribe`) on a
//!   thread of its own, with a runtime of its own, so that the moment it notes is not delayed
//!   by the work of the harness's runtime (the API and the clients).
//! - [`connect`] opens one event stream as a browser's `EventSource` would (the user token in
//!   `?token=`), reads it with a minimal Server-Sent Events parser in one tokio task, and
//!   reports each task event's number and arrival time. A client checks that every task
//!   event it receives is its own owner's.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use errand::engine::Engine;
use errand::model::{EventKind, State};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

/// A `succeeded` event as the engine published it.
pub struct Published {
    /// Its number.
    pub seq: i64,
    /// The task's owner.
    pub owner: Option<String>,
    /// When the harness's subscriber received it.
    pub at: Instant,
}

/// The `succeeded` events the engine publishes, timed on a thread of their own.
pub struct Publications {
    /// The `succeeded` events, in order; a `None` when the subscriber lagged.
    pub received: mpsc::UnboundedReceiver<Option<Published>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Publications {
    /// Starts following `engine`'s events.
    pub fn follow(engine: &Engine) -> anyhow::Result<Publications> {
        let mut events = engine.subscribe();
        let (sender, received) = mpsc::unbounded_channel();
        let (stop, mut stopped) = oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .context("building the subscriber's runtime")?;
        let thread = std::thread::Builder::new()
            .name("bench-published".into())
            .spawn(move || {
                runtime.block_on(async move {
                    loop {
                        let event = tokio::select! {
                            biased;
                            event = events.recv() => event,
                            _ = &mut stopped => return,
                        };
                        let at = Instant::now();
                        let published = match event {
                            Ok(event)
                                if event.kind == EventKind::StateChanged
                                    && event.task.state == State::Succeeded =>
                            {
                                Some(Published {
                                    seq: event.seq,
                                    owner: event.task.owner.clone(),
                                    at,
                                })
                            }
                            Ok(_) => continue,
                            Err(RecvError::Lagged(_)) => None,
                            Err(RecvError::Closed) => return,
                        };
                        if sender.send(published).is_err() {
                            return;
                        }
                    }
                });
            })
            .context("starting the subscriber's thread")?;
        Ok(Publications {
            received,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The next `succeeded` event, within `limit`.
    pub async fn next(&mut self, limit: Duration) -> anyhow::Result<Published> {
        match tokio::time::timeout(limit, self.received.recv()).await {
            Err(_) => bail!("no task succeeded within {limit:?}"),
            Ok(None) => bail!("the engine's events stopped"),
            Ok(Some(None)) => bail!("the harness's subscriber fell behind the engine's events"),
            Ok(Some(Some(published))) => Ok(published),
        }
    }
}

impl Drop for Publications {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What a client reports.
#[derive(Debug)]
pub enum Heard {
    /// A task event of the client's owner arrived.
    Task {
        /// The client.
        client: usize,
        /// The event's number.
        seq: i64,
        /// When its bytes were read.
        at: Instant,
    },
    /// A task event of another owner arrived: the stream leaks.
    Foreign {
        /// The client.
        client: usize,
        /// The event's number.
        seq: i64,
        /// The owner the event was for.
        owner: Option<String>,
    },
    /// The server told the client it fell behind (`resync`).
    Resync {
        /// The client.
        client: usize,
    },
    /// The stream failed or ended before the harness closed it.
    Ended {
        /// The client.
        client: usize,
        /// Why.
        why: String,
    },
}

/// One open event stream; closed when dropped.
pub struct Client(tokio::task::JoinHandle<()>);

impl Drop for Client {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Opens the event stream of `owner` (with `token`) on the API at `api`, as client number
/// `client`; answers once its `ready` event has arrived. At most `opening`'s permits open at
/// once. What the client hears afterwards goes to `heard`.
pub async fn connect(
    http: reqwest::Client,
    url: String,
    client: usize,
    owner: String,
    opening: Arc<Semaphore>,
    heard: mpsc::UnboundedSender<Heard>,
) -> anyhow::Result<Client> {
    let (ready, is_ready) = oneshot::channel();
    let task = tokio::spawn(async move {
        let permit = opening.acquire_owned().await.ok();
        let why = match listen(&http, &url, client, &owner, ready, &heard, permit).await {
            Ok(()) => "the stream ended".to_owned(),
            Err(err) => format!("{err:#}"),
        };
        let _ = heard.send(Heard::Ended { client, why });
    });
    let client_handle = Client(task);
    match tokio::time::timeout(Duration::from_secs(120), is_ready).await {
        Ok(Ok(())) => Ok(client_handle),
        Ok(Err(_)) => bail!("event stream {client} closed before its ready event"),
        Err(_) => bail!("event stream {client} sent no ready event within 120 s"),
    }
}

/// The fields of a task event's data that the client reads.
#[derive(Deserialize)]
struct TaskData {
    seq: i64,
    task: TaskOwner,
}

#[derive(Deserialize)]
struct TaskOwner {
    owner: Option<String>,
}

/// Reads one stream until it ends.
async fn listen(
    http: &reqwest::Client,
    url: &str,
    client: usize,
    owner: &str,
    ready: oneshot::Sender<()>,
    heard: &mpsc::UnboundedSender<Heard>,
    mut permit: Option<OwnedSemaphorePermit>,
) -> anyhow::Result<()> {
    let mut response = http
        .get(url)
        .header("accept", "text/event-stream")
        .send()
        .await
        .context("opening the event stream")?;
    if !response.status().is_success() {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        bail!("GET /v1/events answered {status}: {text}");
    }
    let mut ready = Some(ready);
    let mut buffer: Vec<u8> = Vec::new();
    while let Some(chunk) = response.chunk().await.context("reading the event stream")? {
        let at = Instant::now();
        buffer.extend_from_slice(&chunk);
        while let Some(end) = buffer.windows(2).position(|pair| pair == b"\n\n") {
            let block: Vec<u8> = buffer.drain(..end + 2).collect();
            let (event, data) = parse(&block);
            match event {
                "ready" => {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(());
                    }
                    drop(permit.take());
                }
                "resync" => {
                    let _ = heard.send(Heard::Resync { client });
                }
                "task" => {
                    let data: TaskData = serde_json::from_str(data)
                        .with_context(|| format!("a task event's data: {data}"))?;
                    let report = if data.task.owner.as_deref() == Some(owner) {
                        Heard::Task {
                            client,
                            seq: data.seq,
                            at,
                        }
                    } else {
                        Heard::Foreign {
                            client,
                            seq: data.seq,
                            owner: data.task.owner,
                        }
                    };
                    let _ = heard.send(report);
                }
                _ => {} // a comment (keep-alive)
            }
        }
    }
    Ok(())
}

/// The event name and the data of one block of a stream (`message` and `""` if absent;
/// errand's data are one line of JSON).
fn parse(block: &[u8]) -> (&str, &str) {
    let text = std::str::from_utf8(block).unwrap_or_default();
    let (mut event, mut data) = ("message", "");
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(value) = line.strip_prefix("event:") {
            event = value.trim_start();
        } else if let Some(value) = line.strip_prefix("data:") {
            data = value.strip_prefix(' ').unwrap_or(value);
        } else if line.starts_with(':') && event == "message" {
            event = "";
        }
    }
    (event, data)
}

/// The process's resident memory (`VmRSS`), in MiB.
pub fn rss() -> anyhow::Result<f64> {
    crate::depth::memory("VmRSS")
}

/// The CPU time the process has used so far, user and system, in seconds (`/proc/self/stat`,
/// in clock ticks of 1/100 s: Linux's `USER_HZ`).
pub fn cpu_secs() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    cpu_secs_of(&stat).context("reading the CPU times in /proc/self/stat")
}

/// The user and system times of a `/proc/<pid>/stat` line, in seconds: its 14th and 15th
/// fields, counted after the command's name, which may hold spaces and parentheses.
fn cpu_secs_of(stat: &str) -> Option<f64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / 100.0)
}

#[cfg(test)]
mod tests {
    use super::{cpu_secs_of, parse};

    #[test]
    fn cpu_times_of_a_stat_line() {
        let stat =
            "4242 (errand (bench) 1) S 1 4242 4242 0 -1 4194304 1500 0 0 0 250 37 0 0 20 0 9 0";
        assert_eq!(cpu_secs_of(stat), Some(2.87));
        assert_eq!(cpu_secs_of("4242 (cut"), None);
    }

    #[test]
    fn blocks_of_a_stream() {
        let block = b"event: task\nid: 7\ndata: {\"seq\":7}\n\n";
        assert_eq!(parse(block), ("task", "{\"seq\":7}"));
        assert_eq!(parse(b"event:ready\nid:3\ndata:{}\n\n"), ("ready", "{}"));
        assert_eq!(parse(b":keepalive\n\n"), ("", ""));
    }
}
