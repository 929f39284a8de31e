//! Who may do what (権限): the one declaration of which [`Role`] may take which [`Action`].
//!
//! Every route of the service layer names its action; the route answers 403 (or 404 where the
//! target's existence would leak) unless [`allows`] says yes. What a role may touch *within* an
//! action (its own tenant, its own org, its assigned duties) is decided by the service layer
//! against the signed-in account; this table decides only the kind of act.
//!
//! Invariants, each proved by a test below:
//! - No action that reads or writes personal data ([`Action::touches_personal_data`]) is allowed
//!   to the operator, a consortium admin or an auditor, except that the auditor reads linkage
//!   records (who asked whom for what, never a copy's content).
//! - Managing tenants, consortia and backups is the operator's alone; a tenant's own figures
//!   (status, SLA, costs) are read by its admin too, and a consortium's by its admin.
//! - The operator does not read a tenant's audit log: the tenant reads what the operator did.
//! - A tenant's limit of people signed in at once (同時接続利用者数) is contracted: the operator
//!   sets and raises it; the tenant's admin reads it with the tenant's status.

use serde::{Deserialize, Serialize};

/// A person's role (役割). An account holds one; a client system (API key) is not a person and
/// acts under [`Principal::ClientSystem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 運用者: the cloud operator; tenants, consortia, backups, SLA, billing; no personal data.
    Operator,
    /// 複数団体の管理者: status, SLA and cost of the tenants of one consortium; no personal data.
    ConsortiumAdmin,
    /// 団体管理者: a tenant's staff, roles, duties, API keys, policies, bulk loads and audit log.
    TenantAdmin,
    /// 決裁者: decides the queries of their org that need e-approval (電子決裁); works as staff too.
    Approver,
    /// 職員: files and reads queries for the duties assigned to them.
    Staff,
    /// 監査者: reads the tenant's audit log and linkage records, nothing else.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 6] = [Role::Operator, Role::ConsortiumAdmin, Role::TenantAdmin, Role::Approver, Role::Staff, Role::Auditor];

    /// The stored and wire form.
    pub fn code(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::ConsortiumAdmin => "consortium_admin",
            Role::TenantAdmin => "tenant_admin",
            Role::Approver => "approver",
            Role::Staff => "staff",
            Role::Auditor => "auditor",
        }
    }

    pub fn from_code(code: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.code() == code)
    }

    /// Whether accounts of this role belong to one org of their tenant (they file and answer
    /// queries as that org).
    pub fn needs_org(self) -> bool {
        matches!(self, Role::Staff | Role::Approver)
    }

    /// Whether accounts of this role belong to one tenant (all but the operator and the
    /// consortium admin, whose accounts stand above tenants).
    pub fn is_tenant_role(self) -> bool {
        !matches!(self, Role::Operator | Role::ConsortiumAdmin)
    }
}

/// Who acts: a signed-in person with a role, or a client system by its API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    Person(Role),
    /// A municipality's own system (既存システム), by API key: files queries and loads data
    /// for its org, nothing administrative.
    ClientSystem,
}

/// Every kind of act the service layer offers. A route maps to exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    // Anyone signed in, on their own account.
    ReadOwnAccount,
    ChangeOwnPassword,
    EnrollTotp,
    SignOut,
    // Personal data of a tenant.
    RegisterPerson,
    ReadPerson,
    WriteCopies,
    BulkLoad,
    FileQuery,
    ReadQueries,
    DecideApproval,
    ReviewManual,
    MarkItems,
    ReadLinkageRecords,
    /// Makes one person registry of the tenant from registrations kept per org, and lists what
    /// contradicts it (団体内統合宛名番号).
    UnifyRegistry,
    // A tenant's administration.
    ManageStaff,
    AssignDuties,
    ManageApiKeys,
    SetApprovalPolicy,
    SetInHouseUses,
    /// Sets the tenant's 外字 mapping table and reads which 外字 its copies hold.
    ManageGaiji,
    SetSessionLimit,
    ReadAuditLog,
    WriteAuditCheckpoint,
    // Above tenants.
    ManageTenants,
    ManageConsortia,
    ManageBackups,
    ReadTenantStatus,
    ReadSla,
    ReadCosts,
    RaiseSessionLimit,
}

