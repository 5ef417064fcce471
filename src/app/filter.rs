//! The `/` filter of every list, as k9s users type it: a regular expression matched anywhere
//! in a row's words, letters in either case; a leading `!` keeps the rows that do not match.
//! Text that is not a valid expression (`v1(`) is matched as it is written.

use regex::Regex;

#[derive(Debug, Clone)]
pub struct RowFilter {
    invert: bool,
    pattern: Option<Pattern>,
}

#[derive(Debug, Clone)]
enum Pattern {
    Expression(Regex),
    Text(String),
}

impl RowFilter {
    pub fn new(text: &str) -> RowFilter {
        let (invert, text) = match text.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let pattern = (!text.is_empty()).then(|| {
            match regex::RegexBuilder::new(text)
                .case_insensitive(true)
                .size_limit(1 << 20)
                .build()
            {
                Ok(expression) => Pattern::Expression(expression),
                Err(_) => Pattern::Text(text.to_lowercase()),
            }
        });
        RowFilter { invert, pattern }
    }

    /// Whether a row whose words are `fields` is shown.
    pub fn accepts(&self, fields: &[&str]) -> bool {
        let Some(pattern) = &self.pattern else {
            return true;
        };
        let found = fields.iter().any(|f| match pattern {
            Pattern::Expression(e) => e.is_match(f),
            Pattern::Text(t) => f.to_lowercase().contains(t),
        });
        found != self.invert
    }

    /// Whether it lets every row through.
    pub fn is_empty(&self) -> bool {
        self.pattern.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_inversion_and_plain_text() {
        let rows = ["fraud-eu", "fraud-us", "churn"];
        let shown = |text: &str| -> Vec<&str> {
            let f = RowFilter::new(text);
            rows.iter().copied().filter(|r| f.accepts(&[r])).collect()
        };
        assert_eq!(shown(""), rows);
        assert_eq!(shown("FRAUD"), ["fraud-eu", "fraud-us"]);
        assert_eq!(shown("-(eu|us)$"), ["fraud-eu", "fraud-us"]);
        assert_eq!(shown("^fraud-e"), ["fraud-eu"]);
        assert_eq!(shown("!fraud"), ["churn"]);
        assert_eq!(shown("!"), rows, "a lone ! hides nothing");
        // Not an expression: matched as written.
        assert_eq!(shown("churn("), Vec::<&str>::new());
        assert!(RowFilter::new("u(").accepts(&["menu(1)"]));
    }
}
