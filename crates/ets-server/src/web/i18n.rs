//! Every string the dashboard shows, in Chinese and English: one table, one function ([`t`]).
//! Refusals are translated by their stable `code` with their `params` ([`message`], from
//! [`MESSAGES`]); provinces by [`PROVINCES`]; statuses by keys of [`TABLE`]. Names of companies
//! and unit classes are shown as they are.

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

/// The 31 mainland provincial-level divisions (English as the data has it, Chinese as the pages
/// show it): one table, in `ets-types`, for every place a province is read or shown.
pub use ets_types::PROVINCES;

/// A province's name in `lang` (a name not in the table is shown as it is).
pub fn province(lang: Lang, name: &str) -> String {
    match (lang, PROVINCES.iter().find(|p| p.0 == name)) {
        (Lang::Zh, Some(p)) => p.1.to_string(),
        _ => name.to_string(),
    }
}

/// A refusal in `lang`: the Chinese template of its code with its field and params filled in;
/// in English the server's own message (which already carries the figures). A code without a
/// template falls back to a generic sentence with the code (a test keeps every listed code
/// translated).
pub fn message(
    lang: Lang,
    code: &str,
    field: Option<&str>,
    params: &serde_json::Map<String, serde_json::Value>,
    english: &str,
) -> String {
    // An English template is written only where the server's own message would speak fen:
    // the pages speak yuan.
    let yuan_template = MESSAGES
        .iter()
        .find(|(c, _, en)| *c == code && en.contains(":yuan}"));
    match lang {
        Lang::En if yuan_template.is_some() => {
            fill(yuan_template.map_or("", |m| m.2), field, params)
        }
        Lang::En if !english.is_empty() => english.to_string(),
        _ => match MESSAGES.iter().find(|(c, _, _)| *c == code) {
            Some((_, zh, en)) => fill(if lang == Lang::Zh { zh } else { en }, field, params),
            None => match lang {
                Lang::Zh => format!("请求未被执行（代码 {code}）"),
                Lang::En => format!("refused ({code})"),
            },
        },
    }
}

/// The message of an error body (`{code, message, field, params}`) in `lang`.
pub fn body_message(lang: Lang, body: &serde_json::Value) -> String {
    let empty = serde_json::Map::new();
    message(
        lang,
        body["code"].as_str().unwrap_or("internal"),
        body["field"].as_str(),
        body["params"].as_object().unwrap_or(&empty),
        body["message"].as_str().unwrap_or(""),
    )
}

/// Fills `{field}` and `{name}` placeholders from the field and the params (a province param is
/// shown in Chinese too).
pub fn fill(
    template: &str,
    field: Option<&str>,
    params: &serde_json::Map<String, serde_json::Value>,
) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            out.push_str(&rest[open..]);
            return out;
        };
        let (name, yuan) = match rest[open + 1..open + close].split_once(':') {
            Some((n, "yuan")) => (n, true),
            _ => (&rest[open + 1..open + close], false),
        };
        let value = match name {
            // Money figures are fen; the pages speak yuan (exactly, by integer arithmetic).
            _ if yuan && params.get(name).is_some_and(serde_json::Value::is_i64) => {
                crate::web::yuan(params[name].as_i64().unwrap_or(0))
            }
            "field" => field.unwrap_or("—").to_string(),
            _ => match params.get(name) {
                Some(serde_json::Value::String(v)) if name == "province" => province(Lang::Zh, v),
                Some(serde_json::Value::String(v)) => v.clone(),
                Some(serde_json::Value::Number(n)) => n
                    .as_u64()
                    .map_or_else(|| n.to_string(), ets_types::thousands),
                Some(serde_json::Value::Array(a)) => a
                    .iter()
                    .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join("、"),
                Some(other) => other.to_string(),
                None => "—".to_string(),
            },
        };
        out.push_str(&value);
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

