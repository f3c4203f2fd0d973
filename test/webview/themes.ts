/**
 * VS Code theme variables for the test page, after VS Code's "Light Modern", "Dark Modern" and "Dark High Contrast"
 * themes (the subset the chat view and @vscode-elements/elements read). VS Code sets these on the webview's <html>
 * element and a theme class on <body>; the test page does the same.
 */

export type ThemeName = "light" | "dark" | "hc";

export interface Theme {
  bodyClass: string;
  /** What shows behind the transparent webview (the side bar). */
  background: string;
  variables: Record<string, string>;
}

const common: Record<string, string> = {
  "font-family": '-apple-system, BlinkMacSystemFont, "Segoe WPC", "Segoe UI", "Ubuntu", "Droid Sans", sans-serif',
  "font-size": "13px",
  "font-weight": "normal",
  "editor-font-family": 'Consolas, "Droid Sans Mono", "DejaVu Sans Mono", monospace',
  "editor-font-size": "13px",
  "editor-font-weight": "normal",
};

const light: Record<string, string> = {
  ...common,
  foreground: "#3b3b3b",
  descriptionForeground: "#3b3b3b",
  disabledForeground: "rgba(97, 97, 97, 0.5)",
  errorForeground: "#f85149",
  focusBorder: "#005fb8",
  "icon-foreground": "#3b3b3b",
  "widget-border": "#e5e5e5",
  "widget-shadow": "rgba(0, 0, 0, 0.16)",
  "panel-border": "#e5e5e5",
  "sideBar-background": "#f8f8f8",
  "sideBar-foreground": "#3b3b3b",
  "editor-background": "#ffffff",
  "editor-foreground": "#3b3b3b",
  "editorCursor-foreground": "#000000",
  "editorWidget-background": "#f8f8f8",
  "button-background": "#005fb8",
  "button-foreground": "#ffffff",
  "button-border": "rgba(0, 0, 0, 0.1)",
  "button-hoverBackground": "#0258a8",
  "button-secondaryBackground": "#e5e5e5",
  "button-secondaryForeground": "#3b3b3b",
  "button-secondaryHoverBackground": "#cccccc",
  "input-background": "#ffffff",
  "input-foreground": "#3b3b3b",
  "input-border": "#cecece",
  "input-placeholderForeground": "#767676",
  "settings-textInputBackground": "#ffffff",
  "settings-textInputForeground": "#3b3b3b",
  "settings-textInputBorder": "#cecece",
  "inputValidation-errorBackground": "#f2dede",
  "inputValidation-errorBorder": "#be1100",
  "inputValidation-infoBackground": "#d6ecf2",
  "inputValidation-infoBorder": "#007acc",
  "inputValidation-warningBackground": "#f6f5d2",
  "inputValidation-warningBorder": "#b89500",
  "textLink-foreground": "#005fb8",
  "textLink-activeForeground": "#005fb8",
  "textPreformat-foreground": "#3b3b3b",
  "textPreformat-background": "rgba(0, 0, 0, 0.08)",
  "textBlockQuote-background": "#f8f8f8",
  "textBlockQuote-border": "#e5e5e5",
  "textCodeBlock-background": "#f8f8f8",
  "badge-background": "#cccccc",
  "badge-foreground": "#3b3b3b",
  "progressBar-background": "#005fb8",
  "list-hoverBackground": "#f2f2f2",
  "list-inactiveSelectionBackground": "#e4e6f1",
  "toolbar-hoverBackground": "rgba(184, 184, 184, 0.31)",
  "testing-iconPassed": "#388a34",
  "chat-requestBackground": "rgba(255, 255, 255, 0.62)",
  "scrollbarSlider-background": "rgba(100, 100, 100, 0.4)",
};

