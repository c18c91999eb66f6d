//! Table-driven tests of the tokenizer and of everything built on it.

use super::*;

/// A compact picture of a token stream: `Kind:text` per token, blanks left out.
fn picture(sql: &str) -> Vec<String> {
    tokenize(sql)
        .iter()
        .filter(|t| t.kind != Kind::Blank)
        .map(|t| format!("{:?}:{}", t.kind, t.text))
        .collect()
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.into(), b.into())
}

#[test]
fn every_byte_is_in_exactly_one_token() {
    for sql in [
        "",
        "select 1",
        "select 'a''b' -- x\r\n/* c /* d */ e */ \"q\"\"r\" $$ $ $$ $t$ x $t$ é€ ;()",
        "select 'open",
        "/* /* */",
        "$x$ never closed",
        "\u{85}\u{2028}\t \r\r\n\n",
    ] {
        let tokens = tokenize(sql);
        let mut at = 0;
        for t in &tokens {
            assert_eq!(t.start, at, "{sql:?}: {tokens:?}");
            assert!(!t.text.is_empty(), "{sql:?}: {tokens:?}");
            at = t.end();
        }
        assert_eq!(at, sql.len(), "{sql:?}");
    }
}

#[test]
fn tokens_of_quotes_and_comments() {
    use Kind::*;
    let cases: &[(&str, &[(Kind, &str)])] = &[
        // Strings and quoted identifiers: a doubled quote stays inside.
        ("'it''s'", &[(String, "'it''s'")]),
        ("''", &[(String, "''")]),
        ("'''", &[(Unterminated, "'''")]),
        ("\"a \"\"b\"\"\"", &[(QuotedIdent, "\"a \"\"b\"\"\"")]),
        ("'a' 'b'", &[(String, "'a'"), (String, "'b'")]),
        ("'no end", &[(Unterminated, "'no end")]),
        ("\"no end", &[(Unterminated, "\"no end")]),
        // `E'…'`: a backslash escapes the next character; a word ending in e is a word.
        ("E'it\\'s' x", &[(String, "E'it\\'s'"), (Word, "x")]),
        ("e'a''b\\\\'", &[(String, "e'a''b\\\\'")]),
        ("E'\\'", &[(Unterminated, "E'\\'")]),
        ("the'x'", &[(Word, "the"), (String, "'x'")]),
        // Comments: `--` to the end of the line (not the line break); `/* */` nests.
        (
            "-- a 'b'\nx",
            &[(LineComment, "-- a 'b'"), (Newline, "\n"), (Word, "x")],
        ),
        ("--\r\n", &[(LineComment, "--"), (Newline, "\r\n")]),
        (
            "/* a /* b */ c */x",
            &[(BlockComment, "/* a /* b */ c */"), (Word, "x")],
        ),
        ("/* a /* b */", &[(Unterminated, "/* a /* b */")]),
        ("/*/", &[(Unterminated, "/*/")]),
        (
            "a-b/c",
            &[
                (Word, "a"),
                (Other, "-"),
                (Word, "b"),
                (Other, "/"),
                (Word, "c"),
            ],
        ),
    ];
    check_tokens(cases);
}

#[test]
fn tokens_of_dollars_words_and_punctuation() {
    use Kind::*;
    let cases: &[(&str, &[(Kind, &str)])] = &[
        // Dollar strings: `$$…$$` and `$tag$…$tag$`; another tag does not close.
        ("$$ it's $$", &[(DollarString, "$$ it's $$")]),
        (
            "$t$ $$ $u$ $t$;",
            &[(DollarString, "$t$ $$ $u$ $t$"), (Semicolon, ";")],
        ),
        ("$t$ no end", &[(Unterminated, "$t$ no end")]),
        ("$$", &[(Unterminated, "$$")]),
        // `$name` is a variable, `$1` a parameter, a lone `$` is punctuation.
        ("$x", &[(Variable, "$x")]),
        (
            "$_x1 + $Y",
            &[(Variable, "$_x1"), (Other, "+"), (Variable, "$Y")],
        ),
        ("a$b", &[(Word, "a"), (Variable, "$b")]),
        ("$1", &[(Parameter, "$1")]),
        ("$ 1", &[(Other, "$"), (Number, "1")]),
        ("$é", &[(Other, "$"), (Word, "é")]),
        // Words, numbers, punctuation.
        ("naïve_1.x", &[(Word, "naïve_1"), (Dot, "."), (Word, "x")]),
        (
            "1.5e3, 2.x",
            &[
                (Number, "1.5e3"),
                (Comma, ","),
                (Number, "2"),
                (Dot, "."),
                (Word, "x"),
            ],
        ),
        (
            "f(a);",
            &[
                (Word, "f"),
                (LParen, "("),
                (Word, "a"),
                (RParen, ")"),
                (Semicolon, ";"),
            ],
        ),
        ("??", &[(Other, "?"), (Other, "?")]),
        (
            "\r\r\n\n",
            &[(Newline, "\r"), (Newline, "\r\n"), (Newline, "\n")],
        ),
    ];
    check_tokens(cases);
}

