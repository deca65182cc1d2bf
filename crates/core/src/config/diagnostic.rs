//! Errors that point at a place in a file: `file:line:column: message`, the
//! offending line, a caret under the span, and a hint when we have one.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem found in a file, located by byte span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: Option<String>,
    /// The source line and the caret line under it, ready to print.
    pub excerpt: Option<(String, String)>,
}

impl Diagnostic {
    /// Builds a diagnostic for `span` (byte offsets) in `source`.
    pub fn at(file: &Path, source: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        let (line, column) = line_column(source, span.start);
        let line_text = source.lines().nth(line - 1).unwrap_or("").to_string();
        let start_col = column - 1;
        let span_len = source
            .get(span.clone())
            .map(|s| s.lines().next().unwrap_or("").chars().count())
            .unwrap_or(1)
            .max(1);
        let caret = format!("{}{}", " ".repeat(start_col), "^".repeat(span_len));
        Diagnostic {
            file: file.to_path_buf(),
            line,
            column,
            message: message.into(),
            hint: None,
            excerpt: Some((line_text, caret)),
        }
    }

    /// A diagnostic about a whole file (it could not be read at all).
    pub fn whole_file(file: &Path, message: impl Into<String>) -> Self {
        Diagnostic {
            file: file.to_path_buf(),
            line: 1,
            column: 1,
            message: message.into(),
            hint: None,
            excerpt: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// `file:line:column`, the part tests and editors look for.
    pub fn location(&self) -> String {
        format!("{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The path comes from the command line, the message may quote the file.
        writeln!(
            f,
            "{}: error: {}",
            crate::sanitize::one_line(&self.location()),
            crate::sanitize::one_line(&self.message)
        )?;
        if let Some((text, caret)) = &self.excerpt {
            let gutter = self.line.to_string();
            writeln!(f, " {gutter} | {}", crate::sanitize::one_line(text))?;
            writeln!(f, " {} | {caret}", " ".repeat(gutter.len()))?;
        }
        if let Some(hint) = &self.hint {
            writeln!(f, "   hint: {}", crate::sanitize::one_line(hint))?;
        }
        Ok(())
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The closest candidate to `word`, if it is close enough to be a typo.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let src = "a = 1\nbé = 2\n";
        assert_eq!(line_column(src, 0), (1, 1));
        assert_eq!(line_column(src, 6), (2, 1));
        assert_eq!(line_column(src, src.find('=').unwrap()), (1, 3));
        let second_eq = src.rfind('=').unwrap();
        assert_eq!(line_column(src, second_eq), (2, 4));
    }

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(did_you_mean("adress", &["address", "user"]), Some("address"));
        assert_eq!(did_you_mean("zzz", &["address", "user"]), None);
    }

    #[test]
    fn renders_excerpt_with_caret() {
        let src = "[[hosts]]\nadress = \"x\"\n";
        let d = Diagnostic::at(Path::new("v.toml"), src, 10..16, "unknown key `adress`")
            .with_hint("did you mean `address`?");
        let text = d.to_string();
        assert!(text.starts_with("v.toml:2:1: error: unknown key `adress`"));
        assert!(text.contains(" 2 | adress = \"x\""));
        assert!(text.contains("   | ^^^^^^"));
        assert!(text.contains("hint: did you mean `address`?"));
    }
}
