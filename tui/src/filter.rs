//! The filter language of the `/` prompt: terms separated by spaces, all of which a GPU
//! must match.
//!
//! - a word matches when it occurs in the node, GPU name, GPU id, model, job or team
//!   (`h100`, `search`, `node-07`); `*` inside it matches anything;
//! - `util<5`, `util>90`, `mem>50` (percent of the limit), `power>300` (watts),
//!   `temp>80` (°C), also with `<=` and `>=`; a GPU that did not send the value does not
//!   match;
//! - `node=node-0*`, `gpu=gpu3`, `model=*h100*`, `job=4411`, `team=search`: the whole
//!   value, `*` matching anything; `!=` for "not";
//! - `state=hang`, `state!=ok`, `state=st*`: the state badge (OK, IDLE, THROTTLE,
//!   STARVED, STRAGGLER, STALL, HANG, XID, ABSENT); a word that is none of them is
//!   refused rather than matching nothing.
//!
//! Case never matters. Parsing is separate from matching, and an error names the term
//! and says what would be right.

use gpuwatch_model::api::GpuView;

use crate::gpu_state::GpuState;

/// A parsed filter. The default one matches every GPU.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// The terms as typed, separated by one space.
    text: String,
    terms: Vec<Term>,
}

#[derive(Debug, Clone, PartialEq)]
enum Term {
    Word(Glob),
    Number {
        field: NumberField,
        op: Cmp,
        value: f64,
    },
    Label {
        field: LabelField,
        negate: bool,
        pattern: Glob,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumberField {
    Util,
    Mem,
    Power,
    Temp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LabelField {
    Node,
    Gpu,
    Model,
    Job,
    Team,
    State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

/// Why a filter did not parse. Each message quotes the term and shows a right one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("`{term}`: put a field before `{op}`, e.g. util{op}5")]
    MissingField { term: String, op: &'static str },
    #[error("`{term}`: no field `{field}`; try {FIELDS}")]
    UnknownField { term: String, field: String },
    #[error("`{term}`: a value is missing after `{op}`")]
    MissingValue { term: String, op: &'static str },
    #[error("`{term}`: `{value}` is not a number")]
    NotANumber { term: String, value: String },
    #[error("`{term}`: {field} compares with <, <=, > or >=, e.g. {field}>50")]
    NumberNeedsComparison { term: String, field: &'static str },
    #[error("`{term}`: {field} takes = or !=, e.g. {field}={example}")]
    LabelNeedsEquality {
        term: String,
        field: &'static str,
        example: &'static str,
    },
    #[error("`{term}`: one comparison per term; separate terms with spaces")]
    TwoOperators { term: String },
    #[error("`{term}`: no state `{value}`; try {STATES}")]
    UnknownState { term: String, value: String },
}

const FIELDS: &str = "util mem power temp node gpu model job team state";
const STATES: &str = "ok idle throttle starved straggler stall hang xid absent";

impl Filter {
    /// Parses what the user typed. Empty text (or only spaces) is the match-all filter.
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        let terms = text
            .split_whitespace()
            .map(parse_term)
            .collect::<Result<_, _>>()?;
        Ok(Filter {
            text: text.split_whitespace().collect::<Vec<_>>().join(" "),
            terms,
        })
    }

    /// True for the filter that lets everything through.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The terms as typed, separated by one space; empty for the match-all filter.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether `gpu`, whose badge is `state`, passes every term.
    pub fn matches(&self, gpu: &GpuView, state: GpuState) -> bool {
        self.terms.iter().all(|t| t.matches(gpu, state))
    }
}

impl Term {
    fn matches(&self, gpu: &GpuView, state: GpuState) -> bool {
        match self {
            Term::Word(glob) => [
                Some(gpu.node.as_str()),
                Some(gpu.name.as_str()),
                Some(gpu.id.as_str()),
                gpu.model.as_deref(),
                gpu.job.as_deref(),
                gpu.team.as_deref(),
            ]
            .into_iter()
            .flatten()
            .any(|text| glob.matches(text)),
            Term::Number { field, op, value } => field
                .value(gpu)
                .filter(|v| v.is_finite())
                .is_some_and(|v| op.holds(v, *value)),
            Term::Label {
                field,
                negate,
                pattern,
            } => {
                // A GPU without a job is not `job=4411`, and is `job!=4411`.
                let found = field
                    .value(gpu, state)
                    .is_some_and(|text| pattern.matches(text));
                found != *negate
            }
        }
    }
}

impl NumberField {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "util" => NumberField::Util,
            "mem" => NumberField::Mem,
            "power" => NumberField::Power,
            "temp" => NumberField::Temp,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            NumberField::Util => "util",
            NumberField::Mem => "mem",
            NumberField::Power => "power",
            NumberField::Temp => "temp",
        }
    }

    /// Units the value may carry, lower case: `util<5%`, `power>300w`, `temp>80c`.
    fn units(self) -> &'static [&'static str] {
        match self {
            NumberField::Util | NumberField::Mem => &["%"],
            NumberField::Power => &["w"],
            NumberField::Temp => &["°c", "c"],
        }
    }

    /// The GPU's value in the unit the user writes: percent, watts, °C.
    fn value(self, gpu: &GpuView) -> Option<f64> {
        match self {
            NumberField::Util => gpu.utilization.map(|u| u * 100.0),
            NumberField::Mem => match (gpu.memory_used_bytes, gpu.memory_limit_bytes) {
                (Some(used), Some(limit)) if limit > 0.0 => Some(used / limit * 100.0),
                _ => None,
            },
            NumberField::Power => gpu.power_watts,
            NumberField::Temp => gpu.temperature_celsius,
        }
    }
}

impl LabelField {
    fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "node" => LabelField::Node,
            "gpu" => LabelField::Gpu,
            "model" => LabelField::Model,
            "job" => LabelField::Job,
            "team" => LabelField::Team,
            "state" => LabelField::State,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            LabelField::Node => "node",
            LabelField::Gpu => "gpu",
            LabelField::Model => "model",
            LabelField::Job => "job",
            LabelField::Team => "team",
            LabelField::State => "state",
        }
    }

