//! Turning untrusted text (command output, VM names, files) into inert text.
//!
//! Everything that comes from a host or a file passes through [`terminal_safe`]
//! where it enters the program, so that no escape sequence, control character
//! or bidi override can reach the terminal, the timeline or a report.

/// Columns a tab expands to.
const TAB_WIDTH: usize = 8;

/// Returns `input` with escape sequences removed, tabs expanded, other control
/// characters and bidi controls replaced by a visible `�`.
/// Newlines are kept: multi-line output stays multi-line.
pub fn terminal_safe(input: &str) -> String {
    // Most of what hosts print (every probe, each poll) is printable ASCII
    // and newlines, which the loop below would copy as it is.
    if input.bytes().all(|b| b == b'\n' || (b' '..=b'~').contains(&b)) {
        return input.to_string();
    }
    let mut out = String::with_capacity(input.len());
    let mut column = 0usize;
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => {
                out.push('\n');
                column = 0;
            }
            '\t' => {
                let spaces = TAB_WIDTH - (column % TAB_WIDTH);
                out.extend(std::iter::repeat_n(' ', spaces));
                column += spaces;
            }
            // A carriage return just before a newline is a CRLF line end.
            '\r' if chars.peek() == Some(&'\n') => {}
            '\u{1b}' => skip_escape_sequence(&mut chars),
            // C1 control introducers (CSI, OSC, DCS...) in their 8-bit form.
            '\u{9b}' => skip_csi_body(&mut chars),
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string_body(&mut chars),
            c if is_forbidden(c) => {
                out.push('\u{fffd}');
                column += 1;
            }
            c => {
                out.push(c);
                column += 1;
            }
        }
    }
    out
}

/// JSON text with its bidi controls written as `\uXXXX`: serde_json keeps
/// them as they are, and a viewer would reorder the text around them. They
/// can only be inside strings, where the escape means the same.
pub fn json_without_bidi(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if is_bidi_control(c) {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// A single-line version for names and table cells: newlines become spaces too.
pub fn one_line(input: &str) -> String {
    terminal_safe(input).replace('\n', " ")
}

fn is_forbidden(c: char) -> bool {
    c.is_control() || is_bidi_control(c)
}

/// Bidi embedding, override and isolate controls (the "Trojan Source" set) plus marks.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn skip_escape_sequence(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        Some('[') => skip_csi_body(chars),
        Some(']') | Some('P') | Some('X') | Some('^') | Some('_') => skip_string_body(chars),
        // Two-character escapes (ESC 7, ESC c, ESC ( B ...): drop the intermediate bytes too.
        Some(c) if ('\u{20}'..='\u{2f}').contains(&c) => {
            while let Some(&n) = chars.peek() {
                chars.next();
                if !('\u{20}'..='\u{2f}').contains(&n) {
                    break;
                }
            }
        }
        _ => {}
    }
}

/// CSI: parameter and intermediate bytes, ended by one final byte in `@`..=`~`.
fn skip_csi_body(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            break;
        }
        if !('\u{20}'..='\u{3f}').contains(&c) {
            // Malformed: stop eating so that ordinary text is not lost.
            break;
        }
    }
}

/// OSC/DCS/APC/PM/SOS: everything up to BEL or ST (ESC \ or 0x9c).
fn skip_string_body(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => break,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                break;
            }
            _ => {}
        }
    }
}

/// Decodes bytes from a host as UTF-8, replacing invalid sequences, then sanitizes.
pub fn from_host_bytes(bytes: &[u8]) -> String {
    terminal_safe(&String::from_utf8_lossy(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_comes_back_as_it_is_and_a_tab_still_expands() {
        assert_eq!(
            terminal_safe("@@vigie cpu\nload 0.5 1 2\n"),
            "@@vigie cpu\nload 0.5 1 2\n"
        );
        assert_eq!(terminal_safe("a\tb"), "a       b");
        assert_eq!(terminal_safe("a\r\nb\u{7f}"), "a\nb\u{fffd}");
    }

    #[test]
    fn strips_colour_and_cursor_moves() {
        assert_eq!(terminal_safe("\u{1b}[31mred\u{1b}[0m \u{1b}[2J\u{1b}[1;1Hx"), "red x");
    }

    #[test]
    fn strips_osc_title_with_bel_and_st() {
        assert_eq!(terminal_safe("a\u{1b}]0;pwned\u{7}b"), "ab");
        assert_eq!(
            terminal_safe("a\u{1b}]8;;http://x\u{1b}\\link\u{1b}]8;;\u{1b}\\b"),
            "alinkb"
        );
    }

    #[test]
    fn replaces_bidi_overrides_and_controls() {
        assert_eq!(terminal_safe("vm\u{202e}gpj.exe"), "vm\u{fffd}gpj.exe");
        assert_eq!(terminal_safe("a\u{8}b\u{0}c"), "a\u{fffd}b\u{fffd}c");
    }

    #[test]
    fn expands_tabs_and_keeps_newlines() {
        assert_eq!(terminal_safe("ab\tc\n\td"), "ab      c\n        d");
        assert_eq!(terminal_safe("x\r\ny"), "x\ny");
        assert_eq!(one_line("x\ny"), "x y");
    }

    #[test]
    fn eight_bit_csi_is_removed() {
        assert_eq!(terminal_safe("a\u{9b}31mb"), "ab");
    }

    #[test]
    fn unicode_text_survives() {
        assert_eq!(terminal_safe("✖ locuste é 日本"), "✖ locuste é 日本");
    }
}
