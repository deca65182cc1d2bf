//! The `:` command palette: the cockpit's actions that take an argument
//! (open a playbook, declare an incident, export the report...) and every
//! key action by its name, typed with completion.

/// One command the palette knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaletteCommand {
    pub name: &'static str,
    /// How the argument is written in the suggestion list ("" for none).
    pub argument: &'static str,
    pub description: &'static str,
    /// Changes something: not offered in read-only mode.
    pub acts: bool,
}

const fn command(name: &'static str, argument: &'static str, description: &'static str, acts: bool) -> PaletteCommand {
    PaletteCommand {
        name,
        argument,
        description,
        acts,
    }
}

pub const COMMANDS: &[PaletteCommand] = &[
    command("run", "PLAYBOOK", "open a playbook (its inputs form)", true),
    command("incident", "TITLE", "declare a new incident", true),
    command("note", "TEXT", "add a note to the timeline", true),
    command("decision", "TEXT", "record a decision", true),
    command(
        "action",
        "TEXT [@owner] [due:DATE] [p1] [URL]",
        "record an action item",
        true,
    ),
    command(
        "status",
        "investigating|identified|mitigated|resolved",
        "change the incident's status",
        true,
    ),
    command(
        "severity",
        "minor|major|critical",
        "change the incident's severity",
        true,
    ),
    command("role", "WHO ROLE", "say who holds a role (commander, scribe...)", true),
    command("summary", "TEXT", "a paragraph of the post-mortem's summary", true),
    command("impact", "TEXT", "a paragraph of the post-mortem's impact", true),
    command(
        "report",
        "",
        "write report.md and report.html beside the timeline",
        true,
    ),
    command(
        "filter",
        "TEXT",
        "show only the hosts matching TEXT (name, tag:…, role:…)",
        false,
    ),
    command("faulty", "", "show only hosts with a problem (toggle)", false),
    command("sort", "inventory|name|health|load", "sort the hosts", false),
    command("run-view", "", "show the playbook run", false),
    command("help", "", "list the keys", false),
    command("quit", "", "leave vigie", false),
];

/// The palette's state: the text typed and the suggestion under the cursor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Palette {
    pub text: String,
    pub selected: usize,
}

impl Palette {
    /// Commands whose name starts with the first word typed.
    pub fn suggestions(&self, read_only: bool) -> Vec<&'static PaletteCommand> {
        let word = self.text.split_whitespace().next().unwrap_or("").to_lowercase();
        COMMANDS
            .iter()
            .filter(|c| !(read_only && c.acts))
            .filter(|c| c.name.starts_with(&word))
            .collect()
    }

    /// Tab: completes the name of the selected suggestion.
    pub fn complete(&mut self, read_only: bool) {
        if let Some(command) = self.suggestions(read_only).get(self.selected) {
            let rest = self
                .text
                .split_once(' ')
                .map(|(_, r)| r.to_string())
                .unwrap_or_default();
            self.text = format!("{} {rest}", command.name);
            self.selected = 0;
        }
    }

    /// The command to run: the typed name if it is one, else the selected
    /// suggestion; and the argument, trimmed.
    pub fn parse(&self, read_only: bool) -> Option<(&'static str, String)> {
        let text = self.text.trim();
        let (word, argument) = text.split_once(' ').unwrap_or((text, ""));
        let exact = COMMANDS
            .iter()
            .filter(|c| !(read_only && c.acts))
            .find(|c| c.name == word.to_lowercase());
        let command = match exact {
            Some(c) => c,
            None => *self.suggestions(read_only).get(self.selected)?,
        };
        Some((command.name, argument.trim().to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_word_picks_the_command_and_the_rest_is_its_argument() {
        let palette = Palette {
            text: "ru verify-backups".into(),
            selected: 0,
        };
        let names: Vec<&str> = palette.suggestions(false).iter().map(|c| c.name).collect();
        assert_eq!(names, vec!["run", "run-view"]);
        assert_eq!(palette.parse(false), Some(("run", "verify-backups".into())));
        let exact = Palette {
            text: "incident  Hypervisor down ".into(),
            selected: 3,
        };
        assert_eq!(exact.parse(false), Some(("incident", "Hypervisor down".into())));
        assert_eq!(exact.parse(true), None, "read-only offers no acting command");
    }

    #[test]
    fn tab_completes_the_selected_name() {
        let mut palette = Palette {
            text: "sev".into(),
            selected: 0,
        };
        palette.complete(false);
        assert_eq!(palette.text, "severity ");
    }

    #[test]
    fn action_items_carry_owner_due_date_priority_type_and_link() {
        use vigie_core::timeline::payload::ActionItem;
        let item = ActionItem::parse("add a disk alert @alice due:2026-12-01 P2 type:Detect https://forge/ops/42");
        assert_eq!(item.action_type.as_deref(), Some("detect"));
        assert_eq!(item.text, "add a disk alert");
        assert_eq!(item.owner.as_deref(), Some("alice"));
        assert_eq!(item.due.as_deref(), Some("2026-12-01"));
        assert_eq!(item.priority.as_deref(), Some("p2"));
        assert_eq!(item.link.as_deref(), Some("https://forge/ops/42"));
        assert_eq!(ActionItem::parse("just text").owner, None);
        // A type that is none of the known ones stays in the text, as typed.
        let odd = ActionItem::parse("ask around type:gossip");
        assert_eq!((odd.text.as_str(), odd.action_type), ("ask around type:gossip", None));
    }
}
