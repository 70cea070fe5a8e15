//! Every string the dashboard shows, in Chinese and English: one table, one function.
//! Names from the data (companies, provinces, unit classes) and the writer's messages are shown
//! as they are.

/// The language of a page: the `lang` cookie, Chinese by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim() {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
    /// The cookie's and the switch link's value.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh",
            Lang::En => "en",
        }
    }
    /// The `lang` attribute of `<html>`.
    pub fn html(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }
    /// The language's own name, for the switch link.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Zh => "中文",
            Lang::En => "English",
        }
    }
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }
}

/// The string `key` in `lang`. An unknown key is a bug (the test below reads the sources for
/// every key used); in a release build it shows as the key itself.
pub fn t(lang: Lang, key: &str) -> &'static str {
    match TABLE.iter().find(|(k, _, _)| *k == key) {
        Some((_, zh, en)) => match lang {
            Lang::Zh => zh,
            Lang::En => en,
        },
        None => {
            debug_assert!(false, "no translation for {key:?}");
            TABLE[0].0
        }
    }
}

/// (key, Chinese, English).
pub const TABLE: &[(&str, &str, &str)] = &[
    (
        "site.name",
        "全国碳排放权交易市场",
        "National Carbon Emissions Trading",
    ),
    (
        "site.footer",
        "数据来自登记簿、交易所与核查记录 · 价格单位：元/吨 · 数量单位：吨",
        "Data from the registry, the exchange and the verification records · prices in CNY/t · quantities in tonnes",
    ),
    // Navigation
    ("nav.market", "市场行情", "Market"),
    ("nav.compliance", "履约情况", "Compliance"),
    ("nav.home", "我的工作台", "My dashboard"),
    ("nav.login", "登录", "Log in"),
    ("nav.logout", "退出", "Log out"),
    // Roles
    ("role.regulator", "主管部门", "Regulator"),
    ("role.bureau", "省级生态环境部门", "Provincial bureau"),
    ("role.company", "企业代表", "Company representative"),
    ("role.verifier", "核查机构", "Verifier"),
    ("role.member", "交易会员", "Exchange member"),
    ("role.auditor", "审计", "Auditor"),
    // Errors
    ("error.bad_request", "请求有误", "Bad request"),
    ("error.unauthenticated", "请先登录", "Please log in"),
    ("error.forbidden", "无权访问", "Forbidden"),
    ("error.not_found", "未找到", "Not found"),
    ("error.other", "出错了", "Something went wrong"),
    ("error.back", "返回首页", "Back to the market"),
    (
        "error.csrf",
        "表单已失效或不是从本站提交的（CSRF 校验失败）。请刷新页面后重试。",
        "The form has expired or was not sent from this site (CSRF check failed). Reload the page and try again.",
    ),
    (
        "error.idem",
        "表单缺少幂等键，请刷新页面后重试。",
        "The form lacks its idempotency key; reload the page and try again.",
    ),
    ("error.no_lang", "不支持该语言。", "No such language."),
    ("error.no_page", "没有这个页面。", "No such page."),
    (
        "error.not_your_page",
        "此页面不属于您的角色。",
        "This page is not for your role.",
    ),
    // Login
    ("login.title", "登录", "Log in"),
    ("login.username", "用户名", "User name"),
    ("login.password", "密码", "Password"),
    ("login.submit", "登录", "Log in"),
    (
        "login.failed",
        "用户名或密码错误。",
        "Wrong user name or password.",
    ),
    ("login.already", "您已登录：", "You are logged in as"),
    // Flash messages
    ("flash.refused", "未执行", "Refused"),
    ("flash.order_placed", "委托已提交", "Order placed"),
    ("flash.cancelled", "委托已撤销", "order cancelled"),
    ("flash.approved", "已批准并执行", "approved and executed"),
    ("flash.rejected", "已拒绝", "rejected"),
    ("flash.report_accepted", "报告已接受", "report accepted"),
    ("report.accept", "接受", "Accept"),
    (
        "flash.request_approved",
        "已批准:账户已开立,代表已可登录",
        "approved: the account is open and its representatives can log in",
    ),
    ("request.reason", "拒绝理由", "reason for rejection"),
    (
        "request.reason_needed",
        "拒绝开户申请须说明理由。",
        "A rejection needs a reason.",
    ),
    ("flash.verified", "核查结果已记录", "verification recorded"),
    // Market overview
    ("market.title", "市场行情", "Market overview"),
    (
        "market.closed",
        "交易所尚未开业。",
        "The exchange has not opened yet.",
    ),
    ("market.to_compliance", "查看履约情况", "See compliance"),
    ("market.class", "品种", "Instrument"),
    ("market.last", "最新价", "Last price"),
    ("market.prev_close", "前收盘价", "Previous close"),
    (
        "market.today_volume",
        "今日成交量（吨）",
        "Volume today (t)",
    ),
    ("market.day", "交易日", "Trading day"),
    ("market.day_closed", "休市", "closed"),
    ("market.chart", "收盘价与成交量", "Closing price and volume"),
    (
        "market.chart_price",
        "收盘价（元/吨，今日为最新价）",
        "Close (CNY/t; today: last price)",
    ),
    ("market.chart_volume", "成交量（吨）", "Volume (t)"),
    ("market.chart_empty", "暂无成交", "No trades yet"),
    ("market.trades", "最近成交", "Recent trades"),
    ("market.no_trades", "暂无成交。", "No trades yet."),
    ("market.time", "时间", "Time"),
    ("market.kind", "方式", "Kind"),
    ("trade.listed", "挂牌协议", "Listed"),
    ("trade.block", "大宗协议", "Block"),
    ("trade.one_way", "单向竞价", "One-way auction"),
    // Book
    ("book.title", "五档行情", "Order book (best five)"),
    ("book.level", "档位", "Level"),
    ("book.price", "价格（元）", "Price (CNY)"),
    ("book.qty", "数量（吨）", "Quantity (t)"),
    ("book.orders", "笔数", "Orders"),
    ("book.ask", "卖", "Ask"),
    ("book.bid", "买", "Bid"),
    // Compliance
    ("compliance.title", "履约情况", "Compliance"),
    (
        "compliance.no_plan",
        "尚未通过配额分配方案。",
        "No allocation plan has been adopted yet.",
    ),
    ("compliance.plan", "分配方案", "Plan"),
    (
        "compliance.assessed_on",
        "已于以下日期完成履约评估：",
        "Assessed on",
    ),
    (
        "compliance.open",
        "履约周期进行中，数据为当前进度。",
        "The cycle is open: figures as of now.",
    ),
    (
        "compliance.chart",
        "按配额量计的履约完成率",
        "Completion by volume",
    ),
    (
        "compliance.none",
        "尚无已确定履约义务的企业",
        "No company has a known obligation yet",
    ),
    (
        "compliance.by_province",
        "全国及各省履约进度",
        "Nation and provinces",
    ),
    (
        "compliance.by_company",
        "企业履约结果",
        "Results by company",
    ),
    ("compliance.region", "地区", "Region"),
    ("compliance.national", "全国", "Nation"),
    ("compliance.companies", "企业数", "Companies"),
    ("compliance.allocated", "分配量（吨）", "Allocated (t)"),
    (
        "compliance.verified",
        "核查排放量（吨）",
        "Verified emissions (t)",
    ),
    ("compliance.obligation", "应清缴（吨）", "Obligation (t)"),
    ("compliance.surrendered", "已清缴（吨）", "Surrendered (t)"),
    ("compliance.shortfall", "缺口（吨）", "Shortfall (t)"),
    (
        "compliance.by_volume",
        "完成率（按量）",
        "Completion by volume",
    ),
    (
        "compliance.by_count",
        "完成率（按企业数）",
        "Completion by count",
    ),
    ("compliance.status", "状态", "Status"),
    ("status.complied", "已足额清缴", "Complied"),
    ("status.partly", "部分清缴", "Partly"),
    ("status.not_at_all", "未清缴", "Not at all"),
    // Regulator
    ("regulator.title", "监管工作台", "Regulator's dashboard"),
    (
        "regulator.read_only",
        "审计角色：只读。",
        "Auditor: read-only.",
    ),
    (
        "regulator.province_only",
        "仅显示本省：",
        "Showing your province only:",
    ),
    ("regulator.progress", "履约进度", "Compliance progress"),
    (
        "regulator.pending_companies",
        "履约义务尚未确定的企业：",
        "companies whose obligation is not known yet:",
    ),
    (
        "regulator.at_risk",
        "可能无法按期履约的企业（按缺口排序）",
        "Companies at risk of missing the deadline (by shortfall)",
    ),
    (
        "regulator.none_at_risk",
        "目前没有存在缺口的企业。",
        "No company has a shortfall.",
    ),
    ("regulator.allocation", "配额分配汇总", "Allocation totals"),
    ("regulator.queue", "核查与审定队列", "Verification queue"),
    (
        "regulator.queue_empty",
        "没有待核查或待审定的排放报告。",
        "No report awaits verification or acceptance.",
    ),
    (
        "regulator.requests",
        "待审批的开户申请",
        "Pending account-opening requests",
    ),
    (
        "regulator.requests_empty",
        "没有待审批的开户申请。",
        "No pending request.",
    ),
    ("allocation.title", "配额分配", "Allocation"),
    ("allocation.plan", "方案", "Plan"),
    ("allocation.year", "年度", "Year"),
    ("allocation.pre", "预分配（吨）", "Pre-allocated (t)"),
    ("allocation.final", "核定分配（吨）", "Final (t)"),
    (
        "allocation.assessed_total",
        "已确定义务企业的分配总量（吨）",
        "Allocated to companies with known obligations (t)",
    ),
    (
        "allocation.note",
        "预分配与核定分配按年度合计；最后一列来自履约报告的合计。",
        "Pre-allocations and final allocations are summed by year; the last column is the compliance report's total.",
    ),
    // Allocation by generating unit (company page, GET /api/allocations).
    (
        "unit_allocation.title",
        "机组配额明细",
        "Allocation by generating unit",
    ),
    (
        "unit_allocation.note",
        "每台机组：供电基准值 × 供电量 × 修正系数 + 供热基准值 × 供热量；预分配按基准年产出乘以预分配比例。合计为登记簿记录的数量。",
        "Each unit: supply benchmark × power supplied × correction factors + heat benchmark × heat supplied; the pre-allocation takes base-year output times the plan's share. Totals are what the registry recorded.",
    ),
    (
        "unit_allocation.none",
        "尚无配额记录。",
        "No allocation recorded yet.",
    ),
    ("unit_allocation.unit", "机组", "Unit"),
    (
        "unit_allocation.category",
        "机组类别 · 冷却方式",
        "Category · cooling",
    ),
    ("unit_allocation.stage", "阶段", "Stage"),
    ("unit_allocation.pre", "预分配", "Pre-allocation"),
    ("unit_allocation.final", "核定分配", "Final"),
    ("unit_allocation.data_year", "数据年度", "Data year"),
    (
        "unit_allocation.power",
        "供电量（MWh）",
        "Power supplied (MWh)",
    ),
    ("unit_allocation.heat", "供热量（GJ）", "Heat supplied (GJ)"),
    ("unit_allocation.load_factor", "负荷率", "Load factor"),
    (
        "unit_allocation.supply_benchmark",
        "供电基准值（tCO2/MWh）",
        "Supply benchmark (tCO2/MWh)",
    ),
    (
        "unit_allocation.heat_benchmark",
        "供热基准值（tCO2/GJ）",
        "Heat benchmark (tCO2/GJ)",
    ),
    ("unit_allocation.share", "分配比例", "Share"),
    (
        "unit_allocation.cooling",
        "冷却方式修正系数",
        "Cooling factor",
    ),
    (
        "unit_allocation.heat_factor",
        "供热量修正系数",
        "Heat-supply factor",
    ),
    (
        "unit_allocation.load_factor_factor",
        "负荷（出力）系数修正系数",
        "Load-factor correction",
    ),
    ("unit_allocation.allocated", "配额（吨）", "Allocated (t)"),
    ("unit_allocation.total", "合计", "Total"),
    (
        "unit_allocation.deduction",
        "扣减（以往履约缺口）",
        "deduction for an earlier shortfall",
    ),
    (
        "unit_allocation.differs",
        "* 按现有数据重新计算的结果与登记的数量不同。",
        "* Recomputed from today's figures, this differs from the recorded tonnes.",
    ),
    (
        "unit_allocation.coal_above_300",
        "常规燃煤机组（300MW等级以上）",
        "Conventional coal, above 300 MW",
    ),
    (
        "unit_allocation.coal_up_to_300",
        "常规燃煤机组（300MW等级及以下）",
        "Conventional coal, 300 MW and below",
    ),
    (
        "unit_allocation.coal_unconventional",
        "非常规燃煤机组",
        "Unconventional coal",
    ),
    ("unit_allocation.gas", "燃气机组", "Natural gas"),
    ("unit_allocation.water", "水冷", "water-cooled"),
    ("unit_allocation.air", "空冷", "air-cooled"),
    ("request.applicant", "申请人", "Applicant"),
    ("request.representatives", "授权代表", "Representatives"),
    ("request.documents", "材料数", "Documents"),
    ("request.submitted_at", "提交时间", "Submitted"),
    ("request.units", "台机组", "units"),
    ("request.holder", "机构/个人账户", "holding account"),
    // Company
    ("company.title", "企业工作台", "Company dashboard"),
    ("company.id", "企业编号", "Company"),
    ("company.name", "名称", "Name"),
    ("company.province", "省份", "Province"),
    ("company.account", "登记账户", "Registry account"),
    ("company.units", "机组数", "Units"),
    (
        "company.eligible",
        "可用于清缴的持仓（吨）",
        "Eligible holdings (t)",
    ),
    ("holdings.title", "持仓", "Holdings"),
    ("holdings.none", "暂无持仓。", "No holdings."),
    ("holdings.class", "品种（年度）", "Class (vintage)"),
    ("holdings.quantity", "持有量（吨）", "Held (t)"),
    ("holdings.tradable", "可交易（吨）", "Tradable (t)"),
    ("holdings.blocks", "序列号区段", "Serial blocks"),
    (
        "approvals.title",
        "待复核的划转指令（双人复核）",
        "Transfers awaiting approval (four eyes)",
    ),
    (
        "approvals.none",
        "没有待复核的指令。",
        "Nothing awaits approval.",
    ),
    ("approvals.what", "指令", "Instruction"),
    ("approvals.by", "发起人", "Initiated by"),
    ("approvals.at", "发起时间", "Initiated at"),
    ("approvals.approve", "批准", "Approve"),
    ("approvals.reject", "拒绝", "Reject"),
    (
        "approvals.needs_other",
        "需另一位代表批准",
        "needs another representative",
    ),
    ("approvals.transfer", "转让", "Transfer"),
    ("approvals.surrender", "清缴", "Surrender"),
    ("approvals.trust", "添加信任账户", "Trust account"),
    ("obligation.title", "履约义务", "Obligation"),
    ("obligation.pending", "尚未确定", "not known yet"),
    ("obligation.exempted", "已豁免", "Exempted"),
    ("reports.title", "排放报告", "Emission reports"),
    ("reports.none", "暂无排放报告。", "No reports."),
    ("report.year", "年度", "Year"),
    ("report.version", "版本", "Version"),
    ("report.status", "状态", "Status"),
    ("report.submitted_on", "提交日期", "Submitted"),
    ("report.verifier", "核查机构", "Verifier"),
    ("report.verified_on", "核查日期", "Verified"),
    ("report.accepted_on", "审定日期", "Accepted"),
    ("report.units", "机组数", "Units"),
    ("report.verification", "核查", "Verification"),
    ("report.draft", "草稿", "Draft"),
    ("report.submitted", "已提交，待核查", "Submitted"),
    ("report.verified", "已核查，待审定", "Verified"),
    ("report.accepted", "已审定", "Accepted"),
    // Trading
    ("trading.title", "交易", "Trading"),
    ("funds.available", "可用资金（元）", "Available funds (CNY)"),
    ("funds.frozen", "冻结资金（元）", "Frozen funds (CNY)"),
    ("order.class", "品种", "Class"),
    ("order.side", "方向", "Side"),
    ("order.buy", "买入", "Buy"),
    ("order.sell", "卖出", "Sell"),
    ("order.price", "价格（元/吨）", "Price (CNY/t)"),
    ("order.qty", "数量（吨）", "Quantity (t)"),
    ("order.submit", "提交委托", "Place order"),
    (
        "order.note",
        "挂牌委托当日有效；价格最多两位小数，须在涨跌幅限制内。",
        "Listed orders are good for the day; prices have at most two decimals and must lie within the price band.",
    ),
    ("order.bad_side", "请选择买入或卖出", "Choose buy or sell"),
    (
        "order.bad_price",
        "价格应为元，最多两位小数",
        "The price is in yuan with at most two decimals",
    ),
    (
        "order.bad_qty",
        "数量应为正整数吨",
        "The quantity is a whole number of tonnes",
    ),
    ("orders.title", "当前委托", "Open orders"),
    ("orders.none", "没有未成交的委托。", "No open orders."),
    ("orders.open_qty", "未成交（吨）", "Open (t)"),
    ("orders.cancel", "撤单", "Cancel"),
    // Member
    ("member.title", "会员工作台", "Member dashboard"),
    ("member.holder", "账户持有人", "Holder"),
    ("member.status", "账户状态", "Account status"),
    // Verifier
    ("verifier.title", "核查工作台", "Verifier's dashboard"),
    (
        "verifier.assigned",
        "委托核查的企业",
        "Companies assigned to you",
    ),
    (
        "verifier.none",
        "尚未分配企业。",
        "No company is assigned to you.",
    ),
    (
        "verifier.findings",
        "核查发现（每行一条）",
        "Findings (one per line)",
    ),
    (
        "verifier.findings_hint",
        "例如：抽样计划已执行",
        "e.g. sampling plan followed",
    ),
    (
        "verifier.confirm",
        "确认报告数据",
        "Confirm the reported figures",
    ),
    ("verifier.bad_company", "企业编号无效", "Invalid company"),
    ("verifier.bad_year", "年度无效", "Invalid year"),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every key the dashboard's sources name is in the table, once, in both languages.
    #[test]
    fn every_key_used_is_translated() {
        let mut seen = std::collections::BTreeSet::new();
        for (k, zh, en) in TABLE {
            assert!(seen.insert(*k), "{k} twice");
            assert!(!zh.is_empty() && !en.is_empty(), "{k} is empty");
        }
        let sources = [
            include_str!("mod.rs"),
            include_str!("public.rs"),
            include_str!("roles.rs"),
            include_str!("charts.rs"),
        ];
        let mut used = 0;
        for src in sources {
            for (i, _) in src.match_indices("t(\"") {
                // `t(` itself, not the end of another name (`expect(`).
                if src[..i]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
                {
                    continue;
                }
                let rest = &src[i + 3..];
                let key = &rest[..rest.find('"').unwrap()];
                assert!(seen.contains(key), "key {key:?} is used but not translated");
                used += 1;
            }
            // Keys chosen in a match and passed on: every `"prefix.…"` literal of a known prefix.
            let prefixes: std::collections::BTreeSet<&str> = TABLE
                .iter()
                .map(|(k, _, _)| &k[..k.find('.').unwrap()])
                .collect();
            for prefix in &prefixes {
                for (i, _) in src.match_indices(&format!("\"{prefix}.")) {
                    let rest = &src[i + 1..];
                    let key = &rest[..rest.find('"').unwrap()];
                    if key
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '.' || c == '_')
                    {
                        assert!(
                            seen.contains(key),
                            "key {key:?} is named but not translated"
                        );
                    }
                }
            }
        }
        assert!(used > 100, "found only {used} uses");
    }

    #[test]
    fn languages_switch() {
        assert_eq!(Lang::default(), Lang::Zh);
        assert_eq!(Lang::parse("en"), Some(Lang::En));
        assert_eq!(Lang::parse("fr"), None);
        assert_eq!(t(Lang::Zh, "holdings.title"), "持仓");
        assert_eq!(t(Lang::En, "holdings.title"), "Holdings");
        assert_eq!(Lang::Zh.other().html(), "en");
    }
}
