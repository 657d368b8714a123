//! A small JSON structure scanner: finds the members of an object and the elements of an
//! array, with the line each starts on, without building values.
//!
//! The parsers use it to split a document into rows, so that one bad element is one bad row
//! (parsed on its own by `serde_json`) and every row knows its line. It only finds boundaries:
//! it tracks strings, escapes and nesting, and leaves validating an element to `serde_json`.
//! It never panics and always terminates: every step consumes input or stops.

/// Where a value sits in the document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// The 1-based line the value starts on.
    pub(crate) line: u64,
}

/// Why the structure is unusable, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScanError {
    pub(crate) line: u64,
    pub(crate) reason: String,
}

/// A top-level JSON value split one level down.
#[derive(Debug)]
pub(crate) enum Top {
    Array(Vec<Span>),
    Object(Vec<(String, Span)>),
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
    end: usize,
    line: u64,
}

impl Cursor<'_> {
    fn err<T>(&self, reason: impl Into<String>) -> Result<T, ScanError> {
        Err(ScanError {
            line: self.line,
            reason: reason.into(),
        })
    }

    fn peek(&self) -> Option<u8> {
        (self.pos < self.end).then(|| self.b[self.pos])
    }

    fn bump(&mut self) {
        if self.peek() == Some(b'\n') {
            self.line += 1;
        }
        self.pos += 1;
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.bump();
        }
    }

    fn skip_string(&mut self) -> Result<(), ScanError> {
        let line = self.line;
        self.bump(); // the opening quote
        while let Some(c) = self.peek() {
            self.bump();
            match c {
                b'\\' if self.peek().is_some() => self.bump(),
                b'"' => return Ok(()),
                _ => {}
            }
        }
        Err(ScanError {
            line,
            reason: "the document ends inside a string (truncated?)".to_owned(),
        })
    }

    fn skip_value(&mut self) -> Result<Span, ScanError> {
        let (start, line) = (self.pos, self.line);
        match self.peek() {
            None => return self.err("the document ends where a value was expected (truncated?)"),
            Some(b'"') => self.skip_string()?,
            Some(b'{' | b'[') => {
                let mut depth = 0usize;
                loop {
                    match self.peek() {
                        None => {
                            return Err(ScanError {
                                line,
                                reason: "an object or array that starts here is never closed (truncated?)"
                                    .to_owned(),
                            });
                        }
                        Some(b'"') => self.skip_string()?,
                        Some(b'{' | b'[') => {
                            depth += 1;
                            self.bump();
                        }
                        Some(b'}' | b']') => {
                            depth -= 1;
                            self.bump();
                            if depth == 0 {
                                break;
                            }
                        }
                        Some(_) => self.bump(),
                    }
                }
            }
            Some(_) => {
                while let Some(c) = self.peek() {
                    if matches!(c, b',' | b']' | b'}' | b':' | b' ' | b'\t' | b'\r' | b'\n') {
                        break;
                    }
                    self.bump();
                }
                if self.pos == start {
                    return self.err(format!(
                        "expected a value, found {}",
                        kind_of(self.b[start])
                    ));
                }
            }
        }
        Ok(Span {
            start,
            end: self.pos,
            line,
        })
    }

    fn elements(&mut self) -> Result<Vec<Span>, ScanError> {
        self.bump(); // [
        let mut out = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.bump();
            return Ok(out);
        }
        loop {
            self.skip_ws();
            out.push(self.skip_value()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.bump(),
                Some(b']') => {
                    self.bump();
                    return Ok(out);
                }
                None => return self.err("the document ends inside an array (truncated?)"),
                Some(c) => {
                    return self.err(format!(
                        "expected `,` or `]` after an array element, found {}",
                        kind_of(c)
                    ));
                }
            }
        }
    }

    fn members(&mut self) -> Result<Vec<(String, Span)>, ScanError> {
        self.bump(); // {
        let mut out: Vec<(String, Span)> = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.bump();
            return Ok(out);
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return match self.peek() {
                    None => self.err("the document ends inside an object (truncated?)"),
                    // The character is input: it is not quoted (file errors reach logs).
                    Some(_) => self.err("expected a member name (a string)"),
                };
            }
            let key_start = self.pos;
            self.skip_string()?;
            let key: String = match serde_json::from_slice(&self.b[key_start..self.pos]) {
                Ok(key) => key,
                Err(e) => return self.err(format!("invalid member name: {e}")),
            };
            self.skip_ws();
            if self.peek() != Some(b':') {
                return self.err("expected `:` after a member name");
            }
            self.bump();
            self.skip_ws();
            let span = self.skip_value()?;
            if out.iter().any(|(k, _)| *k == key) {
                return Err(ScanError {
                    line: span.line,
                    reason: "a member name appears twice in one object".to_owned(),
                });
            }
            out.push((key, span));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.bump(),
                Some(b'}') => {
                    self.bump();
                    return Ok(out);
                }
                None => return self.err("the document ends inside an object (truncated?)"),
                Some(c) => {
                    return self.err(format!(
                        "expected `,` or `}}` after a member, found {}",
                        kind_of(c)
                    ));
                }
            }
        }
    }
}

