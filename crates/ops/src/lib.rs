//! The operator's promises made measurable: backups kept by generations and proved by restore
//! drills (`backup`), a tenant's month measured against its SLA contract (`sla`), and each
//! tenant's use with the platform's cost shared by it (`metering`), the monitor and its notices
//! (`monitor`, `notify`), the monthly report (`report`) and the compliance sheet (`compliance`).

pub mod backup;
pub mod compliance;
pub mod metering;
pub mod monitor;
pub mod notify;
pub mod report;
pub mod sla;
