//! 障害通知 (incident notices, issue 17 §3): what a tenant's administrators are told when an
//! incident opens, is updated (its cause written) and recovers — the mail's subject and body in
//! Japanese, and the webhook's event name. A notice names the tenant, the probe and the times;
//! never a person or any other personal value, which the monitor does not have.

use crate::incident::ProbeKind;
use crate::wareki::moment;

/// Which moment of an incident a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    Opened,
    Updated,
    Recovered,
}

impl NoticeKind {
    pub fn code(&self) -> &'static str {
        match self {
            NoticeKind::Opened => "opened",
            NoticeKind::Updated => "updated",
            NoticeKind::Recovered => "recovered",
        }
    }

    pub fn parse(code: &str) -> Option<NoticeKind> {
        [NoticeKind::Opened, NoticeKind::Updated, NoticeKind::Recovered].into_iter().find(|k| k.code() == code)
    }
}

/// Waits before the `attempts`-th retry of a notice: 2, 4, 8 … seconds, at most 10 minutes.
pub fn retry_after_secs(attempts: u32) -> i64 {
    2i64.saturating_pow(attempts.clamp(1, 30)).min(600)
}

/// Attempts after which a notice is given up (about an hour and a half of trying).
pub const MAX_ATTEMPTS: i64 = 12;

/// A notice of one incident.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct IncidentNotice {
    pub kind: NoticeKind,
    pub incident: String,
    /// The tenant, or empty for the platform's own incident.
    pub tenant: String,
    pub probe: ProbeKind,
    pub started_at: i64,
    pub recovered_at: Option<i64>,
    pub cause: String,
    /// Where its administrators see the status.
    pub status_url: String,
}

impl IncidentNotice {
    /// The webhook's event name.
    pub fn event(&self) -> &'static str {
        match self.kind {
            NoticeKind::Opened => "incident.opened",
            NoticeKind::Updated => "incident.updated",
            NoticeKind::Recovered => "incident.recovered",
        }
    }

    fn whom(&self) -> &str {
        if self.tenant.is_empty() { "基盤全体" } else { &self.tenant }
    }

    /// The mail's subject.
    pub fn subject(&self) -> String {
        let what = match self.kind {
            NoticeKind::Opened => "障害発生",
            NoticeKind::Updated => "障害情報更新",
            NoticeKind::Recovered => "障害復旧",
        };
        format!("【{what}】{} {}", self.whom(), self.probe.label_ja())
    }

    /// The mail's body.
    pub fn body(&self) -> String {
        let mut out = format!(
            "中間サーバ共同利用基盤からのお知らせです。\n\n対象: {}\n確認項目: {}\n発生日時: {}\n",
            self.whom(),
            self.probe.label_ja(),
            moment(self.started_at.saturating_mul(1000)),
        );
        match self.recovered_at {
            Some(at) => {
                let minutes = (at - self.started_at).max(0) / 60;
                out.push_str(&format!(
                    "復旧日時: {}\n停止時間: {} 時間 {} 分\n",
                    moment(at.saturating_mul(1000)),
                    minutes / 60,
                    minutes % 60
                ));
            }
            None => out.push_str("状況: 対応中\n"),
        }
        let cause = if self.cause.is_empty() { "調査中" } else { &self.cause };
        out.push_str(&format!("原因: {cause}\n障害番号: {}\n\n稼働状況: {}\n", self.incident, self.status_url));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(kind: NoticeKind, recovered_at: Option<i64>) -> IncidentNotice {
        IncidentNotice {
            kind,
            incident: "inc-1".into(),
            tenant: "kou-city".into(),
            probe: ProbeKind::Search,
            // 2026-12-03 10:00 JST.
            started_at: 1_796_259_600,
            recovered_at,
            cause: String::new(),
            status_url: "https://renkei.example/status".into(),
        }
    }

    #[test]
    fn retries_back_off_to_ten_minutes_and_kinds_read_back() {
        assert_eq!([1, 2, 3, 9, 10, 50].map(retry_after_secs), [2, 4, 8, 512, 600, 600]);
        for k in [NoticeKind::Opened, NoticeKind::Updated, NoticeKind::Recovered] {
            assert_eq!(NoticeKind::parse(k.code()), Some(k));
        }
        assert_eq!(NoticeKind::parse("closed"), None);
    }

    #[test]
    fn each_notice_says_what_happened_when_in_japanese() {
        let opened = notice(NoticeKind::Opened, None);
        assert_eq!(opened.subject(), "【障害発生】kou-city 検索系");
        assert_eq!(opened.event(), "incident.opened");
        let body = opened.body();
        assert!(
            body.contains("発生日時: 令和8年12月3日 (2026-12-03) 10:00") && body.contains("状況: 対応中") && body.contains("原因: 調査中"),
            "{body}"
        );
        let back = IncidentNotice { cause: "ディスク障害".into(), ..notice(NoticeKind::Recovered, Some(1_796_259_600 + 5_400)) };
        assert_eq!(back.subject(), "【障害復旧】kou-city 検索系");
        let body = back.body();
        assert!(
            body.contains("停止時間: 1 時間 30 分")
                && body.contains("原因: ディスク障害")
                && body.contains("https://renkei.example/status"),
            "{body}"
        );
        let platform = IncidentNotice { tenant: String::new(), ..notice(NoticeKind::Updated, None) };
        assert_eq!(platform.subject(), "【障害情報更新】基盤全体 検索系");
    }
}
