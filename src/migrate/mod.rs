//! Running migrations against a cluster: comparing the history table with the files
//! (`verify`, pure), the session they run in (`session`: the login checked, the owner role, the
//! lock), the guard of trusted runs (`guard`), the history table (`history`) and the run itself
//! (`run`). The files themselves are `crate::migrations`'.

pub mod error;
pub mod guard;
pub mod history;
pub mod progress;
pub mod run;
pub mod session;
pub mod verify;
