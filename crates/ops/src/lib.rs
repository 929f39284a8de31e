//! The operator's promises made measurable: backups kept by generations and proved by restore
//! drills (`backup`), a tenant's month measured against its SLA contract (`sla`), and each
//! tenant's use with the platform's cost shared by it (`metering`).

pub mod backup;
pub mod metering;
pub mod monitor;
pub mod notify;
pub mod report;
pub mod sla;
