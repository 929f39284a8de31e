//! The operator's promises made measurable: backups kept by generations and proved by restore
//! drills (`backup`), and a tenant's month measured against its SLA contract (`sla`).

pub mod backup;
pub mod sla;
