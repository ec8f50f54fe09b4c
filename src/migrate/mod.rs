//! Migration files: finding them on disk (`discover`), the checksums the
//! runner records, the directory hash in `dbsplit.sum` (`sum`), and the next file `new` writes
//! (`scaffold`); comparing the history table with the files (`verify`, pure) and running the
//! pending ones against a cluster (`run`).

pub mod discover;
pub mod guard;
pub mod run;
pub mod scaffold;
pub mod session;
pub mod sum;
pub mod verify;

pub use discover::{DiscoverError, Migration, checksum, discover, normalize};