/// (code, Chinese template, English template) of every refusal the API lists; `{field}` is the
/// field at fault, `{name}` a param of the refusal.
pub const MESSAGES: &[(&str, &str, &str)] = &[
    (
        "malformed",
        "请求格式有误（{field}）",
        "malformed request ({field})",
    ),
    ("missing_field", "缺少字段 {field}", "missing field {field}"),
    (
        "unknown_field",
        "不接受字段 {field}",
        "unknown field {field}",
    ),
    (
        "invalid_enum",
        "{field} 的取值无效，可选：{allowed}",
        "{field}: one of {allowed}",
    ),
    (
        "invalid_id",
        "{field} 的编号无效：{value}（1–64 位字母、数字、-、_、.）",
        "{field}: invalid id {value}",
    ),
    (
        "invalid_class",
        "品种无效：{value}（应为 CEA-年度 或 CCER-P项目-年度）",
        "invalid unit class {value}",
    ),
    (
        "invalid_account",
        "账户号无效：{value}（应为 CN-000123）",
        "invalid account {value}",
    ),
    (
        "invalid_decimal",
        "{field} 应为非负小数（如 \"21.5\"）：{value}",
        "{field}: not a decimal: {value}",
    ),
    (
        "invalid_base64",
        "{field} 不是有效的 base64 编码",
        "{field}: not base64",
    ),
    (
        "out_of_range",
        "{field} 超出范围：应在 {min} 至 {max} 之间",
        "{field}: between {min} and {max}",
    ),
    (
        "too_long",
        "{field} 过长：最多 {max}",
        "{field}: at most {max}",
    ),
    (
        "invalid_text",
        "{field} 不能为空，也不能含控制字符",
        "{field}: empty or control characters",
    ),
    (
        "idempotency_key_required",
        "缺少幂等键（Idempotency-Key），请刷新页面后重试",
        "missing Idempotency-Key",
    ),
    (
        "invalid_idempotency_key",
        "幂等键无效（1–128 个可见 ASCII 字符）",
        "invalid Idempotency-Key",
    ),
    ("no_session", "没有可退出的登录会话", "no session to end"),
    (
        "invalid_name",
        "用户名无效（1–64 位字母、数字、-、_、.、@）",
        "invalid user name",
    ),
    (
        "missing_scope",
        "该角色的用户须指定其范围（省份、企业或账户持有人）：{field}",
        "missing scope {field}",
    ),
    (
        "not_a_regulator",
        "此方式只能创建主管部门用户",
        "only regulators are created this way",
    ),
    (
        "duplicate_representative",
        "同一授权代表重复出现",
        "duplicate representative",
    ),
    (
        "not_an_instruction",
        "该指令不是双人复核指令",
        "not a four-eyes instruction",
    ),
    (
        "file_choice",
        "请只提供 builtin（内置文件编号）或 toml（文件内容）之一",
        "give builtin or toml",
    ),
    ("unauthenticated", "请先登录", "please log in"),
    (
        "bad_credentials",
        "用户名或密码错误",
        "wrong user name or password",
    ),
    ("forbidden", "无权执行此操作", "not allowed"),
    (
        "csrf",
        "表单已失效或不是从本站提交的（CSRF 校验失败），请刷新页面后重试",
        "CSRF check failed",
    ),
    (
        "four_eyes",
        "指令须由发起人以外的另一位代表批准",
        "another representative must approve",
    ),
    (
        "not_own_account",
        "不能从其他企业的账户划出",
        "not the company's own account",
    ),
    ("not_found", "未找到：{value}", "not found: {value}"),
    ("no_route", "没有这个接口", "no such route"),
    (
        "method_not_allowed",
        "该接口不支持此请求方法",
        "method not allowed",
    ),
    (
        "request_timeout",
        "请求超时，操作可能仍会生效：请用同一幂等键重试",
        "timed out",
    ),
    ("payload_too_large", "请求内容过大", "request too large"),
    (
        "unsupported_media_type",
        "请求内容应为 JSON",
        "the body must be JSON",
    ),
    (
        "idempotency_key_reused",
        "该幂等键已用于另一请求",
        "idempotency key reused",
    ),
    ("already_decided", "已经处理过", "already decided"),
    ("already_inactive", "该用户已停用", "already deactivated"),
    (
        "last_regulator",
        "不能停用最后一位主管部门用户",
        "the last regulator stays",
    ),
    ("user_exists", "用户名已存在", "user exists"),
    ("company_exists", "该企业已登记或已申请", "company exists"),
    (
        "holder_exists",
        "该账户持有人已登记或已申请",
        "holder exists",
    ),
    (
        "weak_password",
        "密码至少需要 12 个字符",
        "passwords need 12 characters",
    ),
    (
        "same_password",
        "新密码不能与旧密码相同",
        "the new password must differ from the old one",
    ),
    (
        "wrong_password",
        "原密码不正确",
        "the old password is wrong",
    ),
    (
        "password_changed",
        "密码已被更改，请重新输入原密码",
        "the password changed meanwhile: try again",
    ),
    (
        "password_change_required",
        "请先修改管理员设置的临时密码",
        "change the temporary password first",
    ),
    ("not_a_verifier", "只能给核查机构分配企业", "not a verifier"),
    (
        "too_few_representatives",
        "开户申请至少需要规定数量的授权代表",
        "too few representatives",
    ),
    (
        "documents_required",
        "开户申请须附材料",
        "documents required",
    ),
    ("unknown_account", "没有该账户", "no such account"),
    (
        "own_account",
        "本企业账户无需加入信任列表",
        "own account needs no trust",
    ),
    (
        "untrusted_account",
        "转入账户不在本企业的信任账户列表中，或尚未生效",
        "account not trusted (yet)",
    ),
    (
        "rate_limited",
        "请求过于频繁，请稍后再试",
        "too many requests",
    ),
    (
        "login_throttled",
        "登录失败次数过多，请 {retry_after_s} 秒后再试",
        "too many failed logins: retry in {retry_after_s} s",
    ),
    ("internal", "服务器内部错误，请求未完成", "internal error"),
    (
        "queue_full",
        "系统繁忙（写入队列已满），请稍后用同一幂等键重试",
        "busy: retry later",
    ),
    (
        "busy",
        "等待校验的密码过多，请稍后重试",
        "too many password checks waiting: retry shortly",
    ),
    (
        "unavailable",
        "服务暂不可用，请稍后用同一幂等键重试",
        "unavailable: retry later",
    ),
    (
        "store_unavailable",
        "存储暂时无法写入，服务正在从日志恢复，请稍后重试（写入请求请使用同一幂等键）",
        "the store is recovering: retry later",
    ),
    (
        "not_writer",
        "本服务器为备用服务器，只提供查询；请将写入请求发往主服务器，或稍后重试",
        "this server is a standby: send writes to the writer",
    ),
    // The market's refusals (ets_market::rejection_codes); in English the market's own message
    // (its Display) is shown, so the English column is left empty.
    ("zero_quantity", "数量不能为零", ""),
    (
        "account_frozen",
        "账户 {account} 已冻结，不能转入或转出",
        "",
    ),
    ("account_closed", "账户 {account} 已关闭", ""),
    (
        "insufficient_holdings",
        "账户 {account} 的 {class} 持有量不足：可用 {available} 吨，需要 {requested} 吨",
        "",
    ),
    (
        "wrong_account_kind",
        "账户 {account} 的类型不允许此操作",
        "",
    ),
    ("wrong_unit_class", "品种 {class} 不允许此操作", ""),
    ("same_account", "转出与转入是同一账户 {account}", ""),
    ("unknown_transaction", "没有登记交易 {original}", ""),
    (
        "not_correctable",
        "只有分配交易可以更正（交易 {original}）",
        "",
    ),
    (
        "correction_exceeds_original",
        "更正量 {requested} 吨超过该分配剩余的 {remaining} 吨",
        "",
    ),
    ("account_not_empty", "账户 {account} 仍有持仓，不能关闭", ""),
    ("registry_overflow", "数量超出登记簿的计数范围", ""),
    (
        "account_has_live_business",
        "账户 {account} 仍有未了结的交易业务",
        "",
    ),
    (
        "ineligible_vintage",
        "{class} 的年度不能用于本履约周期（可用年度：{eligible}）",
        "",
    ),
    (
        "ineligible_offset_vintage",
        "核证减排量年度 {vintage} 过早（最早 {min}）",
        "",
    ),
    (
        "offset_limit_exceeded",
        "超过抵销比例上限：上限 {limit_t} 吨，已用 {used_t} 吨，本次 {requested_t} 吨",
        "",
    ),
    (
        "exceeds_obligation",
        "清缴量 {requested_t} 吨超过尚需清缴的 {remaining_t} 吨",
        "",
    ),
    (
        "obligation_unknown",
        "履约义务尚未确定（没有已审定的排放报告）",
        "",
    ),
    (
        "unknown_fuel",
        "{company} 机组 {unit} 的燃料 {fuel} 不在方案的燃料列表中",
        "",
    ),
    (
        "negative_activity_value",
        "{company} 机组 {unit} 的活动数据 {field} 为负数：{value}",
        "",
    ),
    (
        "oxidation_above_one",
        "{company} 机组 {unit} 燃料 {fuel} 的碳氧化率大于 1：{value}",
        "",
    ),
    (
        "emissions_overflow",
        "{company} 机组 {unit} {year} 年的排放量超出计算范围",
        "",
    ),
    (
        "report_without_units",
        "{company} {year} 年的报告没有机组",
        "",
    ),
    (
        "report_duplicate_unit",
        "{company} {year} 年的报告重复列出机组 {unit}",
        "",
    ),
    (
        "report_wrong_year",
        "机组 {unit} 的数据是 {unit_year} 年的，报告是 {year} 年",
        "",
    ),
    ("no_report", "{company} 没有 {year} 年的排放报告", ""),
    (
        "invalid_report_transition",
        "{company} {year} 年的报告当前状态不允许此操作",
        "",
    ),
    (
        "verification_units_differ",
        "核查的机组与报告不一致（未核查：{not_verified}；未报告：{not_reported}）",
        "",
    ),
    (
        "report_date_order",
        "{company} {year} 年报告的日期 {date} 早于上一步骤的 {previous}",
        "",
    ),
    (
        "report_field_blank",
        "{company} {year} 年报告的必填项为空：{what}",
        "",
    ),
    (
        "report_not_verified",
        "{company} {year} 年报告第 {version} 版尚未核查",
        "",
    ),
    (
        "activity_unit_mismatch",
        "活动数据属于机组 {activity_unit}，不是 {unit}",
        "",
    ),
    (
        "activity_year_mismatch",
        "机组 {unit} 的活动数据是 {activity_year} 年的，应为 {expected} 年",
        "",
    ),
    (
        "no_benchmark",
        "方案没有 {category} 类机组 {year} 年的基准值（机组 {unit}）",
        "",
    ),
    (
        "no_cooling_factor",
        "方案没有 {category} 类机组的冷却方式修正系数（机组 {unit}）",
        "",
    ),
    (
        "no_heat_coefficient",
        "方案没有 {category} 类机组的供热量修正系数（机组 {unit}）",
        "",
    ),
    (
        "negative_allocation_input",
        "机组 {unit} 的分配输入 {field} 为负数：{value}",
        "",
    ),
    (
        "load_factor_out_of_range",
        "{company} 的负荷率 {value} 不在 0 到 1 之间",
        "",
    ),
    (
        "unit_load_factor_out_of_range",
        "机组 {unit} 的负荷率 {value} 不在 0 到 1 之间",
        "",
    ),
    (
        "no_load_factor_band",
        "方案没有包含负荷率 {value} 的修正区间",
        "",
    ),
    (
        "load_factor_overflow",
        "负荷率修正超出计算范围（{company}）",
        "",
    ),
    ("allocation_overflow", "机组 {unit} 的配额超出计算范围", ""),
    (
        "unit_of_other_company",
        "机组 {unit} 属于 {unit_company}，不属于 {company}",
        "",
    ),
    ("missing_activity", "机组 {unit} 没有活动数据", ""),
    (
        "activity_for_unknown_unit",
        "活动数据中的机组 {unit} 不属于 {company}",
        "",
    ),
    (
        "allocation_duplicate_unit",
        "机组 {unit} 在分配中重复出现",
        "",
    ),
    (
        "allocation_without_units",
        "{company} 没有可分配配额的机组",
        "",
    ),
    (
        "true_up_mismatch",
        "预分配属于 {other_company} {other_year} 年，不是 {company} {year} 年",
        "",
    ),
    ("plan_file_invalid", "方案文件 {file} 有误：{path}", ""),
    ("unknown_company", "没有企业 {company}", ""),
    ("unknown_unit", "没有机组 {unit}", ""),
    ("unknown_project", "没有减排项目 {project}", ""),
    ("unknown_plan", "没有已通过的分配方案 {plan}", ""),
    ("unknown_holder", "没有账户持有人 {holder}", ""),
    ("unit_exists", "机组 {id} 已登记", ""),
    ("project_exists", "减排项目 {id} 已登记", ""),
    ("plan_exists", "分配方案 {plan} 已通过", ""),
    (
        "plan_vintages_overlap",
        "分配方案 {plan} 覆盖的年度 {years} 已由方案 {other} 覆盖：请以替换 {other} 的方式通过（在其下尚无分配时），或改用其他年度",
        "",
    ),
    (
        "plan_in_use",
        "分配方案 {plan} 下已有分配记录，不能替换",
        "",
    ),
    (
        "unit_owner_mismatch",
        "机组 {unit} 属于 {owner}，不属于 {company}",
        "",
    ),
    (
        "no_accepted_report",
        "{company} 没有已审定的 {year} 年排放报告",
        "",
    ),
    ("company_without_units", "{company} 没有机组", ""),
    (
        "already_pre_allocated",
        "方案 {plan} 下 {company} {year} 年的预分配已完成",
        "",
    ),
    (
        "already_finally_allocated",
        "方案 {plan} 下 {company} {year} 年的核定分配已完成",
        "",
    ),
    (
        "not_pre_allocated",
        "方案 {plan} 下 {company} {year} 年没有可核定的预分配",
        "",
    ),
    (
        "not_finally_allocated",
        "方案 {plan} 下 {company} {year} 年尚未核定分配",
        "",
    ),
    (
        "true_up_short",
        "{company} {year} 年核定须收回 {to_return_t} 吨，但账户仅持有 {held_t} 吨",
        "",
    ),
    (
        "surrendered_before_exemption",
        "{company} 已在方案 {plan} 下清缴，不能豁免",
        "",
    ),
    ("company_exempted", "{company} 已豁免于方案 {plan}", ""),
    (
        "already_assessed",
        "方案 {plan} 已完成履约评估，结果为最终结果",
        "",
    ),
    (
        "before_deadline",
        "方案 {plan} 的履约截止日为 {deadline}，{on} 尚不能评估",
        "",
    ),
    (
        "cycle_closed",
        "方案 {plan} 已于 {assessed_on} 评估，不能再清缴或豁免",
        "",
    ),
    ("market_file_invalid", "交易规则文件 {file} 有误：{key}", ""),
    ("exchange_exists", "交易所已开业", ""),
    (
        "reserved_key",
        "幂等键 {key} 以 trade- 开头，为成交结算保留",
        "",
    ),
    (
        "account_cannot_trade",
        "账户 {account} 的类型不能在交易所交易",
        "",
    ),
    (
        "replay_account_mismatch",
        "回放：{holder} 的账户号 {got} 与日志中的 {journal} 不一致",
        "",
    ),
    (
        "replay_plan_id_mismatch",
        "回放：方案文件 {file} 的编号 {found} 与日志中的 {journal} 不一致",
        "",
    ),
    (
        "replay_allocation_sum",
        "回放：{company} {year} 年的分配记录合计不符",
        "",
    ),
    (
        "replay_registry_seq",
        "回放：登记簿序号 {got} 与 {seq} 不一致",
        "",
    ),
    (
        "replay_surrender_company",
        "回放：清缴记录的企业编号无效：{company}",
        "",
    ),
    (
        "replay_trades_differ",
        "回放：交易指令 {op} 的成交与日志不一致",
        "",
    ),
    (
        "replay_releases_differ",
        "回放：收市释放的冻结（{got} 笔）与日志（{journal} 笔）不一致",
        "",
    ),
    ("internal_error", "系统内部错误（{step}），请联系运营方", ""),
    ("exchange_not_open", "交易所尚未开业", ""),
    ("not_trading_day", "{date} 不是交易日", ""),
    (
        "beyond_calendar",
        "{date} 超出交易日历：市场文件只列到 {last_year} 年的法定节假日，请先加入 {year} 年的节假日",
        "",
    ),
    ("day_not_open", "{date} 的交易日尚未开市", ""),
    ("day_still_open", "上一交易日 {open} 尚未收市", ""),
    (
        "outside_listed_session",
        "{minute} 不在挂牌协议交易时段内",
        "",
    ),
    (
        "outside_block_session",
        "{minute} 不在大宗协议交易时段内",
        "",
    ),
    (
        "outside_bidding_window",
        "{minute} 不在竞价 {auction} 的报价时段（{open}–{close}）内",
        "",
    ),
    (
        "auction_still_open",
        "竞价 {auction} 的报价时段尚未结束（{close} 结束）",
        "",
    ),
    ("unknown_instrument", "品种 {class} 不在本交易所交易", ""),
    ("listed_not_allowed", "品种 {class} 不能挂牌协议交易", ""),
    ("block_not_allowed", "品种 {class} 不能大宗协议交易", ""),
    ("one_way_not_allowed", "品种 {class} 不能单向竞价", ""),
    (
        "listed_size_limit",
        "挂牌申报数量 {qty} 吨超过上限 {limit} 吨",
        "",
    ),
    (
        "block_size_limit",
        "大宗申报数量 {qty} 吨低于下限 {limit} 吨",
        "",
    ),
    ("order_quantity_zero", "申报数量不能为零", ""),
    ("lot_size", "申报数量 {qty} 吨须为 {lot} 吨的整数倍", ""),
    (
        "tick_size",
        "价格 {price:yuan} 元须为 {tick:yuan} 元的整数倍",
        "price CNY {price:yuan} is not a multiple of the tick CNY {tick:yuan}",
    ),
    (
        "outside_band",
        "价格 {price:yuan} 元超出涨跌幅限制（{low:yuan}–{high:yuan} 元）",
        "price CNY {price:yuan} is outside the price band (CNY {low:yuan}–{high:yuan})",
    ),
    (
        "insufficient_funds",
        "可用资金不足：需要 {needed:yuan} 元，可用 {available:yuan} 元",
        "insufficient funds: CNY {needed:yuan} needed, CNY {available:yuan} available",
    ),
    (
        "insufficient_units",
        "可交易数量不足：需要 {requested} 吨，可交易 {tradable} 吨",
        "",
    ),
    (
        "position_limit",
        "超过持仓限额：限额 {limit} 吨，现有 {position} 吨，本次 {qty} 吨",
        "",
    ),
    ("unknown_order", "没有委托 {id}", ""),
    ("not_order_owner", "委托 {id} 不属于该账户", ""),
    ("order_pending_settlement", "委托 {id} 正在结算中", ""),
    (
        "take_exceeds_open",
        "摘牌数量 {qty} 吨超过委托 {id} 未成交的 {open} 吨",
        "",
    ),
    (
        "not_in_best_levels",
        "委托 {id} 不在最优 {levels} 档内，不能摘牌",
        "",
    ),
    ("take_needs_click_to_trade", "摘牌只适用于点选成交模式", ""),
    ("tif_needs_continuous", "{tif} 委托只适用于连续竞价模式", ""),
    (
        "fok_not_fillable",
        "全额成交否则撤销：只能成交 {fillable} 吨，申报 {qty} 吨",
        "",
    ),
    ("self_trade", "不能与自己的委托成交", ""),
    ("unknown_proposal", "没有大宗交易申报 {id}", ""),
    (
        "not_counterparty",
        "该账户不是大宗交易申报 {id} 的对手方",
        "",
    ),
    ("unknown_auction", "没有单向竞价 {id}", ""),
    (
        "not_proposer",
        "大宗协议申报 {id} 不是本方提出的，只有申报方可以撤回",
        "",
    ),
    (
        "participant_not_admitted",
        "账户 {account} 不属于重点排放单位：本阶段只有重点排放单位可以参与交易",
        "",
    ),
    (
        "bidding_window_after_close",
        "竞价时段须在当日最后一个挂牌交易时段结束（{day_end}）前结束，申报为 {close}",
        "",
    ),
    (
        "below_auction_floor",
        "报价 {price:yuan} 元低于竞价底价 {floor:yuan} 元",
        "bid CNY {price:yuan} is below the auction floor CNY {floor:yuan}",
    ),
    (
        "above_auction_ceiling",
        "报价 {price:yuan} 元高于竞价顶价 {ceiling:yuan} 元",
        "bid CNY {price:yuan} is above the auction ceiling CNY {ceiling:yuan}",
    ),
    (
        "bidding_window_empty",
        "竞价时段无效：开始 {open}，结束 {close}",
        "",
    ),
    (
        "deposit_too_large",
        "入金 {fen:yuan} 元超过上限 {max_fen:yuan} 元",
        "deposit CNY {fen:yuan} is above the limit CNY {max_fen:yuan}",
    ),
    (
        "balance_overflow",
        "资金余额超出范围（{fen:yuan} 元）",
        "balance out of range (CNY {fen:yuan})",
    ),
    ("zero_amount", "金额不能为零", ""),
    ("order_value_overflow", "委托金额超出范围", ""),
    (
        "exchange_internal_error",
        "交易所内部错误（{step}），请联系运营方",
        "",
    ),
    ("book_duplicate_order_id", "委托编号重复", ""),
    ("book_exceeds_open_quantity", "数量超过委托未成交量", ""),
    (
        "book_fok_not_fillable",
        "全额成交否则撤销的委托无法全额成交",
        "",
    ),
    ("book_not_owner", "委托不属于该账户", ""),
    ("book_not_within_best_levels", "委托不在最优档位内", ""),
    ("book_outside_price_band", "价格超出涨跌幅限制", ""),
    ("book_price_not_on_tick", "价格不符合最小变动价位", ""),
    ("book_price_not_positive", "价格必须为正", ""),
    ("book_price_out_of_range", "价格超出范围", ""),
    ("book_quantity_out_of_range", "数量超出范围", ""),
    ("book_self_trade", "不能与自己的委托成交", ""),
    ("book_unknown_order", "没有该委托", ""),
    ("book_unsupported_in_mode", "当前交易模式不支持此操作", ""),
    ("book_wrong_side", "买卖方向不符", ""),
    ("book_zero_quantity", "数量不能为零", ""),
];

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
    ("nav.account", "账号安全", "Account"),
    ("account.title", "账号安全", "Account security"),
    (
        "account.must_change",
        "您的密码已由主管部门重置：请先设置新密码。",
        "Your password was reset by the regulator: choose a new one first.",
    ),
    ("account.change", "修改密码", "Change password"),
    ("account.old", "原密码", "Current password"),
    (
        "account.new",
        "新密码（至少 12 个字符）",
        "New password (at least 12 characters)",
    ),
    ("account.confirm", "确认新密码", "New password again"),
    (
        "account.mismatch",
        "两次输入的新密码不一致。",
        "The two new passwords differ.",
    ),
    (
        "account.changed",
        "密码已修改；其他会话与 API 令牌均已失效。",
        "Password changed; your other sessions and API tokens no longer work.",
    ),
    ("account.everywhere", "退出所有设备", "Log out everywhere"),
    (
        "account.everywhere_note",
        "结束您的全部登录会话（包括本会话）。API 令牌不受影响。",
        "Ends every session of yours, this one included. API tokens are not affected.",
    ),
    ("account.reset", "重置用户密码", "Reset a user's password"),
    (
        "account.reset_note",
        "设置一个仅显示一次的临时密码；该用户下次登录须先修改密码，其会话与 API 令牌立即失效。",
        "Sets a temporary password shown once; the user must change it at the next login. Their sessions and API tokens stop working at once.",
    ),
    (
        "account.reset_replayed",
        "该表单已提交过：临时密码已在第一次提交时显示。",
        "This form was sent already: the temporary password was shown the first time.",
    ),
    (
        "account.reset_done",
        "临时密码（仅显示一次）",
        "Temporary password (shown once)",
    ),
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
    (
        "market.chart_volume",
        "成交量（吨，全部方式）",
        "Volume (t, all kinds of trade)",
    ),
    ("market.chart_empty", "暂无成交", "No trades yet"),
    ("market.trades", "最近成交", "Recent trades"),
    ("market.no_trades", "暂无成交。", "No trades yet."),
    ("market.time", "时间", "Time"),
    ("market.kind", "方式", "Kind"),
    ("trade.listed", "挂牌协议", "Listed"),
    ("trade.block", "大宗协议", "Block"),
    ("trade.one_way", "单向竞价", "One-way auction"),
    // Daily figures
    ("days.title", "每日行情", "Daily figures"),
    ("days.date", "交易日", "Day"),
    ("days.open", "开盘价", "Open"),
    ("days.high", "最高价", "High"),
    ("days.low", "最低价", "Low"),
    ("days.close", "收盘价", "Close"),
    ("days.total", "合计", "Total"),
    ("days.so_far", "（盘中）", "(so far)"),
    ("days.none", "暂无成交日。", "No trading day yet."),
    (
        "days.note",
        "价格单位：元/吨。每种方式：上为成交量（吨），下为成交额（元）。开盘、最高、最低与收盘价（挂牌协议成交量加权平均价）只取挂牌协议成交；大宗协议与单向竞价只计入其成交量与成交额。",
        "Prices in CNY/t. For each kind of trade: volume (t) above, turnover (CNY) below. Open, high, low and close (the volume-weighted average of listed trades) come from listed trades only; block trades and one-way allocations count in their volume and turnover only.",
    ),
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
    ("account.open", "正常", "Open"),
    ("account.frozen", "已冻结", "Frozen"),
    ("account.closed", "已关闭", "Closed"),
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
    // Issue 14: downloads, filters, the regulator's and the company's desks.
    ("download.csv", "下载 CSV", "Download CSV"),
    (
        "download.no_holder",
        "请指定账户持有人（holder）",
        "Name the account holder (holder)",
    ),
    (
        "download.no_company",
        "请指定企业（company）",
        "Name the company (company)",
    ),
    ("filter.all", "全部", "All"),
    ("filter.apply", "筛选", "Filter"),
    ("filter.count", "符合条件的企业", "Companies shown"),
    ("filter.at_risk", "有缺口", "At risk (shortfall)"),
    ("filter.complied", "已履约", "Complied"),
    ("filter.partly", "部分履约", "Partly"),
    ("filter.not_at_all", "未履约", "Not at all"),
    ("filter.bad_province", "无法识别的省份", "Unknown province"),
    ("filter.valid_spellings", "有效的写法：", "Valid spellings:"),
    ("filter.bad_status", "无效的履约状态", "Unknown status"),
    ("compliance.axis_from", "横轴从", "The axis starts at"),
    (
        "compliance.axis_why",
        "起（非零），以便看清接近 100% 的差别。",
        "(not zero), so that differences near 100% show.",
    ),
    (
        "regulator.all_at_risk",
        "在履约情况页筛选、分页并下载全部有缺口企业",
        "All companies at risk on the compliance page (filter, pages, download)",
    ),
    ("users.title", "用户", "Users"),
    ("users.name", "用户名", "User name"),
    ("users.display", "显示名称", "Display name"),
    ("users.password", "初始密码", "Initial password"),
    ("users.role", "角色", "Role"),
    ("users.province", "省份", "Province"),
    ("users.province_hint", "山西 或 Shanxi", "Shanxi or 山西"),
    ("users.company", "企业编号", "Company id"),
    ("users.holder", "账户持有人", "Account holder"),
    ("users.scope", "范围", "Scope"),
    ("users.active", "有效", "Active"),
    ("users.create", "创建用户", "Create user"),
    (
        "users.note",
        "主管部门用户须填省份（中文或英文）；企业代表须填已开户企业的编号；交易会员须填账户持有人。密码至少 12 个字符。",
        "A bureau user needs a province (English or Chinese); a company representative an existing company's id; a member an account holder. Passwords have at least 12 characters.",
    ),
    ("users.bad_role", "无效的角色", "Unknown role"),
    ("users.bad_company", "企业编号无效", "Invalid company id"),
    ("users.no_company", "没有这家企业", "No such company"),
    ("flash.user_created", "已创建用户", "User created:"),
    ("day.title", "交易日", "Trading day"),
    (
        "day.hours",
        "挂牌协议交易时段（北京时间）",
        "Listed trading hours (Beijing time)",
    ),
    ("day.open", "开市", "Open the trading day"),
    (
        "day.close",
        "收市（结算、收盘价）",
        "Close the day (settlement, closing prices)",
    ),
    (
        "day.note",
        "开市只能在交易日历中的交易日进行；收市结算当日交易并确定收盘价。",
        "A day opens only on a trading day of the calendar; closing settles the day's trades and sets the closing prices.",
    ),
    ("flash.day_opened", "交易日已开市", "Trading day opened"),
    ("flash.day_closed", "交易日已收市", "Trading day closed"),
    (
        "position.title",
        "履约义务与缺口",
        "Obligation and what is still to buy",
    ),
    ("position.to_buy", "尚需购买", "Still to buy"),
    (
        "position.may_sell",
        "可出售的富余",
        "Surplus that may be sold",
    ),
    (
        "position.quantity",
        "清缴数量（吨）",
        "Quantity to surrender (t)",
    ),
    ("position.surrender", "提交清缴指令", "Instruct a surrender"),
    (
        "position.four_eyes",
        "清缴须由另一名企业代表批准后执行（双人复核）。",
        "A surrender takes effect when a second representative of the company approves it (four eyes).",
    ),
    (
        "flash.surrender_proposed",
        "清缴指令已提交",
        "Surrender instruction made",
    ),
    ("take.title", "点选成交", "Click-to-trade"),
    ("take.none", "没有可点选的委托", "No order to take"),
    ("take.order", "委托编号", "Order id"),
    ("take.buy", "买入", "Buy"),
    ("take.sell", "卖出", "Sell"),
    (
        "take.note",
        "按所选委托的价格成交，数量不超过其剩余数量。",
        "Trades at the chosen order's price, up to its open quantity.",
    ),
    ("flash.taken", "已点选成交", "Taken"),
    ("block.title", "大宗协议交易", "Block trades"),
    (
        "block.rules",
        "大宗协议交易单笔不少于 {min} 吨，交易时段 {hours}；向指定的对手方发出，对方接受后成交。",
        "A block trade is at least {min} t, in the session {hours}; it is proposed to a named counterparty and trades when that counterparty accepts.",
    ),
    (
        "block.counterparty",
        "对手方（账户持有人）",
        "Counterparty (account holder)",
    ),
    ("block.propose", "发出大宗协议", "Propose a block trade"),
    (
        "block.none",
        "没有未成交的大宗协议",
        "No open block proposal",
    ),
    ("block.from", "发起方", "Proposer"),
    ("block.to", "对手方", "Counterparty"),
    ("block.proposer_side", "发起方方向", "Proposer's side"),
    ("block.accept", "接受", "Accept"),
    ("block.withdraw", "撤回", "Withdraw"),
    (
        "block.no_counterparty",
        "请填写对手方",
        "Name the counterparty",
    ),
    (
        "flash.block_proposed",
        "大宗协议已发出",
        "Block trade proposed",
    ),
    ("flash.block_accepted", "大宗协议已成交", "block trade done"),
    (
        "flash.block_withdrawn",
        "大宗协议已撤回",
        "block proposal withdrawn",
    ),
    (
        "hint.listed_size_limit",
        "挂牌协议交易单笔须小于 {listed_below} 吨；更大数量请用大宗协议交易（单笔不少于 {block_at_least} 吨，交易时段 {block_hours}）。",
        "Listed orders must be below {listed_below} t: for more, use a block trade (≥ {block_at_least} t, afternoon session {block_hours}).",
    ),
    (
        "hint.block_size_limit",
        "大宗协议交易单笔不少于 {block_at_least} 吨；更小数量请挂牌交易（{listed_hours}）。",
        "A block trade is at least {block_at_least} t; smaller quantities trade as listed orders ({listed_hours}).",
    ),
    (
        "hint.sessions",
        "交易时段（北京时间，交易日）：挂牌协议 {listed_hours}；大宗协议 {block_hours}。",
        "Trading hours (Beijing time, trading days): listed {listed_hours}; block trades {block_hours}.",
    ),
    (
        "hint.day_not_open",
        "交易日由主管部门开市后方可交易。",
        "Trading starts when the regulator opens the trading day.",
    ),
    (
        "hint.band",
        "挂牌价格须在前收盘价 ±{listed_band} 以内，大宗协议 ±{block_band}。",
        "Listed prices must lie within ±{listed_band} of the previous close, block trades within ±{block_band}.",
    ),
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
            include_str!("desk.rs"),
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

    /// Every code an API client may see (the server's and the market's) has a Chinese message,
    /// every message is of a listed code, and a template names only the field and figures.
    #[test]
    fn every_code_has_a_chinese_message() {
        let listed: std::collections::BTreeSet<&str> =
            crate::error::all_codes().iter().map(|c| c.code).collect();
        let chinese = |s: &str| s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
        let mut seen = std::collections::BTreeSet::new();
        for (code, zh, _) in MESSAGES {
            assert!(seen.insert(*code), "{code} twice");
            assert!(listed.contains(code), "{code} is translated but not listed");
            assert!(chinese(zh), "{code}: {zh}");
            assert_eq!(zh.matches('{').count(), zh.matches('}').count(), "{code}");
        }
        for code in &listed {
            assert!(seen.contains(code), "{code} has no Chinese message");
        }
        let mut params = serde_json::Map::new();
        params.insert("available".into(), serde_json::json!(5));
        params.insert("requested".into(), serde_json::json!(1200));
        params.insert("account".into(), serde_json::json!("CN-000007"));
        params.insert("class".into(), serde_json::json!("CEA-2019"));
        assert_eq!(
            message(
                Lang::Zh,
                "insufficient_holdings",
                None,
                &params,
                "insufficient"
            ),
            "账户 CN-000007 的 CEA-2019 持有量不足：可用 5 吨，需要 1,200 吨"
        );
        assert_eq!(
            message(
                Lang::En,
                "insufficient_holdings",
                None,
                &params,
                "the market's words"
            ),
            "the market's words"
        );
        assert_eq!(
            message(Lang::Zh, "missing_field", Some("qty"), &params, ""),
            "缺少字段 qty"
        );
    }

    /// The provinces are the 31 names ets-sim generates companies in, each with its Chinese name.
    #[test]
    fn provinces_are_the_simulators_31() {
        let toml = include_str!("../../../ets-sim/cn-power.toml");
        let names: Vec<&str> = toml
            .lines()
            .filter(|l| l.trim_start().starts_with("{ name = \""))
            .filter_map(|l| l.split('"').nth(1))
            .collect();
        assert_eq!(names.len(), 31, "{names:?}");
        let ours: Vec<&str> = PROVINCES.iter().map(|p| p.0).collect();
        assert_eq!(ours, names);
        let zh: std::collections::BTreeSet<&str> = PROVINCES.iter().map(|p| p.1).collect();
        assert_eq!(zh.len(), 31);
        assert_eq!(province(Lang::Zh, "Shanxi"), "山西");
        assert_eq!(province(Lang::Zh, "Shaanxi"), "陕西");
        assert_eq!(province(Lang::Zh, "Guangdong"), "广东");
        assert_eq!(province(Lang::En, "Guangdong"), "Guangdong");
        assert_eq!(province(Lang::Zh, "Atlantis"), "Atlantis");
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
