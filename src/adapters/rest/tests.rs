use super::*;
use crate::adapters::spec::{parse_spec, Parsed};
use serde_json::json;

fn table(yaml_table: &str) -> TableSpec {
    let text = format!("name: t\nbase_url: https://x.example.com\ntables:\n{yaml_table}");
    match parse_spec("t_spec.yaml", &text) {
        Ok(Parsed::Spec(s)) => s.tables[0].clone(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn meta_paths_read_from_the_matching_ancestor() {
    let t = table(
        "  - name: costs\n    resource_path: /\n    result_body_path: ResultsByTime.Groups\n    result_meta_paths: [ResultsByTime.TimePeriod.Start, Top]\n",
    );
    let body = json!({
        "Top": "t",
        "ResultsByTime": [
            {"TimePeriod": {"Start": "2024-01-01"}, "Groups": [{"Keys": ["EC2"], "Metrics": {"BlendedCost": {"Amount": "1.5"}}}]},
            {"TimePeriod": {"Start": "2024-01-02"}, "Groups": [{"Keys": ["S3"]}, {"Keys": ["RDS"]}]}
        ]
    });
    let records = extract_records(&t, body, &ParamSet::default());
    assert_eq!(records.len(), 3);
    assert_eq!(
        records[0]["ResultsByTime_TimePeriod_Start"],
        json!("2024-01-01")
    );
    assert_eq!(
        records[2]["ResultsByTime_TimePeriod_Start"],
        json!("2024-01-02")
    );
    assert_eq!(records[2]["Top"], json!("t"));
    assert_eq!(records[2]["Keys"], json!(["RDS"]));
}

#[test]
fn body_without_path_list_or_object_and_copied_params() {
    let t = table("  - name: d\n    resource_path: /deals/{dealId}\n    params: {dealId: [1, 2]}\n    copy_params_to_output: [dealId]\n");
    let mut set = ParamSet::default();
    set.set("dealId", json!(7));
    let rows = extract_records(&t, json!([{"a": 1}, {"a": 2}]), &set);
    assert_eq!(
        rows,
        vec![json!({"a": 1, "dealId": 7}), json!({"a": 2, "dealId": 7})]
    );
    let one = extract_records(&t, json!({"a": 3}), &set);
    assert_eq!(one, vec![json!({"a": 3, "dealId": 7})]);
    let scalars = extract_records(&t, json!(["x"]), &set);
    assert_eq!(scalars, vec![json!({"value": "x", "dealId": 7})]);
}

#[test]
fn missing_body_path_is_reported() {
    let t = table("  - name: i\n    resource_path: /search\n    result_body_path: issues\n");
    assert_eq!(count_records(&t, &json!({"errorMessages": ["no"]})), None);
    assert_eq!(count_records(&t, &json!({"issues": []})), Some(0));
    assert_eq!(
        count_records(&t, &json!({"issues": [{"a": 1}, null, {"a": 2}]})),
        Some(2)
    );
}
