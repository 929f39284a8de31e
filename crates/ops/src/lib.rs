//! The operator's promises made measurable: backups kept by generations and proved by restore
//! drills (`backup`).

pub mod backup;
