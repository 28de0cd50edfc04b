//! Several `errand serve` processes on one PostgreSQL database behave like one errand: a
//! queue's slots hold across nodes (counted by the application), an event of a task one node
//! ran reaches the event stream and a long poll held by another, a node SIGKILLed mid-run loses no task, and every
//! errand connection terminated by PostgreSQL is survived without loss.
//!
//! Runs when `ERRAND_TEST_DATABASE_URL` names a PostgreSQL database; each run creates a
//! database of its own and drops it at the end.

use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::time::Instant;

use crate::conformance::postgres_url;
use crate::util::wait_for;

const ADMIN: &str = "cluster-admin-key-0123456789";

/// The application: counts requests in flight and the most ever in flight, and notes which
/// node sent each request in flight (its `Errand-Callback`); each takes a little while, as
/// real work does.
#[derive(Default)]
struct Application {
    in_flight: AtomicUsize,
    most: AtomicUsize,
    served: AtomicUsize,
    senders: std::sync::Mutex<Vec<String>>,
}

async fn application() -> (String, Arc<Application>) {
    let app = Arc::new(Application::default());
    let state = Arc::clone(&app);
    let router = axum::Router::new().route(
        "/work",
        axum::routing::post(move |headers: axum::http::HeaderMap| {
            let app = Arc::clone(&state);
            async move {
                let sender = headers
                    .get("errand-callback")
                    .and_then(|value| value.to_str().ok())
                    .and_then(|url| url.split("/v1/").next())
                    .unwrap_or_default()
                    .to_owned();
                app.senders.lock().unwrap().push(sender.clone());
                let now = app.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                app.most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(150)).await;
                app.in_flight.fetch_sub(1, Ordering::SeqCst);
                app.served.fetch_add(1, Ordering::SeqCst);
                let mut senders = app.senders.lock().unwrap();
                if let Some(at) = senders.iter().position(|s| *s == sender) {
                    senders.remove(at);
                }
                axum::Json(json!({"message": "done"}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, app)
}

/// A database of its own on the test server, dropped at the end.
struct ClusterDb {
    admin_url: String,
    name: String,
}

impl ClusterDb {
    async fn create(admin_url: &str) -> ClusterDb {
        let name = format!("errand_cluster_{}", uuid::Uuid::now_v7().simple());
        execute(admin_url, &format!("CREATE DATABASE {name}")).await;
        ClusterDb {
            admin_url: admin_url.to_owned(),
            name,
        }
    }

    fn url(&self) -> String {
        let (base, _) = self
            .admin_url
            .rsplit_once('/')
            .expect("a URL with a database");
        format!("{base}/{}", self.name)
    }

    /// Terminates every connection to this database but the caller's.
    async fn terminate_connections(&self) -> u64 {
        let (client, connection) = tokio_postgres::connect(&self.admin_url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        let rows = client
            .query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&self.name],
            )
            .await
            .unwrap();
        rows.len() as u64
    }

    async fn drop_database(&self) {
        execute(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        )
        .await;
    }
}

async fn execute(url: &str, sql: &str) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client.batch_execute(sql).await.unwrap();
}

/// One `errand serve` process.
struct Node {
    child: Child,
    base: String,
}

impl Node {
    fn start(config: &std::path::Path, dir: &std::path::Path) -> Node {
        let (child, address) = crate::util::spawn_serve(
            dir,
            &["--config".as_ref(), config.as_os_str()],
            Stdio::null(),
        );
        Node {
            child,
            base: format!("http://{address}"),
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

fn client() -> reqwest::Client {
    errand::run::http::client_builder().build().unwrap()
}

/// Enqueues `n` dispatches, spread over `nodes`; retries an enqueue a node could not take
/// (its database connection being re-established) until the deadline.
async fn enqueue(nodes: &[&str], n: usize, tag: &str) -> Vec<String> {
    let http = client();
    let mut ids = Vec::new();
    for i in 0..n {
        let base = nodes[i % nodes.len()];
        let body = json!({"name": "cluster.work", "queue": "content", "target": "app",
                          "path": "/work", "title": format!("{tag} {i}")});
        let id = wait_for("an enqueue to be taken", || async {
            let answer = http
                .post(format!("{base}/v1/tasks"))
                .bearer_auth(ADMIN)
                .json(&body)
                .send()
                .await
                .ok()?;
            if answer.status() != 201 {
                return None;
            }
            let task: Value = answer.json().await.ok()?;
            task["id"].as_str().map(str::to_owned)
        })
        .await;
        ids.push(id);
    }
    ids
}

/// Waits until every task of `ids` has succeeded, asking `base`.
async fn all_succeeded(base: &str, ids: &[String]) {
    let http = client();
    for id in ids {
        let task: Value = wait_for(&format!("task {id} to succeed"), || async {
            let task: Value = http
                .get(format!("{base}/v1/tasks/{id}?wait=5"))
                .bearer_auth(ADMIN)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            matches!(
                task["state"].as_str(),
                Some("succeeded" | "failed" | "cancelled" | "expired")
            )
            .then_some(task)
        })
        .await;
        assert_eq!(task["state"], "succeeded", "{task}");
    }
}

/// The nodes' configuration, in `dir`: the database at `url`, a queue `content` of 2 slots,
/// and the application at `app_base` as the target `app`.
fn write_config(dir: &std::path::Path, url: &str, app_base: &str) -> std::path::PathBuf {
    let config = dir.join("errand.toml");
    std::fs::write(
        &config,
        format!(
            r#"
database_url = "{url}"
database_pool_size = 4
report_timeout_seconds = 30
[auth]
api_keys = [{{ key = "{ADMIN}", scopes = ["admin"] }}]
user_token_secret = "a shared user token secret for the cluster"
encryption_key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"
[queues.content]
concurrency = 2
max_attempts = 10
[targets.app]
base_url = "{app_base}"
secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
"#
        ),
    )
    .unwrap();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_on_one_database_behave_like_one_errand() {
    let Some(admin_url) = postgres_url() else {
        return;
    };
    let db = ClusterDb::create(&admin_url).await;
    let (app_base, app) = application().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &db.url(), &app_base);
    let mut nodes: Vec<Node> = (0..3).map(|_| Node::start(&config, dir.path())).collect();
    let bases: Vec<String> = nodes.iter().map(|node| node.base.clone()).collect();
    let all: Vec<&str> = bases.iter().map(String::as_str).collect();

    // Slots hold across nodes: the application never sees more than 2 at once.
    let ids = enqueue(&all, 24, "slots").await;
    all_succeeded(all[0], &ids).await;
    assert!(app.served.load(Ordering::SeqCst) >= 24);
    assert_eq!(
        app.most.load(Ordering::SeqCst),
        2,
        "the queue's 2 slots, across 3 nodes"
    );

    // An event stream held by node 0 sees a task that another node enqueued and ran.
    let mut stream = client()
        .get(format!("{}/v1/events", all[0]))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    let id = enqueue(&all[1..2], 1, "stream").await.remove(0);
    let mut received = String::new();
    let carried = tokio::time::timeout(crate::util::DEADLINE, async {
        while let Ok(Some(chunk)) = stream.chunk().await {
            received.push_str(&String::from_utf8_lossy(&chunk));
            if received
                .split("\n\n")
                .any(|block| block.contains(&id) && block.contains("\"state\":\"succeeded\""))
            {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        carried,
        Ok(true),
        "node 0's stream carried the task's success"
    );
    drop(stream);

    // A long poll held by node 0 hears of a task that another node enqueued and ran.
    let id = enqueue(&all[1..2], 1, "events").await.remove(0);
    let started = Instant::now();
    let task: Value = client()
        .get(format!("{}/v1/tasks/{id}?wait=30", all[0]))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(task["state"], "succeeded", "{task}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "it answered on the event"
    );

    // A node killed while it runs a task loses none: its lease runs out and the others take
    // the task over.
    let ids = enqueue(&all, 12, "kill").await;
    let victim = wait_for("node 1 or 2 to be running a task", || async {
        let senders = app.senders.lock().unwrap().clone();
        (1..3).find(|&n| senders.contains(&bases[n]))
    })
    .await;
    nodes[victim].kill();
    all_succeeded(all[0], &ids).await;

    // Every errand connection terminated by the server: the nodes reconnect and go on.
    let terminated = db.terminate_connections().await;
    assert!(terminated > 0, "the nodes had connections");
    let alive: Vec<&str> = (0..3).filter(|&n| n != victim).map(|n| all[n]).collect();
    let ids = enqueue(&alive, 8, "terminated").await;
    all_succeeded(alive[1], &ids).await;

    drop(nodes);
    db.drop_database().await;
}

/// A TCP forwarder to PostgreSQL that can fail like a database outage: while it is down it
/// drops every open connection and every new one at once.
struct Outage {
    address: std::net::SocketAddr,
    down: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Outage {
    async fn forward_to(upstream: String) -> Outage {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (down, _) = tokio::sync::watch::channel(false);
        let down = Arc::new(down);
        let watch = Arc::clone(&down);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut down = watch.subscribe();
                if *down.borrow() {
                    continue; // dropped: the connection is refused
                }
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = down.wait_for(|down| *down) => {}
                    }
                });
            }
        });
        Outage { address, down }
    }

    fn set_down(&self, down: bool) {
        self.down.send_replace(down);
    }
}

async fn readiness(base: &str) -> Option<u16> {
    let answer = client().get(format!("{base}/readyz")).send().await.ok()?;
    Some(answer.status().as_u16())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_turns_readiness_red_and_loses_no_task() {
    let Some(admin_url) = postgres_url() else {
        return;
    };
    let db = ClusterDb::create(&admin_url).await;
    let (app_base, app) = application().await;
    let upstream = db.url();
    let host_port = upstream
        .split('@')
        .next_back()
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_owned();
    let outage = Outage::forward_to(host_port.clone()).await;
    let through_proxy = upstream.replacen(&host_port, &outage.address.to_string(), 1);
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &through_proxy, &app_base);
    let node = Node::start(&config, dir.path());
    let base = node.base.clone();

    let before = enqueue(&[base.as_str()], 10, "before").await;
    wait_for("the work to be under way", || async {
        (app.served.load(Ordering::SeqCst) >= 2).then_some(())
    })
    .await;
    outage.set_down(true);
    wait_for("readiness to go red", || async {
        (readiness(&base).await == Some(503)).then_some(())
    })
    .await;
    let refused = client()
        .post(format!("{base}/v1/tasks"))
        .bearer_auth(ADMIN)
        .json(
            &json!({"name": "cluster.work", "queue": "content", "target": "app", "path": "/work"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status().as_u16(),
        503,
        "an enqueue that cannot be stored says so"
    );
    assert_eq!(readiness(&base).await, Some(503));
    outage.set_down(false);
    wait_for("readiness to come back", || async {
        (readiness(&base).await == Some(200)).then_some(())
    })
    .await;
    let after = enqueue(&[base.as_str()], 5, "after").await;
    all_succeeded(&base, &before).await;
    all_succeeded(&base, &after).await;
    drop(node);
    db.drop_database().await;
}
