//! Dark, light and high-contrast themes: the choice is kept in `localStorage`;
//! without one the system preference decides (dark or light).

/// Key under which the choice is stored.
pub const STORAGE_KEY: &str = "dockhand.theme";

/// The themes. The name is also the value of `<html data-theme>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Theme {
    Dark,
    Light,
    /// White on black with a yellow accent, for projectors and low vision.
    Contrast,
}

impl Theme {
    /// The stored choice if it is valid, else the system preference.
    pub fn initial(stored: Option<&str>, system_prefers_dark: bool) -> Theme {
        match stored {
            Some("dark") => Theme::Dark,
            Some("light") => Theme::Light,
            Some("contrast") => Theme::Contrast,
            _ if system_prefers_dark => Theme::Dark,
            _ => Theme::Light,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Theme::Dark => "dark",
            Theme::Light => "light",
            Theme::Contrast => "contrast",
        }
    }

    /// Every theme, in the order the view menu lists them.
    pub const ALL: [Theme; 3] = [Theme::Light, Theme::Dark, Theme::Contrast];

    /// The name the view menu shows.
    pub fn label(self) -> &'static str {
        match self {
            Theme::Dark => "Dark",
            Theme::Light => "Light",
            Theme::Contrast => "High contrast",
        }
    }

    /// The header's sun/moon button: dark and light swap; high contrast goes to light.
    pub fn toggled(self) -> Theme {
        match self {
            Theme::Dark => Theme::Light,
            Theme::Light => Theme::Dark,
            Theme::Contrast => Theme::Light,
        }
    }

    /// xterm.js colours `(background, foreground, cursor, selection)` that match the
    /// page's CSS variables for this theme.
    pub fn terminal_colors(self) -> (&'static str, &'static str, &'static str, &'static str) {
        match self {
            Theme::Dark => ("#11151c", "#d8dee9", "#8fbcbb", "#3b4b66"),
            Theme::Light => ("#fbfbfa", "#1f2328", "#0969da", "#b6d3f5"),
            Theme::Contrast => ("#000000", "#ffffff", "#ffd400", "#1f5fbf"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_choice_beats_the_system_preference() {
        assert_eq!(Theme::initial(Some("light"), true), Theme::Light);
        assert_eq!(Theme::initial(Some("dark"), false), Theme::Dark);
    }

    #[test]
    fn invalid_or_missing_choice_follows_the_system() {
        assert_eq!(Theme::initial(None, true), Theme::Dark);
        assert_eq!(Theme::initial(Some("purple"), false), Theme::Light);
    }

    #[test]
    fn toggling_twice_is_identity_and_names_round_trip() {
        for t in [Theme::Dark, Theme::Light] {
            assert_ne!(t.toggled(), t);
            assert_eq!(t.toggled().toggled(), t);
        }
        for t in Theme::ALL {
            assert_eq!(Theme::initial(Some(t.as_str()), false), t);
            assert_eq!(Theme::initial(Some(t.as_str()), true), t);
        }
        assert_eq!(Theme::Contrast.toggled(), Theme::Light);
    }
}
