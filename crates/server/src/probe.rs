//! The SLA monitor's probe person (監視用の宛名, `AddresseeNo::PROBE`) as the platform admits it:
//! only the tenant's probe key (`crypto::apikey::probe_key`, which `renkei sla probe enrol`
//! stored the hash of) may register it, write its copies or file queries about it. So no person
//! of a client system is ever hidden among the probe's rows, which every business list and count
//! leaves out (`store::tenant`), and no staff member files a query that skips approval as the
//! probe's does.

use crate::Platform;
use crate::caller::Act;
use renkei_domain::AddresseeNo;
use renkei_net::{Problem, ProblemKind};

impl Platform {
    /// Refuses the probe person's addressee number to every caller but `act`'s tenant's probe.
    pub fn admit_addressee(&self, act: &Act<'_>, addressee: &AddresseeNo) -> Result<(), Problem> {
        if !addressee.is_probe() {
            return Ok(());
        }
        let probe = renkei_crypto::apikey::hash(&renkei_crypto::apikey::probe_key(&self.master, act.tenant.as_str()));
        if act.actor == format!("api-key:{}", renkei_store::platform::key_id(&probe)) {
            return Ok(());
        }
        Err(Problem::detailed(ProblemKind::Conflict, "this addressee number is reserved for the platform's SLA monitor"))
    }
}
