//! C preprocessor expressions as seL4's XML conditions and header `#if`s use them (`defined X`,
//! `defined(X)`, `CONFIG_MAX_NUM_NODES > 1`, `!`, `&&`, `||`, `+`, `-`), and enumerator values
//! (`CONFIG_NUM_PRIORITIES - 1`, a previous enumerator's name).

use std::fmt;

/// Where an expression's names get their values.
pub trait Symbols {
    /// Whether `name` is defined (`defined NAME`).
    fn is_defined(&self, name: &str) -> bool;
    /// The value of `name` used as a number (C's `#if` counts an undefined name as 0).
    fn value(&self, name: &str) -> Result<i64, ExpressionError>;
}

/// Why an expression could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpressionError {
    /// A character or construct outside the subset above.
    Syntax { expression: String, at: String },
    /// A name with no numeric value where one is needed.
    NotANumber { name: String },
}

impl fmt::Display for ExpressionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Syntax { expression, at } => {
                write!(f, "cannot evaluate `{expression}`: unexpected `{at}`")
            }
            Self::NotANumber { name } => write!(f, "`{name}` has no numeric value"),
        }
    }
}

/// Evaluates `expression`; non-zero is true.
pub fn evaluate(expression: &str, symbols: &dyn Symbols) -> Result<i64, ExpressionError> {
    let tokens = tokenize(expression)?;
    let mut parser = Parser {
        tokens: &tokens,
        position: 0,
        expression,
        symbols,
    };
    let value = parser.or()?;
    match parser.tokens.get(parser.position) {
        None => Ok(value),
        Some(token) => Err(parser.syntax(token)),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Name(String),
    Number(i64),
    Operator(&'static str),
}

const OPERATORS: &[&str] = &[
    "&&", "||", "==", "!=", "<=", ">=", "<<", ">>", "<", ">", "!", "(", ")", "+", "-", "*", "~",
];

fn tokenize(expression: &str) -> Result<Vec<Token>, ExpressionError> {
    let mut tokens = Vec::new();
    let mut rest = expression.trim_start();
    while let Some(c) = rest.chars().next() {
        if c.is_ascii_alphabetic() || c == '_' {
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
            let (name, tail) = rest.split_at(end.unwrap_or(rest.len()));
            tokens.push(Token::Name(name.to_owned()));
            rest = tail;
        } else if c.is_ascii_digit() {
            let end = rest.find(|c: char| !c.is_ascii_alphanumeric());
            let (literal, tail) = rest.split_at(end.unwrap_or(rest.len()));
            let value =
                crate::config::parse_integer(literal).ok_or_else(|| ExpressionError::Syntax {
                    expression: expression.to_owned(),
                    at: literal.into(),
                })?;
            tokens.push(Token::Number(value));
            rest = tail;
        } else if let Some(operator) = OPERATORS.iter().find(|op| rest.starts_with(**op)) {
            tokens.push(Token::Operator(operator));
            rest = &rest[operator.len()..];
        } else {
            return Err(ExpressionError::Syntax {
                expression: expression.to_owned(),
                at: c.to_string(),
            });
        }
        rest = rest.trim_start();
    }
    Ok(tokens)
}

struct Parser<'a> {
    tokens: &'a [Token],
    position: usize,
    expression: &'a str,
    symbols: &'a dyn Symbols,
}

impl Parser<'_> {
    fn syntax(&self, token: &Token) -> ExpressionError {
        let at = match token {
            Token::Name(name) => name.clone(),
            Token::Number(value) => value.to_string(),
            Token::Operator(operator) => (*operator).to_owned(),
        };
        ExpressionError::Syntax {
            expression: self.expression.to_owned(),
            at,
        }
    }

    fn end(&self) -> ExpressionError {
        ExpressionError::Syntax {
            expression: self.expression.to_owned(),
            at: "end".into(),
        }
    }

    fn take_operator(&mut self, candidates: &[&'static str]) -> Option<&'static str> {
        match self.tokens.get(self.position) {
            Some(Token::Operator(op)) if candidates.contains(op) => {
                self.position += 1;
                Some(op)
            }
            _ => None,
        }
    }

    fn expect_operator(&mut self, operator: &'static str) -> Result<(), ExpressionError> {
        match self.tokens.get(self.position) {
            Some(Token::Operator(op)) if *op == operator => {
                self.position += 1;
                Ok(())
            }
            Some(token) => Err(self.syntax(token)),
            None => Err(self.end()),
        }
    }

    fn or(&mut self) -> Result<i64, ExpressionError> {
        let mut value = self.and()?;
        while self.take_operator(&["||"]).is_some() {
            let right = self.and()?;
            value = i64::from(value != 0 || right != 0);
        }
        Ok(value)
    }

    fn and(&mut self) -> Result<i64, ExpressionError> {
        let mut value = self.equality()?;
        while self.take_operator(&["&&"]).is_some() {
            let right = self.equality()?;
            value = i64::from(value != 0 && right != 0);
        }
        Ok(value)
    }

    fn equality(&mut self) -> Result<i64, ExpressionError> {
        let mut value = self.relation()?;
        while let Some(op) = self.take_operator(&["==", "!="]) {
            let right = self.relation()?;
            value = i64::from((value == right) == (op == "=="));
        }
        Ok(value)
    }

    fn relation(&mut self) -> Result<i64, ExpressionError> {
        let mut value = self.shift()?;
        while let Some(op) = self.take_operator(&["<=", ">=", "<", ">"]) {
            let right = self.shift()?;
            value = i64::from(match op {
                "<=" => value <= right,
                ">=" => value >= right,
                "<" => value < right,
                _ => value > right,
            });
        }
        Ok(value)
    }

    fn shift(&mut self) -> Result<i64, ExpressionError> {
        let mut value = self.sum()?;
        while let Some(op) = self.take_operator(&["<<", ">>"]) {
            let right = self.sum()?;
            let amount = u32::try_from(right).unwrap_or(u32::MAX);
            value = if op == "<<" {
                value.checked_shl(amount).unwrap_or(0)
            } else {
                value.checked_shr(amount).unwrap_or(0)
            };
        }
        Ok(value)
    }

    fn sum(&mut self) -> Result<i64, ExpressionError> {
        let mut value = self.product()?;
        while let Some(op) = self.take_operator(&["+", "-"]) {
            let right = self.product()?;
            value = if op == "+" {
                value.wrapping_add(right)
            } else {
                value.wrapping_sub(right)
            };
        }
        Ok(value)
    }

    fn product(&mut self) -> Result<i64, ExpressionError> {
        let mut value = self.unary()?;
        while self.take_operator(&["*"]).is_some() {
            value = value.wrapping_mul(self.unary()?);
        }
        Ok(value)
    }

    fn unary(&mut self) -> Result<i64, ExpressionError> {
        match self.take_operator(&["!", "-", "~"]) {
            Some("!") => Ok(i64::from(self.unary()? == 0)),
            Some("-") => Ok(self.unary()?.wrapping_neg()),
            Some(_) => Ok(!self.unary()?),
            None => self.primary(),
        }
    }

    fn primary(&mut self) -> Result<i64, ExpressionError> {
        let token = self
            .tokens
            .get(self.position)
            .cloned()
            .ok_or_else(|| self.end())?;
        self.position += 1;
        match token {
            Token::Number(value) => Ok(value),
            Token::Name(name) if name == "defined" => {
                let parenthesised = self.take_operator(&["("]).is_some();
                let name = match self.tokens.get(self.position) {
                    Some(Token::Name(name)) => name.clone(),
                    Some(token) => return Err(self.syntax(token)),
                    None => return Err(self.end()),
                };
                self.position += 1;
                if parenthesised {
                    self.expect_operator(")")?;
                }
                Ok(i64::from(self.symbols.is_defined(&name)))
            }
            Token::Name(name) => self.symbols.value(&name),
            Token::Operator("(") => {
                let value = self.or()?;
                self.expect_operator(")")?;
                Ok(value)
            }
            token @ Token::Operator(_) => Err(self.syntax(&token)),
        }
    }
}

/// The preprocessor's view of a configuration: an undefined name is 0 in an `#if`.
impl Symbols for crate::config::Config {
    fn is_defined(&self, name: &str) -> bool {
        crate::config::Config::is_defined(self, name)
    }

    fn value(&self, name: &str) -> Result<i64, ExpressionError> {
        match self.define(name) {
            None => Ok(0),
            Some(crate::config::Define::Number(value)) => Ok(*value),
            Some(crate::config::Define::Text(_)) => Err(ExpressionError::NotANumber {
                name: name.to_owned(),
            }),
        }
    }
}

/// Whether `condition` holds in `config` (an empty condition always holds).
pub fn holds(condition: &str, config: &crate::config::Config) -> Result<bool, ExpressionError> {
    if condition.trim().is_empty() {
        return Ok(true);
    }
    Ok(evaluate(condition, config)? != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn config() -> Config {
        Config::parse("#define CONFIG_MAX_NUM_NODES 1\n#define CONFIG_DEBUG_BUILD 1\n")
    }

    #[test]
    fn the_conditions_of_the_5_0_interface_xml_evaluate_as_cpp_would() {
        let config = config();
        assert!(!holds("CONFIG_MAX_NUM_NODES > 1", &config).unwrap());
        assert!(!holds("defined(CONFIG_HARDWARE_DEBUG_API)", &config).unwrap());
        assert!(holds("defined CONFIG_DEBUG_BUILD", &config).unwrap());
        assert!(holds("", &config).unwrap());
        assert!(holds(
            "!defined(CONFIG_ARM_SMMU) && (CONFIG_MAX_NUM_NODES == 1)",
            &config
        )
        .unwrap());
        assert!(holds("defined(CONFIG_ARM_SMMU) || CONFIG_DEBUG_BUILD", &config).unwrap());
    }

    #[test]
    fn arithmetic_binds_tighter_than_comparison_and_undefined_names_are_zero() {
        let config = config();
        assert_eq!(evaluate("CONFIG_MAX_NUM_NODES + 2 * 3 - 1", &config), Ok(6));
        assert_eq!(evaluate("CONFIG_UNSET - 1", &config), Ok(-1));
        assert_eq!(evaluate("(1 << 4) >= 16", &config), Ok(1));
    }

    #[test]
    fn malformed_expressions_are_errors_naming_the_culprit() {
        let config = config();
        assert!(
            matches!(evaluate("1 +", &config), Err(ExpressionError::Syntax { at, .. }) if at == "end")
        );
        assert!(
            matches!(evaluate("a $ b", &config), Err(ExpressionError::Syntax { at, .. }) if at == "$")
        );
        assert!(matches!(
            evaluate("(1", &config),
            Err(ExpressionError::Syntax { .. })
        ));
    }
}