/// Each text's tokens (blanks left out) are the expected `(kind, text)` pairs.
fn check_tokens(cases: &[(&str, &[(Kind, &str)])]) {
    for (sql, want) in cases {
        let want: Vec<String> = want.iter().map(|(k, t)| format!("{k:?}:{t}")).collect();
        assert_eq!(picture(sql), want, "{sql:?}");
    }
}

#[test]
fn code_search_skips_quotes_and_comments() {
    let cases: &[(&str, &[usize])] = &[
        ("a ?? b ??", &[1, 6]),
        ("' ??' ??", &[5]),
        ("\" ??\" ??", &[5]),
        ("-- ??\n ??", &[6]),
        ("/* ?? /* ?? */ ?? */ ??", &[20]),
        ("$$ ??$$ ??", &[7]),
        ("$t$ ?? $t$ ??", &[10]),
        ("x ??? ??", &[1, 5]),
        ("' ?? never closed", &[]),
    ];
    for (sql, want) in cases {
        assert_eq!(find_in_code(sql, " ??"), *want, "{sql:?}");
    }
}

#[test]
fn refs_in_joins_ctes_and_subqueries() {
    let refs = table_refs;
    assert_eq!(
        refs("with x as (select * from m.a) select * from x join m.b on x.id = m.b.id where y in (select id from \"m\".\"c\")"),
        vec![pair("m", "a"), pair("m", "b"), pair("x", "id"), pair("m", "c")]
    );
    assert_eq!(
        refs("select 'm.a', m.b -- m.c\n from /* m.d */ t"),
        vec![pair("m", "b")]
    );
    assert_eq!(refs("select m.fn(1) from cat.s.t"), vec![]);
}

#[test]
fn table_refs_table() {
    let cases: &[(&str, &[(&str, &str)])] = &[
        ("select * from s.t", &[("s", "t")]),
        ("select * from s . t", &[("s", "t")]),
        (
            "select * from s.t, s.t join s.u using (id)",
            &[("s", "t"), ("s", "u")],
        ),
        (
            "select * from \"my schema\".\"a\"\"b\"",
            &[("my schema", "a\"b")],
        ),
        ("select * from s./* gap */t", &[("s", "t")]),
        ("select $$s.t$$, $q$ s.u $q$ from s.v", &[("s", "v")]),
        ("select 1.5 from s.t", &[("s", "t")]),
        ("select s.fn (1)", &[]),
        ("select * from a.b.c", &[]),
        ("select * from s.'t'", &[]),
        (
            "select * from s.t where x = 'unterminated s.u",
            &[("s", "t")],
        ),
    ];
    for (sql, want) in cases {
        let want: Vec<(String, String)> = want.iter().map(|(a, b)| pair(a, b)).collect();
        assert_eq!(table_refs(sql), want, "{sql:?}");
    }
}

#[test]
fn words_leave_out_strings_and_comments_and_unquote_identifiers() {
    let cases: &[(&str, &[&str])] = &[
        ("select id from users", &["select", "id", "from", "users"]),
        ("select 'users' -- orders\n/* items */", &["select"]),
        (
            "select \"Users\", x$y from $$t$$",
            &["select", "Users", "x", "from"],
        ),
        ("select 12 from t1", &["select", "from", "t1"]),
    ];
    for (sql, want) in cases {
        assert_eq!(words(sql), *want, "{sql:?}");
    }
}

#[test]
fn view_tables_are_qualified() {
    let tables = vec!["repos27".to_string(), "repos1100".to_string()];
    assert_eq!(
        qualify_tables(
            "SELECT id as idkey, full_name as bigname from repos27",
            "mocksvc",
            &tables
        ),
        "SELECT id as idkey, full_name as bigname from \"mocksvc\".\"repos27\""
    );
    assert_eq!(
        qualify_tables(
            "SELECT count(id) as count, name from repos1100 where id != '5' group by name",
            "m",
            &tables
        ),
        "SELECT count(id) as count, name from \"m\".\"repos1100\" where id != '5' group by name"
    );
    assert_eq!(
        qualify_tables("select a.repos27 from repos27 a, repos1100 b join repos27 c on c.x = a.x", "m", &tables),
        "select a.repos27 from \"m\".\"repos27\" a, \"m\".\"repos1100\" b join \"m\".\"repos27\" c on c.x = a.x"
    );
}