impl Action {
    pub const ALL: [Action; 31] = [
        Action::ReadOwnAccount,
        Action::ChangeOwnPassword,
        Action::EnrollTotp,
        Action::SignOut,
        Action::RegisterPerson,
        Action::ReadPerson,
        Action::WriteCopies,
        Action::BulkLoad,
        Action::FileQuery,
        Action::ReadQueries,
        Action::DecideApproval,
        Action::ReviewManual,
        Action::MarkItems,
        Action::ReadLinkageRecords,
        Action::UnifyRegistry,
        Action::ManageStaff,
        Action::AssignDuties,
        Action::ManageApiKeys,
        Action::SetApprovalPolicy,
        Action::SetInHouseUses,
        Action::ManageGaiji,
        Action::SetSessionLimit,
        Action::ReadAuditLog,
        Action::WriteAuditCheckpoint,
        Action::ManageTenants,
        Action::ManageConsortia,
        Action::ManageBackups,
        Action::ReadTenantStatus,
        Action::ReadSla,
        Action::ReadCosts,
        Action::RaiseSessionLimit,
    ];

    /// Whether the act reads or writes a resident's data (persons, copies, queries, answers,
    /// marks, linkage records).
    pub fn touches_personal_data(self) -> bool {
        use Action::*;
        matches!(
            self,
            RegisterPerson
                | ReadPerson
                | WriteCopies
                | BulkLoad
                | FileQuery
                | ReadQueries
                | DecideApproval
                | ReviewManual
                | MarkItems
                | ReadLinkageRecords
                | UnifyRegistry
        )
    }

    /// Whether the act is privileged: it is written to the audit log whoever takes it.
    pub fn is_privileged(self) -> bool {
        use Action::*;
        !matches!(
            self,
            ReadOwnAccount | ReadPerson | ReadQueries | ReadLinkageRecords | ReadAuditLog | ReadTenantStatus | ReadSla | ReadCosts
        )
    }
}

/// The duties (事務) a principal may file queries for: a staff member's assigned ones, or an
/// API key's. Stored as text: `*` for every duty its org may file for under 別表第二, or the
/// duty codes separated by commas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DutyScope {
    All,
    Only(std::collections::BTreeSet<crate::DutyCode>),
}

impl DutyScope {
    pub fn allows(&self, duty: &crate::DutyCode) -> bool {
        match self {
            DutyScope::All => true,
            DutyScope::Only(set) => set.contains(duty),
        }
    }

    pub fn parse(text: &str) -> Result<Self, crate::IdError> {
        if text == "*" {
            return Ok(DutyScope::All);
        }
        text.split(',').filter(|d| !d.is_empty()).map(crate::DutyCode::parse).collect::<Result<_, _>>().map(DutyScope::Only)
    }

    pub fn to_text(&self) -> String {
        match self {
            DutyScope::All => "*".into(),
            DutyScope::Only(set) => set.iter().map(|d| d.as_str()).collect::<Vec<_>>().join(","),
        }
    }
}

