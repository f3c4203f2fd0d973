/**
 * The end-to-end suite (test/vscode/ui/chat-ui.ts) in code-server driven by Chromium: the real workbench, the real
 * webview, the extension loaded from this folder. The same suite runs in desktop VS Code with
 * `npm run test:electron` where one can be downloaded.
 */
import { openCodeServerWorkbench } from "./harness";
import { defineChatUiSuite } from "./ui/chat-ui";

defineChatUiSuite("code-server", openCodeServerWorkbench);