#[test]
fn qualification_table() {
    let tables = vec!["t".to_string(), "u".to_string()];
    let cases: &[(&str, &str)] = &[
        ("select * from t", "select * from \"s\".\"t\""),
        (
            "SELECT * FROM t JOIN u ON t.a = u.a",
            "SELECT * FROM \"s\".\"t\" JOIN \"s\".\"u\" ON t.a = u.a",
        ),
        ("select * from other.t", "select * from other.t"),
        ("select t from x", "select t from x"),
        ("select * from 'from t'", "select * from 'from t'"),
        (
            "select * from t -- from u\n",
            "select * from \"s\".\"t\" -- from u\n",
        ),
        (
            "select * from /* t */ u",
            "select * from /* t */ \"s\".\"u\"",
        ),
        (
            "select * from x where y in (select * from u)",
            "select * from x where y in (select * from \"s\".\"u\")",
        ),
        ("select * from x, t", "select * from x, \"s\".\"t\""),
        ("select a, t from x", "select a, t from x"),
        ("select * from t.c", "select * from t.c"),
    ];
    for (sql, want) in cases {
        assert_eq!(qualify_tables(sql, "s", &tables), *want, "{sql:?}");
    }
}

#[test]
fn last_table_substitution() {
    let recent = vec![pair("mocksvc", "repos27")];
    assert_eq!(
        replace_last_table("select count(*) from ??", &recent).unwrap(),
        "select count(*) from mocksvc.repos27"
    );
    assert_eq!(
        replace_last_table("select ' ??'", &[]).unwrap(),
        "select ' ??'"
    );
    assert_eq!(
        replace_last_table("select ' ??', x from ?? where y = 'a ??'", &recent).unwrap(),
        "select ' ??', x from mocksvc.repos27 where y = 'a ??'"
    );
    assert!(replace_last_table("select * from ??", &[]).is_err());
    // Comments and quoted identifiers are not code.
    assert_eq!(
        replace_last_table("select 1 -- like ??\n, \" ??\" /* ?? */", &[]).unwrap(),
        "select 1 -- like ??\n, \" ??\" /* ?? */"
    );
    // '' inside a string does not end it early.
    assert_eq!(
        replace_last_table("select 'it''s ??' from ??", &recent).unwrap(),
        "select 'it''s ??' from mocksvc.repos27"
    );
}

#[test]
fn last_table_substitution_table() {
    let recent = vec![pair("s", "t")];
    let cases: &[(&str, &str)] = &[
        ("select * from ??", "select * from s.t"),
        (
            "select * from ?? join ?? using (id)",
            "select * from s.t join s.t using (id)",
        ),
        ("select $$ ??$$ from ??", "select $$ ??$$ from s.t"),
        ("select $q$ ?? $q$ from ??", "select $q$ ?? $q$ from s.t"),
        ("select /* /* ?? */ ?? */ 1", "select /* /* ?? */ ?? */ 1"),
        ("??", "??"),
        ("select\t??", "select\t??"),
    ];
    for (sql, want) in cases {
        assert_eq!(replace_last_table(sql, &recent).unwrap(), *want, "{sql:?}");
    }
    assert_eq!(
        replace_last_table("select * from ??", &[])
            .unwrap_err()
            .to_string(),
        "Can't find previous table to replace '??'"
    );
}

#[test]
fn variables_are_substituted_in_code_only() {
    let value = |name: &str| -> Result<String, String> {
        match name {
            "x" => Ok("42".into()),
            "recs" => Ok("temp.\"var_recs\"".into()),
            "s" => Ok("'it''s'".into()),
            other => Err(format!("unknown variable ${other}")),
        }
    };
    let cases: &[(&str, Result<&str, &str>)] = &[
        ("select $x", Ok("select 42")),
        (
            "select * from $recs where a = $x",
            Ok("select * from temp.\"var_recs\" where a = 42"),
        ),
        (
            "select $s, '$x', \"$x\"",
            Ok("select 'it''s', '$x', \"$x\""),
        ),
        (
            "select 1 -- $x\n, 2 /* $x */",
            Ok("select 1 -- $x\n, 2 /* $x */"),
        ),
        (
            "select $$ $x $$, $t$ $x $t$",
            Ok("select $$ $x $$, $t$ $x $t$"),
        ),
        ("select a$x", Ok("select a42")),
        ("select $1, $ x", Ok("select $1, $ x")),
        ("select 'it''s $x' || $x", Ok("select 'it''s $x' || 42")),
        ("select $nope", Err("unknown variable $nope")),
        ("select 'no dollar'", Ok("select 'no dollar'")),
    ];
    for (sql, want) in cases {
        let got = substitute_vars(sql, value);
        assert_eq!(
            got.as_deref(),
            want.map_err(|e| e.to_string()).as_deref(),
            "{sql:?}"
        );
    }
}

#[test]
fn leading_comments_are_skipped() {
    let cases: &[(&str, &str)] = &[
        ("create view v", "create view v"),
        (
            "  -- a note\n/* and /* nested */ */ create view v",
            "create view v",
        ),
        ("--only\r\n\t", ""),
        ("/* never closed create", ""),
        ("'-- a string' x", "'-- a string' x"),
        ("", ""),
    ];
    for (sql, want) in cases {
        assert_eq!(without_leading_comments(sql), *want, "{sql:?}");
    }
}
