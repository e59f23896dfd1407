//! How the page is read, apart from the theme: the terminal's font size (Ctrl +,
//! Ctrl −, Ctrl 0, kept per browser), xterm.js's screen-reader mode, the width
//! below which the side panels become a drawer, and the way out of the terminal
//! for the keyboard (Escape, then Tab), which a shell would otherwise keep.

/// `localStorage` key of a font size the user chose.
pub const FONT_KEY: &str = "dockhand.fontSize";
/// `localStorage` key of the screen-reader switch ("on" when set).
pub const SCREEN_READER_KEY: &str = "dockhand.screenReader";

pub const FONT_MIN: u8 = 9;
pub const FONT_MAX: u8 = 40;

/// Below this viewport width the default font is one pixel smaller, so that a
/// window on half a laptop screen (640 px) still gets 75 columns.
pub const SMALL_SCREEN_PX: f64 = 700.0;

/// Below this viewport width the side panels are a drawer over the terminal
/// instead of a column beside it. `static/dockhand.css` uses the same width.
pub const DRAWER_BELOW_PX: u32 = 1160;

/// Escape, then Tab within this many milliseconds, moves the focus out of the
/// terminal (and the Tab is not sent to the shell).
pub const ESCAPE_WINDOW_MS: f64 = 2000.0;

/// The media query that holds when the panels are a drawer.
pub fn drawer_query() -> String {
    format!("(max-width: {}px)", DRAWER_BELOW_PX - 1)
}

/// The font size when the user has not chosen one.
pub fn default_font(viewport_width: f64) -> u8 {
    if viewport_width < SMALL_SCREEN_PX {
        13
    } else {
        14
    }
}

/// The reader's choices for this browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefs {
    /// A size the user chose (Ctrl +/−), kept in storage; `None` follows the screen.
    pub chosen_font: Option<u8>,
    /// The size for this screen when none was chosen.
    pub default_font: u8,
    pub screen_reader: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefsAction {
    FontBigger,
    FontSmaller,
    FontReset,
    ScreenReader(bool),
}

impl Prefs {
    /// From what storage holds (invalid values are ignored) and the viewport width.
    pub fn load(font: Option<&str>, screen_reader: Option<&str>, viewport_width: f64) -> Prefs {
        Prefs {
            chosen_font: font
                .and_then(|f| f.trim().parse::<u8>().ok())
                .filter(|f| (FONT_MIN..=FONT_MAX).contains(f)),
            default_font: default_font(viewport_width),
            screen_reader: screen_reader == Some("on"),
        }
    }

    /// The terminal's font size in CSS pixels.
    pub fn font(&self) -> u8 {
        self.chosen_font.unwrap_or(self.default_font)
    }

    pub fn reduce(&mut self, action: PrefsAction) {
        match action {
            PrefsAction::FontBigger => {
                self.chosen_font = Some(self.font().saturating_add(1).min(FONT_MAX))
            }
            PrefsAction::FontSmaller => {
                self.chosen_font = Some(self.font().saturating_sub(1).max(FONT_MIN))
            }
            PrefsAction::FontReset => self.chosen_font = None,
            PrefsAction::ScreenReader(on) => self.screen_reader = on,
        }
    }

    /// What to store under [`FONT_KEY`]; `None`: remove the key.
    pub fn stored_font(&self) -> Option<String> {
        self.chosen_font.map(|f| f.to_string())
    }
}

/// The font-size chord of a keydown, if it is one: Ctrl (or ⌘) with +/=, − or 0,
/// on the main keys or the keypad. Ctrl+Shift+− (readline's undo, `_`) is not one.
pub fn font_key(ctrl: bool, alt: bool, meta: bool, key: &str, code: &str) -> Option<PrefsAction> {
    if !(ctrl || meta) || alt {
        return None;
    }
    match (key, code) {
        ("+" | "=", _) | (_, "NumpadAdd") => Some(PrefsAction::FontBigger),
        ("-", _) | (_, "NumpadSubtract") => Some(PrefsAction::FontSmaller),
        ("0", _) | (_, "Numpad0") => Some(PrefsAction::FontReset),
        _ => None,
    }
}

/// Follows a terminal's keydowns for the way out: Escape, then Tab (or
/// Shift+Tab) within [`ESCAPE_WINDOW_MS`]. The Escape still reaches the shell.
#[derive(Debug, Default, Clone)]
pub struct FocusEscape {
    escaped_at: Option<f64>,
}

