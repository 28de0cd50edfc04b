//! What a dispatch carries on the user's behalf: the credentials forwarded at enqueue (only the
//! names the target allows) and the caller's `traceparent`. The API seals them into the task
//! ([`NewTask::sealed_headers`](crate::model::NewTask::sealed_headers)); the dispatcher opens
//! them; the store erases them when the task is final.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::auth::{SealError, Sealer};
use crate::model::TaskId;

/// The headers a dispatch forwards.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forwarded {
    /// Header name (lowercase) → value.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The W3C trace context of the enqueue, if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl Forwarded {
    /// Whether there is nothing to forward.
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty() && self.traceparent.is_none()
    }

    /// Sealed for task `id`, or `None` if there is nothing to forward.
    pub fn seal(&self, sealer: &Sealer, id: TaskId) -> Result<Option<Vec<u8>>, SealError> {
        if self.is_empty() {
            return Ok(None);
        }
        let plain = serde_json::to_vec(self).expect("headers serialize");
        sealer.seal(id, &plain).map(Some)
    }

    /// What was sealed for task `id` (nothing if nothing was).
    pub fn open(sealer: &Sealer, id: TaskId, sealed: Option<&[u8]>) -> Result<Self, SealError> {
        let Some(sealed) = sealed else {
            return Ok(Forwarded::default());
        };
        let plain = sealer.open(id, sealed)?;
        serde_json::from_slice(&plain).map_err(|_| SealError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_headers_round_trip_through_the_seal() {
        let sealer = Sealer::new([1; 32]);
        let id = TaskId::new();
        let forwarded = Forwarded {
            headers: BTreeMap::from([("cookie".into(), "session=abc".into())]),
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
        };
        let sealed = forwarded.seal(&sealer, id).unwrap().unwrap();
        assert_eq!(
            Forwarded::open(&sealer, id, Some(&sealed)).unwrap(),
            forwarded
        );
        assert_eq!(Forwarded::default().seal(&sealer, id).unwrap(), None);
        assert_eq!(
            Forwarded::open(&sealer, id, None).unwrap(),
            Forwarded::default()
        );
    }
}
