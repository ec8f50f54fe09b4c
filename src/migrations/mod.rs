//! Migration files on disk, without a database: finding them (`discover`), reading them with
//! their checksums and their service's `dbsplit.sum` (`read`), the directory hash (`sum`), the
//! next file `new` writes (`scaffold`), and the name of the history table every service keeps.
//! `lint`, `migrate` and `plan` all build on this; it builds on none of them.

pub mod discover;
pub mod read;
pub mod scaffold;
pub mod sum;

pub use discover::{DiscoverError, Migration, checksum, discover, normalize};
pub use read::{File, Input, Local, Selection, SqlFile, SumFile, read};

/// The history table in each service's schema, owned by the service's owner role.
pub const HISTORY_TABLE: &str = "dbsplit_migrations";
