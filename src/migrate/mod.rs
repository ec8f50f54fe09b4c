//! Migration files on disk, without a database: finding them (`discover`), the checksums the
//! runner records, the directory hash in `dbsplit.sum` (`sum`), and the next file `new` writes
//! (`scaffold`). Running migrations against a cluster is not here.

pub mod discover;
pub mod scaffold;
pub mod sum;

pub use discover::{DiscoverError, Migration, checksum, discover, normalize};
