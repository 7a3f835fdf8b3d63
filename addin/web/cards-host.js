/* Rapport's Adaptive Cards host: one look for every place Rapport renders a card itself (the
 * Outlook task pane, and the local outbox of `rapport serve`). Load after
 * vendor/adaptivecards.min.js. Exposes window.RapportCards.hostConfig(dark), and hostConfigJson(dark)
 * (the same settings as plain JSON, which the contrast test reads). */
(function () {
  "use strict";

  function narrow() { return (window.innerWidth || 1024) < 480; }

  function hostConfig(dark) { return new AdaptiveCards.HostConfig(hostConfigJson(dark)); }

  function hostConfigJson(dark) {
    var fg = dark
      ? { def: "#f3f2f1", subtle: "#c8c6c4", accent: "#6cb8f6", good: "#92c353", warning: "#f8d22a", attention: "#f1707b" }
      : { def: "#201f1e", subtle: "#605e5c", accent: "#0f6cbd", good: "#107c10", warning: "#8a5d00", attention: "#c50f1f" };
    function color(c) { return { "default": c, subtle: c }; }
    function style(background) {
      return {
        backgroundColor: background,
        foregroundColors: {
          "default": { "default": fg.def, subtle: fg.subtle },
          accent: color(fg.accent), good: color(fg.good), warning: color(fg.warning),
          attention: color(fg.attention), dark: color(fg.def), light: color(fg.subtle)
        }
      };
    }
    return {
      fontFamily: "'Segoe UI', system-ui, -apple-system, sans-serif",
      supportsInteractivity: true,
      spacing: { small: 4, "default": 8, medium: 14, large: 20, extraLarge: 28, padding: 12 },
      separator: { lineThickness: 1, lineColor: dark ? "#484644" : "#e1dfdd" },
      fontSizes: { small: 12, "default": 14, medium: 16, large: 20, extraLarge: 24 },
      // Headings (TextBlock style "heading") get aria-level, so screen readers can jump by them.
      textBlock: { headingLevel: 2 },
      // A state's band (accent, good, warning, attention, emphasis) is a tinted background; text on
      // it keeps the pane's own colours, each at least 4.5:1 on every band in light and dark
      // (checked by axe in tests/test_pane_accessibility.py).
      containerStyles: {
        "default": style(dark ? "#292827" : "#ffffff"),
        emphasis: style(dark ? "#323130" : "#f3f2f1"),
        accent: style(dark ? "#0e2a45" : "#e8f2fc"),
        good: style(dark ? "#0d2e0d" : "#eaf6ea"),
        warning: style(dark ? "#3d2e00" : "#fdf5e1"),
        attention: style(dark ? "#3f1011" : "#fdeced")
      },
      // Teams shows up to 6 buttons; a narrow pane (Outlook's sidebar, a phone) stacks them so
      // none is clipped, a wide page keeps them in a row.
      actions: { maxActions: 6, spacing: "default", buttonSpacing: 8,
                 actionsOrientation: narrow() ? "vertical" : "horizontal",
                 actionAlignment: narrow() ? "stretch" : "left", showCard: { actionMode: "inline" } }
    };
  }

  // No markdown processor: text shows exactly as sent (and nothing is parsed as HTML).
  AdaptiveCards.AdaptiveCard.onProcessMarkdown = function (text, result) { result.didProcess = false; };

  window.RapportCards = { hostConfig: hostConfig, hostConfigJson: hostConfigJson };
})();
