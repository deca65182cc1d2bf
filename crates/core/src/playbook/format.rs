//! Parsing and linting playbooks: `+++` TOML front matter with typed inputs,
//! `##` steps, ` ```sh {on=… risk=… timeout=… each=…} ` commands,
//! ` ```expect ` regexes with named captures, `- [ ]` checklists. Every
//! problem is a [`Diagnostic`] naming file:line:column.

use crate::config::{Config, Diagnostic};
use pulldown_cmark::{CodeBlockKind, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputKind {
    Host,
    Vm,
    Vms,
    String,
    Secret,
    Choice,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    pub kind: InputKind,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub pattern: Option<String>,
    #[serde(default)]
    pub choices: Vec<String>,
    /// For vm/vms: the host input (or host) whose VMs are offered.
    #[serde(default)]
    pub from: Option<String>,
    /// Another input this one must differ from (`not = "dead"`: the
    /// surviving node is never the dead one); pickers skip its value.
    #[serde(default)]
    pub not: Option<String>,
    /// For a host: it must answer now (a surviving node, a restore target);
    /// pickers offer only hosts that do, `vigie run` connects to check.
    #[serde(default)]
    pub reachable: bool,
    /// `"<host input>.<setting>"`: unless given, the value comes from that
    /// host's entry in vigie.toml (`replica.db_defaults_file`), so a
    /// playbook uses what the inventory already says.
    #[serde(default)]
    pub default_from: Option<String>,
}

/// The host settings of vigie.toml an input can default from.
pub const HOST_SETTINGS: &[&str] = &["db_defaults_file", "faillock_dir", "address", "user"];

/// A host's setting by name, as [`Input::default_from`] reads it.
pub fn host_setting(host: &crate::config::Host, setting: &str) -> Option<String> {
    match setting {
        "db_defaults_file" => host.db_defaults_file.clone(),
        "faillock_dir" => host.faillock_dir.clone(),
        "address" => Some(host.address.clone()),
        "user" => host.user.clone(),
        _ => None,
    }
}

/// The inputs as given, with those left empty that default from the
/// inventory filled from their host's entry.
pub fn with_inventory_defaults(
    playbook: &Playbook,
    given: &BTreeMap<String, String>,
    hosts: &[crate::config::Host],
) -> BTreeMap<String, String> {
    let mut values = given.clone();
    for (name, input) in &playbook.inputs {
        let Some((host_input, setting)) = input.default_from.as_deref().and_then(|d| d.split_once('.')) else {
            continue;
        };
        if values.get(name).is_some_and(|v| !v.is_empty()) {
            continue;
        }
        let host_name = values
            .get(host_input)
            .cloned()
            .or_else(|| playbook.inputs.get(host_input).and_then(|i| i.default.clone()));
        let found = host_name
            .and_then(|h| hosts.iter().find(|host| host.name == h))
            .and_then(|host| host_setting(host, setting));
        if let Some(value) = found {
            values.insert(name.clone(), value);
        }
    }
    values
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    inputs: BTreeMap<String, Input>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Risk {
    #[default]
    Normal,
    High,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub script: String,
    /// An input, a host, a group, or `local`.
    pub on: String,
    pub risk: Risk,
    pub timeout: Option<Duration>,
    /// A `vms` input: the step runs once per selected VM.
    pub each: Option<String>,
    /// Byte offset of the code fence, for diagnostics.
    pub offset: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    pub pattern: String,
    /// `pattern`, compiled once when the playbook is read.
    pub regex: CompiledRegex,
    /// Named groups: variables for later steps.
    pub captures: Vec<String>,
    pub offset: usize,
}

/// A regex compiled when the playbook is read; two are equal when their patterns are.
#[derive(Debug, Clone)]
pub struct CompiledRegex(pub regex::Regex);

impl PartialEq for CompiledRegex {
    fn eq(&self, other: &CompiledRegex) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Step {
    /// Slug of the heading, unique in the playbook.
    pub id: String,
    pub title: String,
    pub description: String,
    pub command: Option<Command>,
    pub expect: Vec<Expect>,
    pub checklist: Vec<String>,
    pub offset: usize,
}

impl Step {
    /// A step with no command is done by a human.
    pub fn is_manual(&self) -> bool {
        self.command.is_none()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Playbook {
    pub path: PathBuf,
    pub id: String,
    pub title: String,
    pub tags: Vec<String>,
    pub inputs: BTreeMap<String, Input>,
    /// Input names in the order the file declares them (forms follow it).
    pub input_order: Vec<String>,
    pub steps: Vec<Step>,
}

/// Attributes a command block accepts.
const ATTRIBUTES: &[&str] = &["on", "risk", "timeout", "each"];

/// Parses `text` (the file `path`). Returns the playbook if it could be
/// read at all, and every problem found.
pub fn parse(path: &Path, text: &str) -> (Option<Playbook>, Vec<Diagnostic>) {
    let mut problems = Vec::new();
    let at = |offset: usize, message: String| Diagnostic::at(path, text, offset..offset + 1, message);
    let (front_text, body_start) = match split_front_matter(text) {
        Some(split) => split,
        None => {
            problems.push(
                at(0, "missing front matter".into())
                    .with_hint("start the file with +++, id = \"...\", title = \"...\", then +++"),
            );
            return (None, problems);
        }
    };
    let front_offset = text.find('\n').map(|i| i + 1).unwrap_or(0);
    let front: FrontMatter = match toml::from_str(front_text) {
        Ok(front) => front,
        Err(e) => {
            let offset = front_offset + e.span().map(|s| s.start).unwrap_or(0);
            problems.push(Diagnostic::at(
                path,
                text,
                offset..offset + 1,
                e.message().lines().next().unwrap_or("").to_string(),
            ));
            return (None, problems);
        }
    };
    let id = front.id.clone().unwrap_or_default();
    if id.is_empty() {
        problems.push(
            at(0, "the front matter has no id".into())
                .with_hint("add id = \"repair-replication\" (letters, digits, '-')"),
        );
    } else if !crate::config::is_valid_name(&id) {
        problems.push(at(0, format!("invalid playbook id {id:?}")).with_hint("use letters, digits, '.', '-' and '_'"));
    }
    let title = front.title.clone().unwrap_or_default();
    if title.trim().is_empty() {
        problems.push(at(0, "missing title".into()).with_hint("add title = \"…\" to the front matter"));
    }
    for (name, input) in &front.inputs {
        if let Some(pattern) = &input.pattern {
            if let Err(e) = regex::Regex::new(pattern) {
                problems.push(at(
                    input_key_offset(text, name, "pattern"),
                    format!("input {name}: invalid pattern: {}", last_line(&e.to_string())),
                ));
            }
        }
        if input.kind == InputKind::Choice && input.choices.is_empty() {
            problems.push(at(
                input_key_offset(text, name, "kind"),
                format!("input {name}: a choice needs choices = [...]"),
            ));
        }
    }
    let steps = parse_steps(path, text, body_start, &mut problems);
    // A playbook file is untrusted text: what is shown of it is made inert
    // here, where it enters (its scripts go to the host as written).
    let mut inputs = front.inputs;
    for input in inputs.values_mut() {
        input.description = input.description.as_deref().map(crate::sanitize::one_line);
    }
    let playbook = Playbook {
        path: path.to_path_buf(),
        id,
        title: crate::sanitize::one_line(&title),
        tags: front.tags.iter().map(|t| crate::sanitize::one_line(t)).collect(),
        input_order: declaration_order(front_text, &inputs),
        inputs,
        steps,
    };
    (Some(playbook), problems)
}

/// Where `key` of `[inputs.NAME]` is written (its line), else the table's
/// header, else the start: a problem of an input is shown on its own line.
fn input_key_offset(text: &str, name: &str, key: &str) -> usize {
    let Some(header) = text.find(&format!("[inputs.{name}]")) else {
        return 0;
    };
    let mut line_start = header;
    for (index, line) in text[header..].split_inclusive('\n').enumerate() {
        let trimmed = line.trim_start();
        if index > 0 && (trimmed.starts_with('[') || trimmed.starts_with("+++")) {
            break;
        }
        let written = trimmed
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='));
        if index > 0 && written {
            return line_start + (line.len() - trimmed.len());
        }
        line_start += line.len();
    }
    header
}

/// The `inputs` keys in the order they are written (toml_edit keeps it);
/// any the document view misses come last, by name.
fn declaration_order(front: &str, inputs: &BTreeMap<String, Input>) -> Vec<String> {
    let mut order: Vec<String> = front
        .parse::<toml_edit::DocumentMut>()
        .ok()
        .and_then(|doc| {
            doc.get("inputs")
                .and_then(|i| i.as_table_like())
                .map(|t| t.iter().map(|(k, _)| k.to_string()).collect())
        })
        .unwrap_or_default();
    order.retain(|name| inputs.contains_key(name));
    for name in inputs.keys() {
        if !order.contains(name) {
            order.push(name.clone());
        }
    }
    order
}

fn last_line(text: &str) -> String {
    text.lines().last().unwrap_or(text).trim().to_string()
}

/// The TOML between the opening and closing `+++`, and where the body starts.
fn split_front_matter(text: &str) -> Option<(&str, usize)> {
    let rest = text.strip_prefix("+++\n").or_else(|| text.strip_prefix("+++\r\n"))?;
    let start = text.len() - rest.len();
    let mut offset = start;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "+++" {
            return Some((&text[start..offset], offset + line.len()));
        }
        offset += line.len();
    }
    None
}

fn parse_steps(path: &Path, text: &str, body_start: usize, problems: &mut Vec<Diagnostic>) -> Vec<Step> {
    let body = &text[body_start..];
    let mut reader = StepsReader::default();
    for (event, range) in Parser::new_ext(body, Options::ENABLE_TASKLISTS).into_offset_iter() {
        if let Some((info, at, content)) = reader.read(event, body_start + range.start) {
            add_block(path, text, &mut reader.steps, &info, at, content, problems);
        }
    }
    let mut steps = reader.steps;
    name_steps(path, text, &mut steps, problems);
    if steps.is_empty() {
        problems.push(
            Diagnostic::at(path, text, body_start..body_start + 1, "no steps".to_string())
                .with_hint("each `## heading` is a step"),
        );
    }
    steps
}

/// The steps as the Markdown events arrive: `##` headings start them,
/// paragraphs describe them, task items are their checklists.
#[derive(Default)]
struct StepsReader {
    steps: Vec<Step>,
    in_step_heading: bool,
    in_paragraph: bool,
    /// A fenced block being read: its info string, offset and content.
    code: Option<(String, usize, String)>,
    in_item: bool,
    item_is_task: bool,
    item_text: String,
}

impl StepsReader {
    /// Takes one event at `offset`; returns a fenced block once it is whole.
    fn read(&mut self, event: Event, offset: usize) -> Option<(String, usize, String)> {
        match event {
            Event::Start(Tag::Heading {
                level: HeadingLevel::H2,
                ..
            }) => {
                self.steps.push(Step {
                    offset,
                    ..Step::default()
                });
                self.in_step_heading = true;
            }
            Event::End(TagEnd::Heading(HeadingLevel::H2)) => self.in_step_heading = false,
            Event::Start(Tag::CodeBlock(CodeBlockKind::Fenced(info))) => {
                self.code = Some((info.to_string(), offset, String::new()))
            }
            Event::End(TagEnd::CodeBlock) => {
                return self.code.take();
            }
            Event::Start(Tag::Paragraph) => self.in_paragraph = true,
            Event::End(TagEnd::Paragraph) => {
                self.in_paragraph = false;
                if let Some(step) = self.steps.last_mut() {
                    step.description.push('\n');
                }
            }
            Event::Start(Tag::Item) => {
                self.in_item = true;
                self.item_is_task = false;
                self.item_text.clear();
            }
            Event::TaskListMarker(_) => self.item_is_task = true,
            Event::End(TagEnd::Item) => {
                if self.item_is_task {
                    if let Some(step) = self.steps.last_mut() {
                        step.checklist.push(self.item_text.trim().to_string());
                    }
                }
                self.in_item = false;
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, _, content)) = self.code.as_mut() {
                    content.push_str(&t);
                } else if self.in_step_heading {
                    if let Some(step) = self.steps.last_mut() {
                        step.title.push_str(&t);
                    }
                } else if self.in_item {
                    self.item_text.push_str(&t);
                } else if self.in_paragraph {
                    if let Some(step) = self.steps.last_mut() {
                        step.description.push_str(&t);
                    }
                }
            }
            Event::SoftBreak | Event::HardBreak if self.in_paragraph => {
                if let Some(step) = self.steps.last_mut() {
                    step.description.push(' ');
                }
            }
            _ => {}
        }
        None
    }
}

/// Trims titles and descriptions, gives each step its id (the slug of its
/// heading), and reports two steps with the same id.
fn name_steps(path: &Path, text: &str, steps: &mut [Step], problems: &mut Vec<Diagnostic>) {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for step in steps.iter_mut() {
        step.title = crate::sanitize::one_line(step.title.trim());
        step.description = crate::sanitize::terminal_safe(step.description.trim());
        for item in step.checklist.iter_mut() {
            *item = crate::sanitize::one_line(item);
        }
        step.id = crate::incident::slug(&step.title);
        if let Some(first) = seen.get(&step.id) {
            let (line, _) = crate::config::line_column(text, *first);
            problems.push(
                Diagnostic::at(
                    path,
                    text,
                    step.offset..step.offset + 2,
                    format!("duplicate step id {:?}", step.id),
                )
                .with_hint(format!(
                    "the step on line {line} has the same heading: make them differ"
                )),
            );
        } else {
            seen.insert(step.id.clone(), step.offset);
        }
    }
}

// Longer than 80 lines on purpose: one arm per kind of fenced block (`sh`, `expect`),
// each checking its attributes in the order a reader meets them.
fn add_block(
    path: &Path,
    text: &str,
    steps: &mut [Step],
    info: &str,
    offset: usize,
    content: String,
    problems: &mut Vec<Diagnostic>,
) {
    let at = |message: String| Diagnostic::at(path, text, offset..offset + 3, message);
    let (language, attributes) = match info.split_once(char::is_whitespace) {
        Some((language, rest)) => (language, rest.trim()),
        None => (info.trim(), ""),
    };
    match language {
        "sh" | "bash" | "shell" => {
            let Some(step) = steps.last_mut() else {
                problems.push(at("a command before the first `##` step".into()));
                return;
            };
            if step.command.is_some() {
                problems.push(
                    at(format!("step {:?} already has a command", step.title))
                        .with_hint("one command block per step: split it into two steps"),
                );
                return;
            }
            let mut command = Command {
                script: content,
                on: String::new(),
                risk: Risk::Normal,
                timeout: None,
                each: None,
                offset,
            };
            let inner = attributes.trim_start_matches('{').trim_end_matches('}');
            for pair in inner.split_whitespace() {
                // Point at the attribute itself: after the ``` of the fence.
                let pair_offset = offset + 3 + info.find(pair).unwrap_or(0);
                let at = |message: String| Diagnostic::at(path, text, pair_offset..pair_offset + pair.len(), message);
                let Some((key, value)) = pair.split_once('=') else {
                    problems.push(
                        at(format!("attribute {pair:?} has no value")).with_hint("write key=value, e.g. on=replica"),
                    );
                    continue;
                };
                match key {
                    "on" => command.on = value.to_string(),
                    "risk" => match value {
                        "high" => command.risk = Risk::High,
                        "normal" | "low" => command.risk = Risk::Normal,
                        _ => problems.push(at(format!("unknown risk {value:?}")).with_hint("risk=high or risk=normal")),
                    },
                    "timeout" => match crate::format::parse_duration(value) {
                        Ok(d) => command.timeout = Some(d),
                        Err(e) => problems.push(at(format!("timeout={value}: {e}"))),
                    },
                    "each" => command.each = Some(value.to_string()),
                    _ => {
                        let hint = crate::config::diagnostic::did_you_mean(key, ATTRIBUTES)
                            .map(|c| format!("did you mean `{c}`?"))
                            .unwrap_or_else(|| format!("known attributes: {}", ATTRIBUTES.join(", ")));
                        problems.push(at(format!("unknown attribute `{key}`")).with_hint(hint));
                    }
                }
            }
            if command.on.is_empty() {
                problems.push(
                    at("the command says nowhere to run".into())
                        .with_hint("add on=<input, host, group or local>: ```sh {on=replica}"),
                );
            }
            step.command = Some(command);
        }
        "expect" => {
            let Some(step) = steps.last_mut().filter(|s| s.command.is_some()) else {
                problems.push(at("an expect block must follow a command".into()));
                return;
            };
            // Each line's offset from the one before: linear in the block's length.
            let mut line_offset = offset + info.len() + 4;
            for line in content.lines() {
                let this_offset = line_offset;
                line_offset += line.len() + 1;
                if line.trim().is_empty() {
                    continue;
                }
                let line_offset = this_offset;
                match regex::Regex::new(line) {
                    Ok(regex) => step.expect.push(Expect {
                        pattern: line.to_string(),
                        captures: regex.capture_names().flatten().map(String::from).collect(),
                        regex: CompiledRegex(regex),
                        offset: line_offset,
                    }),
                    Err(e) => problems.push(
                        Diagnostic::at(
                            path,
                            text,
                            line_offset..line_offset + line.len(),
                            format!("invalid regex: {}", last_line(&e.to_string())),
                        )
                        .with_hint("named captures are written (?<name>…)"),
                    ),
                }
            }
        }
        _ => {}
    }
}

/// Checks a parsed playbook against the inventory: targets, `each=`,
/// captures used before they are defined.
pub fn lint(playbook: &Playbook, config: &Config, text: &str) -> Vec<Diagnostic> {
    let mut problems = Vec::new();
    let path = &playbook.path;
    // A mistake in an input's declaration, named at its `[inputs.NAME]` table.
    let at_input = |name: &str, key: &str, message: String, hint: String| {
        let start = input_key_offset(text, name, key);
        Diagnostic::at(path, text, start..start + 1, message).with_hint(hint)
    };
    for (name, input) in &playbook.inputs {
        if let Some(from) = &input.default_from {
            let good = from.split_once('.').is_some_and(|(host, setting)| {
                playbook.inputs.get(host).is_some_and(|i| i.kind == InputKind::Host) && HOST_SETTINGS.contains(&setting)
            });
            if !good {
                problems.push(at_input(
                    name,
                    "default_from",
                    format!("inputs.{name}: default_from = {from:?}"),
                    format!(
                        "default_from = \"<host input>.<setting>\", the setting one of {}",
                        HOST_SETTINGS.join(", ")
                    ),
                ));
            }
        }
        if input.reachable && input.kind != InputKind::Host {
            problems.push(at_input(
                name,
                "reachable",
                format!("inputs.{name}: reachable = true on a {:?} input", input.kind),
                "reachable= is for host inputs".into(),
            ));
        }
        if input.not.as_deref() == Some(name.as_str()) {
            problems.push(at_input(
                name,
                "not",
                format!("inputs.{name}: not = {name:?} names this input itself: no value could ever pass"),
                "not= names another input of this playbook".into(),
            ));
        } else if let Some(other) = input.not.as_ref().filter(|o| !playbook.inputs.contains_key(*o)) {
            problems.push(at_input(
                name,
                "not",
                format!("inputs.{name}: not = {other:?}: no such input"),
                "not= names another input of this playbook".into(),
            ));
        }
    }
    let mut captured: Vec<String> = Vec::new();
    let later_captures: Vec<(usize, &String)> = playbook
        .steps
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            s.expect
                .iter()
                .flat_map(move |e| e.captures.iter().map(move |c| (i, c)))
        })
        .collect();
    for (index, step) in playbook.steps.iter().enumerate() {
        if let Some(command) = &step.command {
            let fence_line = text[command.offset..].lines().next().unwrap_or("");
            let attribute_at = |name: &str| command.offset + fence_line.find(&format!("{name}=")).unwrap_or(0);
            let at = |message: String| Diagnostic::at(path, text, command.offset..command.offset + 3, message);
            let at_attribute = |name: &str, message: String| {
                let start = attribute_at(name);
                let end = text[start..]
                    .find(|c: char| c.is_whitespace() || c == '}')
                    .map(|e| start + e)
                    .unwrap_or(start + 1);
                Diagnostic::at(path, text, start..end, message)
            };
            let target = command.on.as_str();
            let known = target == "local"
                || playbook.inputs.get(target).is_some_and(|i| i.kind == InputKind::Host)
                || config.host(target).is_some()
                || config.target_groups().contains_key(target);
            if !command.on.is_empty() && !known {
                let hint = if playbook.inputs.contains_key(target) {
                    format!("input {target} is not of kind host")
                } else if let Some(tag) = target.strip_prefix(crate::config::TAG_TARGET) {
                    format!("no host of vigie.toml has the tag {tag:?}")
                } else {
                    "on= names a host input, a host or group of vigie.toml, tag:<tag>, or local".to_string()
                };
                problems.push(at_attribute("on", format!("unknown target {target:?}")).with_hint(hint));
            }
            if let Some(each) = &command.each {
                match playbook.inputs.get(each) {
                    Some(input) if input.kind == InputKind::Vms => {}
                    Some(_) => problems.push(
                        at_attribute("each", format!("each={each}: input {each} is not a list"))
                            .with_hint("each= takes an input of kind vms"),
                    ),
                    None => problems.push(at_attribute("each", format!("each={each}: no such input"))),
                }
            }
            for variable in variables_in(&command.script) {
                if captured.contains(&variable) || playbook.inputs.contains_key(&variable) {
                    continue;
                }
                if let Some((defined_in, _)) = later_captures.iter().find(|(i, c)| **c == variable && *i >= index) {
                    problems.push(
                        at(format!("${variable} is used before it is captured")).with_hint(format!(
                            "it is captured in step {:?}",
                            playbook.steps[*defined_in].title
                        )),
                    );
                }
            }
        }
        captured.extend(step.expect.iter().flat_map(|e| e.captures.iter().cloned()));
    }
    problems
}

