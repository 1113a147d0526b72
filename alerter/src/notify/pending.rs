//! A persisted queue of notifications not yet delivered, so a restart during a
//! mail outage loses nothing. One JSON file, rewritten atomically (temp + rename)
//! on every change. An entry is removed only after the server accepted it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Data, Notification, Notifier, NotifyError};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub receiver: String,
    pub group_key: String,
    pub data: Data,
    pub attempts: u32,
    pub last_reason: Option<String>,
}

pub struct PendingQueue {
    path: PathBuf,
    items: Vec<Pending>,
}

impl PendingQueue {
    /// Opens (or creates empty) the queue stored at `path`.
    pub fn open(path: &Path) -> Result<PendingQueue, String> {
        let items = match std::fs::read(path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                format!("{}: not a pending-notification queue: {e}", path.display())
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        Ok(PendingQueue {
            path: path.to_path_buf(),
            items,
        })
    }

    pub fn items(&self) -> &[Pending] {
        &self.items
    }

    fn save(&self) -> Result<(), String> {
        let tmp = self.path.with_extension("tmp");
        let b = serde_json::to_vec(&self.items).map_err(|e| e.to_string())?;
        std::fs::write(&tmp, b).map_err(|e| format!("{}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| format!("{}: {e}", self.path.display()))
    }

    /// Adds a notification; a newer one for the same receiver and group replaces
    /// the older (it carries the group's current state).
    pub fn push(&mut self, receiver: &str, n: &Notification) -> Result<(), String> {
        self.items
            .retain(|p| !(p.receiver == receiver && p.group_key == n.group_key));
        self.items.push(Pending {
            receiver: receiver.to_string(),
            group_key: n.group_key.clone(),
            data: n.data.clone(),
            attempts: 0,
            last_reason: None,
        });
        self.save()
    }

    /// Tries every pending entry for `receiver` once; removes those delivered.
    /// Returns the errors of those still pending. A permanent error keeps the
    /// entry too (the cause is config or credentials; a fix + reload delivers it).
    pub async fn flush(
        &mut self,
        receiver: &str,
        notifier: &dyn Notifier,
    ) -> Result<Vec<NotifyError>, String> {
        let mut errors = Vec::new();
        let mut i = 0;
        while i < self.items.len() {
            if self.items[i].receiver != receiver {
                i += 1;
                continue;
            }
            let n = Notification {
                group_key: self.items[i].group_key.clone(),
                data: self.items[i].data.clone(),
            };
            match notifier.notify(&n).await {
                Ok(()) => {
                    self.items.remove(i);
                    self.save()?;
                }
                Err(e) => {
                    self.items[i].attempts += 1;
                    self.items[i].last_reason = Some(e.reason.to_string());
                    self.save()?;
                    errors.push(e);
                    i += 1;
                }
            }
        }
        Ok(errors)
    }
}
