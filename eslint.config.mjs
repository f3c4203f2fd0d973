import js from "@eslint/js";
import tseslint from "typescript-eslint";

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
    // The rooms rule: core imports nothing of ours but itself, and never vscode or native code.
    files: ["src/core/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: ["vscode", "node-llama-cpp", "../llm/*", "../extension/*", "../cli/*"] }],
    },
  },
  {
    // The extension host never loads node-llama-cpp: it talks to the model worker.
    files: ["src/extension/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: ["node-llama-cpp", "../cli/*"] }] },
  },
  {
    // Only the worker process (its .mts modules) loads node-llama-cpp: GGUF reading and checking, the client and the
    // rules it shares with the worker never do.
    files: ["src/llm/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: ["vscode", "node-llama-cpp", "../extension/*", "../cli/*"] }] },
  },
  {
    files: ["webview/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: ["vscode", "node-llama-cpp", "../src/llm/*", "../src/extension/*"] }] },
  },
  {
    files: ["**/*.mjs", "**/*.js"],
    languageOptions: { globals: { process: "readonly", console: "readonly", URL: "readonly", setTimeout: "readonly", clearTimeout: "readonly", Buffer: "readonly" } },
  },
);