/// `$name` and `${name}` in a script.
pub(crate) fn variables_in(script: &str) -> Vec<String> {
    let mut names = Vec::new();
    let bytes: Vec<char> = script.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == '$' {
            let braced = bytes.get(i + 1) == Some(&'{');
            let start = if braced { i + 2 } else { i + 1 };
            let mut end = start;
            while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == '_') {
                end += 1;
            }
            if end > start {
                names.push(bytes[start..end].iter().collect());
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"+++
id = "repair-replication"
title = "Repair a MariaDB replica after a corrupt relay log"
tags = ["mariadb"]

[inputs.replica]
kind = "host"
[inputs.connection]
kind = "string"
pattern = '^[A-Za-z0-9_-]*$'
[inputs.vms]
kind = "vms"
from = "replica"
+++

# Repair a MariaDB replica

## Read the broken position

Look at the replica.

```sh {on=replica}
mariadb -E -e "SHOW SLAVE '$connection' STATUS"
```

```expect
Last_SQL_Errno: 1594
Relay_Master_Log_File: (?<log_file>\S+)
Exec_Master_Log_Pos: (?<log_pos>\d+)
```

## Reset the connection at that position

```sh {on=replica risk=high timeout=60s}
echo "$log_file:$log_pos"
```

## Check

- [ ] Check the weather-station pages show fresh data
- [ ] Tell the team
"#;

    fn config() -> Config {
        Config::parse(Path::new("v.toml"), "[[hosts]]\nname = \"db2\"\n").unwrap()
    }

    #[test]
    fn a_good_playbook_parses_and_lints_clean() {
        let (playbook, problems) = parse(Path::new("p.md"), GOOD);
        assert!(problems.is_empty(), "{problems:?}");
        let p = playbook.unwrap();
        assert_eq!(p.id, "repair-replication");
        assert_eq!(
            p.input_order,
            ["replica", "connection", "vms"],
            "as written, not sorted"
        );
        assert_eq!(p.steps.len(), 3);
        assert_eq!(p.steps[0].id, "read-the-broken-position");
        assert_eq!(p.steps[0].description, "Look at the replica.");
        assert_eq!(p.steps[0].expect[1].captures, vec!["log_file".to_string()]);
        let command = p.steps[1].command.as_ref().unwrap();
        assert_eq!(
            (command.on.as_str(), command.risk, command.timeout),
            ("replica", Risk::High, Some(Duration::from_secs(60)))
        );
        assert!(p.steps[2].is_manual());
        assert_eq!(p.steps[2].checklist.len(), 2);
        assert!(lint(&p, &config(), GOOD).is_empty());
    }

    fn problems_of(text: &str) -> Vec<String> {
        let (playbook, mut problems) = parse(Path::new("p.md"), text);
        if let Some(p) = playbook {
            problems.extend(lint(&p, &config(), text));
        }
        problems
            .iter()
            .map(|d| format!("{}:{} {}", d.line, d.column, d.message))
            .collect()
    }

    #[test]
    fn input_links_name_what_exists() {
        let bad = GOOD.replace(
            "[inputs.connection]\nkind = \"string\"",
            "[inputs.connection]\nkind = \"string\"\nnot = \"nobody\"\ndefault_from = \"replica.password\"\nreachable = true",
        )
        .replace("[inputs.vms]\nkind = \"vms\"", "[inputs.vms]\nkind = \"vms\"\nnot = \"vms\"");
        let problems = problems_of(&bad);
        for expected in [
            "inputs.connection: default_from = \"replica.password\"",
            "inputs.connection: not = \"nobody\": no such input",
            "inputs.connection: reachable = true on a String input",
            "inputs.vms: not = \"vms\" names this input itself",
        ] {
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "missing {expected:?} in {problems:#?}"
            );
        }
    }

    #[test]
    fn an_input_mistake_is_named_on_its_own_line() {
        let bad = GOOD.replace(
            "[inputs.connection]\nkind = \"string\"\npattern = '^[A-Za-z0-9_-]*$'",
            "[inputs.connection]\nkind = \"string\"\npattern = '(unclosed'",
        );
        let problems = problems_of(&bad);
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("10:1 input connection: invalid pattern")),
            "{problems:#?}"
        );
    }

    #[test]
    fn every_mistake_is_named_with_its_position() {
        let bad = GOOD
            .replace("{on=replica}", "{on=replika tiemout=5s}")
            .replace("(?<log_pos>\\d+)", "(?<log_pos>\\d+")
            .replace("echo \"$log_file:$log_pos\"", "echo $late")
            .replace(
                "## Check",
                "## Check\n\n```sh {on=local each=replica}\necho x\n```\n\n```expect\n(?<late>x)\n```\n\n## Check",
            );
        let problems = problems_of(&bad);
        let expected = [
            "22:19 unknown attribute `tiemout`",
            "29:1 invalid regex",
            "22:8 unknown target \"replika\"",
            "34:1 $late is used before it is captured",
            "40:17 each=replica: input replica is not a list",
            "48:1 duplicate step id \"check\"",
        ];
        for e in expected {
            assert!(
                problems.iter().any(|p| p.starts_with(e)),
                "missing {e:?} in {problems:#?}"
            );
        }
    }

    #[test]
    fn missing_front_matter_and_title() {
        assert!(problems_of("# nothing\n")[0].starts_with("1:1 missing front matter"));
        let problems = problems_of("+++\nid = \"x\"\n+++\n## Step\n");
        assert!(
            problems.iter().any(|p| p.starts_with("1:1 missing title")),
            "{problems:?}"
        );
    }
}
