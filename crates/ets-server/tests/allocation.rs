//! `GET /api/allocations` and the company page's table: per-unit figures with their inputs and
//! factors, shown to whom the company detail is shown (on both stores).

mod common;

use axum::body::Body;
use axum::http::{Request, header};
use common::*;
use ets_types::Decimal;
use serde_json::{Value, json};

both!(per_unit_figures_and_who_may_see_them);

/// After `setup` (2018 reports accepted, both companies pre-allocated), by hand from
/// `policies/cn-power-2019-2020.toml`: SX0001-G1 (coal above 300 MW, water-cooled) supplied
/// 3,000,000 MWh and no heat in 2018, so each year's pre-allocation is
/// 0.70 × 3,000,000 × 0.877 × 1.00 (cooling) × 1 (no heat supplied) = 1,841,700 t.
async fn per_unit_figures_and_who_may_see_them(h: Harness) {
    let m = setup(&h).await;
    let path = "/api/allocations?company=SX0001";
    let (s, v) = h.get(path, Some(&m.rep_a)).await;
    assert_eq!(s, 200, "{v}");
    let sheets = v["allocations"].as_array().unwrap();
    assert_eq!(
        sheets.iter().map(|s| s["year"].clone()).collect::<Vec<_>>(),
        [json!(2019), json!(2020)]
    );
    let (_, detail) = h.get("/api/companies/SX0001", Some(&m.rep_a)).await;
    let recorded = &detail["plans"][0]["allocation"];
    for (i, sheet) in sheets.iter().enumerate() {
        assert_eq!(sheet["company"], "SX0001");
        assert_eq!(
            sheet["pre_t"], recorded[i]["pre_t"],
            "the registry's figure"
        );
        assert_eq!(sheet["final_t"], Value::Null, "not trued up yet");
        let unit = &sheet["units"][0];
        assert_eq!(unit["unit"], "SX0001-G1");
        assert_eq!(unit["category"], "coal_above_300");
        assert_eq!(unit["final"], Value::Null);
        let pre = &unit["pre"];
        assert_eq!(pre["allocated_t"], 1_841_700);
        assert_eq!(
            sheet["pre_t"], 1_841_700,
            "one unit: its figure is the total"
        );
        assert_eq!(
            (pre["computed_t"].clone(), pre["reproduced"].clone()),
            (json!(1_841_700), json!(true))
        );
        assert_eq!(pre["activity_year"], 2018);
        assert_eq!(pre["power_supplied_mwh"], "3000000");
        assert_eq!(pre["load_factor"], "0.82");
        assert_eq!(pre["supply_benchmark_t_per_mwh"], "0.877");
        assert_eq!(pre["heat_benchmark_t_per_gj"], "0.126");
        assert_eq!(pre["share"], "0.70");
        assert_eq!(pre["factors_applied"], json!(["cooling", "heat_supply"]));
        // Decimals are strings, exact whatever their scale; never JSON floats.
        let dec = |k: &str| -> Decimal { pre[k].as_str().expect(k).parse().unwrap() };
        assert_eq!(dec("cooling_factor"), Decimal::ONE);
        assert_eq!(dec("heat_factor"), Decimal::ONE);
        assert_eq!(dec("load_factor_factor"), Decimal::ONE);
        assert_eq!(dec("heat_supply_ratio"), Decimal::ZERO);
        assert_eq!(dec("supply_t"), Decimal::from(1_841_700));
        assert_eq!(dec("heat_t"), Decimal::ZERO);
    }

    // Who may see it: as the company detail.
    for (who, token, path, status) in [
        (
            "own representative",
            &m.rep_b,
            "/api/allocations?company=SX0001",
            200,
        ),
        (
            "another company's representative",
            &m.hb_a,
            "/api/allocations?company=SX0001",
            403,
        ),
        (
            "its province's bureau",
            &m.bureau,
            "/api/allocations?company=SX0001",
            200,
        ),
        (
            "another province's company, to the bureau",
            &m.bureau,
            "/api/allocations?company=HB0001",
            403,
        ),
        (
            "the auditor",
            &m.auditor,
            "/api/allocations?company=HB0001",
            200,
        ),
        (
            "an assigned verifier (reports only)",
            &m.verifier,
            "/api/allocations?company=SX0001",
            403,
        ),
        (
            "a member",
            &m.member,
            "/api/allocations?company=SX0001",
            403,
        ),
        (
            "an unknown company, to another company",
            &m.hb_a,
            "/api/allocations?company=SX0999",
            403,
        ),
        (
            "an unknown company, to the regulator",
            &m.regulator,
            "/api/allocations?company=SX0999",
            404,
        ),
        (
            "an unknown plan",
            &m.regulator,
            "/api/allocations?plan=no-such-plan",
            404,
        ),
        (
            "a malformed company id",
            &m.regulator,
            "/api/allocations?company=x%20y",
            400,
        ),
    ] {
        let (s, v) = h.get(path, Some(token)).await;
        assert_eq!(s, status, "{who}: {v}");
        if s >= 400 {
            assert!(v["code"].is_string(), "{who}: a code: {v}");
        }
        if s == 403 {
            assert_eq!(v["code"], "forbidden");
            assert!(v.get("allocations").is_none());
        }
    }
    let (s, v) = h.get("/api/allocations", None).await;
    assert_eq!((s, v["code"].clone()), (401, json!("unauthenticated")));

    // Without a company: every company the caller may read, and only those.
    let companies = |v: &Value| -> Vec<String> {
        let mut c: Vec<String> = v["allocations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["company"].as_str().unwrap().to_string())
            .collect();
        c.dedup();
        c
    };
    let (_, v) = h.get("/api/allocations", Some(&m.hb_a)).await;
    assert_eq!(companies(&v), ["HB0001"]);
    let (_, v) = h.get("/api/allocations", Some(&m.bureau)).await;
    assert_eq!(companies(&v), ["SX0001"]);
    let (_, v) = h
        .get(
            "/api/allocations?plan=cn-power-2019-2020",
            Some(&m.regulator),
        )
        .await;
    assert_eq!(companies(&v), ["HB0001", "SX0001"]);
    let (_, v) = h.get("/api/allocations", Some(&m.verifier)).await;
    assert_eq!(v["allocations"], json!([]));

    // A page at a time: `next` is where the next page starts.
    let (_, v) = h.get("/api/allocations?limit=1", Some(&m.regulator)).await;
    assert_eq!(
        (companies(&v), v["next"].clone()),
        (vec!["HB0001".to_string()], json!("HB0001"))
    );
    let (_, v) = h
        .get("/api/allocations?limit=1&after=HB0001", Some(&m.regulator))
        .await;
    assert_eq!(
        (companies(&v), v["next"].clone()),
        (vec!["SX0001".to_string()], Value::Null)
    );
    for bad in ["limit=0", "limit=1001", "limit=x", "after=a%20b"] {
        let (s, v) = h
            .get(&format!("/api/allocations?{bad}"), Some(&m.regulator))
            .await;
        assert_eq!(
            (s, v["code"].clone()),
            (400, json!("malformed")),
            "{bad}: {v}"
        );
    }

    // Documented in the OpenAPI document.
    let (_, doc) = h.get("/openapi.json", None).await;
    assert!(doc["paths"]["/api/allocations"]["get"].is_object());
}

/// The company page shows the table, in Chinese by default and in English.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn company_page_shows_the_unit_table() {
    let h = Harness::new(Kind::Embedded, "allocation_page").unwrap();
    setup(&h).await;
    let login = Request::post("/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(
            "username=rep-a&password=rep-a-long-password&next=%2Fhome",
        ))
        .unwrap();
    let resp = tower::ServiceExt::oneshot(h.router.clone(), login)
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    let cookie = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").to_string())
        .find(|kv| kv.starts_with("ets_session="))
        .expect("a session cookie");
    for (lang, words) in [
        (
            "zh",
            [
                "机组配额明细",
                "常规燃煤机组（300MW等级以上）",
                "水冷",
                "预分配",
            ],
        ),
        (
            "en",
            [
                "Allocation by generating unit",
                "Conventional coal, above 300 MW",
                "water-cooled",
                "Pre-allocation",
            ],
        ),
    ] {
        let req = Request::get("/company")
            .header(header::COOKIE, format!("{cookie}; lang={lang}"))
            .body(Body::empty())
            .unwrap();
        let (s, page) = h.raw_response(req).await;
        assert_eq!(s, 200, "{page}");
        let table = &page[page.find("id=\"unit-allocation\"").expect("the section")..];
        for w in words
            .iter()
            .chain(&["SX0001-G1", "1,841,700", "0.877", "0.70"])
        {
            assert!(table.contains(w), "{lang}: {w:?} in the section");
        }
    }
}