    fn example(self) -> &'static str {
        match self {
            LabelField::Node => "node-0*",
            LabelField::Gpu => "gpu3",
            LabelField::Model => "*h100*",
            LabelField::Job => "4411",
            LabelField::Team => "search",
            LabelField::State => "hang",
        }
    }

    fn value(self, gpu: &GpuView, state: GpuState) -> Option<&str> {
        match self {
            LabelField::State => Some(state.word()),
            LabelField::Node => Some(&gpu.node),
            LabelField::Gpu => Some(&gpu.name),
            LabelField::Model => gpu.model.as_deref(),
            LabelField::Job => gpu.job.as_deref(),
            LabelField::Team => gpu.team.as_deref(),
        }
    }
}

impl Cmp {
    fn symbol(self) -> &'static str {
        match self {
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
            Cmp::Eq => "=",
            Cmp::Ne => "!=",
        }
    }

    fn holds(self, left: f64, right: f64) -> bool {
        match self {
            Cmp::Lt => left < right,
            Cmp::Le => left <= right,
            Cmp::Gt => left > right,
            Cmp::Ge => left >= right,
            // Numbers take only orderings; the parser refuses these.
            Cmp::Eq | Cmp::Ne => false,
        }
    }
}

/// Where the first comparison starts: at `<`, `>`, `=` or the `!` of `!=`.
fn operator_at(term: &str) -> Option<usize> {
    term.char_indices()
        .find(|&(i, c)| matches!(c, '<' | '>' | '=') || term[i..].starts_with("!="))
        .map(|(i, _)| i)
}

fn parse_term(term: &str) -> Result<Term, FilterError> {
    let Some(at) = operator_at(term) else {
        return Ok(Term::Word(Glob::new(&format!("*{term}*"))));
    };
    let (field, rest) = term.split_at(at);
    let op = [
        ("<=", Cmp::Le),
        (">=", Cmp::Ge),
        ("!=", Cmp::Ne),
        ("<", Cmp::Lt),
        (">", Cmp::Gt),
        ("=", Cmp::Eq),
    ]
    .into_iter()
    .find(|(symbol, _)| rest.starts_with(symbol))
    .map(|(_, op)| op);
    let Some(op) = op else {
        // `operator_at` stops only where one of the symbols starts.
        return Err(FilterError::TwoOperators { term: term.into() });
    };
    let value = &rest[op.symbol().len()..];
    let field = field.to_ascii_lowercase();
    if field.is_empty() {
        return Err(FilterError::MissingField {
            term: term.into(),
            op: op.symbol(),
        });
    }
    if operator_at(value).is_some() {
        return Err(FilterError::TwoOperators { term: term.into() });
    }
    if value.is_empty() {
        return Err(FilterError::MissingValue {
            term: term.into(),
            op: op.symbol(),
        });
    }
    if let Some(field) = NumberField::parse(&field) {
        if matches!(op, Cmp::Eq | Cmp::Ne) {
            return Err(FilterError::NumberNeedsComparison {
                term: term.into(),
                field: field.name(),
            });
        }
        let lower = value.to_lowercase();
        let number = field
            .units()
            .iter()
            .find_map(|unit| lower.strip_suffix(unit))
            .unwrap_or(&lower);
        let value = number
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| FilterError::NotANumber {
                term: term.into(),
                value: value.into(),
            })?;
        return Ok(Term::Number { field, op, value });
    }
    if let Some(field) = LabelField::parse(&field) {
        if !matches!(op, Cmp::Eq | Cmp::Ne) {
            return Err(FilterError::LabelNeedsEquality {
                term: term.into(),
                field: field.name(),
                example: field.example(),
            });
        }
        // A misspelt state would match nothing and look like good news.
        if field == LabelField::State && !value.contains('*') && GpuState::parse(value).is_none() {
            return Err(FilterError::UnknownState {
                term: term.into(),
                value: value.into(),
            });
        }
        return Ok(Term::Label {
            field,
            negate: op == Cmp::Ne,
            pattern: Glob::new(value),
        });
    }
    Err(FilterError::UnknownField {
        term: term.into(),
        field,
    })
}

/// A whole-text pattern where `*` matches any run of characters, ASCII case ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Glob {
    /// Lower case.
    pattern: Vec<u8>,
}

impl Glob {
    fn new(pattern: &str) -> Self {
        Glob {
            pattern: pattern.to_ascii_lowercase().into_bytes(),
        }
    }

    /// Greedy match with one point of return: the last `*` seen. Linear for patterns
    /// without `*`, and at worst text × pattern; no allocation.
    fn matches(&self, text: &str) -> bool {
        let (p, t) = (&self.pattern, text.as_bytes());
        let (mut pi, mut ti) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ti < t.len() {
            if pi < p.len() && p[pi] == b'*' {
                star = Some((pi, ti));
                pi += 1;
            } else if pi < p.len() && p[pi] == t[ti].to_ascii_lowercase() {
                pi += 1;
                ti += 1;
            } else if let Some((star_p, star_t)) = star {
                // Let the last `*` swallow one more character and try again.
                pi = star_p + 1;
                ti = star_t + 1;
                star = Some((star_p, star_t + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|&c| c == b'*')
    }
}

#[cfg(test)]
mod tests;