impl FocusEscape {
    /// Feed a keydown; true when it is the Tab that leaves the terminal.
    pub fn keydown(&mut self, key: &str, now_ms: f64) -> bool {
        match key {
            "Escape" => {
                self.escaped_at = Some(now_ms);
                false
            }
            "Tab" => self
                .escaped_at
                .take()
                .is_some_and(|t| now_ms - t <= ESCAPE_WINDOW_MS),
            // Shift on its way to Shift+Tab keeps the chord.
            "Shift" | "Control" | "Alt" | "Meta" => false,
            _ => {
                self.escaped_at = None;
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_font_follows_the_screen_until_one_is_chosen() {
        let phone = Prefs::load(None, None, 390.0);
        let laptop = Prefs::load(None, None, 1280.0);
        assert_eq!((phone.font(), laptop.font()), (13, 14));
        assert_eq!(phone.stored_font(), None);
        let chosen = Prefs::load(Some("22"), Some("on"), 390.0);
        assert_eq!(chosen.font(), 22);
        assert!(chosen.screen_reader);
    }

    #[test]
    fn stored_values_out_of_range_or_garbage_are_ignored() {
        for bad in ["", "x", "3", "41", "-1", "300"] {
            let p = Prefs::load(Some(bad), Some("yes"), 1280.0);
            assert_eq!(
                (p.chosen_font, p.font(), p.screen_reader),
                (None, 14, false),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn bigger_and_smaller_stop_at_the_limits_and_reset_forgets() {
        let mut p = Prefs::load(None, None, 1280.0);
        p.reduce(PrefsAction::FontBigger);
        assert_eq!((p.font(), p.stored_font().as_deref()), (15, Some("15")));
        for _ in 0..100 {
            p.reduce(PrefsAction::FontBigger);
        }
        assert_eq!(p.font(), FONT_MAX);
        for _ in 0..100 {
            p.reduce(PrefsAction::FontSmaller);
        }
        assert_eq!(p.font(), FONT_MIN);
        p.reduce(PrefsAction::FontReset);
        assert_eq!((p.font(), p.stored_font()), (14, None));
        p.reduce(PrefsAction::ScreenReader(true));
        assert!(p.screen_reader);
    }

    #[test]
    fn font_chords_need_ctrl_or_cmd_and_leave_readline_undo_alone() {
        use PrefsAction::*;
        assert_eq!(font_key(true, false, false, "=", "Equal"), Some(FontBigger));
        assert_eq!(font_key(true, false, false, "+", "Equal"), Some(FontBigger));
        assert_eq!(font_key(false, false, true, "+", "Equal"), Some(FontBigger));
        assert_eq!(
            font_key(true, false, false, "+", "NumpadAdd"),
            Some(FontBigger)
        );
        assert_eq!(
            font_key(true, false, false, "-", "Minus"),
            Some(FontSmaller)
        );
        assert_eq!(
            font_key(true, false, false, "-", "NumpadSubtract"),
            Some(FontSmaller)
        );
        assert_eq!(font_key(true, false, false, "0", "Digit0"), Some(FontReset));
        assert_eq!(font_key(true, false, false, "_", "Minus"), None);
        assert_eq!(font_key(false, false, false, "-", "Minus"), None);
        assert_eq!(font_key(true, true, false, "-", "Minus"), None);
        assert_eq!(font_key(true, false, false, "c", "KeyC"), None);
    }

    #[test]
    fn escape_then_tab_leaves_and_anything_between_cancels() {
        let mut f = FocusEscape::default();
        assert!(
            !f.keydown("Tab", 0.0),
            "a plain Tab is the shell's completion"
        );
        assert!(!f.keydown("Escape", 100.0));
        assert!(f.keydown("Tab", 600.0));
        assert!(!f.keydown("Tab", 700.0), "one Escape lets one Tab out");

        assert!(!f.keydown("Escape", 1000.0));
        assert!(!f.keydown("Shift", 1100.0));
        assert!(f.keydown("Tab", 1200.0), "Shift+Tab leaves backwards");

        assert!(!f.keydown("Escape", 2000.0));
        assert!(!f.keydown("x", 2100.0));
        assert!(
            !f.keydown("Tab", 2200.0),
            "a key between: vi's Escape, then typing"
        );

        assert!(!f.keydown("Escape", 3000.0));
        assert!(!f.keydown("Tab", 3000.0 + ESCAPE_WINDOW_MS + 1.0));
    }

    #[test]
    fn the_drawer_query_is_one_pixel_below_the_breakpoint() {
        assert_eq!(drawer_query(), "(max-width: 1159px)");
    }
}