const dark: Record<string, string> = {
  ...common,
  foreground: "#cccccc",
  descriptionForeground: "#9d9d9d",
  disabledForeground: "rgba(204, 204, 204, 0.5)",
  errorForeground: "#f85149",
  focusBorder: "#0078d4",
  "icon-foreground": "#cccccc",
  "widget-border": "#313131",
  "widget-shadow": "rgba(0, 0, 0, 0.36)",
  "panel-border": "#2b2b2b",
  "sideBar-background": "#181818",
  "sideBar-foreground": "#cccccc",
  "editor-background": "#1f1f1f",
  "editor-foreground": "#cccccc",
  "editorCursor-foreground": "#aeafad",
  "editorWidget-background": "#202020",
  "button-background": "#0078d4",
  "button-foreground": "#ffffff",
  "button-border": "rgba(255, 255, 255, 0.07)",
  "button-hoverBackground": "#026ec1",
  "button-secondaryBackground": "#313131",
  "button-secondaryForeground": "#cccccc",
  "button-secondaryHoverBackground": "#3c3c3c",
  "input-background": "#313131",
  "input-foreground": "#cccccc",
  "input-border": "#3c3c3c",
  "input-placeholderForeground": "#989898",
  "settings-textInputBackground": "#313131",
  "settings-textInputForeground": "#cccccc",
  "settings-textInputBorder": "#3c3c3c",
  "inputValidation-errorBackground": "#5a1d1d",
  "inputValidation-errorBorder": "#be1100",
  "inputValidation-infoBackground": "#063b49",
  "inputValidation-infoBorder": "#007acc",
  "inputValidation-warningBackground": "#352a05",
  "inputValidation-warningBorder": "#b89500",
  "textLink-foreground": "#4daafc",
  "textLink-activeForeground": "#4daafc",
  "textPreformat-foreground": "#d0d0d0",
  "textPreformat-background": "#3c3c3c",
  "textBlockQuote-background": "#2b2b2b",
  "textBlockQuote-border": "#616161",
  "textCodeBlock-background": "#2b2b2b",
  "badge-background": "#616161",
  "badge-foreground": "#f8f8f8",
  "progressBar-background": "#0078d4",
  "list-hoverBackground": "#2a2d2e",
  "list-inactiveSelectionBackground": "#37373d",
  "toolbar-hoverBackground": "rgba(90, 93, 94, 0.31)",
  "testing-iconPassed": "#73c991",
  "chat-requestBackground": "rgba(31, 31, 31, 0.62)",
  "scrollbarSlider-background": "rgba(121, 121, 121, 0.4)",
};

const highContrast: Record<string, string> = {
  ...dark,
  foreground: "#ffffff",
  descriptionForeground: "rgba(255, 255, 255, 0.7)",
  focusBorder: "#f38518",
  contrastBorder: "#6fc3df",
  contrastActiveBorder: "#f38518",
  "widget-border": "#6fc3df",
  "panel-border": "#6fc3df",
  "sideBar-background": "#000000",
  "editor-background": "#000000",
  "editor-foreground": "#ffffff",
  "button-background": "#000000",
  "button-border": "#6fc3df",
  "button-secondaryBackground": "#000000",
  "button-secondaryForeground": "#ffffff",
  "input-background": "#000000",
  "input-border": "#6fc3df",
  "settings-textInputBackground": "#000000",
  "settings-textInputBorder": "#6fc3df",
  "textLink-foreground": "#21a6ff",
  "textPreformat-background": "#000000",
  "textPreformat-foreground": "#ffffff",
  "textBlockQuote-background": "#000000",
  "textBlockQuote-border": "#ffffff",
  "toolbar-hoverBackground": "transparent",
  "list-hoverBackground": "transparent",
  "chat-requestBackground": "#000000",
};

export const themes: Record<ThemeName, Theme> = {
  light: { bodyClass: "vscode-light", background: light["sideBar-background"] ?? "#f8f8f8", variables: light },
  dark: { bodyClass: "vscode-dark", background: dark["sideBar-background"] ?? "#181818", variables: dark },
  hc: { bodyClass: "vscode-high-contrast", background: "#000000", variables: highContrast },
};

/** The `style` attribute VS Code puts on the webview's <html>: every theme colour as `--vscode-…`. */
export function themeStyle(theme: Theme): string {
  return Object.entries(theme.variables)
    .map(([name, value]) => `--vscode-${name}: ${value};`)
    .join(" ");
}
