//! The tenants' SLA contracts as the file `contracts_file` names gives them (`docs/operations.md`
//! §8): a `[default]` section and a `[tenant.ID]` section per tenant that differs; unset keys
//! take 表2-13's grade.
//!
//! ```toml
//! [default]                      # every tenant's, unless its own section says otherwise
//! service_hours = "office"       # 開庁日 office hours ("office") or 24/365 ("always")
//! office_hours = "07:30-18:15"   # JST
//! availability_percent = 99.5
//! mttr_hours = 3.0
//! monthly_fee_yen = 300000
//! reductions = [{ below_percent = 99.5, reduction_percent = 10 }]
//! search_p95_ms = 1000           # 応答時間 (検索系), 95th percentile of the probes
//! update_p95_ms = 2000           # 応答時間 (更新系)
//!
//! [tenant.kou-city]
//! service_hours = "always"
//! ```

use anyhow::{Context, Result, bail};
use renkei_domain::calendar::ServiceHours;
use renkei_domain::sla::{Contract, Grade, Reduction};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// One section of the contracts file: what it sets.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Terms {
    service_hours: Option<String>,
    office_hours: Option<String>,
    availability_percent: Option<f64>,
    mttr_hours: Option<f64>,
    monthly_fee_yen: Option<u64>,
    reductions: Option<Vec<Reduction>>,
    search_p95_ms: Option<u64>,
    update_p95_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContractsFile {
    #[serde(default)]
    default: Terms,
    #[serde(default)]
    tenant: BTreeMap<String, Terms>,
}

/// The tenants' contracts as a file gives them.
#[derive(Debug, Default)]
pub struct Contracts {
    file: ContractsFile,
    /// The file read, if any.
    path: Option<std::path::PathBuf>,
}

impl Contracts {
    /// Reads `path`, or the defaults without one; every tenant's contract is checked now.
    pub fn load(path: Option<&Path>) -> Result<Contracts> {
        let Some(path) = path else { return Ok(Contracts::default()) };
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read the SLA contracts {}", path.display()))?;
        let file: ContractsFile = toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))?;
        let contracts = Contracts { file, path: Some(path.to_owned()) };
        contracts.of("").with_context(|| format!("{}: [default]", path.display()))?;
        for t in contracts.file.tenant.keys() {
            contracts.of(t).with_context(|| format!("{}: [tenant.{t}]", path.display()))?;
        }
        Ok(contracts)
    }

    /// Where `tenant`'s contract was agreed: the file and its section (`[tenant.ID]`, else
    /// `[default]`); none without a file.
    pub fn source(&self, tenant: &str) -> Option<String> {
        let path = self.path.as_ref()?;
        let section = if self.file.tenant.contains_key(tenant) { format!("[tenant.{tenant}]") } else { "[default]".into() };
        Some(format!("{} {section}", path.display()))
    }

    /// `tenant`'s contract: its section over [default] over 表2-13's grade.
    pub fn of(&self, tenant: &str) -> Result<Contract> {
        let own = self.file.tenant.get(tenant).cloned().unwrap_or_default();
        let d = &self.file.default;
        let base = Contract::default();
        let hours = match own.service_hours.as_deref().or(d.service_hours.as_deref()) {
            None | Some("office") => office_hours(own.office_hours.as_deref().or(d.office_hours.as_deref()))?,
            Some("always") => ServiceHours::Always,
            Some(other) => bail!("service_hours is \"office\" or \"always\", not {other:?}"),
        };
        let grade = Grade {
            availability_percent: own.availability_percent.or(d.availability_percent).unwrap_or(base.grade.availability_percent),
            mttr_hours: own.mttr_hours.or(d.mttr_hours).unwrap_or(base.grade.mttr_hours),
            reductions: own.reductions.or_else(|| d.reductions.clone()).unwrap_or(base.grade.reductions),
            search_p95_ms: own.search_p95_ms.or(d.search_p95_ms),
            update_p95_ms: own.update_p95_ms.or(d.update_p95_ms),
        };
        if !(0.0..=100.0).contains(&grade.availability_percent) || grade.reductions.iter().any(|r| r.reduction_percent > 100) {
            bail!("percentages are between 0 and 100");
        }
        if grade.mttr_hours.is_nan() || grade.mttr_hours <= 0.0 {
            bail!("mttr_hours must be more than 0");
        }
        Ok(Contract { hours, grade, monthly_fee_yen: own.monthly_fee_yen.or(d.monthly_fee_yen).unwrap_or(0) })
    }
}

fn office_hours(text: Option<&str>) -> Result<ServiceHours> {
    let Some(text) = text else { return Ok(ServiceHours::office_default()) };
    let parse = |t: &str| chrono::NaiveTime::parse_from_str(t.trim(), "%H:%M").ok();
    match text.split_once('-').map(|(a, b)| (parse(a), parse(b))) {
        Some((Some(open), Some(close))) if open < close => Ok(ServiceHours::OfficeDays { open, close }),
        _ => bail!("office_hours is HH:MM-HH:MM, opening before closing, not {text:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contracts(text: &str) -> Result<Contracts> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text)?;
        Contracts::load(Some(&path))
    }

    #[test]
    fn a_tenants_section_overrides_the_default_which_overrides_the_grade() {
        let c = contracts("[default]\nmonthly_fee_yen = 100\navailability_percent = 99.0\n[tenant.kou]\nservice_hours = \"always\"\n")
            .expect("file");
        let kou = c.of("kou").expect("kou");
        assert_eq!((kou.hours, kou.monthly_fee_yen, kou.grade.availability_percent), (ServiceHours::Always, 100, 99.0));
        let other = c.of("otsu").expect("otsu");
        assert_eq!((other.hours, other.grade.mttr_hours), (ServiceHours::office_default(), 3.0));
    }

    #[test]
    fn a_bad_contract_is_refused_naming_its_section() {
        for (text, says) in [
            ("[tenant.kou]\nservice_hours = \"nights\"\n", "[tenant.kou]"),
            ("[default]\noffice_hours = \"18:00-08:00\"\n", "[default]"),
            ("[default]\navailability_percent = 101.0\n", "[default]"),
            ("[default]\nfee = 1\n", "unknown field"),
        ] {
            let e = format!("{:#}", contracts(text).expect_err(text));
            assert!(e.contains(says), "{e}");
        }
    }
}
