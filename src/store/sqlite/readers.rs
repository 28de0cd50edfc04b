//! Read connections, one per concurrent reader, so that reads never wait for the writer.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

use super::connection::{self, Durability};
use crate::store::{StoreError, StoreResult};

/// How many idle read connections are kept open.
const IDLE_READERS: usize = 8;

/// A small pool of read-only connections, used from blocking threads.
pub(super) struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub(super) fn new(path: PathBuf) -> Arc<Readers> {
        Arc::new(Readers {
            path,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// Runs `query` on a read connection in a blocking thread.
    pub(super) async fn read<T, F>(self: &Arc<Self>, query: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let readers = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let conn = readers.take()?;
            let answer = query(&conn);
            readers.give_back(conn);
            answer
        })
        .await
        .map_err(|err| StoreError::Database(format!("a read was interrupted: {err}").into()))?
    }

    fn take(&self) -> StoreResult<Connection> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(conn) => Ok(conn),
            None => {
                let conn = connection::open(&self.path, Durability::Normal)?;
                conn.pragma_update(None, "query_only", "ON")?;
                Ok(conn)
            }
        }
    }

    fn give_back(&self, conn: Connection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
    }
}
