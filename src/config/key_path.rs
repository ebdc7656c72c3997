//! Key paths such as `stores.work.port`, and finding the line where a key
//! path is written in the YAML text, so that every configuration error can
//! point at a line.
//!
//! The YAML parser forgets positions once a value is built, so the line is
//! found again by a small indentation-aware scan of the text. It understands
//! block mappings and block sequences (what people write in config files);
//! inside flow collections (`{a: 1}` or `[a, b]`) it answers with the line of
//! the nearest enclosing key it could find.

use std::fmt;

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

/// Where a value sits in the configuration, from the top.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(Vec<Segment>);

impl KeyPath {
    /// A path made of mapping keys only.
    pub(crate) fn of<'a>(keys: impl IntoIterator<Item = &'a str>) -> KeyPath {
        KeyPath(
            keys.into_iter()
                .map(|k| Segment::Key(k.to_owned()))
                .collect(),
        )
    }

    /// This path with one more key at the end.
    pub(crate) fn key(mut self, key: &str) -> KeyPath {
        self.0.push(Segment::Key(key.to_owned()));
        self
    }

    /// This path with one more sequence index at the end.
    pub(crate) fn index(mut self, index: usize) -> KeyPath {
        self.0.push(Segment::Index(index));
        self
    }

    pub(crate) fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn segments(&self) -> &[Segment] {
        &self.0
    }

    /// The line (1-based) where this path is written: the line of its last
    /// key or item, or of the deepest enclosing key that could be found.
    pub(crate) fn line_in(&self, text: &str) -> Option<usize> {
        find_line(text, &self.0)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if i == 0 => f.write_str(key)?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// A line that carries YAML content (not blank, not only a comment).
struct ContentLine<'a> {
    /// 0-based line number.
    number: usize,
    indent: usize,
    /// The line without its indentation.
    body: &'a str,
}

impl ContentLine<'_> {
    fn is_sequence_item(&self) -> bool {
        self.body == "-" || self.body.starts_with("- ")
    }

    /// The mapping key written on this line, unquoted, if the line is `key: ...`.
    fn mapping_key(&self) -> Option<String> {
        mapping_key(self.body)
    }
}

fn content_lines(text: &str) -> Vec<ContentLine<'_>> {
    text.lines()
        .enumerate()
        .filter_map(|(number, line)| {
            let body = line.trim_start_matches(' ');
            let trimmed = body.trim_end();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed == "---" {
                return None;
            }
            Some(ContentLine {
                number,
                indent: line.len() - body.len(),
                body: trimmed,
            })
        })
        .collect()
}

/// The key of a `key: value` line: plain, 'single' or "double" quoted.
fn mapping_key(body: &str) -> Option<String> {
    let (key, rest) = match body.chars().next()? {
        quote @ ('"' | '\'') => {
            let end = body[1..].find(quote)? + 1;
            (body[1..end].to_owned(), &body[end + 1..])
        }
        _ => {
            // A plain key ends at the first ": " or at a final ":".
            let end = body
                .find(": ")
                .or_else(|| body.strip_suffix(':').map(str::len))?;
            (body[..end].trim_end().to_owned(), &body[end..])
        }
    };
    let rest = rest.trim_start();
    (rest == ":" || rest.starts_with(": ")).then_some(key)
}

/// The range of lines belonging to the value of the key on line `at`: those
/// after it until one indented less, or indented the same and not a sequence
/// item (a sequence may be written at its key's indentation).
fn block_after(lines: &[ContentLine], at: usize) -> std::ops::Range<usize> {
    let key_indent = lines[at].indent;
    let end = lines[at + 1..]
        .iter()
        .position(|l| l.indent < key_indent || (l.indent == key_indent && !l.is_sequence_item()))
        .map_or(lines.len(), |p| at + 1 + p);
    at + 1..end
}

fn find_line(text: &str, path: &[Segment]) -> Option<usize> {
    let lines = content_lines(text);
    let mut block = 0..lines.len();
    // Index into `lines` of the deepest key or item found so far.
    let mut found: Option<usize> = None;
    for segment in path {
        let Some(first) = lines.get(block.start).filter(|_| !block.is_empty()) else {
            break;
        };
        let child_indent = first.indent;
        let mut children = block.clone().filter(|&i| lines[i].indent == child_indent);
        let at = match segment {
            Segment::Key(key) => {
                children.find(|&i| lines[i].mapping_key().as_deref() == Some(key.as_str()))
            }
            Segment::Index(index) => children
                .filter(|&i| lines[i].is_sequence_item())
                .nth(*index),
        };
        let Some(at) = at else { break };
        found = Some(at);
        block = block_after(&lines, at);
    }
    found.map(|i| lines[i].number + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# a comment
stores:
  work:
    type: imap   # trailing comment
    \"port\": 993

  'laptop':
    path: ~/Mail
channels:
  work:
    far: work
    folders:
    - INBOX
    - \"!Junk\"
    sync: [new, flags]
groups: {all: [work]}
";

    fn line(keys: &[&str]) -> Option<usize> {
        KeyPath::of(keys.iter().copied()).line_in(TEXT)
    }

    #[test]
    fn finds_nested_keys_plain_and_quoted() {
        assert_eq!(line(&["stores"]), Some(2));
        assert_eq!(line(&["stores", "work", "type"]), Some(4));
        assert_eq!(line(&["stores", "work", "port"]), Some(5));
        assert_eq!(line(&["stores", "laptop", "path"]), Some(8));
        assert_eq!(line(&["channels", "work", "far"]), Some(11));
    }

    #[test]
    fn same_key_under_another_parent_is_not_confused() {
        // `work` appears under stores (line 3) and channels (line 10).
        assert_eq!(line(&["channels", "work"]), Some(10));
    }

    #[test]
    fn finds_sequence_items_written_at_key_indentation() {
        let path = KeyPath::of(["channels", "work", "folders"]).index(1);
        assert_eq!(path.line_in(TEXT), Some(14));
    }

    #[test]
    fn missing_key_answers_with_deepest_found_ancestor() {
        assert_eq!(line(&["stores", "work", "nope"]), Some(3));
        assert_eq!(line(&["groups", "all"]), Some(16));
        assert_eq!(line(&["nothing"]), None);
    }

    #[test]
    fn displays_dotted_with_indices() {
        let path = KeyPath::of(["channels", "work", "folders"]).index(2);
        assert_eq!(path.to_string(), "channels.work.folders[2]");
    }
}
