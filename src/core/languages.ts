/** VS Code language ids by file extension, for surfaces without an editor (the CLI) and for new files from a code block. */
const byExtension: Record<string, string> = {
  py: "python",
  ts: "typescript",
  tsx: "typescriptreact",
  js: "javascript",
  jsx: "javascriptreact",
  mjs: "javascript",
  cjs: "javascript",
  go: "go",
  rs: "rust",
  java: "java",
  c: "c",
  h: "c",
  cpp: "cpp",
  cc: "cpp",
  hpp: "cpp",
  cs: "csharp",
  rb: "ruby",
  php: "php",
  swift: "swift",
  kt: "kotlin",
  scala: "scala",
  sh: "shellscript",
  bash: "shellscript",
  sql: "sql",
  html: "html",
  css: "css",
  json: "json",
  yaml: "yaml",
  yml: "yaml",
  md: "markdown",
  lua: "lua",
  r: "r",
};

/** Fence tags that name a language differently from VS Code's id. */
const aliases: Record<string, string> = {
  py: "python",
  python3: "python",
  ts: "typescript",
  js: "javascript",
  sh: "shellscript",
  bash: "shellscript",
  shell: "shellscript",
  zsh: "shellscript",
  "c++": "cpp",
  "c#": "csharp",
  rs: "rust",
  golang: "go",
  yml: "yaml",
};

const fences: Record<string, string> = {
  typescriptreact: "tsx",
  javascriptreact: "jsx",
  shellscript: "bash",
  plaintext: "",
  csharp: "csharp",
  cpp: "cpp",
};

/** The fence tag for a VS Code language id ("typescriptreact" -> "tsx"). */
export function fenceOfLanguage(languageId: string): string {
  return fences[languageId] ?? languageId;
}

export function languageOfFile(fileName: string): string | undefined {
  const ext = /\.([A-Za-z0-9+]+)$/.exec(fileName)?.[1]?.toLowerCase();
  return ext ? byExtension[ext] : undefined;
}

/** The VS Code language id for a code fence's tag ("py" -> "python"); "" and unknown tags become plaintext. */
export function languageOfFence(tag: string): string {
  const t = tag.trim().toLowerCase();
  if (t === "") return "plaintext";
  return aliases[t] ?? t;
}
