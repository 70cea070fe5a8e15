//! The dashboard in process: pages in both languages, role pages and their redirects, login,
//! the CSRF check of forms, and forms that go through the writer (orders, four-eyes approval,
//! verification).

mod common;

use axum::body::Body;
use axum::http::{HeaderMap, Request, header};
use common::*;
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

struct Page {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
    /// `name=value` of a Set-Cookie for `name`.
    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").to_string())
            .find(|kv| kv.starts_with(&format!("{name}=")))
    }
}

async fn send(h: &Harness, method: &str, path: &str, cookies: &[&str], form: Option<&str>) -> Page {
    let mut req = Request::builder().method(method).uri(path);
    if !cookies.is_empty() {
        req = req.header(header::COOKIE, cookies.join("; "));
    }
    let body = match form {
        Some(f) => {
            req = req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            Body::from(f.to_string())
        }
        None => Body::empty(),
    };
    let resp = h
        .router
        .clone()
        .oneshot(req.body(body).unwrap())
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    common::check_response(
        method,
        path.split('?').next().unwrap_or(path),
        status,
        &bytes,
    );
    Page {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

async fn get(h: &Harness, path: &str, cookies: &[&str]) -> Page {
    send(h, "GET", path, cookies, None).await
}

/// Logs in through the form; returns the session cookie (`ets_session=…`) and the CSRF token.
async fn login(h: &Harness, user: &str, password: &str) -> (String, String) {
    let p = send(
        h,
        "POST",
        "/login",
        &[],
        Some(&format!("username={user}&password={password}&next=%2Fhome")),
    )
    .await;
    assert_eq!(p.status, 303, "login of {user}: {}", p.body);
    assert_eq!(p.location(), "/home");
    let cookie = p.cookie("ets_session").expect("a session cookie");
    let session = cookie.trim_start_matches("ets_session=").to_string();
    (cookie, ets_server::csrf_of(&session))
}

fn harness(name: &str) -> Harness {
    Harness::new(Kind::Embedded, name).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_pages_render_in_both_languages() {
    let h = harness("web_public");
    setup(&h).await;
    let zh = get(&h, "/", &[]).await;
    assert_eq!(zh.status, 200, "{}", zh.body);
    assert!(zh.body.contains(r#"<html lang="zh-CN">"#));
    assert!(
        zh.body.contains("市场行情") && zh.body.contains("五档行情"),
        "{}",
        zh.body
    );
    assert!(zh.body.contains("<svg"), "a chart");
    assert!(
        zh.body.contains(r#"href="/lang/en?back=/""#),
        "a switch link"
    );
    let en = get(&h, "/", &["lang=en"]).await;
    assert!(en.body.contains(r#"<html lang="en">"#));
    assert!(
        en.body.contains("Market overview") && !en.body.contains("市场行情"),
        "{}",
        en.body
    );
    for (cookie, words) in [
        ("lang=zh", ["履约情况", "全国"]),
        ("lang=en", ["Compliance", "Nation"]),
    ] {
        let p = get(&h, &format!("/compliance?plan={PLAN}"), &[cookie]).await;
        assert_eq!(p.status, 200, "{}", p.body);
        for w in words {
            assert!(p.body.contains(w), "{w} in {}", p.body);
        }
        assert!(p.body.contains("<svg"));
    }
    // The default plan is the only one adopted.
    assert!(get(&h, "/compliance", &[]).await.body.contains(PLAN));
    // A class with nothing in it still renders; a malformed one is a 400 page.
    assert_eq!(get(&h, "/?class=CEA-2020", &[]).await.status, 200);
    let bad = get(&h, "/?class=XYZ", &["lang=en"]).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("Bad request"));
    // In Chinese, by the refusal's code: no English words on the page.
    let bad = get(&h, "/?class=XYZ", &[]).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("品种无效：XYZ"), "{}", bad.body);
    assert!(!bad.body.contains("expected CEA"), "{}", bad.body);

    // The switch sets the cookie and goes back, only ever to a path of this site.
    let p = get(&h, "/lang/en?back=%2Fcompliance%3Fplan%3Dx", &[]).await;
    assert_eq!(p.status, 303);
    assert_eq!(p.location(), "/compliance?plan=x");
    assert_eq!(p.cookie("lang").as_deref(), Some("lang=en"));
    for evil in [
        "//evil.example/x",
        "https://evil.example/",
        "/%5Cevil.example",
    ] {
        let p = get(
            &h,
            &format!(
                "/lang/zh?back={}",
                evil.replace('/', "%2F").replace(':', "%3A")
            ),
            &[],
        )
        .await;
        assert_eq!(p.location(), "/", "{evil}");
    }
    assert_eq!(get(&h, "/lang/fr?back=/", &[]).await.status, 404);
}

/// Issue 13 item 3: the market page shows the class's days with listed, block and one-way
/// volume and turnover apart and in total, in both languages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_market_page_shows_each_kind_of_trade_of_the_day() {
    let h = harness("web_days");
    let m = setup(&h).await;
    trade_every_kind(&h, &m).await;
    let en = get(&h, "/?class=CEA-2019", &["lang=en"]).await;
    assert_eq!(en.status, 200, "{}", en.body);
    let row = en
        .body
        .split(r#"<tr data-date="2021-07-16">"#)
        .nth(1)
        .and_then(|r| r.split("</tr>").next())
        .unwrap_or_else(|| panic!("no row of 2021-07-16 in {}", en.body));
    // Open, high, low, close; then volume and turnover of listed, block, one-way, total.
    let cells: Vec<String> = row
        .split("<td")
        .skip(1)
        .map(|c| {
            let text = c.split_once('>').map_or("", |(_, t)| t);
            text.replace("<br>", " / ")
                .replace(r#"<span class="sub">"#, "")
                .replace("</span>", "")
                .replace("</td>", "")
        })
        .collect();
    assert_eq!(
        cells,
        [
            "2021-07-16",
            "48.00",
            "49.00",
            "48.00",
            "48.40",
            "1,000 / 48,400.00",
            "100,000 / 5,000,000.00",
            "3,000 / 140,000.00",
            "104,000 / 5,188,400.00",
        ],
        "{row}"
    );
    for header in [
        "Daily figures",
        "Listed",
        "Block",
        "One-way auction",
        "Total",
    ] {
        assert!(en.body.contains(header), "{header} in {}", en.body);
    }
    let zh = get(&h, "/?class=CEA-2019", &[]).await;
    for header in ["每日行情", "挂牌协议", "大宗协议", "单向竞价", "合计"] {
        assert!(zh.body.contains(header), "{header} in {}", zh.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_pages_send_strangers_to_login_and_others_away() {
    let h = harness("web_roles");
    setup(&h).await;
    for path in [
        "/regulator",
        "/company",
        "/verifier",
        "/member",
        "/company?class=CEA-2019",
    ] {
        let p = get(&h, path, &[]).await;
        assert_eq!(p.status, 303, "{path}");
        assert!(
            p.location().starts_with("/login?next="),
            "{path} → {}",
            p.location()
        );
    }
    assert_eq!(get(&h, "/home", &[]).await.location(), "/login");

    // Wrong password: the form again, 401, with the message.
    let p = send(
        &h,
        "POST",
        "/login",
        &["lang=en"],
        Some("username=rep-a&password=wrong-password"),
    )
    .await;
    assert_eq!(p.status, 401);
    assert!(p.body.contains("Wrong user name or password") && p.cookie("ets_session").is_none());

    let (rep, _) = login(&h, "rep-a", "rep-a-long-password").await;
    assert_eq!(get(&h, "/home", &[&rep]).await.location(), "/company");
    for path in ["/regulator", "/verifier", "/member"] {
        let p = get(&h, path, &[&rep, "lang=en"]).await;
        assert_eq!(p.status, 403, "{path}");
        assert!(p.body.contains("not for your role"), "{}", p.body);
    }
    let p = get(&h, "/company", &[&rep]).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(
        p.body.contains("持仓") && p.body.contains("CEA-2019"),
        "{}",
        p.body
    );

    let (reg, _) = login(&h, "regulator", "correct horse battery").await;
    assert_eq!(get(&h, "/home", &[&reg]).await.location(), "/regulator");
    let p = get(&h, "/regulator", &[&reg, "lang=en"]).await;
    assert_eq!(p.status, 200, "{}", p.body);
    for w in [
        "Compliance progress",
        "Allocation totals",
        "Verification queue",
        "Pending account-opening requests",
        PLAN,
    ] {
        assert!(p.body.contains(w), "{w} in {}", p.body);
    }
    assert_eq!(get(&h, "/company", &[&reg]).await.status, 403);
    // The auditor reads the same page; the bureau sees its province.
    let (aud, _) = login(&h, "auditor-1", "a-long-password-1").await;
    let p = get(&h, "/regulator", &[&aud, "lang=en"]).await;
    assert!(
        p.status == 200 && p.body.contains("read-only"),
        "{}",
        p.body
    );
    let (bur, _) = login(&h, "bureau-sx", "a-long-password-1").await;
    let p = get(&h, "/regulator", &[&bur, "lang=en"]).await;
    assert!(p.status == 200 && p.body.contains("Shanxi"), "{}", p.body);
    assert!(
        !p.body.contains("Pending account-opening requests"),
        "the bureau does not see requests"
    );

    // The exchange member's page: its account, funds and the order form.
    let (mem, _) = login(&h, "tr-a", "tr-a-long-password").await;
    assert_eq!(get(&h, "/home", &[&mem]).await.location(), "/member");
    let p = get(&h, "/member", &[&mem, "lang=en"]).await;
    assert_eq!(p.status, 200, "{}", p.body);
    for w in [
        "trader-1",
        "Holdings",
        "10,000,000.00",
        "Place order",
        "order-form",
    ] {
        assert!(p.body.contains(w), "{w} in {}", p.body);
    }
    assert_eq!(get(&h, "/company", &[&mem]).await.status, 403);

    // Logging out ends the session.
    let p = send(
        &h,
        "POST",
        "/logout",
        &[&rep],
        Some(&format!(
            "csrf={}&idem=x1",
            ets_server::csrf_of(rep.trim_start_matches("ets_session="))
        )),
    )
    .await;
    assert_eq!(p.status, 303);
    assert_eq!(get(&h, "/company", &[&rep]).await.status, 303);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_check_csrf_and_go_through_the_writer() {
    let h = harness("web_forms");
    let m = setup(&h).await;
    h.ok(
        "/api/funds/deposits",
        &m.regulator,
        json!({"holder": "SX0001", "fen": 100_000_000u64}),
    )
    .await;
    let (rep, csrf) = login(&h, "rep-a", "rep-a-long-password").await;
    let order = "class=CEA-2019&side=sell&price=49.5&qty=1200";

    // A wrong or missing CSRF field: 403, nothing placed.
    for bad in ["csrf=0123456789abcdef0123456789abcdef&idem=k1", "idem=k1"] {
        let p = send(
            &h,
            "POST",
            "/orders",
            &[&rep, "lang=en"],
            Some(&format!("{order}&{bad}")),
        )
        .await;
        assert_eq!(p.status, 403, "{bad}");
        assert!(p.body.contains("CSRF"), "{}", p.body);
    }
    assert_eq!(held_orders(&h, &m).await, 0);

    // The right one: placed at 49.50 = 4950 fen, shown in the flash, the open orders and the book.
    let form = format!("{order}&csrf={csrf}&idem=order-1");
    let p = send(&h, "POST", "/orders", &[&rep, "lang=en"], Some(&form)).await;
    assert_eq!(p.status, 303, "{}", p.body);
    assert_eq!(p.location(), "/company?class=CEA-2019");
    let flash = p.cookie("ets_flash").expect("a flash message");
    let page = get(&h, "/company?class=CEA-2019", &[&rep, "lang=en", &flash]).await;
    assert!(page.body.contains("Order placed"), "{}", page.body);
    assert!(
        page.body.contains("49.50") && page.body.contains("1,200"),
        "{}",
        page.body
    );
    assert_eq!(held_orders(&h, &m).await, 1);
    let (_, book) = h.get("/api/market/book?class=CEA-2019", None).await;
    assert_eq!(book["asks"][0]["price"], json!(4950));
    // The same form again (a double click) takes effect once.
    let p = send(&h, "POST", "/orders", &[&rep], Some(&form)).await;
    assert_eq!(p.status, 303);
    assert_eq!(held_orders(&h, &m).await, 1);
    // A refusal shows the writer's message: a price outside the ±10 % band.
    let p = send(
        &h,
        "POST",
        "/orders",
        &[&rep, "lang=en"],
        Some(&format!(
            "class=CEA-2019&side=sell&price=99&qty=1&csrf={csrf}&idem=order-2"
        )),
    )
    .await;
    let flash = p.cookie("ets_flash").unwrap();
    let page = get(&h, "/company?class=CEA-2019", &[&rep, "lang=en", &flash]).await;
    assert!(page.body.contains("Refused:"), "{}", page.body);
    // A price with three decimals never reaches the writer.
    let p = send(
        &h,
        "POST",
        "/orders",
        &[&rep, "lang=en"],
        Some(&format!(
            "class=CEA-2019&side=buy&price=48.001&qty=1&csrf={csrf}&idem=order-3"
        )),
    )
    .await;
    let flash = p.cookie("ets_flash").unwrap();
    assert!(
        get(&h, "/company", &[&rep, "lang=en", &flash])
            .await
            .body
            .contains("at most two decimals")
    );
    assert_eq!(held_orders(&h, &m).await, 1);

    // Four eyes: rep-b asks to trust an account; rep-a sees it and approves it on the page.
    let v = h
        .ok(
            "/api/instructions",
            &m.rep_b,
            json!({"company": "SX0001", "kind": "trust", "account": m.hb_account}),
        )
        .await;
    let id = v["instruction"]["id"].as_u64().unwrap();
    let page = get(&h, "/company", &[&rep, "lang=en"]).await;
    assert!(
        page.body
            .contains(&format!("/company/instructions/{id}/approve")),
        "{}",
        page.body
    );
    let p = send(
        &h,
        "POST",
        &format!("/company/instructions/{id}/approve"),
        &[&rep, "lang=en"],
        Some(&format!("csrf={csrf}&idem=approve-1")),
    )
    .await;
    assert_eq!(p.status, 303);
    let (_, list) = h
        .get("/api/instructions?company=SX0001", Some(&m.rep_a))
        .await;
    assert_eq!(
        list["instructions"][0]["status"],
        json!("executed"),
        "{list}"
    );

    // A verifier confirms a submitted report from its page.
    h.ok(
        "/api/reports",
        &m.rep_a,
        report_json("SX0001", 2019, "1150000"),
    )
    .await;
    let (ver, vcsrf) = login(&h, "verifier-1", "a-long-password-1").await;
    let page = get(&h, "/verifier", &[&ver, "lang=en"]).await;
    assert!(
        page.body.contains("Confirm the reported figures"),
        "{}",
        page.body
    );
    let p = send(&h, "POST", "/verifier/verifications", &[&ver, "lang=en"],
        Some(&format!("company=SX0001&year=2019&findings=sampling+plan+followed%0Ameters+calibrated&csrf={vcsrf}&idem=v-1"))).await;
    assert_eq!(p.status, 303);
    let (_, reports) = h.get("/api/reports?year=2019", Some(&m.regulator)).await;
    let r = reports["reports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["company"] == "SX0001")
        .unwrap()
        .clone();
    assert_eq!(r["status"], json!("verified"), "{r}");
    assert_eq!(r["verification"]["verifier"], json!("verifier-1"));
    assert_eq!(
        r["verification"]["findings"],
        json!(["sampling plan followed", "meters calibrated"])
    );
}

async fn held_orders(h: &Harness, m: &Market) -> usize {
    let (s, v) = h.get("/api/orders?holder=SX0001", Some(&m.rep_a)).await;
    assert_eq!(s, 200, "{v}");
    v["orders"].as_array().unwrap().len()
}

/// The regulator opens an account from its page; the auditor sees the queue without buttons; a
/// rejection needs a reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regulator_decides_account_requests_on_the_page() {
    let h = harness("web_requests");
    h.bootstrap("regulator").await;
    let reg = h.token("regulator").await;
    h.ok("/api/users", &reg, json!({"name": "auditor-1", "display": "A", "password": "a-long-password-1", "role": "auditor"})).await;
    for (id, reps) in [("SX0101", ["x1", "x2"]), ("SX0102", ["y1", "y2"])] {
        let (s, v) = h
            .post(
                "/api/account-requests",
                None,
                request_json(company_json(id, "Shanxi"), &reps),
            )
            .await;
        assert_eq!(s, 201, "{v}");
    }
    let (auditor, _) = login(&h, "auditor-1", "a-long-password-1").await;
    let page = get(&h, "/regulator?lang=en", &[&auditor, "lang=en"]).await;
    assert!(
        page.body.contains("SX0101") && !page.body.contains("/regulator/requests/1/approve"),
        "{}",
        page.body
    );
    let (session, csrf) = login(&h, "regulator", "correct horse battery").await;
    let page = get(&h, "/regulator", &[&session, "lang=en"]).await;
    assert!(
        page.body.contains("/regulator/requests/1/approve"),
        "{}",
        page.body
    );
    let p = send(
        &h,
        "POST",
        "/regulator/requests/1/approve",
        &[&session],
        Some(&format!("csrf={csrf}&idem=a1")),
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let (s, v) = h
        .post(
            "/api/login",
            None,
            json!({"username": "x1", "password": "x1-long-password"}),
        )
        .await;
    assert_eq!(s, 201, "the representative can log in: {v}");
    let p = send(
        &h,
        "POST",
        "/regulator/requests/2/reject",
        &[&session],
        Some(&format!("csrf={csrf}&idem=r1&reason=")),
    )
    .await;
    assert_eq!(p.status, 303);
    let (_, v) = h.get("/api/account-requests/2", Some(&reg)).await;
    assert_eq!(v["status"], "pending", "no reason, no rejection: {v}");
    let p = send(
        &h,
        "POST",
        "/regulator/requests/2/reject",
        &[&session],
        Some(&format!("csrf={csrf}&idem=r2&reason=licence+expired")),
    )
    .await;
    assert_eq!(p.status, 303);
    let (_, v) = h.get("/api/account-requests/2", Some(&reg)).await;
    assert_eq!(
        (v["status"].as_str(), v["reason"].as_str()),
        (Some("rejected"), Some("licence expired")),
        "{v}"
    );
    // The auditor's post is refused by the writer: nothing is decided.
    let (auditor_session, auditor_csrf) = (
        auditor.clone(),
        ets_server::csrf_of(auditor.trim_start_matches("ets_session=")),
    );
    let (s, v) = h
        .post(
            "/api/account-requests",
            None,
            request_json(company_json("SX0103", "Shanxi"), &["z1", "z2"]),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    send(
        &h,
        "POST",
        "/regulator/requests/3/approve",
        &[&auditor_session],
        Some(&format!("csrf={auditor_csrf}&idem=x")),
    )
    .await;
    let (_, v) = h.get("/api/account-requests/3", Some(&reg)).await;
    assert_eq!(v["status"], "pending");
}

/// A verified report is accepted from the queue: by the bureau of its province, not by another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bureau_accepts_verified_reports_on_the_page() {
    let h = harness("web_accept");
    let m = setup(&h).await;
    for (company, rep) in [("SX0001", &m.rep_a), ("HB0001", &m.hb_a)] {
        h.ok("/api/reports", rep, report_json(company, 2019, "1150000"))
            .await;
        h.ok(
            "/api/reports/verifications",
            &m.verifier,
            json!({"company": company, "year": 2019, "units": null, "findings": []}),
        )
        .await;
    }
    let (session, csrf) = login(&h, "bureau-sx", "a-long-password-1").await;
    let page = get(&h, "/regulator", &[&session, "lang=en"]).await;
    assert!(
        page.body.contains("/regulator/reports/SX0001/2019/accept"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("/regulator/reports/HB0001/2019/accept"),
        "not its province"
    );
    let p = send(
        &h,
        "POST",
        "/regulator/reports/SX0001/2019/accept",
        &[&session],
        Some(&format!("csrf={csrf}&idem=acc1")),
    )
    .await;
    assert_eq!(p.status, 303, "{}", p.body);
    let p = send(
        &h,
        "POST",
        "/regulator/reports/HB0001/2019/accept",
        &[&session],
        Some(&format!("csrf={csrf}&idem=acc2")),
    )
    .await;
    assert_eq!(
        p.status, 303,
        "refused, with the message as a flash: {}",
        p.body
    );
    let (_, v) = h.get("/api/reports?year=2019", Some(&m.regulator)).await;
    let status = |c: &str| {
        v["reports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["company"] == c)
            .map(|r| r["status"].clone())
            .unwrap()
    };
    assert_eq!(status("SX0001"), "accepted", "{v}");
    assert_eq!(status("HB0001"), "verified", "{v}");
}

// ---------------------------------------------------------------------------------------------
// Issue 14: downloads, the regulator's and bureau's desk, the company's desk

/// The 2019-2020 cycle under way for both companies: reports verified and accepted, final
/// allocations made, so that each has an obligation and a position.
async fn cycle(h: &Harness, m: &Market) {
    for year in [2019, 2020] {
        for (company, rep, coal) in [
            ("SX0001", &m.rep_a, "1150000"),
            ("HB0001", &m.hb_a, "1400000"),
        ] {
            h.ok("/api/reports", rep, report_json(company, year, coal))
                .await;
            h.ok(
                "/api/reports/verifications",
                &m.verifier,
                json!({"company": company, "year": year, "units": null, "findings": []}),
            )
            .await;
            h.ok(
                "/api/reports/acceptances",
                &m.regulator,
                json!({"company": company, "year": year}),
            )
            .await;
        }
    }
    for c in ["SX0001", "HB0001"] {
        h.ok(
            "/api/allocations",
            &m.regulator,
            json!({"plan": PLAN, "company": c, "stage": "final"}),
        )
        .await;
    }
}

async fn users(h: &Harness, m: &Market) -> Vec<serde_json::Value> {
    let (_, v) = h.get("/api/users", Some(&m.regulator)).await;
    v["users"].as_array().unwrap().clone()
}

fn header(p: &Page, name: header::HeaderName) -> &str {
    p.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The page a form's redirect leads to, with its flash message.
async fn after(h: &Harness, p: &Page, cookies: &[&str]) -> Page {
    assert_eq!(p.status, 303, "{}", p.body);
    let flash = p.cookie("ets_flash").expect("a flash message");
    let mut all: Vec<&str> = cookies.to_vec();
    all.push(&flash);
    get(h, p.location(), &all).await
}

/// Every dashboard table downloads as CSV under the page's own authorization; the company's
/// representative reads its own open orders through the API with its browser session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_download_as_csv_as_their_pages_allow() {
    let h = harness("web_downloads");
    let m = setup(&h).await;
    cycle(&h, &m).await;
    let (rep, _) = login(&h, "rep-a", "rep-a-long-password").await;
    let (hb, _) = login(&h, "hb-a", "hb-a-long-password").await;
    let (bureau, _) = login(&h, "bureau-sx", "a-long-password-1").await;

    let p = get(&h, &format!("/compliance/provinces.csv?plan={PLAN}"), &[]).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(header(&p, header::CONTENT_TYPE), "text/csv; charset=utf-8");
    assert_eq!(
        header(&p, header::CONTENT_DISPOSITION),
        format!("attachment; filename=\"provinces-{PLAN}.csv\"")
    );
    assert!(p.body.starts_with("scope,name,companies,"), "{}", p.body);
    assert!(p.body.contains("\r\nprovince,Shanxi,1,"), "{}", p.body);

    // Companies before the assessment: none to the public, its province's to the bureau,
    // filtered by a Chinese province name and a status.
    let path = "/compliance/companies.csv?province=%E5%B1%B1%E8%A5%BF&status=at_risk";
    let anon = get(&h, path, &[]).await;
    assert_eq!(anon.status, 200);
    assert_eq!(
        anon.body.lines().count(),
        1,
        "only the header: {}",
        anon.body
    );
    let p = get(&h, path, &[&bureau]).await;
    assert!(
        header(&p, header::CONTENT_DISPOSITION).contains("Shanxi-at_risk"),
        "{:?}",
        p.headers
    );
    let lines: Vec<&str> = p.body.lines().collect();
    assert!(lines[0].starts_with("company,name,province,province_zh,"));
    assert_eq!(lines.len(), 2, "{}", p.body);
    assert!(
        lines[1].starts_with("SX0001,SX0001 Power,Shanxi,山西,"),
        "{}",
        p.body
    );
    // The bureau sees nothing of another province, even when it asks.
    let p = get(&h, "/compliance/companies.csv?province=Hubei", &[&bureau]).await;
    assert_eq!(p.body.lines().count(), 1, "{}", p.body);
    let p = get(
        &h,
        "/compliance/companies.csv?province=Shanxii",
        &[&bureau, "lang=en"],
    )
    .await;
    assert_eq!(p.status, 400);
    assert!(p.body.contains("Shanxi (山西)"), "{}", p.body);

    // Holdings and allocations: the company's own, not another's.
    let p = get(&h, "/holdings.csv", &[&rep]).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(
        p.body
            .starts_with("holder,account,class,kind,vintage,quantity_t,frozen_t,blocks\r\nSX0001,"),
        "{}",
        p.body
    );
    assert_eq!(
        get(&h, "/holdings.csv?holder=SX0001", &[&hb]).await.status,
        403
    );
    assert_eq!(
        get(&h, "/holdings.csv?holder=SX0001", &[&bureau])
            .await
            .status,
        200
    );
    assert_eq!(
        get(&h, "/holdings.csv?holder=SX0001", &[]).await.status,
        303
    );
    let p = get(&h, "/allocations.csv", &[&rep]).await;
    assert_eq!(p.status, 200);
    assert!(p.body.starts_with("plan,company,year,unit,"), "{}", p.body);
    assert!(p.body.contains(",SX0001,2019,SX0001-G1,"), "{}", p.body);
    assert_eq!(
        get(&h, "/allocations.csv?company=SX0001", &[&hb])
            .await
            .status,
        403
    );
    let p = get(&h, "/market/days.csv", &[]).await;
    assert_eq!(p.status, 200);
    assert!(p.body.starts_with("date,"), "{}", p.body);

    // Every table's page links to its download.
    let page = get(&h, "/company", &[&rep]).await;
    for id in ["download-holdings", "download-allocations"] {
        assert!(page.body.contains(&format!("id=\"{id}\"")), "{id}");
    }
    let page = get(&h, "/compliance", &[&bureau]).await;
    assert!(page.body.contains("id=\"download-companies\""));
    assert!(page.body.contains("id=\"download-provinces\""));
    assert!(
        get(&h, "/", &[])
            .await
            .body
            .contains("id=\"download-days\"")
    );

    // GET /api/orders?holder= answers the company's own representative, by session too.
    h.ok(
        "/api/orders",
        &m.rep_a,
        json!({"holder": "SX0001", "class": "CEA-2019", "side": "sell", "price": 4900, "qty": 10}),
    )
    .await;
    let p = get(&h, "/api/orders?holder=SX0001", &[&rep]).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("\"open_qty\":10"), "{}", p.body);
    assert_eq!(
        get(&h, "/api/orders?holder=SX0001", &[&hb]).await.status,
        403
    );
}

/// The regulator's desk: users of every role from the page (a misspelt province refused with
/// the valid spellings, a company that does not exist refused), the trading day closed and
/// opened; the compliance page filtered by province and status, paginated, and the bureau's
/// province by default.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regulator_creates_users_and_runs_the_day_from_the_page() {
    let h = harness("web_desk_regulator");
    let m = setup(&h).await;
    cycle(&h, &m).await;
    let (reg, csrf) = login(&h, "regulator", "correct horse battery").await;
    let page = get(&h, "/regulator", &[&reg, "lang=en"]).await;
    assert!(page.body.contains("id=\"user-form\"") && page.body.contains("id=\"day\""));
    let create = |fields: &str, idem: &str| {
        format!("{fields}&display=X&password=a-long-password-9&csrf={csrf}&idem={idem}")
    };
    let before = users(&h, &m).await.len();
    for (fields, words) in [
        (
            "name=bx&role=bureau&province=Shanxii",
            "Valid spellings: Beijing (北京)",
        ),
        ("name=rx&role=company&company=SX9999", "No such company"),
        ("name=rx&role=company&company=S%20X", "Invalid company id"),
    ] {
        let p = send(
            &h,
            "POST",
            "/regulator/users",
            &[&reg, "lang=en"],
            Some(&create(fields, fields)),
        )
        .await;
        let page = after(&h, &p, &[&reg, "lang=en"]).await;
        assert!(
            page.body.contains(words),
            "{fields}: {words} in {}",
            page.body
        );
    }
    assert_eq!(users(&h, &m).await.len(), before, "nothing created");
    // In Chinese, the province in Chinese; a representative for an existing company.
    for (fields, idem) in [
        (
            "name=bureau-sx2&role=bureau&province=%E5%B1%B1%E8%A5%BF%E7%9C%81",
            "u1",
        ),
        ("name=rep-c&role=company&company=SX0001", "u2"),
    ] {
        let p = send(
            &h,
            "POST",
            "/regulator/users",
            &[&reg],
            Some(&create(fields, idem)),
        )
        .await;
        let page = after(&h, &p, &[&reg]).await;
        assert!(page.body.contains("已创建用户"), "{}", page.body);
    }
    let all = users(&h, &m).await;
    let b = all.iter().find(|u| u["name"] == "bureau-sx2").unwrap();
    assert_eq!(b["province"], json!("Shanxi"), "{b}");
    // The new representative works at once: its company page and its own orders.
    let (rep_c, _) = login(&h, "rep-c", "a-long-password-9").await;
    assert_eq!(get(&h, "/company", &[&rep_c]).await.status, 200);
    assert_eq!(
        get(&h, "/api/orders?holder=SX0001", &[&rep_c]).await.status,
        200
    );

    // The day: closed, then the next trading day opened, from the page.
    let p = send(
        &h,
        "POST",
        "/regulator/day/close",
        &[&reg, "lang=en"],
        Some(&format!("csrf={csrf}&idem=d1")),
    )
    .await;
    let page = after(&h, &p, &[&reg, "lang=en"]).await;
    assert!(page.body.contains("Trading day closed"), "{}", page.body);
    assert!(page.body.contains("action=\"/regulator/day/open\""));
    h.clock
        .set(ets_server::clock::parse_beijing("2021-07-19T09:20").unwrap());
    // Three days later the session has lapsed: a new one.
    let (reg, csrf) = login(&h, "regulator", "correct horse battery").await;
    let p = send(
        &h,
        "POST",
        "/regulator/day/open",
        &[&reg, "lang=en"],
        Some(&format!("csrf={csrf}&idem=d2")),
    )
    .await;
    let page = after(&h, &p, &[&reg, "lang=en"]).await;
    assert!(page.body.contains("Trading day opened"), "{}", page.body);
    assert!(
        page.body.contains("<b id=\"open-day\">2021-07-19</b>"),
        "{}",
        page.body
    );
    // Others have neither the forms nor the routes.
    let (bureau, bcsrf) = login(&h, "bureau-sx", "a-long-password-1").await;
    let page = get(&h, "/regulator", &[&bureau]).await;
    assert!(!page.body.contains("user-form") && !page.body.contains("/regulator/day/"));
    let p = send(
        &h,
        "POST",
        "/regulator/users",
        &[&bureau],
        Some(&format!(
            "name=z&role=auditor&display=z&password=a-long-password-9&csrf={bcsrf}&idem=b1"
        )),
    )
    .await;
    assert_eq!(p.status, 403);

    // The compliance page: the bureau sees its province's companies by default.
    let page = get(&h, "/compliance", &[&bureau, "lang=en"]).await;
    assert!(
        page.body.contains("data-company=\"SX0001\""),
        "{}",
        page.body
    );
    assert!(!page.body.contains("data-company=\"HB0001\""));
    assert!(
        page.body.contains("<option value=\"Shanxi\" selected>"),
        "{}",
        page.body
    );
    // The regulator filters by province (Chinese or English) and status.
    let page = get(&h, "/compliance", &[&reg, "lang=en"]).await;
    assert!(
        page.body.contains("data-company=\"SX0001\"")
            && page.body.contains("data-company=\"HB0001\"")
    );
    let page = get(
        &h,
        "/compliance?province=%E6%B9%96%E5%8C%97&status=at_risk",
        &[&reg],
    )
    .await;
    assert!(
        page.body.contains("data-company=\"HB0001\"")
            && !page.body.contains("data-company=\"SX0001\"")
    );
    assert!(page.body.contains("/compliance/companies.csv?plan=cn-power-2019-2020&amp;province=Hubei&amp;status=at_risk"), "{}", page.body);
    let bad = get(&h, "/compliance?province=Shanxii", &[&reg, "lang=en"]).await;
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("Shanxi (山西)"));
    // One page of 50: no page links with two companies; a page past the end shows the last.
    assert!(!page.body.contains("id=\"pages\""));
    assert_eq!(get(&h, "/compliance?page=9", &[&reg]).await.status, 200);
}

/// The company's desk: its position and what is still to buy, take from the book by order id,
/// a listed order too large explained (use a block trade), a block trade accepted, a surrender
/// instructed and approved by the second representative; after the assessment a surrender
/// instruction is refused when it is made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn company_buys_by_take_and_block_and_surrenders_from_the_page() {
    let h = harness("web_desk_company");
    let m = setup(&h).await;
    cycle(&h, &m).await;
    h.ok(
        "/api/funds/deposits",
        &m.regulator,
        json!({"holder": "SX0001", "fen": 1_000_000_000u64}),
    )
    .await;
    let (rep, csrf) = login(&h, "rep-a", "rep-a-long-password").await;
    let en = [rep.as_str(), "lang=en"];
    let page = get(&h, "/company?class=CEA-2019", &en).await;
    assert!(page.body.contains("id=\"position\""), "{}", page.body);
    assert!(page.body.contains("Still to buy") || page.body.contains("Surplus that may be sold"));
    assert!(page.body.contains("action=\"/company/surrenders\""));

    // An ask of HB0001, with its id in the book (API and page); taken for 2,000 t.
    let v = h.ok("/api/orders", &m.hb_a, json!({"holder": "HB0001", "class": "CEA-2019", "side": "sell", "price": 4800, "qty": 5000})).await;
    let ask = v["id"].as_u64().unwrap();
    let (_, book) = h.get("/api/market/book?class=CEA-2019", None).await;
    assert_eq!(
        book["asks"][0]["order_ids"],
        json!([{"id": ask, "qty": 5000}]),
        "{book}"
    );
    let page = get(&h, "/company?class=CEA-2019", &en).await;
    assert!(
        page.body.contains(&format!("<tr data-order=\"{ask}\">")),
        "{}",
        page.body
    );
    let p = send(
        &h,
        "POST",
        &format!("/orders/{ask}/take"),
        &en,
        Some(&format!("class=CEA-2019&qty=2000&csrf={csrf}&idem=t1")),
    )
    .await;
    let page = after(&h, &p, &en).await;
    assert!(
        page.body.contains(&format!("Taken #{ask}: 2,000 t")),
        "{}",
        page.body
    );
    let (_, book) = h.get("/api/market/book?class=CEA-2019", None).await;
    assert_eq!(
        book["asks"][0]["order_ids"],
        json!([{"id": ask, "qty": 3000}]),
        "{book}"
    );

    // A listed order for more than the limit: the refusal says to use a block trade, in both
    // languages; in the morning a block proposal is refused with the session hours.
    for (lang, words) in [
        (
            "lang=en",
            "use a block trade (≥ 100,000 t, afternoon session 13:00–15:00)",
        ),
        ("lang=zh", "更大数量请用大宗协议交易"),
    ] {
        let p = send(
            &h,
            "POST",
            "/orders",
            &[&rep, lang],
            Some(&format!(
                "class=CEA-2019&side=buy&price=48&qty=150000&csrf={csrf}&idem=big-{lang}"
            )),
        )
        .await;
        let page = after(&h, &p, &[&rep, lang]).await;
        assert!(page.body.contains(words), "{words} in {}", page.body);
    }
    let p = send(
        &h,
        "POST",
        "/blocks",
        &en,
        Some(&format!(
            "counterparty=HB0001&class=CEA-2019&side=buy&price=48&qty=100000&csrf={csrf}&idem=b0"
        )),
    )
    .await;
    let page = after(&h, &p, &en).await;
    assert!(
        page.body.contains("block trades 13:00–15:00"),
        "{}",
        page.body
    );

    // In the afternoon: HB0001 proposes a block sale to SX0001, which accepts it on its page.
    h.clock
        .set(ets_server::clock::parse_beijing("2021-07-16T13:30").unwrap());
    let v = h.ok("/api/blocks", &m.hb_a, json!({"holder": "HB0001", "counterparty": "SX0001", "class": "CEA-2019", "side": "sell", "price": 4750, "qty": 100000})).await;
    let proposal = v["id"].as_u64().unwrap();
    let page = get(&h, "/company?class=CEA-2019", &en).await;
    assert!(
        page.body
            .contains(&format!("action=\"/blocks/{proposal}/accept\"")),
        "{}",
        page.body
    );
    let p = send(
        &h,
        "POST",
        &format!("/blocks/{proposal}/accept"),
        &en,
        Some(&format!("class=CEA-2019&csrf={csrf}&idem=b1")),
    )
    .await;
    let page = after(&h, &p, &en).await;
    assert!(page.body.contains("block trade done"), "{}", page.body);
    let (_, trades) = h.get("/api/market/trades?class=CEA-2019", None).await;
    assert!(
        trades.to_string().contains("\"kind\":\"block\""),
        "{trades}"
    );
    // Funds are yuan on the page, never fen.
    assert!(
        page.body.contains("<b id=\"funds-available\">"),
        "{}",
        page.body
    );

    // A surrender instruction from the page; rep-b approves it; the position shows it.
    let p = send(
        &h,
        "POST",
        "/company/surrenders",
        &en,
        Some(&format!(
            "plan={PLAN}&class=CEA-2019&quantity=1000&csrf={csrf}&idem=s1"
        )),
    )
    .await;
    let page = after(&h, &p, &en).await;
    assert!(
        page.body.contains("Surrender instruction made"),
        "{}",
        page.body
    );
    let (_, list) = h
        .get(
            "/api/instructions?company=SX0001&status=pending",
            Some(&m.rep_a),
        )
        .await;
    let id = list["instructions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| {
            i["instruction"]["command"]["kind"] == "surrender"
                || i.to_string().contains("surrender")
        })
        .map(|i| i["id"].as_u64().unwrap())
        .expect("a pending surrender");
    let (rep_b, csrf_b) = login(&h, "rep-b", "rep-b-long-password").await;
    let p = send(
        &h,
        "POST",
        &format!("/company/instructions/{id}/approve"),
        &[&rep_b, "lang=en"],
        Some(&format!("csrf={csrf_b}&idem=a1")),
    )
    .await;
    let page = after(&h, &p, &[&rep_b, "lang=en"]).await;
    assert!(!page.body.contains("flash err"), "{}", page.body);
    let (_, c) = h
        .get(&format!("/api/compliance/{PLAN}"), Some(&m.regulator))
        .await;
    let sx = c["companies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["company"] == "SX0001")
        .unwrap()
        .clone();
    assert_eq!(sx["surrendered_t"], json!(1000), "{sx}");
    // The company's registered name beside its id, for a bureau's spreadsheet.
    assert!(sx["name"].as_str().is_some_and(|n| !n.is_empty()), "{sx}");

    // After the assessment, a surrender instruction is refused at once, not left pending.
    h.clock
        .set(ets_server::clock::parse_beijing("2022-01-04T10:00").unwrap());
    h.ok(
        &format!("/api/compliance/{PLAN}/assessment"),
        &m.regulator,
        json!({}),
    )
    .await;
    let (rep, csrf) = login(&h, "rep-a", "rep-a-long-password").await;
    let en = [rep.as_str(), "lang=en"];
    let p = send(
        &h,
        "POST",
        "/company/surrenders",
        &en,
        Some(&format!(
            "plan={PLAN}&class=CEA-2019&quantity=10&csrf={csrf}&idem=s2"
        )),
    )
    .await;
    let page = after(&h, &p, &en).await;
    assert!(
        page.body.contains("Refused:") && page.body.contains("after the assessment"),
        "{}",
        page.body
    );
    let (s, v) = h.post("/api/instructions", Some(&m.rep_a), json!({"company": "SX0001", "kind": "surrender", "plan": PLAN, "class": "CEA-2019", "quantity": 10})).await;
    assert_eq!((s, v["code"].clone()), (409, json!("cycle_closed")), "{v}");
    let (_, list) = h
        .get(
            "/api/instructions?company=SX0001&status=pending",
            Some(&m.rep_a),
        )
        .await;
    assert!(!list.to_string().contains("surrender"), "{list}");
}
