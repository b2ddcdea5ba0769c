//! The filter language as tables: what matches, what does not, what is refused and
//! with which words.

use super::*;

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// node-07 gpu3, an H100 at 42% with 60 of 80 GiB, 350 W, 81 °C, job 4411 of team
/// llm-pretrain.
fn busy() -> GpuView {
    GpuView {
        node: "node-07".into(),
        id: "GPU-6f1c2a".into(),
        name: "gpu3".into(),
        model: Some("NVIDIA H100 80GB HBM3".into()),
        utilization: Some(0.42),
        memory_used_bytes: Some(60.0 * GIB),
        memory_limit_bytes: Some(80.0 * GIB),
        power_watts: Some(350.0),
        temperature_celsius: Some(81.0),
        job: Some("4411".into()),
        team: Some("llm-pretrain".into()),
        ..GpuView::default()
    }
}

/// A GPU that sent only its name.
fn bare() -> GpuView {
    GpuView {
        node: "edge-1".into(),
        id: "GPU-0000".into(),
        name: "gpu0".into(),
        ..GpuView::default()
    }
}

fn matches(filter: &str, gpu: &GpuView) -> bool {
    matches_in_state(filter, gpu, GpuState::Ok)
}

fn matches_in_state(filter: &str, gpu: &GpuView, state: GpuState) -> bool {
    Filter::parse(filter)
        .unwrap_or_else(|e| panic!("{filter:?} should parse: {e}"))
        .matches(gpu, state)
}

#[test]
fn terms_match_the_gpus_they_describe() {
    // (filter, matches busy(), matches bare())
    let cases = [
        ("", true, true),
        ("   ", true, true),
        // Words: anywhere in node, name, id, model, job, team; case ignored.
        ("node-07", true, false),
        ("NODE-07", true, false),
        ("h100", true, false),
        ("pretrain", true, false),
        ("4411", true, false),
        ("gpu3", true, false),
        ("6f1c", true, false),
        ("gpu", true, true),
        ("n*7", true, false),
        ("a100", false, false),
        ("hello!", false, false),
        // Numbers, in the units shown: percent, percent of limit, watts, °C.
        ("util<5", false, false),
        ("util>40", true, false),
        ("util>42", false, false),
        ("util>=42", true, false),
        ("util<=42", true, false),
        ("util<42.5%", true, false),
        ("UTIL>90", false, false),
        ("mem>50", true, false),
        ("mem>75", false, false),
        ("mem>=75", true, false),
        ("power>300", true, false),
        ("power<300W", false, false),
        ("temp>80", true, false),
        ("temp>80°C", true, false),
        ("temp<80c", false, false),
        // Labels: the whole value, `*` for anything, `!=` for not.
        ("node=node-07", true, false),
        ("node=node-0*", true, false),
        ("node=node-0", false, false),
        ("node=*", true, true),
        ("node!=node-0*", false, true),
        ("gpu=gpu3", true, false),
        ("model=*h100*", true, false),
        ("model=h100", false, false),
        ("job=4411", true, false),
        ("job=441", false, false),
        ("job=44*1", true, false),
        ("job!=4411", false, true),
        ("team=llm-*", true, false),
        ("team=search", false, false),
        ("Team=LLM-PRETRAIN", true, false),
        // Several terms: all of them.
        ("util>40 temp>80", true, false),
        ("util>40 temp>90", false, false),
        ("node=node-0* job=4411 h100", true, false),
        ("gpu   util<100", true, false),
    ];
    for (filter, want_busy, want_bare) in cases {
        assert_eq!(matches(filter, &busy()), want_busy, "{filter:?} on busy");
        assert_eq!(matches(filter, &bare()), want_bare, "{filter:?} on bare");
    }
}

