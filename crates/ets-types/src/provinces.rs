//! China's 31 mainland provincial-level divisions, by the English name the data uses (company
//! records, `ets-sim`'s `cn-power.toml`) and the Chinese name people write and the dashboard
//! shows. Every place that takes a province from a person (the CLI's `--province`, the
//! dashboard's forms and filters, bureau users) resolves it here, so a misspelling is refused
//! with the valid spellings instead of matching nothing.

/// (English, Chinese) in the order of the national statistics.
pub const PROVINCES: &[(&str, &str)] = &[
    ("Beijing", "北京"),
    ("Tianjin", "天津"),
    ("Hebei", "河北"),
    ("Shanxi", "山西"),
    ("Inner Mongolia", "内蒙古"),
    ("Liaoning", "辽宁"),
    ("Jilin", "吉林"),
    ("Heilongjiang", "黑龙江"),
    ("Shanghai", "上海"),
    ("Jiangsu", "江苏"),
    ("Zhejiang", "浙江"),
    ("Anhui", "安徽"),
    ("Fujian", "福建"),
    ("Jiangxi", "江西"),
    ("Shandong", "山东"),
    ("Henan", "河南"),
    ("Hubei", "湖北"),
    ("Hunan", "湖南"),
    ("Guangdong", "广东"),
    ("Guangxi", "广西"),
    ("Hainan", "海南"),
    ("Chongqing", "重庆"),
    ("Sichuan", "四川"),
    ("Guizhou", "贵州"),
    ("Yunnan", "云南"),
    ("Tibet", "西藏"),
    ("Shaanxi", "陕西"),
    ("Gansu", "甘肃"),
    ("Qinghai", "青海"),
    ("Ningxia", "宁夏"),
    ("Xinjiang", "新疆"),
];

/// The English name of a province written in English (any case, spaces trimmed) or in Chinese,
/// short or full (山西, 山西省, 内蒙古自治区, 北京市).
pub fn province_named(text: &str) -> Option<&'static str> {
    let text = text.trim();
    PROVINCES
        .iter()
        .find(|(en, zh)| {
            en.eq_ignore_ascii_case(text)
                || (text.starts_with(zh) && FULL_SUFFIXES.iter().any(|s| text[zh.len()..] == **s))
        })
        .map(|(en, _)| *en)
}

/// What follows the short Chinese name in a full one: 省, 市, 自治区 with the people's name.
const FULL_SUFFIXES: &[&str] = &[
    "",
    "省",
    "市",
    "自治区",
    "壮族自治区",
    "回族自治区",
    "维吾尔自治区",
];

/// The Chinese name of a province given by its English name.
pub fn province_zh(english: &str) -> Option<&'static str> {
    PROVINCES.iter().find(|p| p.0 == english).map(|p| p.1)
}

/// An error's list of the valid spellings: "Beijing (北京), Tianjin (天津), …".
pub fn province_spellings() -> String {
    PROVINCES
        .iter()
        .map(|(en, zh)| format!("{en} ({zh})"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_chinese_short_and_full_names_resolve_and_misspellings_do_not() {
        for (text, want) in [
            ("Shanxi", Some("Shanxi")),
            ("shanxi", Some("Shanxi")),
            (" SHAANXI ", Some("Shaanxi")),
            ("山西", Some("Shanxi")),
            ("山西省", Some("Shanxi")),
            ("陕西省", Some("Shaanxi")),
            ("内蒙古自治区", Some("Inner Mongolia")),
            ("广西壮族自治区", Some("Guangxi")),
            ("北京市", Some("Beijing")),
            ("Shanxii", None),
            ("山", None),
            ("山西西", None),
            ("", None),
        ] {
            assert_eq!(province_named(text), want, "{text:?}");
        }
        assert_eq!(PROVINCES.len(), 31);
        assert!(province_spellings().contains("Shanxi (山西)"));
    }
}
