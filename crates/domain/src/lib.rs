//! Pure domain types and rules of renkei: no I/O, no clocks, no randomness.
//!
//! Everything here can be checked by a unit test alone. The words follow DESIGN.md §1: an
//! [`IndividualNumber`] (個人番号) is never printed, a [`Matrix`] (別表第二) decides who may ask
//! whom for what, and a [`QueryState`] only moves along the legal transitions.

pub mod account;
pub mod allocation;
pub mod approval;
pub mod backup;
pub mod bulk;
pub mod calendar;
pub mod compliance;
pub mod copy;
pub mod date;
pub mod disposal;
pub mod export;
pub mod gaiji;
pub mod ids;
pub mod incident;
pub mod location;
pub mod marks;
pub mod matrix;
pub mod notice;
pub mod number;
pub mod page;
pub mod policy;
pub mod query;
pub mod record;
pub mod retention;
pub mod rollup;
pub mod sla;
pub mod wareki;
pub mod wire;

pub use date::{Date, DateError};
pub use ids::{AccountName, AddresseeNo, ConsortiumId, DutyCode, IdError, ItemCode, OrgCode, OrgId, OrgType, RequestId, TenantId};
pub use matrix::{Matrix, MatrixError, MatrixRow};
pub use number::{IndividualNumber, NumberError, SecretText};
pub use policy::{Action, Principal, Role};
pub use query::{FilingRule, ItemAnswer, ItemStatus, Outcome, QueryState, StateError};
pub use record::{RecordOutcome, Side};
