//! The demo application's folder of items, in memory.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// One item of the folder.
#[derive(Debug, Clone)]
pub struct Item {
    /// Its number.
    pub id: u32,
    /// Its name.
    pub name: String,
    /// Whether it has been published.
    pub published: bool,
    /// Whether it has been converted to PDF.
    pub converted: bool,
}

/// The folder, shared by the pages and the task endpoints.
#[derive(Clone)]
pub struct Items(Arc<Mutex<BTreeMap<u32, Item>>>);

const NAMES: &[&str] = &[
    "Annual report",
    "Board minutes",
    "Press release",
    "Price list",
    "Staff handbook",
    "Summer newsletter",
    "Product sheet",
    "Travel policy",
    "Meeting notes",
    "Welcome letter",
    "Safety rules",
    "Quarterly figures",
];

impl Items {
    /// A folder with a dozen items.
    pub fn sample() -> Items {
        let items = NAMES
            .iter()
            .zip(1..)
            .map(|(name, id)| {
                let item = Item {
                    id,
                    name: (*name).to_owned(),
                    published: false,
                    converted: false,
                };
                (id, item)
            })
            .collect();
        Items(Arc::new(Mutex::new(items)))
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<u32, Item>> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The items, in order.
    pub fn all(&self) -> Vec<Item> {
        self.lock().values().cloned().collect()
    }

    /// One item.
    pub fn get(&self, id: u32) -> Option<Item> {
        self.lock().get(&id).cloned()
    }

    /// Changes one item; false if there is none.
    pub fn update(&self, id: u32, change: impl FnOnce(&mut Item)) -> bool {
        self.lock().get_mut(&id).map(change).is_some()
    }

    /// Removes one item.
    pub fn remove(&self, id: u32) {
        self.lock().remove(&id);
    }

    /// Adds items with fresh numbers, to delete again.
    pub fn refill(&self) {
        let mut items = self.lock();
        let next = items.keys().next_back().copied().unwrap_or(0) + 1;
        for (name, id) in NAMES.iter().zip(next..) {
            let item = Item {
                id,
                name: (*name).to_owned(),
                published: false,
                converted: false,
            };
            items.insert(id, item);
        }
    }
}
