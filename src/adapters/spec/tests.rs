use super::*;

fn spec(text: &str) -> Spec {
    match parse_spec("test_spec.yaml", text) {
        Ok(Parsed::Spec(s)) => *s,
        Ok(other) => panic!("not a spec: {other:?}"),
        Err(e) => panic!("spec rejected: {e}"),
    }
}

fn problems(text: &str) -> Vec<String> {
    match parse_spec("bad_spec.yaml", text) {
        Ok(_) => panic!("spec unexpectedly accepted"),
        Err(e) => e.problems.iter().map(|p| p.to_string()).collect(),
    }
}

#[test]
fn original_mocksvc_spec_loads_unchanged() {
    let s = spec(include_str!("../../../tests/fixtures/mocksvc_spec.yaml"));
    assert_eq!(s.name, "mocksvc");
    assert_eq!(s.base_url, "https://mocksvc.com");
    assert_eq!(s.auth.kind, AuthKind::Basic);
    assert_eq!(
        s.auth
            .params
            .iter()
            .map(|(k, _)| k.as_str())
            .collect::<Vec<_>>(),
        ["username", "password"]
    );
    assert_eq!(s.query_date_format.as_deref(), Some("%Y/%m/%d %H:%M"));
    assert_eq!(s.tables.len(), 3);
    assert!(s.table("repos27").unwrap().paging.is_none());
    let big = s.table("repos1100").unwrap();
    let paging = big.paging.as_ref().unwrap();
    assert!(
        matches!(&paging.strategy, PagingStrategy::PageAndCount { page_param, first_page: 1 } if page_param == "page")
    );
    assert_eq!(paging.page_size, Some(100));
    assert_eq!(paging.count_param.as_deref(), Some("count"));
    assert_eq!(big.key_columns, ["id"]);
    match &big.refresh {
        Refresh::Updates { params, .. } => {
            assert_eq!(params[0].names, ["later_than"]);
            assert_eq!(
                params[0].value,
                ParamValue::Scalar(serde_json::json!("${timestamp}"))
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(s.views.len(), 2);
    assert_eq!(s.views[0].from, ["repos27"]);
}

#[test]
fn every_problem_is_reported_with_its_key_path() {
    let errs = problems(
        r#"
name: broken
base_url: not a url
bogus_top: 1
paging: {strategy: pageAndCount, count_param: count}
tables:
  - name: a
    resource_path: /a
    result_type: list
  - name: b
    supports_paging: true
    paging: {strategy: sideways}
  - name: c
    resource_path: /c
    refresh: {strategy: updates, params: {since: "${timestamp}"}}
"#,
    );
    let all = errs.join("\n");
    for needle in [
        "bad_spec.yaml: base_url: 'not a url' is not a valid URL",
        "bad_spec.yaml: bogus_top: unknown key 'bogus_top'",
        "bad_spec.yaml: paging.page_param: missing: the pageAndCount pager needs page_param",
        "tables.a.result_type: Invalid key 'result_type'",
        "tables.b.resource_path: missing",
        "tables.b.paging.strategy: Unknown paging strategy: 'sideways'",
        "Table 'c' needs to define a key to use 'updates' refresh strategy",
        "needs a spec-level queryDateFormat",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
}

#[test]
fn params_static_multi_tuple_and_sql() {
    let s = spec(
        r#"
name: gh
base_url: https://api.example.com
tables:
  - name: orgs
    resource_path: /user/orgs
  - name: repos
    resource_path: /orgs/{org}/repos
    params:
      org: sql@(select login from orgs)
      type: all
      per: 100
  - name: pulls
    resource_path: /repos/{owner}/{repo}/pulls
    params:
      owner,repo: sql@(select owner_login, name from repos)
      state: [open, closed]
  - name: costs
    resource_path: /
    post: {Context: "${Context}"}
    params:
      Context,Dimension: [[COST_AND_USAGE, AZ], [RESERVATIONS, REGION]]
"#,
    );
    let repos = s.table("repos").unwrap();
    assert_eq!(repos.depends_on, ["orgs"]);
    assert_eq!(
        repos.params[0].value,
        ParamValue::Sql("select login from orgs".into())
    );
    assert_eq!(
        repos.params[2].value,
        ParamValue::Scalar(serde_json::json!(100))
    );
    let pulls = s.table("pulls").unwrap();
    assert_eq!(pulls.depends_on, ["repos"]);
    assert_eq!(pulls.params[0].names, ["owner", "repo"]);
    assert_eq!(
        pulls.params[1].value,
        ParamValue::List(vec![
            vec![serde_json::json!("open")],
            vec![serde_json::json!("closed")]
        ])
    );
    let costs = s.table("costs").unwrap();
    assert_eq!(costs.method, Method::Post);
    assert_eq!(
        costs.params[0].value,
        ParamValue::List(vec![
            vec![serde_json::json!("COST_AND_USAGE"), serde_json::json!("AZ")],
            vec![
                serde_json::json!("RESERVATIONS"),
                serde_json::json!("REGION")
            ]
        ])
    );
}

#[test]
fn sql_param_cycles_are_rejected() {
    let errs = problems(
        r#"
name: cyc
base_url: https://x.example.com
tables:
  - name: a
    resource_path: /a/{x}
    params: {x: sql@(select id from b)}
  - name: b
    resource_path: /b/{y}
    params: {y: sql@(select id from a)}
"#,
    );
    assert!(
        errs.iter().any(|e| e.contains("cycle: a → b → a")),
        "{errs:?}"
    );
}

#[test]
fn pagers_parse_with_defaults_and_additions() {
    let s = spec(
        r#"
name: p
base_url: https://${domain}.example.com
rate_limit: {requests_per_second: 10, burst: 5}
retry: {max_attempts: 3, max_backoff_secs: 2}
polling_interval_secs: 0
tables:
  - name: tok
    resource_path: /t
    supports_paging: true
    paging: {strategy: pagerToken, token_param: after, count_param: limit, pager_token_path: paging.next.after}
  - name: link
    resource_path: /l
    supports_paging: true
    paging: {strategy: nextLink, pager_link_path: "$.next"}
  - name: hdr
    resource_path: /h
    supports_paging: true
    paging: {strategy: linkHeader, count_param: per_page, page_size: 50}
  - name: off
    resource_path: /o
    supports_paging: true
    paging: {strategy: offsetAndCount, offset_param: startAt, count_param: maxResults, total_path: total, stop: empty_page}
"#,
    );
    assert_eq!(s.rate_limit.unwrap().requests_per_second, 10.0);
    assert_eq!(s.rate_limit.unwrap().burst, 5);
    assert_eq!(s.retry.max_attempts, 3);
    assert_eq!(s.polling_interval_secs, Some(0));
    let tok = s.table("tok").unwrap().paging.as_ref().unwrap();
    assert_eq!(
        tok.page_size,
        Some(100),
        "count_param without page_size defaults to 100"
    );
    assert!(matches!(
        s.table("link").unwrap().paging.as_ref().unwrap().strategy,
        PagingStrategy::NextLink { .. }
    ));
    assert_eq!(
        s.table("hdr").unwrap().paging.as_ref().unwrap().page_size,
        Some(50)
    );
    let off = s.table("off").unwrap().paging.as_ref().unwrap();
    assert_eq!(off.stop, StopRule::EmptyPage);
    assert!(off.total_path.is_some());
}

#[test]
fn disabled_and_unsupported_specs_are_not_errors() {
    assert!(matches!(
        parse_spec("x", "name: off\nenabled: false\n"),
        Ok(Parsed::Disabled { .. })
    ));
    assert!(matches!(
        parse_spec("x", "name: gsheets\nclass: GSheetsAdapter\n"),
        Ok(Parsed::Unsupported { .. })
    ));
}

#[test]
fn invalid_yaml_is_one_clear_problem() {
    let errs = problems("name: [unclosed\n");
    assert_eq!(errs.len(), 1);
    assert!(
        errs[0].starts_with("bad_spec.yaml: not valid YAML"),
        "{errs:?}"
    );
}

#[test]
fn key_paths_split_on_dots_and_read_bracketed_keys_whole() {
    let cases: &[(&str, &[&str])] = &[
        ("data", &["data"]),
        ("data.items", &["data", "items"]),
        ("$.data.items", &["data", "items"]),
        ("$['@odata.count']", &["@odata.count"]),
        ("['@odata.count']", &["@odata.count"]),
        ("meta['total.count'].n", &["meta", "total.count", "n"]),
        ("a[\"x.y\"]['z']", &["a", "x.y", "z"]),
        ("['it\\'s']", &["it's"]),
    ];
    for (text, want) in cases {
        assert_eq!(key_path(text), *want, "{text}");
    }
}

#[test]
fn an_odata_spec_with_at_sign_paths_loads() {
    let s = spec(
        "name: graph\nbase_url: https://graph.example/v1.0\ntables:\n  - name: users\n    resource_path: /users\n    result_body_path: value\n    result_meta_paths: [\"$['@odata.context']\"]\n    supports_paging: true\n    paging:\n      strategy: nextLink\n      pager_link_path: \"@odata.nextLink\"\n      total_path: \"@odata.count\"\n",
    );
    let t = s.table("users").expect("users");
    assert_eq!(
        t.result_body_path.as_deref(),
        Some(&["value".to_string()][..])
    );
    assert_eq!(
        t.result_meta_paths,
        vec![vec!["@odata.context".to_string()]]
    );
    let paging = t.paging.as_ref().expect("paging");
    let body = serde_json::json!({"@odata.nextLink": "https://graph.example/v1.0/users?$skiptoken=x", "@odata.count": 3, "value": []});
    match &paging.strategy {
        PagingStrategy::NextLink { pager_link_path } => assert_eq!(
            pager_link_path.first_string(&body).as_deref(),
            Some("https://graph.example/v1.0/users?$skiptoken=x")
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        paging.total_path.as_ref().and_then(|p| p.first(&body)),
        Some(&serde_json::json!(3))
    );
}

#[test]
fn max_response_mb_defaults_to_256_and_is_checked() {
    let base =
        "name: x\nbase_url: https://x.example\ntables:\n  - name: t\n    resource_path: /t\n";
    assert_eq!(spec(base).max_response_bytes, 256 << 20);
    assert_eq!(
        spec(&format!("{base}max_response_mb: 0.5\n")).max_response_bytes,
        512 * 1024
    );
    let p = problems(&format!("{base}max_response_mb: -1\n"));
    assert!(
        p.iter()
            .any(|x| x.contains("max_response_mb: expected a non-negative number")),
        "{p:?}"
    );
    for bad in ["0", "100000"] {
        let p = problems(&format!("{base}max_response_mb: {bad}\n"));
        assert!(
            p.iter().any(|x| x.contains("max_response_mb")
                && x.contains("is not a size in MB between 0 (excluded) and 65536")),
            "{bad}: {p:?}"
        );
    }
}
