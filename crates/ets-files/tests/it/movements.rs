//! transfers.csv and surrenders.csv.

use ets_files::{SurrenderRow, TransferRow, parse_surrenders_csv, parse_transfers_csv};
use ets_types::CompanyId;

use crate::{check, check_one};

#[test]
fn transfers_good() {
    let text = "from,to,unit,vintage,quantity,key\nSX0001,SX0002,CEA,2019,80000,T-1\nCCER-SX-F001,SX0002,CCER-SX-F001,2019,40000,\nShanxi Carbon Fund,CN-000003,cea,2020,1,T-2\n";
    let rows = parse_transfers_csv("t.csv", text).unwrap();
    assert_eq!(
        rows[0],
        TransferRow {
            line: 2,
            from: "SX0001".into(),
            to: "SX0002".into(),
            unit: "CEA".into(),
            vintage: 2019,
            quantity: 80000,
            key: Some("T-1".into())
        }
    );
    assert_eq!(
        (rows[1].unit.as_str(), rows[1].key.as_deref()),
        ("CCER-SX-F001", None)
    );
    assert_eq!(
        (rows[2].from.as_str(), rows[2].unit.as_str(), rows[2].line),
        ("Shanxi Carbon Fund", "CEA", 4)
    );
    // The key column is optional.
    let rows =
        parse_transfers_csv("t.csv", "quantity,vintage,unit,to,from\n5,2019,CEA,B,A\n").unwrap();
    assert_eq!((rows[0].quantity, rows[0].key.as_deref()), (5, None));
}

#[test]
fn transfers_bad() {
    let header = "from,to,unit,vintage,quantity,key\n";
    let f = |row: &str| parse_transfers_csv("t.csv", &format!("{header}{row}\n"));
    check_one(
        f("A,B,CEA,2019,1.5,"),
        "t.csv",
        2,
        Some("quantity"),
        "\"1.5\" is not a whole number of tonnes",
    );
    check_one(
        f("A,B,CEA,2019,-3,"),
        "t.csv",
        2,
        Some("quantity"),
        "must not be negative, found \"-3\"",
    );
    check_one(
        f("A,B,CEA,2019,1e3,"),
        "t.csv",
        2,
        Some("quantity"),
        "\"1e3\" is not a whole number of tonnes",
    );
    check_one(
        f("A,B,CEA,2019,0,"),
        "t.csv",
        2,
        Some("quantity"),
        "must be at least 1 tonnes",
    );
    check_one(
        f("A,B,CEA,2019,,"),
        "t.csv",
        2,
        Some("quantity"),
        "must not be empty",
    );
    check_one(
        f("A,B,CEA,19,5,"),
        "t.csv",
        2,
        Some("vintage"),
        "\"19\" is not a year between 1990 and 2100",
    );
    check_one(
        f("A,B,CCER/1,2019,5,"),
        "t.csv",
        2,
        Some("unit"),
        "\"CCER/1\" is neither CEA nor an offset project id",
    );
    check_one(
        f("A,A,CEA,2019,5,"),
        "t.csv",
        2,
        Some("to"),
        "\"A\" is also the sender",
    );
    check_one(
        f(",B,CEA,2019,5,"),
        "t.csv",
        2,
        Some("from"),
        "must not be empty",
    );
    check_one(
        f("A,B,CEA,2019,5,key with spaces"),
        "t.csv",
        2,
        Some("key"),
        "is not a key",
    );
    check(
        f("A,B,CEA,2019,5,K1\nA,B,CEA,2019,5,K2\nA,C,CEA,2019,5,K1"),
        &["t.csv:4: field `key`: key \"K1\" is already used on line 2"],
    );
    check(
        parse_transfers_csv("t.csv", "from,to,unit,vintage\n"),
        &["t.csv:1: field `quantity`: missing column"],
    );
    check(
        parse_transfers_csv("t.csv", "from,to,unit,vintage,quantity,price\n"),
        &[
            "t.csv:1: field `price`: unknown column; expected columns from,to,unit,vintage,quantity,key",
        ],
    );
}

#[test]
fn surrenders() {
    let text = "company_id,unit,vintage,quantity,key\nSX0001,CEA,2019,5400000,S-1\nSX0002,CCER-SX-F001,2019,40000,\n";
    let rows = parse_surrenders_csv("s.csv", text).unwrap();
    assert_eq!(
        rows[0],
        SurrenderRow {
            line: 2,
            company: CompanyId::parse("SX0001").unwrap(),
            unit: "CEA".into(),
            vintage: 2019,
            quantity: 5_400_000,
            key: Some("S-1".into())
        }
    );
    assert_eq!(rows[1].key, None);
    let f = |row: &str| {
        parse_surrenders_csv(
            "s.csv",
            &format!("company_id,unit,vintage,quantity\n{row}\n"),
        )
    };
    check_one(
        f("SX 1,CEA,2019,5"),
        "s.csv",
        2,
        Some("company_id"),
        "invalid CompanyId \"SX 1\"",
    );
    check_one(
        f("SX1,CEA,2019,2.5"),
        "s.csv",
        2,
        Some("quantity"),
        "not a whole number of tonnes",
    );
    check_one(
        f("SX1,CEA,2019,-2"),
        "s.csv",
        2,
        Some("quantity"),
        "must not be negative",
    );
    check_one(
        f("SX1,CEA,2019,99999999999999999999"),
        "s.csv",
        2,
        Some("quantity"),
        "is too large",
    );
    check(
        parse_surrenders_csv("s.csv", "company,unit,vintage,quantity\n"),
        &[
            "s.csv:1: field `company`: unknown column; expected columns company_id,unit,vintage,quantity,key",
            "s.csv:1: field `company_id`: missing column",
        ],
    );
}
