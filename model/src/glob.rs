//! Name patterns as shells write them: `*` any run of characters, `?` one, anything
//! else itself. Used for the agent's `[[agent.jobs]]` matchers and the collector's
//! `host.name` restrictions on tokens.

/// A name pattern: exact, or a glob where `*` matches any run of characters and `?`
/// one character.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob(String);

impl Glob {
    pub fn new(pattern: impl Into<String>) -> Glob {
        Glob(pattern.into())
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `text` matches as a whole.
    pub fn matches(&self, text: &str) -> bool {
        glob(
            &self.0.chars().collect::<Vec<_>>(),
            &text.chars().collect::<Vec<_>>(),
        )
    }
}

/// Iterative glob match with backtracking to the last `*`.
fn glob(pattern: &[char], text: &[char]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(c) if *c == '?' || *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|c| *c == '*')
}

impl std::fmt::Display for Glob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_names() {
        let cases = [
            ("python", "python", true),
            ("python", "python3", false),
            ("python*", "python3", true),
            ("python*", "python", true),
            ("*torch*", "torchrun", true),
            ("*run", "torchrun", true),
            ("*run", "runner", false),
            ("py?hon", "python", true),
            ("py?hon", "pyhon", false),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("*", "", true),
            ("", "", true),
            ("", "x", false),
            ("ünï*", "ünïcode", true),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(Glob::new(pattern).matches(text), want, "{pattern} {text}");
        }
    }
}