/// Splits a whole document: a top-level array into elements, or a top-level object into
/// members. Anything after the top-level value but whitespace is an error.
pub(crate) fn top_level(b: &[u8]) -> Result<Top, ScanError> {
    let mut c = Cursor {
        b,
        pos: 0,
        end: b.len(),
        line: 1,
    };
    c.skip_ws();
    let top = match c.peek() {
        Some(b'[') => Top::Array(c.elements()?),
        Some(b'{') => Top::Object(c.members()?),
        None => return c.err("the document is empty"),
        Some(ch) => {
            // What kind of thing, not the input itself.
            let found = match ch {
                b'"' => "a string",
                b'-' | b'0'..=b'9' => "a number",
                b't' | b'f' | b'n' => "a literal",
                _ => "text that is not JSON",
            };
            return c.err(format!("expected a JSON object or array, found {found}"));
        }
    };
    c.skip_ws();
    if c.peek().is_some() {
        return c.err("unexpected content after the end of the document");
    }
    Ok(top)
}

/// The elements of the array that is member `key` of the object at `span`, or `None` if the
/// object has no such member, the member is not an array, or the span does not scan.
pub(crate) fn member_elements(b: &[u8], span: Span, key: &str) -> Option<Vec<Span>> {
    let mut c = Cursor {
        b,
        pos: span.start,
        end: span.end,
        line: span.line,
    };
    if c.peek() != Some(b'{') {
        return None;
    }
    let (_, member) = c.members().ok()?.into_iter().find(|(k, _)| k == key)?;
    let mut c = Cursor {
        b,
        pos: member.start,
        end: member.end,
        line: member.line,
    };
    if c.peek() != Some(b'[') {
        return None;
    }
    c.elements().ok()
}

/// What kind of character an unexpected byte is, without quoting it (it is input).
fn kind_of(byte: u8) -> &'static str {
    match byte {
        b'"' => "a string",
        b'-' | b'0'..=b'9' => "a number",
        b'{' | b'[' => "the start of a value",
        b'}' | b']' => "a closing bracket",
        b',' | b':' => "a separator",
        b if b.is_ascii_alphabetic() => "a letter",
        _ => "another character",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_with_lines() {
        let doc = b"{\n \"a\": [1,\n {\"x\": \"]}\\\"\"},\n [2]],\n \"b\": null\n}\n";
        let Top::Object(members) = top_level(doc).unwrap() else {
            panic!("not an object")
        };
        assert_eq!(
            members
                .iter()
                .map(|(k, s)| (k.as_str(), s.line))
                .collect::<Vec<_>>(),
            [("a", 2), ("b", 5)]
        );
        let whole = Span {
            start: 0,
            end: doc.len(),
            line: 1,
        };
        let elems = member_elements(doc, whole, "a").unwrap();
        assert_eq!(elems.iter().map(|s| s.line).collect::<Vec<_>>(), [2, 3, 4]);
        assert_eq!(&doc[elems[1].start..elems[1].end], b"{\"x\": \"]}\\\"\"}");
    }

    #[test]
    fn truncation_and_junk_are_errors_not_panics() {
        for bad in [
            &b"[{\"a\":1}"[..],
            b"{\"a\":",
            b"[\"abc",
            b"{\"a\" 1}",
            b"[1,]",
            b"[1 2]",
            b"{} x",
            b"",
            b"   ",
            b"\"s\"",
            b"{\"a\":1,\"a\":2}",
            b"[\"\\",
        ] {
            assert!(
                top_level(bad).is_err(),
                "{:?} accepted",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(matches!(top_level(b" [ ] "), Ok(Top::Array(v)) if v.is_empty()));
    }
}
