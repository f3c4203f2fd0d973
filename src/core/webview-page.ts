/** The chat view's page: its Content-Security-Policy and the Trusted Types policies its script may create. */

/** The Trusted Types policies the webview bundle creates: ours (markdown) and Lit's. No other may exist. */
const webviewTrustedTypesPolicies = ["clarifycoder-markdown", "lit-html"] as const;

/**
 * The Content-Security-Policy of the chat view's page (for its `<meta http-equiv>`), as the Chromium test checks it:
 * scripts only with the nonce (dist/webview.js, one `<script nonce src>`), no inline styles needed (styles are
 * constructable stylesheets), no images/fonts/connections at all, and Trusted Types enforced so that the one
 * `innerHTML` (markdown-it's output) is the only HTML ever parsed from a string.
 * `cspSource` is `webview.cspSource`; `nonce` a fresh random value per page load.
 */
export function webviewContentSecurityPolicy(nonce: string, cspSource: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src ${cspSource}`,
    "require-trusted-types-for 'script'",
    `trusted-types ${webviewTrustedTypesPolicies.join(" ")}`,
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
}
