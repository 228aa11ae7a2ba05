//! Replay tokens: how a failure is handed to a person and brought back.
//!
//! A token names the build it came from (a string the caller passes, e.g. a git
//! revision) and either the seed (`tsim1:<build>:seed:<n>`) or the recorded choice list
//! of a shrunk run (`tsim1:<build>:tape:<hex>`, the values as LEB128 varints in hex).
//! Parsing checks the shape and the build and says exactly what is wrong.

use std::fmt;

use crate::choices::Choices;

const PREFIX: &str = "tsim1";

/// What a token replays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replay {
    /// A seeded run.
    Seed(u64),
    /// A run from recorded choice values.
    Tape(Vec<u64>),
}

impl Replay {
    /// The choice stream that replays this run.
    pub fn choices(&self) -> Choices {
        match self {
            Replay::Seed(seed) => Choices::from_seed(*seed),
            Replay::Tape(values) => Choices::from_tape(values.clone()),
        }
    }
}

/// A replay token: a build id and what to replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// The build the token came from.
    pub build: String,
    /// The run.
    pub replay: Replay,
}

/// Why a token could not be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenError {
    /// The text is not a token; says which part is wrong.
    Malformed(String),
    /// The token came from another build: replaying would not reproduce it.
    OtherBuild {
        /// The build named in the token.
        token: String,
        /// This build.
        current: String,
    },
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Malformed(why) => write!(f, "malformed replay token: {why}"),
            TokenError::OtherBuild { token, current } => write!(
                f,
                "replay token is from build `{token}` but this is build `{current}`; \
                 check out `{token}` to replay it"
            ),
        }
    }
}

impl std::error::Error for TokenError {}

impl Token {
    /// A token for `replay` from `build`.
    pub fn new(build: impl Into<String>, replay: Replay) -> Self {
        Self {
            build: build.into(),
            replay,
        }
    }

    /// Parses `text` and checks it came from `current_build`.
    pub fn parse(text: &str, current_build: &str) -> Result<Self, TokenError> {
        let token = Self::parse_any_build(text)?;
        if token.build != current_build {
            return Err(TokenError::OtherBuild {
                token: token.build,
                current: current_build.to_string(),
            });
        }
        Ok(token)
    }

    /// Parses `text` whatever build it names.
    pub fn parse_any_build(text: &str) -> Result<Self, TokenError> {
        let malformed = |why: &str| TokenError::Malformed(format!("{why} in `{text}`"));
        let text = text.trim();
        let mut from_right = text.rsplitn(3, ':');
        let payload = from_right
            .next()
            .ok_or_else(|| malformed("missing payload"))?;
        let kind = from_right.next().ok_or_else(|| malformed("missing kind"))?;
        let head = from_right
            .next()
            .ok_or_else(|| malformed("missing build"))?;
        let build = match head.strip_prefix(PREFIX) {
            // `tsim1:x:y`: the prefix is there, a part is not.
            Some("") => {
                return Err(malformed(
                    "missing a part (expected `tsim1:<build>:seed:<n>` or `tsim1:<build>:tape:<hex>`)",
                ));
            }
            Some(rest) => rest
                .strip_prefix(':')
                .ok_or_else(|| malformed("does not start with `tsim1:`"))?,
            None => return Err(malformed("does not start with `tsim1:`")),
        };
        if build.is_empty() {
            return Err(malformed("empty build id"));
        }
        let replay = match kind {
            "seed" => Replay::Seed(
                payload
                    .parse()
                    .map_err(|_| malformed("seed is not a u64"))?,
            ),
            "tape" => Replay::Tape(decode_tape(payload).map_err(&malformed)?),
            _ => return Err(malformed("kind is neither `seed` nor `tape`")),
        };
        Ok(Self {
            build: build.to_string(),
            replay,
        })
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.replay {
            Replay::Seed(seed) => write!(f, "{PREFIX}:{}:seed:{seed}", self.build),
            Replay::Tape(values) => {
                write!(f, "{PREFIX}:{}:tape:{}", self.build, encode_tape(values))
            }
        }
    }
}

fn encode_tape(values: &[u64]) -> String {
    let mut out = String::with_capacity(values.len() * 2);
    for &value in values {
        let mut rest = value;
        loop {
            let byte = (rest & 0x7F) as u8;
            rest >>= 7;
            let byte = if rest == 0 { byte } else { byte | 0x80 };
            out.push(char::from_digit(u32::from(byte >> 4), 16).expect("nibble"));
            out.push(char::from_digit(u32::from(byte & 0xF), 16).expect("nibble"));
            if rest == 0 {
                break;
            }
        }
    }
    out
}

fn decode_tape(hex: &str) -> Result<Vec<u64>, &'static str> {
    if !hex.len().is_multiple_of(2) {
        return Err("tape has an odd number of hex digits");
    }
    let mut values = Vec::new();
    let (mut value, mut shift) = (0u64, 0u32);
    for pair in hex.as_bytes().chunks(2) {
        let digits = std::str::from_utf8(pair).map_err(|_| "tape is not hex")?;
        let byte = u8::from_str_radix(digits, 16).map_err(|_| "tape is not hex")?;
        if shift >= 64 || (shift == 63 && byte & 0x7E != 0) {
            return Err("tape value overflows u64");
        }
        value |= u64::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            values.push(value);
            (value, shift) = (0, 0);
        } else {
            shift += 7;
        }
    }
    if shift != 0 {
        return Err("tape ends inside a value");
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        for replay in [
            Replay::Seed(42),
            Replay::Tape(vec![0, 1, 127, 128, 300, u64::MAX]),
        ] {
            let token = Token::new("abc123", replay);
            let text = token.to_string();
            assert_eq!(Token::parse(&text, "abc123"), Ok(token), "{text}");
        }
    }

    #[test]
    fn a_token_from_another_build_or_malformed_is_refused_clearly() {
        let text = Token::new("old", Replay::Seed(1)).to_string();
        let error = Token::parse(&text, "new").unwrap_err();
        assert!(
            error
                .to_string()
                .contains("from build `old` but this is build `new`")
        );
        for bad in [
            "",
            "tsim1:b:seed:x",
            "tsim1:b:film:1",
            "nope:b:seed:1",
            "tsim1:b:tape:8",
            "tsim1:b:tape:80",
        ] {
            assert!(
                matches!(Token::parse(bad, "b"), Err(TokenError::Malformed(_))),
                "{bad}"
            );
        }
        // Each says what is wrong with it.
        for (bad, says) in [
            ("tsim1:x:bad", "missing a part"),
            ("tsim1:7", "missing build"),
            ("tsim2:b:seed:1", "does not start with `tsim1:`"),
            ("tsim1:b:film:1", "kind is neither"),
            ("tsim1:b:seed:x", "seed is not a u64"),
        ] {
            let error = Token::parse(bad, "b").unwrap_err().to_string();
            assert!(error.contains(says), "{bad}: {error}");
        }
    }
}
