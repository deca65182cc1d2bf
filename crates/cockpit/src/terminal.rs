//! Entering and leaving the full-screen terminal, on every exit path.
//!
//! [`TerminalGuard`] restores the terminal when dropped (normal return, `?`
//! error, unwinding panic); the panic hook restores it *before* the panic
//! message prints, so the message is readable and the shell is usable.

use crossterm::event::{DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture};
use crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use std::io::{self, Stdout};
use std::sync::Once;

pub type Screen = Terminal<CrosstermBackend<Stdout>>;

pub struct TerminalGuard {
    pub terminal: Screen,
}

impl TerminalGuard {
    /// `mouse`: take mouse events (the terminal's own selection then needs Shift).
    pub fn enter(mouse: bool) -> io::Result<TerminalGuard> {
        install_panic_hook();
        terminal::enable_raw_mode()?;
        let mut stdout = io::stdout();
        let mut entered = execute!(stdout, EnterAlternateScreen, EnableBracketedPaste, cursor::Hide);
        if mouse && entered.is_ok() {
            entered = execute!(stdout, EnableMouseCapture);
        }
        if let Err(e) = entered {
            restore();
            return Err(e);
        }
        match Terminal::new(CrosstermBackend::new(stdout)) {
            Ok(terminal) => Ok(TerminalGuard { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Puts the terminal back as the shell expects it. Safe to call more than once.
pub fn restore() {
    let _ = terminal::disable_raw_mode();
    let _ = execute!(
        io::stdout(),
        DisableMouseCapture,
        DisableBracketedPaste,
        LeaveAlternateScreen,
        cursor::Show
    );
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}