#[test]
fn bad_terms_are_refused_with_a_reason() {
    let cases = [
        ("util<abc", "`util<abc`: `abc` is not a number"),
        ("util<", "`util<`: a value is missing after `<`"),
        ("job=", "`job=`: a value is missing after `=`"),
        ("<5", "`<5`: put a field before `<`, e.g. util<5"),
        (
            "foo>1",
            "`foo>1`: no field `foo`; try util mem power temp node gpu model job team state",
        ),
        (
            "util=5",
            "`util=5`: util compares with <, <=, > or >=, e.g. util>50",
        ),
        (
            "temp!=80",
            "`temp!=80`: temp compares with <, <=, > or >=, e.g. temp>50",
        ),
        ("node<5", "`node<5`: node takes = or !=, e.g. node=node-0*"),
        ("job>=4411", "`job>=4411`: job takes = or !=, e.g. job=4411"),
        (
            "util<<5",
            "`util<<5`: one comparison per term; separate terms with spaces",
        ),
        (
            "util>5<9",
            "`util>5<9`: one comparison per term; separate terms with spaces",
        ),
        ("util<inf", "`util<inf`: `inf` is not a number"),
        ("power>NaN", "`power>NaN`: `NaN` is not a number"),
        ("util<5W", "`util<5W`: `5W` is not a number"),
        (
            "state=hung",
            "`state=hung`: no state `hung`; try ok idle throttle starved straggler stall hang xid absent",
        ),
        ("state>ok", "`state>ok`: state takes = or !=, e.g. state=hang"),
        // The first bad term is the one reported, even after good ones.
        ("h100 util<5 mem>x", "`mem>x`: `x` is not a number"),
    ];
    for (filter, want) in cases {
        match Filter::parse(filter) {
            Ok(parsed) => panic!("{filter:?} parsed as {parsed:?}"),
            Err(e) => assert_eq!(e.to_string(), want, "{filter:?}"),
        }
    }
}

#[test]
fn missing_values_match_no_comparison() {
    for filter in ["util<101", "util>-1", "mem<101", "power>=0", "temp<1000"] {
        assert!(matches(filter, &busy()), "{filter}");
        assert!(!matches(filter, &bare()), "{filter}");
    }
    let no_limit = GpuView {
        memory_used_bytes: Some(GIB),
        memory_limit_bytes: None,
        ..busy()
    };
    assert!(!matches("mem>=0", &no_limit), "no limit, no percent");
}

#[test]
fn the_text_is_kept_tidy_for_the_footer() {
    let filter = Filter::parse("  util<5   node=node-0* ").expect("valid");
    assert_eq!(filter.text(), "util<5 node=node-0*");
    assert!(!filter.is_empty());
    let empty = Filter::parse(" ").expect("valid");
    assert!(empty.is_empty());
    assert_eq!(empty, Filter::default());
}

#[test]
fn glob_stars_match_any_run() {
    let cases = [
        ("abc", "abc", true),
        ("abc", "abcd", false),
        ("a*", "a", true),
        ("a*c", "abbbc", true),
        ("a*c", "abbbd", false),
        ("*b*", "abc", true),
        ("*", "", true),
        ("**", "x", true),
        ("a*b*c", "aXbYbZc", true),
        ("a*b*c", "acb", false),
        ("", "", true),
        ("", "a", false),
        ("ÄB", "äb", false),
        ("äb", "äb", true),
    ];
    for (pattern, text, want) in cases {
        assert_eq!(
            Glob::new(pattern).matches(text),
            want,
            "{pattern:?} on {text:?}"
        );
    }
}

#[test]
fn state_terms_match_the_badge() {
    // (filter, state, matches)
    let cases = [
        ("state=hang", GpuState::Hang, true),
        ("state=HANG", GpuState::Hang, true),
        ("State=Hang", GpuState::Hang, true),
        ("state=hang", GpuState::Stall, false),
        ("state!=ok", GpuState::Idle, true),
        ("state!=ok", GpuState::Ok, false),
        ("state=st*", GpuState::Stall, true),
        ("state=st*", GpuState::Straggler, true),
        ("state=st*", GpuState::Starved, true),
        ("state=st*", GpuState::Throttle, false),
        ("state=absent", GpuState::Absent, true),
        ("state=idle job=4411", GpuState::Idle, true),
        ("state=idle job=17", GpuState::Idle, false),
    ];
    for (filter, state, want) in cases {
        assert_eq!(
            matches_in_state(filter, &busy(), state),
            want,
            "{filter:?} on {state:?}"
        );
    }
    for state in GpuState::ALL {
        let exact = format!("state={}", state.word().to_lowercase());
        assert!(matches_in_state(&exact, &bare(), state), "{exact}");
    }
}
