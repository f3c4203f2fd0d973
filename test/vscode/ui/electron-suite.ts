/** The end-to-end suite in desktop VS Code: started by `npm run test:electron` (electron.ts), which finds VS Code first. */
import { defineChatUiSuite } from "./chat-ui";
import { openElectronWorkbench } from "./electron-workbench";

const executable = process.env.VSCODE_EXECUTABLE_PATH;
if (!executable) throw new Error("VSCODE_EXECUTABLE_PATH is not set: run this through `npm run test:electron`.");
defineChatUiSuite("electron", openElectronWorkbench(executable));
