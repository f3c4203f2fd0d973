import js from "@eslint/js";
import tseslint from "typescript-eslint";

/** Anything under a test/ folder: product code (and the scripts beside it) never imports it. */
const noTests = "**/test/**";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", ".cache/", "test-results/", "bin/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-restricted-imports": ["error", { patterns: [] }],
    },
  },
  {
    // Product code and the scripts beside it never depend on tests.
    files: ["bench/**/*.ts", "scripts/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: [noTests] }] },
  },
  {
    // The rooms rule: core imports nothing of ours but itself, and never vscode or native code.
    files: ["src/core/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: ["vscode", "node-llama-cpp", "**/llm/**", "**/extension/**", "**/cli/**", noTests] }],
    },
  },
  {
    // The extension host never loads node-llama-cpp: it talks to the model worker.
    files: ["src/extension/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: ["node-llama-cpp", "**/cli/**", noTests] }] },
  },
  {
    // Only the worker process (its .mts modules) loads node-llama-cpp: GGUF reading and checking, the client and the
    // rules it shares with the worker never do.
    files: ["src/llm/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: ["vscode", "node-llama-cpp", "**/extension/**", "**/cli/**", noTests] }] },
  },
  {
    files: ["webview/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: ["vscode", "node-llama-cpp", "**/src/llm/**", "**/src/extension/**", "**/src/cli/**", noTests] }] },
  },
  {
    files: ["**/*.mjs", "**/*.js"],
    languageOptions: {
      globals: { process: "readonly", console: "readonly", URL: "readonly", setTimeout: "readonly", clearTimeout: "readonly", Buffer: "readonly" },
    },
  },
);