/// Whether `who` may take `action` at all. The one declaration of the role list.
pub fn allows(who: Principal, action: Action) -> bool {
    use Action::*;
    let role = match who {
        Principal::ClientSystem => {
            return matches!(
                action,
                RegisterPerson | ReadPerson | WriteCopies | BulkLoad | MarkItems | FileQuery | ReadQueries | ReadLinkageRecords
            );
        }
        Principal::Person(role) => role,
    };
    if matches!(action, ReadOwnAccount | ChangeOwnPassword | EnrollTotp | SignOut) {
        return true;
    }
    match role {
        Role::Operator => matches!(
            action,
            ManageTenants | ManageConsortia | ManageBackups | ReadTenantStatus | ReadSla | ReadCosts | SetSessionLimit | RaiseSessionLimit
        ),
        Role::ConsortiumAdmin => matches!(action, ReadTenantStatus | ReadSla | ReadCosts),
        Role::TenantAdmin => matches!(
            action,
            ManageStaff
                | AssignDuties
                | BulkLoad
                | ManageApiKeys
                | SetApprovalPolicy
                | SetInHouseUses
                | ManageGaiji
                | ReadAuditLog
                | WriteAuditCheckpoint
                | MarkItems
                | UnifyRegistry
                | ReadTenantStatus
                | ReadSla
                | ReadCosts
        ),
        Role::Approver => {
            matches!(action, RegisterPerson | ReadPerson | FileQuery | ReadQueries | DecideApproval | ReviewManual | ReadLinkageRecords)
        }
        Role::Staff => matches!(action, RegisterPerson | ReadPerson | FileQuery | ReadQueries | ReviewManual | ReadLinkageRecords),
        Role::Auditor => matches!(action, ReadAuditLog | ReadLinkageRecords),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(r: Role) -> Principal {
        Principal::Person(r)
    }

    /// The list, written out role by role: what each may do beyond its own account.
    #[test]
    fn each_role_may_take_exactly_the_acts_the_role_list_gives_it() {
        use Action::*;
        let table: &[(Principal, &[Action])] = &[
            (
                person(Role::Operator),
                &[ManageTenants, ManageConsortia, ManageBackups, ReadTenantStatus, ReadSla, ReadCosts, SetSessionLimit, RaiseSessionLimit],
            ),
            (person(Role::ConsortiumAdmin), &[ReadTenantStatus, ReadSla, ReadCosts]),
            (
                person(Role::TenantAdmin),
                &[
                    ManageStaff,
                    AssignDuties,
                    BulkLoad,
                    ManageApiKeys,
                    SetApprovalPolicy,
                    SetInHouseUses,
                    ManageGaiji,
                    ReadAuditLog,
                    WriteAuditCheckpoint,
                    MarkItems,
                    UnifyRegistry,
                    ReadTenantStatus,
                    ReadSla,
                    ReadCosts,
                ],
            ),
            (
                person(Role::Approver),
                &[RegisterPerson, ReadPerson, FileQuery, ReadQueries, DecideApproval, ReviewManual, ReadLinkageRecords],
            ),
            (person(Role::Staff), &[RegisterPerson, ReadPerson, FileQuery, ReadQueries, ReviewManual, ReadLinkageRecords]),
            (person(Role::Auditor), &[ReadAuditLog, ReadLinkageRecords]),
            (
                Principal::ClientSystem,
                &[RegisterPerson, ReadPerson, WriteCopies, BulkLoad, MarkItems, FileQuery, ReadQueries, ReadLinkageRecords],
            ),
        ];
        let own = [ReadOwnAccount, ChangeOwnPassword, EnrollTotp, SignOut];
        for (who, granted) in table {
            for action in Action::ALL {
                let expected = granted.contains(&action) || (matches!(who, Principal::Person(_)) && own.contains(&action));
                assert_eq!(allows(*who, action), expected, "{who:?} {action:?}");
            }
        }
    }

    #[test]
    fn the_operator_and_the_consortium_admin_touch_no_personal_data_and_the_auditor_only_records() {
        for action in Action::ALL.into_iter().filter(|a| a.touches_personal_data()) {
            assert!(!allows(person(Role::Operator), action), "{action:?}");
            assert!(!allows(person(Role::ConsortiumAdmin), action), "{action:?}");
            assert_eq!(allows(person(Role::Auditor), action), action == Action::ReadLinkageRecords, "{action:?}");
        }
    }

    #[test]
    fn managing_tenants_is_the_operators_alone_and_the_operator_reads_no_tenant_audit_log() {
        for role in Role::ALL {
            for action in [Action::ManageTenants, Action::ManageConsortia, Action::ManageBackups] {
                assert_eq!(allows(person(role), action), role == Role::Operator, "{role:?} {action:?}");
            }
        }
        assert!(!allows(person(Role::Operator), Action::ReadAuditLog));
        assert!(!allows(Principal::ClientSystem, Action::ReadAuditLog));
    }

    #[test]
    fn only_an_approver_decides_approvals() {
        for role in Role::ALL {
            assert_eq!(allows(person(role), Action::DecideApproval), role == Role::Approver, "{role:?}");
        }
        assert!(!allows(Principal::ClientSystem, Action::DecideApproval));
    }

    #[test]
    fn a_duty_scope_allows_its_duties_and_reads_back() {
        let d = |c: &str| crate::DutyCode::parse(c).unwrap();
        assert!(DutyScope::All.allows(&d("D015")));
        let some = DutyScope::parse("D015,D020").unwrap();
        assert!(some.allows(&d("D020")) && !some.allows(&d("D001")));
        assert_eq!(DutyScope::parse(&some.to_text()).unwrap(), some);
        assert_eq!(DutyScope::parse("*").unwrap(), DutyScope::All);
        assert!(!DutyScope::parse("").unwrap().allows(&d("D015")), "no duty: nothing");
        assert!(DutyScope::parse("d015").is_err());
    }

    #[test]
    fn role_codes_read_back() {
        for role in Role::ALL {
            assert_eq!(Role::from_code(role.code()), Some(role));
            assert_eq!(serde_json::to_value(role).unwrap(), serde_json::json!(role.code()));
        }
        assert_eq!(Role::from_code("root"), None);
    }
}
